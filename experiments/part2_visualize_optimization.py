"""HW1-2a Visualize the optimization process.

One architecture (a small fully connected classifier on MNIST) is trained 8 times
from different seeds, all 8 runs in one batched graph, recording the weights every
3 epochs and at epoch 0. PCA (scikit-learn), fitted jointly on all runs'
snapshots, reduces them to 2-D: once for the whole model, once for one named
layer. Where do different runs go, and how do their paths look?

Writes ``snapshots.csv`` (run, epoch, scope, pc1, pc2, loss, accuracy: full
training set), ``pca.csv`` (scope, component, explained_variance_ratio), the
snapshot matrices ``models/snapshots.npz`` (rows in snapshots.csv order),
settings.json and two figures (``trajectory_whole.png``, ``trajectory_layer.png``).
"""

import _path  # noqa: F401  (puts the repository root on sys.path)

from hw1 import cli

cli.quiet_tensorflow()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from hw1 import data, models, results, train, trajectory  # noqa: E402

EXPERIMENT = "part2_visualize_optimization"
PROFILES = {
    "smoke": dict(dataset="mnist_bundled", runs=3, widths=[16, 16], layer="dense_2", train_limit=400, epochs=3,
                  snapshot_every=3, batch_size=64, learning_rate=1e-3),
    "default": dict(dataset="mnist_bundled", runs=8, widths=[64, 64], layer="dense_2", train_limit=None, epochs=30,
                    snapshot_every=3, batch_size=64, learning_rate=1e-3),
    "full": dict(dataset="mnist", runs=8, widths=[128, 128], layer="dense_2", train_limit=None, epochs=30,
                 snapshot_every=3, batch_size=128, learning_rate=1e-3),
}


@cli.main_guard
def main() -> None:
    # ---------------------------------------------------------------- Setup
    parser = cli.parser(__doc__, PROFILES, dataset=True)
    parser.add_argument("--runs", type=cli.positive_int, help="number of independent runs (default 8)")
    parser.add_argument("--epochs", type=cli.positive_int, help="override the profile's epochs")
    parser.add_argument("--layer", help="the layer whose weights get their own PCA (default dense_2)")
    args = parser.parse_args()
    settings = cli.settings(PROFILES, args)
    layers = [f"dense_{i + 1}" for i in range(len(settings["widths"]))] + ["output"]  # models.fc_net's names
    if settings["layer"] not in layers:
        raise cli.UsageError(f"--layer {settings['layer']!r} is not a layer of this model; choose one of "
                             f"{', '.join(layers)}")
    folder = cli.output_dir(args.out, EXPERIMENT)
    progress = results.Progress(EXPERIMENT)

    # ---------------------------------------------------------------- Data and model
    dataset = data.load(settings["dataset"], args.data_dir, limit=settings["train_limit"], seed=0)
    build = lambda: models.fc_net(settings["widths"], dataset.input_shape, dataset.num_classes)  # noqa: E731
    model = build()
    layer = trajectory.layer_indices(model, settings["layer"])
    seeds = train.run_seeds(args.seed, settings["runs"])
    dims = "-".join(map(str, [int(np.prod(dataset.input_shape)), *settings["widths"], dataset.num_classes]))
    settings.update(dataset=dataset.describe(), architecture=f"MLP {dims} (ReLU)", params=model.count_params(),
                    layer_params=int(sum(model.trainable_variables[i].numpy().size for i in layer)),
                    optimizer="adam", loss="sparse_ce", seeds=seeds, reduction="PCA (scikit-learn), 2 components")
    config = train.TrainConfig(epochs=settings["epochs"], learning_rate=settings["learning_rate"],
                               batch_size=settings["batch_size"], eval_every=settings["snapshot_every"],
                               snapshot_every=settings["snapshot_every"])
    cache = results.RunCache(folder, {"settings": settings, "seed": args.seed}, fresh=args.fresh)

    # ---------------------------------------------------------------- Train all runs at once, then PCA
    def fit() -> tuple[dict[str, pd.DataFrame], dict]:
        train.set_seed(args.seed)
        result = train.train(build, dataset, config, seeds, progress=progress, label=f"{len(seeds)} runs")
        keys = [(run, epoch) for run, epoch, _ in result.snapshots]
        matrices = {"whole": trajectory.snapshot_matrix([w for _, _, w in result.snapshots]),
                    "layer": trajectory.snapshot_matrix([w for _, _, w in result.snapshots], layer)}
        metrics = result.history.set_index(["run", "epoch"])
        rows, variance = [], []
        for scope, matrix in matrices.items():
            coords, ratio = trajectory.pca_2d(matrix)
            name = "whole" if scope == "whole" else settings["layer"]
            variance += [{"scope": name, "component": c + 1, "explained_variance_ratio": ratio[c]} for c in (0, 1)]
            rows += [{"run": run, "epoch": epoch, "scope": name, "pc1": xy[0], "pc2": xy[1],
                      "loss": metrics.loc[(run, epoch), "train_loss"],
                      "accuracy": metrics.loc[(run, epoch), "train_acc"]} for (run, epoch), xy in zip(keys, coords)]
        return ({"snapshots": pd.DataFrame(rows), "pca": pd.DataFrame(variance)},
                {"whole": matrices["whole"].astype(np.float32), "layer": matrices["layer"].astype(np.float32),
                 "diverged": np.array(result.diverged)})

    tables, arrays = cache.fetch("runs", fit)
    settings["diverged_runs"] = [int(r) for r in np.flatnonzero(arrays["diverged"])]

    # ---------------------------------------------------------------- Write CSVs and figures
    snaps = tables["snapshots"]
    results.write_csv(folder / "snapshots.csv", snaps)
    results.write_csv(folder / "pca.csv", tables["pca"])
    whole = snaps[snaps["scope"] == "whole"]
    with results.atomic_path(folder / "models" / "snapshots.npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, whole=arrays["whole"], layer=arrays["layer"], run=whole["run"].to_numpy(),
                 epoch=whole["epoch"].to_numpy())
    figures = results.finish(folder, EXPERIMENT, args, settings, progress, cache)
    last = whole[whole["epoch"] == whole["epoch"].max()]
    progress(f"final training loss {last['loss'].min():.3g}..{last['loss'].max():.3g} over {len(last)} runs; "
             f"wrote {len(figures)} figures and 2 CSVs to {folder}")


if __name__ == "__main__":
    main()
