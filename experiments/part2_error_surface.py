"""HW1-2 bonus: the error surface around a trained model.

A small MNIST classifier is trained, recording its weights every epoch. The
training loss is then evaluated on a 2-D grid around the final weights θ* along
two pairs of directions: (1) the top-2 PCA directions of the trajectory's
offsets θ_t − θ*, with the trajectory projected on the plane (Li et al. 2018,
§7), and (2) two filter-normalized random directions (Li et al. 2018, §4).
What does the neighbourhood of the minimum that training found look like?

Writes ``grid.csv`` (directions, alpha, beta, loss, accuracy), ``trajectory.csv``
(epoch, alpha, beta, loss, accuracy), ``directions.csv`` (directions, axis,
explained_variance_ratio), settings.json and ``surface_pca.png``,
``surface_filter_normalized.png``.
"""

import _path  # noqa: F401  (puts the repository root on sys.path)

from hw1 import cli

cli.quiet_tensorflow()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from hw1 import data, models, results, train, trajectory  # noqa: E402

EXPERIMENT = "part2_error_surface"
PROFILES = {
    "smoke": dict(dataset="mnist_bundled", widths=[8], train_limit=400, epochs=2, batch_size=64, learning_rate=1e-3,
                  grid_points=7, margin=0.3, random_span=1.0),
    "default": dict(dataset="mnist_bundled", widths=[32], train_limit=None, epochs=20, batch_size=64,
                    learning_rate=1e-3, grid_points=25, margin=0.3, random_span=1.0),
    "full": dict(dataset="mnist", widths=[32], train_limit=None, epochs=30, batch_size=128, learning_rate=1e-3,
                 grid_points=31, margin=0.3, random_span=1.0),
}


@cli.main_guard
def main() -> None:
    # ---------------------------------------------------------------- Setup
    parser = cli.parser(__doc__, PROFILES, dataset=True)
    parser.add_argument("--grid-points", dest="grid_points", type=cli.positive_int,
                        help="grid points per axis (default 25)")
    parser.add_argument("--epochs", type=cli.positive_int, help="override the profile's epochs")
    parser.add_argument("--learning-rate", dest="learning_rate", type=cli.positive_float,
                        help="override the profile's Adam learning rate")
    args = parser.parse_args()
    settings = cli.settings(PROFILES, args)
    if settings["grid_points"] < 3:
        raise cli.UsageError(f"--grid-points {settings['grid_points']} is too few; give at least 3")
    folder = cli.output_dir(args.out, EXPERIMENT)
    progress = results.Progress(EXPERIMENT)

    # ---------------------------------------------------------------- Data and model
    dataset = data.load(settings["dataset"], args.data_dir, limit=settings["train_limit"], seed=0)
    build = lambda: models.fc_net(settings["widths"], dataset.input_shape, dataset.num_classes)  # noqa: E731
    model = build()
    dims = "-".join(map(str, [int(np.prod(dataset.input_shape)), *settings["widths"], dataset.num_classes]))
    settings.update(dataset=dataset.describe(), architecture=f"MLP {dims} (ReLU)", params=model.count_params(),
                    optimizer="adam", loss="sparse_ce", direction_seed=args.seed)
    config = train.TrainConfig(epochs=settings["epochs"], learning_rate=settings["learning_rate"],
                               batch_size=settings["batch_size"], snapshot_every=1)
    cache = results.RunCache(folder, {"settings": settings, "seed": args.seed}, fresh=args.fresh)

    # ---------------------------------------------------------------- Train one model, recording every epoch
    def fit() -> tuple[dict[str, pd.DataFrame], dict]:
        train.set_seed(args.seed)
        run = train.train(build, dataset, config, [args.seed], progress=progress, label="training")
        if run.diverged[0]:
            raise cli.UsageError(f"training diverged at learning rate {settings['learning_rate']:g}; "
                                 "give a smaller --learning-rate")
        return {"history": run.history}, {f"w{i}": np.stack([w[i] for _, _, w in run.snapshots])
                                          for i in range(len(run.weights[0]))}

    tables, arrays = cache.fetch("train", fit)
    path = [[arrays[f"w{i}"][t] for i in range(len(arrays))] for t in range(settings["epochs"] + 1)]
    center = path[-1]

    # ---------------------------------------------------------------- Loss on the grids (grid points = batched runs)
    evaluator = train.Evaluator(model, "sparse_ce")
    d1, d2, coords, ratio = trajectory.trajectory_directions(path)
    span = np.abs(coords).max(axis=0) * (1 + settings["margin"])
    pairs = {"pca": (d1, d2, span),
             "filter_normalized": (trajectory.filter_normalized_direction(center, args.seed),
                                   trajectory.filter_normalized_direction(center, args.seed + 1),
                                   np.full(2, settings["random_span"]))}
    grids, described = [], []
    for name, (u, v, (span_a, span_b)) in pairs.items():
        alphas = np.linspace(-span_a, span_a, settings["grid_points"])
        betas = np.linspace(-span_b, span_b, settings["grid_points"])
        def evaluate(u=u, v=v, alphas=alphas, betas=betas) -> tuple[dict, dict[str, np.ndarray]]:
            loss, acc = trajectory.loss_grid(evaluator, center, u, v, alphas, betas, dataset.x_train,
                                             dataset.y_train)
            return {}, {"loss": loss, "acc": acc}

        found = cache.fetch(f"grid_{name}", evaluate)[1]
        loss, acc = found["loss"], found["acc"]
        aa, bb = np.meshgrid(alphas, betas)
        grids.append(pd.DataFrame({"directions": name, "alpha": aa.ravel(), "beta": bb.ravel(),
                                   "loss": loss.ravel(), "accuracy": acc.ravel()}))
        described += [{"directions": name, "axis": k + 1,
                       "explained_variance_ratio": ratio[k] if name == "pca" else np.nan} for k in (0, 1)]
        progress(f"{name} grid: loss {loss.min():.3g}..{loss.max():.3g} at {loss.size} points")
    history = tables["history"]
    path_loss = history.set_index("epoch").loc[range(settings["epochs"] + 1)]
    settings["final_loss"] = float(path_loss["train_loss"].iloc[-1])

    # ---------------------------------------------------------------- Write CSVs and figures
    results.write_csv(folder / "grid.csv", pd.concat(grids))
    results.write_csv(folder / "directions.csv", pd.DataFrame(described))
    results.write_csv(folder / "trajectory.csv", pd.DataFrame({
        "epoch": np.arange(settings["epochs"] + 1), "alpha": coords[:, 0], "beta": coords[:, 1],
        "loss": path_loss["train_loss"].to_numpy(), "accuracy": path_loss["train_acc"].to_numpy()}))
    figures = results.finish(folder, EXPERIMENT, args, settings, progress, cache)
    progress(f"trained to loss {settings['final_loss']:.3g}; wrote {len(figures)} figures and 3 CSVs to {folder}")


if __name__ == "__main__":
    main()
