"""HW1-2c What happens when the gradient is almost zero: the minimal ratio.

A small fully connected net is fitted to sin(5πx)/(5πx) with the MSE loss; then its
objective becomes ‖∇L‖² of the FULL training set (double back-propagation) until
‖∇L‖ < grad_tol or a step cap. There we compute the exact Hessian of the full-data
loss w.r.t. all parameters, in float64, and its eigenvalues: minimal ratio = share
of eigenvalues > eig_tol. All runs train together in one batched graph, each from
its own seed. How does the minimal ratio relate to the loss?

Tolerances. grad_tol = 1e-4 is 3-4 orders of magnitude below ‖∇L‖ at initialization and
what Adam on ‖∇L‖² reaches for most runs here: it stalls where the remaining gradient lies
along nearly flat directions (stages.csv shows where each run stopped). eig_tol = grad_tol:
at a point whose gradient is g rather than 0, the curvature along flat directions (e.g. the
ReLU rescaling symmetries) is of order ‖g‖, so smaller eigenvalues cannot be told from zero.
float64 rounding of an eigenvalue (n·ε·max|λ| ~ 1e-12) is far below that; float32 (~1e-3)
would not be, hence training in float32 but measuring everything in float64.

Writes ``runs.csv`` (run, loss, grad_norm, minimal_ratio, n_params, n_near_zero,
min_eig, max_eig, converged, diverged), ``spectra.csv`` (run, index, eigenvalue),
``stages.csv`` (run, stage, steps, loss, grad_norm: where each phase left the run),
``models/final_weights.npz`` (one array per variable, leading run axis; the
architecture is in settings.json), settings.json, ``minimal_ratio.png`` and ``spectra.png``.
"""

import _path  # noqa: F401  (puts the repository root on sys.path)

from hw1 import cli

cli.quiet_tensorflow()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from hw1 import data, hessian, models, results, train  # noqa: E402

EXPERIMENT = "part2_minimal_ratio"
PROFILES = {
    "smoke": dict(runs=6, widths=[6, 6], samples=32, loss_steps=300, loss_learning_rate=1e-2, grad_steps=100,
                  grad_learning_rate=3e-4, check_every=50, grad_tol=1e-3, eig_tol=1e-3, chunk=3),
    "default": dict(runs=100, widths=[16, 16], samples=128, loss_steps=3000, loss_learning_rate=3e-3,
                    grad_steps=500, grad_learning_rate=3e-4, check_every=100, grad_tol=1e-4, eig_tol=1e-4,
                    chunk=25),
    "full": dict(runs=100, widths=[16, 16], samples=128, loss_steps=6000, loss_learning_rate=3e-3,
                 grad_steps=2000, grad_learning_rate=3e-4, check_every=100, grad_tol=1e-4, eig_tol=1e-4, chunk=25),
}


def stopping_epochs(history: pd.DataFrame, tol: float) -> np.ndarray:
    """Per run, where ‖∇L‖² minimization stops: its first check with ‖∇L‖ < tol, else its lowest ‖∇L‖."""
    norms = history.pivot(index="epoch", columns="run", values="grad_norm").sort_index(axis=1)
    below = norms < tol
    return np.where(below.any(), below.idxmax(), norms.fillna(np.inf).idxmin()).astype(int)


@cli.main_guard
def main() -> None:
    # ---------------------------------------------------------------- Setup
    parser = cli.parser(__doc__, PROFILES)
    parser.add_argument("--runs", type=cli.positive_int, help="number of independent runs (default 100)")
    parser.add_argument("--grad-tol", dest="grad_tol", type=cli.positive_float, help="stop at ‖∇L‖ < this")
    parser.add_argument("--eig-tol", dest="eig_tol", type=cli.positive_float,
                        help="an eigenvalue with |λ| ≤ this counts as zero")
    parser.add_argument("--grad-steps", dest="grad_steps", type=cli.positive_int, help="cap on ‖∇L‖² steps")
    args = parser.parse_args()
    settings = cli.settings(PROFILES, args)
    folder = cli.output_dir(args.out, EXPERIMENT)
    progress = results.Progress(EXPERIMENT)

    # ---------------------------------------------------------------- Data and models
    dataset = data.function_data(data.FUNCTIONS["sinc"], settings["samples"], name="sinc")
    build = lambda: models.fc_net(settings["widths"])  # noqa: E731  (trained in float32)
    model64 = models.fc_net(settings["widths"], dtype="float64")  # every number is measured in float64
    n_params, runs = hessian.n_params(model64), settings["runs"]
    seeds = train.run_seeds(args.seed, runs)
    settings.update(function=data.FUNCTIONS["sinc"], function_label="sin(5πx)/(5πx)", activation="relu",
                    n_params=n_params, seeds=seeds, architecture="MLP 1-" + "-".join(map(str, settings["widths"]))
                    + "-1", model={"builder": "hw1.models.fc_net", "widths": settings["widths"], "activation": "relu",
                                   "variables": [[v.path, list(v.shape)] for v in model64.trainable_variables]})
    cache = results.RunCache(folder, {"settings": settings, "seed": args.seed}, fresh=args.fresh)

    # ---------------------------------------------------------------- Train: the loss, then ‖∇L‖² (all runs at once)
    def fit() -> tuple[dict[str, pd.DataFrame], dict]:
        train.set_seed(args.seed)
        fitted = train.train(build, dataset, train.TrainConfig(
            epochs=settings["loss_steps"], learning_rate=settings["loss_learning_rate"], loss="mse",
            eval_every=settings["loss_steps"], eval_grad_norm=True), seeds, progress=progress, label="MSE loss")
        walk = train.train(build, dataset, train.TrainConfig(
            epochs=settings["grad_steps"], learning_rate=settings["grad_learning_rate"], loss="mse",
            objective="grad_norm_sq", eval_every=settings["check_every"], snapshot_every=settings["check_every"],
            stop_grad_norm=settings["grad_tol"]), seeds, init=fitted.weights, progress=progress, label="‖∇L‖²")
        stop = list(zip(range(runs), stopping_epochs(walk.history, settings["grad_tol"])))
        snaps = {(r, e): w for r, e, w in walk.snapshots}
        stages = pd.concat([fitted.final.assign(stage="loss", steps=settings["loss_steps"]),
                            walk.history.set_index(["run", "epoch"]).loc[stop].reset_index().assign(
                                stage="grad_norm", steps=[e for _, e in stop])])
        stages = stages.rename(columns={"train_loss": "loss"})
        weights = train.stack([snaps[key] for key in stop])
        stages = stages.sort_values(["run", "stage"], ascending=[True, False])  # loss phase first
        return {"stages": stages[["run", "stage", "steps", "loss", "grad_norm"]]}, {
            "diverged": np.array(fitted.diverged) | np.array(walk.diverged), **{f"w{i}": w for i, w in
                                                                                enumerate(weights)}}

    tables, arrays = cache.fetch("train", fit)
    stacked = [arrays[f"w{i}"] for i in range(len(model64.trainable_variables))]

    # ---------------------------------------------------------------- Exact Hessian of each run (float64)
    def measure(first: int, last: int) -> tuple[dict[str, pd.DataFrame], dict]:
        rows, spectra = [], []
        for r in range(first, last):
            rows.append({"run": r, "n_params": n_params, "diverged": bool(arrays["diverged"][r])})
            if not rows[-1]["diverged"]:
                weights = [a[r].astype(np.float64) for a in stacked]
                summary, eigenvalues = hessian.curvature_at(model64, weights, dataset.x_train, dataset.y_train,
                                                            "mse", settings["eig_tol"])
                rows[-1].update(summary, converged=summary["grad_norm"] < settings["grad_tol"])
                spectra.append(pd.DataFrame({"run": r, "index": np.arange(n_params), "eigenvalue": eigenvalues}))
        progress(f"Hessians of runs {first}..{last - 1} done")
        empty = pd.DataFrame(columns=["run", "index", "eigenvalue"])
        return {"runs": pd.DataFrame(rows), "spectra": pd.concat(spectra) if spectra else empty}, {}

    chunks = [cache.fetch(f"hessians_{a:04d}", lambda a=a: measure(a, min(a + settings["chunk"], runs)))[0]
              for a in range(0, runs, settings["chunk"])]

    # ---------------------------------------------------------------- Write CSVs and figures
    columns = ["run", "loss", "grad_norm", "minimal_ratio", "n_params", "n_near_zero", "min_eig", "max_eig",
               "converged", "diverged"]
    table = pd.concat([c["runs"] for c in chunks]).reindex(columns=columns)
    table["converged"] = table["converged"].fillna(False).astype(bool)
    results.write_csv(folder / "runs.csv", table)
    results.write_csv(folder / "spectra.csv", pd.concat([c["spectra"] for c in chunks]))
    results.write_csv(folder / "stages.csv", tables["stages"])
    with results.atomic_path(folder / "models" / "final_weights.npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **{v.path.replace("/", "."): a for v, a in zip(model64.trainable_variables, stacked)})
    figures = results.finish(folder, EXPERIMENT, args, settings, progress, cache)
    live = table[~table["diverged"]]
    progress(f"{int(live['converged'].sum())}/{len(live)} runs reached ‖∇L‖ < {settings['grad_tol']:g} (median "
             f"{live['grad_norm'].median():.2g}); minimal ratio {live['minimal_ratio'].min():.3f}.."
             f"{live['minimal_ratio'].max():.3f}; wrote {len(figures)} figures and 3 CSVs to {folder}")


if __name__ == "__main__":
    main()
