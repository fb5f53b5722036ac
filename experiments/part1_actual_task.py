"""HW1-1b Deep vs shallow: train on an actual task.

A fully connected net with one hidden layer (DNN), a convolutional net (CNN) and a recurrent
net (an LSTM reading the image row by row), of about the same number of parameters, are
trained on the same images with the same optimizer, batch size and epochs. Which kind learns
faster, and which generalizes better? Deep against shallow: the DNN is also the shallowest
member of a family of fully connected nets with more hidden layers (``dnn2``, ``dnn4``: 2 and 4
hidden layers) whose widths are solved from the DNN's parameter count (within 2 %). Each model
is trained from five seeds (a DNN's at most three in one batched call, to bound the memory; the CNN's and the
LSTM's one at a time, which is faster: ``hw1.lab.train.run_groups``): with
the unpaired rank test of ``hw1.report.evidence``, 5 runs against 5 can reach p = 0.008, while 3
against 3 can never go below 0.1.

Writes ``models.csv`` (model, run, seed, params, final train_loss, train_acc, test_loss,
test_acc, diverged: one row per model and seed), ``history.csv`` (model, run, seed, epoch,
train_loss, train_acc, test_loss, test_acc, diverged), ``models/final_weights.npz`` (array
``<model>_<i>`` = the i-th trainable variable of that model, leading seed axis), settings.json,
outcome.json and two figures: loss and accuracy of every model per epoch, training beside test.
"""

from hw1.lab import cli, experiment, models
from hw1.results.schema import METRICS, tables

EXPERIMENT = "part1_actual_task"
PROFILES = {
    "smoke": dict(dataset="mnist_bundled", train_limit=512, epochs=2, batch_size=64, learning_rate=1e-3, runs=2,
                  dnn_width=16, cnn_filters=[4, 8], cnn_dense=16, rnn_units=16, deeper_dnns=[3]),
    "default": dict(dataset="mnist_bundled", train_limit=None, epochs=20, batch_size=64, learning_rate=1e-3,
                    runs=5, dnn_width=32, cnn_filters=[8, 16], cnn_dense=32, rnn_units=64, deeper_dnns=[2, 4]),
    "full": dict(dataset="mnist", train_limit=None, epochs=10, batch_size=128, learning_rate=1e-3, runs=5,
                 dnn_width=32, cnn_filters=[8, 16], cnn_dense=32, rnn_units=64, deeper_dnns=[2, 4]),
}
SEED_GROUP = 3  # seeds trained in one batched call: evaluating 5 CNNs on 8,192 images at once peaks above 4 GiB


def check(s: dict) -> list[cli.Need]:
    (n, n_test, inputs, classes), runs = cli.dataset_shape(s), s["runs"]
    params = models.fc_param_count([s["dnn_width"]], inputs, classes)  # every model is matched to the DNN's count
    side = rows = round((inputs // (3 if s["dataset"] == "cifar10" else 1)) ** 0.5)
    units = s["cnn_dense"] + classes  # the largest activations per image: the CNN's (or the LSTM's, row by row)
    for f in s["cnn_filters"]:
        units, side = units + side * side * f * 5 // 4, side // 2  # a convolution's output and its 2×2 pooling
    count, flags = 3 + len(s["deeper_dnns"]), f"--runs {runs} with --epochs {s['epochs']}"
    return [cli.training_need(f"--batch-size {s['batch_size']}", min(runs, SEED_GROUP), params,
                              max(units, rows * 5 * s["rnn_units"]), min(s["batch_size"], n), inputs, max(n, n_test)),
            cli.Need(f"--runs {runs}", f"the final weights of {count} models × {runs:,} runs",
                     3 * cli.FLOAT32 * count * runs * params),  # as trained, cached, saved
            cli.history_need(flags, count * runs * (s["epochs"] + 1))]


@cli.main_guard
def main(argv: list[str] | None = None) -> None:
    # ---------------------------------------------------------------- Setup
    parser = cli.parser(__doc__, PROFILES, dataset=True)
    cli.add_overrides(parser, "epochs", "learning_rate", "batch_size", "runs")
    run = experiment.start(EXPERIMENT, parser, PROFILES, argv, check=check)
    import numpy as np
    import pandas as pd

    from hw1.measure import core
    from hw1.lab import data, train

    # ---------------------------------------------------------------- Prepare the data and the models
    settings = run.settings
    dataset = data.load(settings["dataset"], run.args.data_dir, limit=settings["train_limit"], seed=run.seed)
    data.check_batch_sizes(settings["batch_size"], len(dataset.x_train))
    builders = models.image_classifiers(dataset.input_shape, dataset.num_classes, settings["dnn_width"],
                                        settings["cnn_filters"], settings["cnn_dense"], settings["rnn_units"])
    # deep vs shallow: fully connected nets with the DNN's parameter count and more hidden layers
    inputs, target = int(np.prod(dataset.input_shape)), builders["dnn"]().count_params()
    family = {"dnn": [settings["dnn_width"]]}
    for depth in settings["deeper_dnns"]:
        name, widths = f"dnn{depth}", models.widths_for_params(depth, target, inputs, dataset.num_classes)
        family[name] = widths
        builders[name] = lambda ws=widths, n=name: models.fc_net(ws, dataset.input_shape, dataset.num_classes, name=n)
    built = {name: build() for name, build in builders.items()}
    seeds = train.run_seeds(run.seed, settings["runs"])
    settings.update(dataset=dataset.describe(), optimizer="adam", loss="sparse_ce", seeds=seeds,
                    models={name: {"architecture": models.describe(m), "params": m.count_params()}
                            for name, m in built.items()},
                    depth_family={"models": list(family), "hidden_layers": [len(ws) for ws in family.values()],
                                  "widths": list(family.values()), "target_params": target})
    config = train.TrainConfig(epochs=settings["epochs"], batch_size=settings["batch_size"],
                               learning_rate=settings["learning_rate"])

    # ---------------------------------------------------------------- Train: the seeds of one model together
    def fit(name: str) -> dict:
        histories, weights = [], []
        for first in range(0, len(seeds), SEED_GROUP):  # a run's numbers do not depend on its neighbours
            result = train.train(builders[name], dataset, config, seeds[first:first + SEED_GROUP],
                                 progress=run.progress, label=name)
            histories.append(result.history.assign(run=result.history["run"] + first))
            weights += result.weights
        return {"history": pd.concat(histories, ignore_index=True), "weights": core.stack(weights)}

    fitted = {name: run.step(name, lambda name=name: fit(name)) for name in builders}

    # ---------------------------------------------------------------- Tables: every epoch, and the final one
    seed_of = dict(enumerate(seeds))
    history = pd.concat([f["history"].sort_values(["run", "epoch"], kind="stable").assign(model=name)
                         for name, f in fitted.items()], ignore_index=True)
    history = history.assign(seed=history["run"].map(seed_of), diverged=~np.isfinite(history["train_loss"]))
    history = tables(EXPERIMENT)["history.csv"].select(history)
    final = history.groupby(["model", "run"], sort=False).tail(1).reset_index(drop=True)
    final.insert(3, "params", final["model"].map(lambda name: settings["models"][name]["params"]))
    final = final.drop(columns="epoch")

    # ---------------------------------------------------------------- Write weights, CSVs, outcome, figures
    run.save_arrays("final_weights", {f"{name}_{i}": w for name, f in fitted.items() for i, w in enumerate(f["weights"])})
    summary = final[~final["diverged"]].groupby("model", sort=False)["test_acc"]
    run.finish({"models.csv": final, "history.csv": history}, outcome={
        "test_acc_mean": summary.mean().to_dict(), "test_acc_min": summary.min().to_dict(),
        "test_acc_max": summary.max().to_dict(),
        "diverged_runs": final.loc[final["diverged"], ["model", "seed"]].to_dict("records")})


if __name__ == "__main__":
    main()
