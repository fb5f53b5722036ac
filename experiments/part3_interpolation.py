"""HW1-3c Flatness vs generalization, part 1: linear interpolation between two trained models.

Two pairs of models of one architecture (MLP 784-128-10 by default), each endpoint a fresh model and
optimizer trained for the same epochs: pair "batch_size" differs only in batch size (64 vs 1024), pair
"learning_rate" only in learning rate (1e-3 vs 1e-2); the pairs share their first model, and all start
from the SAME initial weights (``--init independent`` changes that). Along θα = (1 − α)·θ1 + α·θ2,
α from −1 to 2, the full training and test sets are evaluated (nothing re-trained): is one end in a
sharper valley (Keskar et al. 2017, fig. 3)?

Writes ``interpolation.csv`` (pair, alpha, train_loss, train_acc, test_loss, test_acc, diverged: true,
values empty, on every row of a pair whose endpoint diverged), ``endpoints.csv`` (pair, alpha 0 or 1,
batch_size, learning_rate, seed, the trained models' own final metrics, diverged), settings.json,
outcome.json, one figure per pair; with ``--save-weights``, the endpoints' weights (``models/endpoints.npz``).
"""

from hw1.lab import cli, experiment, models
from hw1.results.schema import METRICS, tables

EXPERIMENT = "part3_interpolation"
BASE = dict(dataset="mnist_bundled", train_limit=None, widths=[128], epochs=30, batch_sizes=[64, 1024],
            learning_rates=[1e-3, 1e-2], alpha_min=-1.0, alpha_max=2.0, alpha_points=61, init="shared",
            save_weights=False)
PROFILES = {"smoke": {**BASE, "train_limit": 256, "widths": [32], "epochs": 3, "batch_sizes": [16, 128],
                      "alpha_points": 31},
            "default": BASE,
            "full": {**BASE, "dataset": "mnist", "widths": [256]}}


def check(s: dict) -> list[cli.Need]:
    lo, hi, count = s["alpha_min"], s["alpha_max"], s["alpha_points"]
    if not lo <= 0.0 < 1.0 <= hi or count < 2:
        raise cli.UsageError(f"α range [{lo:g}, {hi:g}] with {count} points must contain both trained models "
                             "(α = 0 and α = 1) and have at least 2 points")
    for flag, key in (("--batch-sizes", "batch_sizes"), ("--learning-rates", "learning_rates")):
        if len(s[key]) != 2:
            raise cli.UsageError(f"{flag} {','.join(map(str, s[key]))} must be two comma-separated values")
    n, n_test, inputs, classes = cli.dataset_shape(s)
    params, points, batch = models.fc_param_count(s["widths"], inputs, classes), count + 2, max(s["batch_sizes"])
    # every α's weights at once: float32 per α and stacked (interpolation_points), its float64 mixes, TF's copy
    return [cli.Need(f"--alpha-points {count}", f"{points:,} interpolated weight vectors of {params:,} parameters",
                     cli.FLOAT32 * params * (2 * points + 4)),
            cli.training_need(f"--batch-sizes {','.join(map(str, s['batch_sizes']))}", 1, params,
                              sum(s["widths"]) + classes, min(batch, n), inputs, max(n, n_test))]


@cli.main_guard
def main(argv: list[str] | None = None) -> None:
    # ---------------------------------------------------------------- Setup
    parser = cli.parser(__doc__, PROFILES, dataset=True)
    parser.add_argument("--epochs", type=cli.positive_int, help="epochs of every endpoint")
    parser.add_argument("--batch-sizes", dest="batch_sizes", type=cli.int_list, help="pair 1, e.g. 64,1024")
    parser.add_argument("--learning-rates", dest="learning_rates", type=cli.rate_list, help="pair 2, e.g. 1e-3,1e-2")
    parser.add_argument("--alpha-min", dest="alpha_min", type=cli.finite_float, help="first α (≤ 0)")
    parser.add_argument("--alpha-max", dest="alpha_max", type=cli.finite_float, help="last α (≥ 1)")
    parser.add_argument("--alpha-points", dest="alpha_points", type=cli.positive_int, help="evenly spaced α")
    parser.add_argument("--init", choices=["shared", "independent"], help="endpoints' initial weights")
    cli.add_save_weights(parser, "the endpoints' weights to models/endpoints.npz")
    run = experiment.start(EXPERIMENT, parser, PROFILES, argv, check=check)
    import numpy as np
    import pandas as pd

    import hw1
    from hw1.lab import data, train

    # ---------------------------------------------------------------- Data, model, the two pairs
    s = run.settings
    dataset = data.load(s["dataset"], run.args.data_dir, limit=s["train_limit"], seed=run.seed)
    data.check_batch_sizes(s["batch_sizes"], len(dataset.x_train), "--batch-sizes")
    model, build = models.fc_classifier(s["widths"], dataset)
    seed1, seed2 = train.run_seeds(run.seed, 2) if s["init"] == "independent" else train.run_seeds(run.seed, 1) * 2
    (bs1, bs2), (lr1, lr2) = s["batch_sizes"], s["learning_rates"]
    pairs = {"batch_size": [(bs1, lr1, seed1), (bs2, lr1, seed2)],
             "learning_rate": [(bs1, lr1, seed1), (bs1, lr2, seed2)]}
    alphas = np.unique(np.round(np.concatenate([np.linspace(s["alpha_min"], s["alpha_max"], s["alpha_points"]),
                                                [0.0, 1.0]]), 10))
    s.update(dataset=dataset.describe(), optimizer="adam", loss="sparse_ce", **models.fc_settings(model))

    # ---------------------------------------------------------------- Train every endpoint (fresh model and optimizer)
    def endpoint(batch_size: int, learning_rate: float, seed: int) -> dict:
        config = train.TrainConfig(epochs=s["epochs"], batch_size=batch_size, learning_rate=learning_rate)
        result = train.train(build, dataset, config, [seed], eval_every=s["epochs"], progress=run.progress,
                             label=f"batch {batch_size}, lr {learning_rate:g}")
        return {"final": result.final[METRICS].assign(diverged=result.diverged[0]), "weights": result.weights[0]}

    # ---------------------------------------------------------------- Interpolate θα = (1 − α)·θ1 + α·θ2
    def interpolate(start: list, end: list) -> pd.DataFrame:
        """Training and test loss and accuracy at every α, by hw1.interpolate between the two trained models."""
        endpoints = [build(), build()]
        for model, weights in zip(endpoints, (start, end)):
            for variable, value in zip(model.trainable_variables, weights):
                variable.assign(value)
        curve = {"alpha": alphas}
        for split, xs, ys in (("train", dataset.x_train, dataset.y_train), ("test", dataset.x_test, dataset.y_test)):
            line = hw1.interpolate(*endpoints, (xs, ys), alphas, loss="sparse_ce")
            curve.update({f"{split}_loss": line["loss"].to_numpy(), f"{split}_acc": line["accuracy"].to_numpy()})
        return pd.DataFrame(curve)

    curves, ends, saved = [], [], {}
    for pair, specs in pairs.items():
        trained = [run.step(f"endpoint_bs{b}_lr{lr:g}_seed{sd}", lambda: endpoint(b, lr, sd)) for b, lr, sd in specs]
        for alpha, (b, lr, sd), fit in zip((0.0, 1.0), specs, trained):
            ends.append(fit["final"].assign(pair=pair, alpha=alpha, batch_size=b, learning_rate=lr, seed=sd))
            saved.update({f"{pair}_a{alpha:g}_{i}": w for i, w in enumerate(fit["weights"])})
        if any(bool(fit["final"]["diverged"].iloc[0]) for fit in trained):
            run.progress(f"pair {pair}: an endpoint diverged; no interpolation for this pair")
            curves.append(pd.DataFrame({"pair": pair, "alpha": alphas, **dict.fromkeys(METRICS, np.nan),
                                        "diverged": True}))
            continue
        curve = run.step(f"curve_{pair}", lambda: interpolate(trained[0]["weights"], trained[1]["weights"]))
        curves.append(curve.assign(pair=pair, diverged=False))

    # ---------------------------------------------------------------- Write CSVs, weights, figures, outcome
    if s["save_weights"]:
        run.save_arrays("endpoints", saved)
    ends = pd.concat(ends, ignore_index=True)
    run.finish({"interpolation.csv": pd.concat(curves, ignore_index=True),
                "endpoints.csv": ends},
               outcome={"diverged": [{"pair": r.pair, "alpha": r.alpha} for r in ends[ends["diverged"]].itertuples()]})


if __name__ == "__main__":
    main()
