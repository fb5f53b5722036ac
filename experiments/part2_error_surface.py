"""HW1-2 bonus: the error surface around a trained model.

A small MNIST classifier is trained (Adam, mini-batches), recording its weights every epoch. The
training loss is then evaluated on a 2-D grid around the final weights θ* along (1) the top-2 PCA
directions of the trajectory's offsets θ_t − θ*, with the trajectory projected on the plane (Li
et al. 2018, §7), and (2) two filter-normalized random directions (Li et al. 2018, §4). What does
the neighbourhood of the minimum found look like?

Writes ``grid.csv`` (directions, alpha, beta, train_loss, train_acc), ``trajectory.csv`` (epoch,
alpha, beta, train_loss, train_acc, test_loss, test_acc, diverged), ``models/surface.npz`` (flat
``center`` and directions ``pca_1, pca_2, filter_normalized_1, filter_normalized_2``), settings.json,
outcome.json, ``surface_pca.png`` and ``surface_filter_normalized.png``. A training that diverges
(loss NaN or infinite) is a result: its rows are marked ``diverged`` from then on and the grids are
centred on the last finite snapshot (the PCA plane needs three of them).
"""

import math

from hw1.lab import cli, experiment, models
from hw1.measure import constants

EXPERIMENT = "part2_error_surface"
PROFILES = {
    "smoke": dict(dataset="mnist_bundled", widths=[8], train_limit=400, epochs=2, batch_size=64, learning_rate=1e-3,
                  grid_points=7, margin=0.3, random_span=1.0),
    "default": dict(dataset="mnist_bundled", widths=[32], train_limit=None, epochs=20, batch_size=64,
                    learning_rate=1e-3, grid_points=25, margin=0.3, random_span=1.0),
    "full": dict(dataset="mnist", widths=[32], train_limit=None, epochs=30, batch_size=128, learning_rate=1e-3,
                 grid_points=31, margin=0.3, random_span=1.0),
}


GRID_POINT_BYTES = 400  # a grid point's coordinates, loss, accuracy, frame row, cached and written CSV (~240 B measured)


def check(settings: dict) -> list[cli.Need]:
    g, epochs = settings["grid_points"], settings["epochs"]
    if g < 3 or g % 2 == 0:
        raise cli.UsageError(f"--grid-points {g} is not accepted; give an odd number ≥ 3 "
                             "(the trained model is the centre point)")
    if g * g > constants.MAX_GRID_POINTS:
        raise cli.UsageError(f"--grid-points {g}: the 2 × {g:,}² points of the loss grids are more than "
                             f"hw1.loss_surface's {constants.MAX_GRID_POINTS:,} per grid; give an odd number from 3 "
                             f"to {math.isqrt(constants.MAX_GRID_POINTS) - 1 | 1}")
    n, n_test, inputs, classes = cli.dataset_shape(settings)
    params = models.fc_param_count(settings["widths"], inputs, classes)
    return [cli.Need(f"--grid-points {g}", f"the 2 × {g:,}² points of the loss grids", 2 * g * g * GRID_POINT_BYTES),
            cli.snapshot_need(f"--epochs {epochs}", epochs + 1, params),  # one snapshot per epoch
            cli.training_need(f"--epochs {epochs}", 1, params, sum(settings["widths"]) + classes,
                              min(settings["batch_size"], n), inputs, max(n, n_test))]


@cli.main_guard
def main(argv: list[str] | None = None) -> None:
    # ---------------------------------------------------------------- Setup
    parser = cli.parser(__doc__, PROFILES, dataset=True)
    parser.add_argument("--grid-points", dest="grid_points", type=cli.positive_int,
                        help="grid points per axis, odd (default 25)")
    cli.add_overrides(parser, "epochs", "learning_rate")
    run = experiment.start(EXPERIMENT, parser, PROFILES, argv, check=check)
    import numpy as np
    import pandas as pd

    import hw1
    from hw1.lab import data, train
    from hw1.measure import core, trajectory

    # ---------------------------------------------------------------- Data and model
    s = run.settings
    dataset = data.load_checked(s["dataset"], run.args.data_dir, s["batch_size"], limit=s["train_limit"],
                                flag="batch size")
    model, build = models.fc_classifier(s["widths"], dataset)
    s.update(dataset=dataset.describe(), **models.fc_settings(model), optimizer="adam", loss="sparse_ce",
             direction_seeds=[run.seed, run.seed + 1])
    config = train.TrainConfig(epochs=s["epochs"], learning_rate=s["learning_rate"], batch_size=s["batch_size"])

    # ---------------------------------------------------------------- Train one model, recording every epoch
    def fit() -> dict:
        result = train.train(build, dataset, config, [run.seed], callbacks=[train.Snapshots(every=1)],
                             progress=run.progress, label="training")
        return {"history": result.history, "path": [w for _, _, w in result.snapshots]}

    fitted = run.step("train", fit)
    history = fitted["history"].drop(columns="run")
    history["diverged"] = ~np.isfinite(history["train_loss"]).cummin()  # from the first non-finite epoch on
    path = fitted["path"][:int((~history["diverged"]).sum())]  # the snapshots before any divergence
    center = path[-1]

    # ---------------------------------------------------------------- Directions and the loss on each grid
    planes, xy, ratio = {}, np.full((len(history), 2), np.nan), None
    if len(path) >= 3:  # two PCA directions need at least three points
        d1, d2, xy[:len(path)], ratio = trajectory.trajectory_directions(path)
        planes["pca"] = (d1, d2, np.abs(xy[:len(path)]).max(axis=0) * (1 + s["margin"]))
    history.insert(1, "alpha", xy[:, 0])
    history.insert(2, "beta", xy[:, 1])
    planes["filter_normalized"] = (*(trajectory.filter_normalized_direction(center, seed)
                                     for seed in s["direction_seeds"]), np.full(2, s["random_span"]))

    def grid(u, v, spans) -> pd.DataFrame:  # the axes symmetric, the centre exactly 0: the trained model
        surface = hw1.loss_surface(model, (dataset.x_train, dataset.y_train), [u, v], extent=tuple(spans),
                                   points=s["grid_points"], loss="sparse_ce", weights=center)
        return surface.rename(columns={"a": "alpha", "b": "beta", "loss": "train_loss", "accuracy": "train_acc"})

    grids = pd.concat([run.step(f"grid_{name}", lambda u=u, v=v, spans=spans: grid(u, v, spans))
                       .assign(directions=name) for name, (u, v, spans) in planes.items()], ignore_index=True)

    # ---------------------------------------------------------------- Write the directions, CSVs, outcome, figures
    run.save_arrays("surface", {"center": core.flatten(center), **{f"{name}_{k + 1}": core.flatten(plane[k])
                                                                   for name, plane in planes.items() for k in (0, 1)}})
    diverged, center_loss = bool(history["diverged"].any()), history["train_loss"].iloc[len(path) - 1]
    run.finish({"grid.csv": grids,
                "trajectory.csv": history},
               outcome={"diverged": diverged, "diverged_at_epoch": len(path) if diverged else None,
                        "center_epoch": len(path) - 1, "center_train_loss": float(center_loss),
                        "pca_explained_variance": None if ratio is None else [float(r) for r in ratio]})


if __name__ == "__main__":
    main()
