"""HW1-3c Flatness vs generalization, part 1: linear interpolation between two trained models.

Two pairs of models of one architecture (an MLP 784-128-10 by default), each endpoint a
fresh model with a fresh Adam optimizer, trained for the same number of epochs: pair
"batch_size" differs only in batch size (64 vs 1024), pair "learning_rate" only in
learning rate (1e-3 vs 1e-2). Both endpoints start from the SAME initial weights, so the
line between them shows what the training approach did, not a permutation of hidden
units (``--init independent`` changes that). Along θα = (1 − α)·θ1 + α·θ2, α from −1 to
2, the full training and test sets are evaluated, all α in one batched call, nothing
re-trained. Is one end in a sharper valley than the other (Keskar et al. 2017, fig. 3)?

Writes ``interpolation.csv`` (pair, alpha, train_loss, train_acc, test_loss, test_acc),
``endpoints.csv`` (pair, alpha 0 or 1, batch_size, learning_rate, init_seed, the trained
models' own final metrics, diverged), settings.json and one figure per pair: losses
(log y) and accuracies against α on two y-axes, training solid, test dashed.
"""

import argparse

import _path  # noqa: F401  (puts the repository root on sys.path)

from hw1 import cli

cli.quiet_tensorflow()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from hw1 import analysis, data, models, results, train  # noqa: E402

EXPERIMENT = "part3_interpolation"
PROFILES = {
    "smoke": dict(dataset="mnist_bundled", train_limit=256, widths=[32], epochs=3, batch_sizes=[16, 128],
                  learning_rates=[1e-3, 1e-2], alpha_min=-1.0, alpha_max=2.0, alpha_points=31, init="shared"),
    "default": dict(dataset="mnist_bundled", train_limit=None, widths=[128], epochs=30, batch_sizes=[64, 1024],
                    learning_rates=[1e-3, 1e-2], alpha_min=-1.0, alpha_max=2.0, alpha_points=61, init="shared"),
    "full": dict(dataset="mnist", train_limit=None, widths=[256], epochs=30, batch_sizes=[64, 1024],
                 learning_rates=[1e-3, 1e-2], alpha_min=-1.0, alpha_max=2.0, alpha_points=61, init="shared"),
}
METRICS = ["train_loss", "train_acc", "test_loss", "test_acc"]


def two(kind):
    """A flag of exactly two comma-separated values of ``kind``, e.g. ``64,1024``."""
    def parse(text: str) -> list:
        if len(values := [kind(part.strip()) for part in text.split(",")]) != 2:
            raise argparse.ArgumentTypeError(f"{text!r} must be two comma-separated values, e.g. 64,1024")
        return values
    return parse


@cli.main_guard
def main() -> None:
    # ---------------------------------------------------------------- Setup
    parser = cli.parser(__doc__, PROFILES, dataset=True)
    parser.add_argument("--epochs", type=cli.positive_int, help="epochs of every endpoint")
    parser.add_argument("--batch-sizes", dest="batch_sizes", type=two(cli.positive_int), help="pair A, e.g. 64,1024")
    parser.add_argument("--learning-rates", dest="learning_rates", type=two(cli.positive_float),
                        help="pair B, e.g. 1e-3,1e-2")
    parser.add_argument("--alpha-min", dest="alpha_min", type=cli.finite_float, help="first α (≤ 0)")
    parser.add_argument("--alpha-max", dest="alpha_max", type=cli.finite_float, help="last α (≥ 1)")
    parser.add_argument("--alpha-points", dest="alpha_points", type=cli.positive_int, help="evenly spaced α")
    parser.add_argument("--init", choices=["shared", "independent"], help="endpoints' initial weights")
    args = parser.parse_args()
    settings = cli.settings(PROFILES, args)
    lo, hi, count = settings["alpha_min"], settings["alpha_max"], settings["alpha_points"]
    if not lo <= 0.0 < 1.0 <= hi or count < 2:
        raise cli.UsageError(f"α range [{lo:g}, {hi:g}] with {count} points must contain both trained models "
                             "(α = 0 and α = 1) and have at least 2 points")
    alphas = np.unique(np.round(np.concatenate([np.linspace(lo, hi, count), [0.0, 1.0]]), 10))
    folder = cli.output_dir(args.out, EXPERIMENT)
    progress = results.Progress(EXPERIMENT)

    # ---------------------------------------------------------------- Prepare the data
    dataset = data.load(settings["dataset"], args.data_dir, limit=settings["train_limit"], seed=args.seed)
    settings.update(dataset=dataset.describe(), optimizer="adam", loss="sparse_ce")
    cache = results.RunCache(folder, {"settings": settings, "seed": args.seed}, fresh=args.fresh)

    # ---------------------------------------------------------------- Build the model and the pairs
    build = lambda: models.fc_net(settings["widths"], dataset.input_shape, dataset.num_classes)  # noqa: E731
    (bs1, bs2), (lr1, lr2) = settings["batch_sizes"], settings["learning_rates"]
    seed2 = args.seed if settings["init"] == "shared" else args.seed + 1
    pairs = {"batch_size": [(bs1, lr1, args.seed), (bs2, lr1, seed2)],
             "learning_rate": [(bs1, lr1, args.seed), (bs1, lr2, seed2)]}

    # ---------------------------------------------------------------- Train every endpoint (fresh model and optimizer)
    def endpoint(batch_size: int, learning_rate: float, seed: int) -> tuple[pd.Series, list[np.ndarray]]:
        def fit() -> tuple[dict, dict]:
            train.set_seed(seed)
            config = train.TrainConfig(epochs=settings["epochs"], batch_size=batch_size,
                                       learning_rate=learning_rate, eval_every=settings["epochs"])
            run = train.train(build, dataset, config, seeds=[seed], progress=progress,
                              label=f"batch {batch_size}, lr {learning_rate:g}")
            return ({"final": run.final[METRICS].assign(diverged=run.diverged[0])},
                    {f"w{i}": w for i, w in enumerate(run.weights[0])})

        tables, arrays = cache.fetch(f"bs{batch_size}_lr{learning_rate:g}_seed{seed}", fit)
        return tables["final"].iloc[0], [arrays[f"w{i}"] for i in range(len(arrays))]

    # ---------------------------------------------------------------- Interpolate θα = (1 − α)·θ1 + α·θ2
    model, curves, ends = build(), [], []
    for pair, specs in pairs.items():
        (end1, w1), (end2, w2) = (endpoint(*spec) for spec in specs)
        for alpha, end, (batch_size, learning_rate, seed) in ((0.0, end1, specs[0]), (1.0, end2, specs[1])):
            ends.append({"pair": pair, "alpha": alpha, "batch_size": batch_size, "learning_rate": learning_rate,
                         "init_seed": seed, **{k: end[k] for k in METRICS}, "diverged": bool(end["diverged"])})
        if end1["diverged"] or end2["diverged"]:
            progress(f"pair {pair}: an endpoint diverged; no interpolation for this pair")
            continue
        curves.append(analysis.interpolate(model, w1, w2, alphas, dataset).assign(pair=pair))
        best = curves[-1].loc[curves[-1]["train_loss"].idxmin()]
        progress(f"pair {pair}: {len(alphas)} points, lowest training loss {best['train_loss']:.3g} "
                 f"at α = {best['alpha']:g}")

    # ---------------------------------------------------------------- Write CSVs and figures
    results.write_csv(folder / "interpolation.csv", pd.concat(curves)[["pair", "alpha", *METRICS]] if curves
                      else pd.DataFrame(columns=["pair", "alpha", *METRICS]))
    results.write_csv(folder / "endpoints.csv", pd.DataFrame(ends))
    figures = results.finish(folder, EXPERIMENT, args, settings, progress, cache)
    progress(f"wrote interpolation.csv, endpoints.csv and {len(figures)} figures to {folder}")


if __name__ == "__main__":
    main()
