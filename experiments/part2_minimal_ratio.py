"""HW1-2c What happens when the gradient is almost zero: the minimal ratio.

A small fully connected net is fitted to sin(5πx)/(5πx) with the MSE loss; then its objective becomes ‖∇L‖² of the
FULL training set (double back-propagation) until ‖∇L‖ < grad_tol or a step cap. There we take the exact float64
Hessian of the full-data loss w.r.t. all parameters: minimal ratio = share of its eigenvalues > eig_tol. Same
protocol for ReLU (inactive units give exactly flat directions) and tanh (smooth), same widths; the runs of one
activation train together, each from its own seed. How does the minimal ratio relate to the loss?
eig_tol = grad_tol = 1e-4: at a point whose gradient is g ≠ 0, curvature of order ‖g‖ cannot be told from zero (the
view sweeps other tolerances over the saved spectra); float64 rounding (n·ε·max|λ| ~ 1e-12) is far below it.

Writes runs.csv (per activation and run: loss, ‖∇L‖, minimal ratio, eigenvalue counts, dead and switching units,
affine residual), spectra.csv (every eigenvalue), stages.csv (where each phase left a run), models/<activation>.npz
(final weights, leading run axis), settings.json, outcome.json and the figures of hw1/report/views/part2_minimal_ratio.py.
"""

from hw1.lab import cli, experiment, models
from hw1.results.schema import tables

EXPERIMENT = "part2_minimal_ratio"
BASE = dict(runs=100, widths=[16, 16], samples=128, loss_steps=3000, loss_learning_rate=3e-3, grad_steps=500,
            grad_learning_rate=3e-4, check_every=100, grad_tol=1e-4, eig_tol=1e-4, activations=["relu", "tanh"])
PROFILES = {"smoke": {**BASE, "runs": 4, "widths": [6, 6], "samples": 32, "loss_steps": 300, "loss_learning_rate": 1e-2,
                      "grad_steps": 100, "check_every": 50, "grad_tol": 1e-3, "eig_tol": 1e-3},
            "default": BASE, "full": {**BASE, "loss_steps": 6000, "grad_steps": 2000}}


def check(settings: dict) -> list[cli.Need]:
    if len(set(settings["activations"])) < len(settings["activations"]):
        raise cli.UsageError(f"--activations {' '.join(settings['activations'])} names one twice; give each once")
    s, params, units = settings, models.fc_param_count(settings["widths"]), sum(settings["widths"]) + 1
    count = s["runs"] * (s["grad_steps"] // s["check_every"] + 1)  # the ‖∇L‖² walk keeps a snapshot per check
    return [cli.training_need(f"--runs {s['runs']}", s["runs"], params, units, s["samples"], 1, s["samples"],
                              backward=8),  # double back-propagation
            cli.Need(f"--runs {s['runs']} with --grad-steps {s['grad_steps']}", f"{count:,} weight snapshots of "
                     f"{params:,} parameters", count * (cli.FLOAT32 * params + 1000)),  # arrays of ~6 variables
            cli.Need(f"widths {s['widths']}", f"an exact float64 Hessian of {params:,} parameters",
                     8 * params * (3 * params + 4 * s["samples"] * units))]  # H, its eigh; the jacobian's pfor


@cli.main_guard
def main(argv: list[str] | None = None) -> None:
    # ---------------------------------------------------------------- Setup
    parser = cli.parser(__doc__, PROFILES)
    parser.add_argument("--runs", type=cli.positive_int, help="independent runs per activation (default 100)")
    parser.add_argument("--grad-tol", dest="grad_tol", type=cli.positive_float, help="stop at ‖∇L‖ < this")
    parser.add_argument("--eig-tol", dest="eig_tol", type=cli.positive_float, help="|λ| ≤ this counts as zero")
    parser.add_argument("--grad-steps", dest="grad_steps", type=cli.positive_int, help="cap on ‖∇L‖² steps")
    parser.add_argument("--activations", nargs="+", choices=("relu", "tanh"), help="default: relu tanh")
    run = experiment.start(EXPERIMENT, parser, PROFILES, argv, check=check)
    import numpy as np
    import pandas as pd

    import hw1
    from hw1.measure import critical_points as cp, hessian
    from hw1.lab import data, models, train

    # ---------------------------------------------------------------- Data and protocol
    s, acts = run.settings, run.settings["activations"]
    dataset = data.function_data(data.FUNCTIONS["sinc"], s["samples"], name="sinc")
    x, y = dataset.x_train.astype(np.float64), dataset.y_train.astype(np.float64)
    seeds = train.run_seeds(run.seed, s["runs"])
    s.update(function=data.FUNCTIONS["sinc"], function_label="sin(5πx)/(5πx)", loss="mse", optimizer="adam",
             architecture=models.fc_architecture(s["widths"]), params=models.fc_param_count(s["widths"]), seeds=seeds)
    fit = train.TrainConfig(epochs=s["loss_steps"], learning_rate=s["loss_learning_rate"], loss="mse")
    walk = train.TrainConfig(epochs=s["grad_steps"], learning_rate=s["grad_learning_rate"], loss="mse",
                             objective="grad_norm_sq")
    walk_checks = [train.Snapshots(every=s["check_every"]), train.StopAtGradNorm(s["grad_tol"])]

    # ---------------------------------------------------------------- Train: the loss, then ‖∇L‖² (all runs at once)
    def descend(act: str) -> dict:
        build = lambda: models.fc_net(s["widths"], activation=act)  # noqa: E731  (trained in float32)
        fitted = train.train(build, dataset, fit, seeds, eval_every=s["loss_steps"], eval_grad_norm=True,
                             progress=run.progress, label=f"{act}, MSE loss")
        walked = train.train(build, dataset, walk, seeds, init=fitted.weights, eval_every=s["check_every"],
                             callbacks=walk_checks, progress=run.progress,
                             label=f"{act}, ‖∇L‖²")
        stop = list(enumerate(cp.stopping_epochs(walked.history, s["grad_tol"]).tolist()))
        snapshots = {(r, e): w for r, e, w in walked.snapshots}
        stages = pd.concat([fitted.final.assign(stage="loss", steps=s["loss_steps"]), walked.history.set_index(
            ["run", "epoch"]).loc[stop].reset_index().assign(stage="grad_norm", steps=[e for _, e in stop])])
        stages = stages.sort_values("run", kind="stable").assign(activation=act)
        return {"stages": tables(EXPERIMENT)["stages.csv"].select(stages),
                "weights": [snapshots[key] for key in stop],
                "diverged": np.array(fitted.diverged) | np.array(walked.diverged)}

    # ---------------------------------------------------------------- Exact Hessian of each run (float64)
    def measure(act: str, weights: list, diverged: np.ndarray) -> dict:
        model64, rows, spectra = models.fc_net(s["widths"], activation=act, dtype="float64"), [], []
        for r, w in enumerate(weights):
            rows.append({"activation": act, "run": r, "seed": seeds[r], "diverged": bool(diverged[r])})
            if not diverged[r]:
                w = [a.astype(np.float64) for a in w]
                at = dict(loss="mse", weights=w)  # the public measurements, at this run's point
                eigenvalues = hessian.symmetric_eigenvalues(hw1.exact_hessian(model64, (x, y), **at,
                                                                              max_params=s["params"]))
                rows[-1].update(loss=hw1.evaluate(model64, (x, y), **at)["loss"],
                                grad_norm=hw1.gradient_norm(model64, (x, y), **at),
                                **hessian.spectrum_summary(eigenvalues, s["eig_tol"]), **cp.function_summary(w, x, act))
                spectra.append(pd.DataFrame({"activation": act, "run": r, "index": range(len(eigenvalues)),
                                             "eigenvalue": eigenvalues}))
        run.progress(f"{act}: {len(spectra)} exact Hessians done")
        return {"runs": pd.DataFrame(rows), "spectra": pd.concat(spectra) if spectra else None}

    found = {a: run.step(f"train_{a}", lambda a=a: descend(a)) for a in acts}
    measured = {a: run.step(f"hessians_{a}", lambda a=a: measure(a, found[a]["weights"], found[a]["diverged"]))
                for a in acts}

    # ---------------------------------------------------------------- Write weights, CSVs, outcome and figures
    names = [v.path.split("/", 1)[1].replace("/", ".") for v in models.fc_net(s["widths"]).trainable_variables]
    for a in acts:
        run.save_arrays(a, dict(zip(names, train.stack(found[a]["weights"]))))
    table = pd.concat([measured[a]["runs"] for a in acts]).rename(columns={"loss": "train_loss"})
    columns = tables(EXPERIMENT)["runs.csv"].columns
    table = table.assign(converged=table["grad_norm"] < s["grad_tol"]).reindex(columns=columns)  # NaN: not converged
    by = table.groupby("activation", sort=False)
    run.finish({"runs.csv": table, "spectra.csv": pd.concat([measured[a]["spectra"] for a in acts]),
                "stages.csv": pd.concat([found[a]["stages"] for a in acts])},
               outcome={"diverged": {a: f.loc[f["diverged"], "run"].tolist() for a, f in by},
                        "converged": by["converged"].sum().to_dict(),
                        "median_grad_norm": by["grad_norm"].median().to_dict(),
                        "median_minimal_ratio": by["minimal_ratio"].median().to_dict()})


if __name__ == "__main__":
    main()
