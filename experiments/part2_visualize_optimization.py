"""HW1-2a Visualize the optimization process.

One architecture (a small fully connected classifier on MNIST) is trained 8 times from different
seeds, all runs in one batched graph (Adam, mini-batches), recording the weights at epoch 0 and every
3 epochs. PCA (scikit-learn), fitted jointly on all runs' snapshots, reduces them to 2-D: once for the
whole model, once for one named layer. Where do different runs go, and how do their paths look?

Writes ``snapshots.csv`` (run, seed, epoch, scope, pc1, pc2, train_loss, train_acc, test_loss,
test_acc: full sets, inference mode; diverged), ``pca.csv`` (scope, component,
explained_variance_ratio), ``models/snapshots.npz`` (``weights``: a flat row per snapshot, with its
``run`` and ``epoch``), settings.json, outcome.json, ``trajectory_whole.png``, ``trajectory_layer.png``.
A run whose loss becomes NaN or infinite is ``diverged`` on all its rows and left out of the PCA.
"""

from hw1.lab import cli, experiment, models

EXPERIMENT = "part2_visualize_optimization"
PROFILES = {
    "smoke": dict(dataset="mnist_bundled", runs=3, widths=[16, 16], layer="dense_2", train_limit=400, epochs=3,
                  snapshot_every=3, batch_size=64, learning_rate=1e-3),
    "default": dict(dataset="mnist_bundled", runs=8, widths=[64, 64], layer="dense_2", train_limit=None, epochs=30,
                    snapshot_every=3, batch_size=64, learning_rate=1e-3),
    "full": dict(dataset="mnist", runs=8, widths=[128, 128], layer="dense_2", train_limit=None, epochs=30,
                 snapshot_every=3, batch_size=128, learning_rate=1e-3),
}


def check(settings: dict) -> list[cli.Need]:
    layers = [f"dense_{i + 1}" for i in range(len(settings["widths"]))] + ["output"]  # models.fc_net's names
    if settings["layer"] not in layers:
        raise cli.UsageError(f"--layer {settings['layer']!r} is not a layer of this model; choose one of "
                             f"{', '.join(layers)}")
    if settings["epochs"] < settings["snapshot_every"]:
        raise cli.UsageError(f"--epochs {settings['epochs']} is shorter than the recording cycle of "
                             f"{settings['snapshot_every']} epochs; give at least {settings['snapshot_every']}")
    (n, n_test, inputs, classes), runs, epochs = cli.dataset_shape(settings), settings["runs"], settings["epochs"]
    params, flags = models.fc_param_count(settings["widths"], inputs, classes), f"--runs {runs} with --epochs {epochs}"
    count = runs * (epochs // settings["snapshot_every"] + 1)
    return [cli.snapshot_need(flags, count, params), cli.history_need(flags, count),
            cli.training_need(f"--runs {runs}", runs, params, sum(settings["widths"]) + classes,
                              min(settings["batch_size"], n), inputs, max(n, n_test))]


@cli.main_guard
def main(argv: list[str] | None = None) -> None:
    # ---------------------------------------------------------------- Setup
    parser = cli.parser(__doc__, PROFILES, dataset=True)
    cli.add_overrides(parser, "runs", "epochs", "learning_rate")
    parser.add_argument("--layer", help="the layer whose weights get their own PCA (default dense_2)")
    run = experiment.start(EXPERIMENT, parser, PROFILES, argv, check=check)
    import numpy as np
    import pandas as pd

    from hw1.lab import data, train
    from hw1.measure import trajectory

    # ---------------------------------------------------------------- Data and model
    s = run.settings
    dataset = data.load_checked(s["dataset"], run.args.data_dir, s["batch_size"], limit=s["train_limit"],
                                flag="batch size")
    model, build = models.fc_classifier(s["widths"], dataset)
    layer = trajectory.layer_indices(model, s["layer"])
    s.update(dataset=dataset.describe(), **models.fc_settings(model),
             layer_params=int(sum(model.trainable_variables[i].shape.num_elements() for i in layer)),
             optimizer="adam", loss="sparse_ce", seeds=train.run_seeds(run.seed, s["runs"]),
             reduction="PCA (scikit-learn), 2 components")
    config = train.TrainConfig(epochs=s["epochs"], learning_rate=s["learning_rate"], batch_size=s["batch_size"])

    # ---------------------------------------------------------------- Train all runs at once, recording weights
    def fit() -> dict:
        result = train.train(build, dataset, config, s["seeds"], eval_every=s["snapshot_every"],
                             callbacks=[train.Snapshots(every=s["snapshot_every"])], progress=run.progress,
                             label=f"{s['runs']} runs")
        ordered = sorted(result.snapshots, key=lambda snapshot: snapshot[:2])  # by run, then epoch
        return {"history": result.history, "diverged": result.diverged, "snapshots": [w for _, _, w in ordered],
                "keys": pd.DataFrame([(r, e) for r, e, _ in ordered], columns=["run", "epoch"])}

    fitted = run.step("train", fit)
    keys, snapshots = fitted["keys"], fitted["snapshots"]
    diverged = np.asarray(fitted["diverged"], bool)
    live = ~diverged[keys["run"].to_numpy()]

    # ---------------------------------------------------------------- PCA, jointly on the live runs' snapshots
    rows, variance = [], []
    for scope, indices in (("whole", None), (s["layer"], layer)):
        xy, ratio = np.full((len(keys), 2), np.nan), np.full(2, np.nan)
        if live.sum() >= 2:
            xy[live], ratio = trajectory.pca_2d(trajectory.snapshot_matrix(
                [w for w, ok in zip(snapshots, live) if ok], indices))
        rows.append(keys.assign(scope=scope, pc1=xy[:, 0], pc2=xy[:, 1]))
        variance += [{"scope": scope, "component": c + 1, "explained_variance_ratio": ratio[c]} for c in (0, 1)]
    metrics = fitted["history"].set_index(["run", "epoch"])
    snaps = pd.concat(rows, ignore_index=True).join(metrics, on=["run", "epoch"])
    snaps.insert(1, "seed", [s["seeds"][r] for r in snaps["run"]])
    snaps["diverged"] = diverged[snaps["run"].to_numpy()]

    # ---------------------------------------------------------------- Write the snapshots, CSVs, outcome, figures
    run.save_arrays("snapshots", {"weights": trajectory.snapshot_matrix(snapshots).astype(np.float32),
                                  "run": keys["run"].to_numpy(), "epoch": keys["epoch"].to_numpy()})
    pca, last = pd.DataFrame(variance), snaps[(snaps["scope"] == "whole") & (snaps["epoch"] == keys["epoch"].max())]
    finite = lambda v: float(v) if np.isfinite(v) else None  # noqa: E731  (JSON has no NaN)
    run.finish({"snapshots.csv": snaps, "pca.csv": pca}, outcome={
        "diverged_runs": [int(r) for r in np.flatnonzero(diverged)],
        "explained_variance": {scope: finite(part.sum(min_count=2)) for scope, part
                               in pca.groupby("scope", sort=False)["explained_variance_ratio"]},
        "final_train_loss_range": [finite(last["train_loss"].min()), finite(last["train_loss"].max())]})


if __name__ == "__main__":
    main()
