"""HW1-1b Deep vs shallow: train on an actual task.

A fully connected net (DNN), a convolutional net (CNN) and a recurrent net
(an LSTM reading the image row by row) of about the same number of
parameters are trained on the same images with the same optimizer and
budget. Which kind learns faster and generalizes better?

Writes ``models.csv`` (model, description, params, final metrics),
``history.csv`` (model, epoch, train_loss, train_acc, test_loss, test_acc),
settings.json and two figures: training loss of all models, training accuracy
of all models (test curves dashed beside them).
"""

import _path  # noqa: F401  (puts the repository root on sys.path)

from hw1 import cli

cli.quiet_tensorflow()

import pandas as pd  # noqa: E402

from hw1 import data, models, results, train  # noqa: E402

EXPERIMENT = "part1_actual_task"
PROFILES = {
    "smoke": dict(dataset="mnist_bundled", train_limit=512, epochs=2, batch_size=64, learning_rate=1e-3,
                  dnn_width=16, cnn_filters=[4, 8], cnn_dense=16, rnn_units=16),
    "default": dict(dataset="mnist_bundled", train_limit=None, epochs=20, batch_size=64, learning_rate=1e-3,
                    dnn_width=32, cnn_filters=[8, 16], cnn_dense=32, rnn_units=64),
    "full": dict(dataset="mnist", train_limit=None, epochs=20, batch_size=128, learning_rate=1e-3,
                 dnn_width=32, cnn_filters=[8, 16], cnn_dense=32, rnn_units=64),
}


@cli.main_guard
def main() -> None:
    # ---------------------------------------------------------------- Setup
    parser = cli.parser(__doc__, PROFILES, dataset=True)
    parser.add_argument("--epochs", type=cli.positive_int, help="override the profile's epochs")
    parser.add_argument("--learning-rate", dest="learning_rate", type=cli.positive_float,
                        help="override the profile's Adam learning rate")
    parser.add_argument("--batch-size", dest="batch_size", type=cli.positive_int,
                        help="override the profile's batch size")
    args = parser.parse_args()
    settings = cli.settings(PROFILES, args)
    folder = cli.output_dir(args.out, EXPERIMENT)
    progress = results.Progress(EXPERIMENT)

    # ---------------------------------------------------------------- Prepare the data
    dataset = data.load(settings["dataset"], args.data_dir, limit=settings["train_limit"], seed=args.seed)
    settings.update(dataset=dataset.describe(), optimizer="adam", loss="sparse_ce")
    cache = results.RunCache(folder, {"settings": settings, "seed": args.seed}, fresh=args.fresh)

    # ---------------------------------------------------------------- Build the models
    shape, classes = dataset.input_shape, dataset.num_classes
    builders = {
        "dnn": lambda: models.fc_net([settings["dnn_width"]], shape, classes, name="dnn"),
        "cnn": lambda: models.cnn(shape, classes, settings["cnn_filters"], settings["cnn_dense"]),
        "rnn": lambda: models.rnn(shape, classes, settings["rnn_units"]),
    }
    config = train.TrainConfig(epochs=settings["epochs"], batch_size=settings["batch_size"],
                               learning_rate=settings["learning_rate"])

    # ---------------------------------------------------------------- Train
    model_rows, histories = [], []
    for name, build in builders.items():
        def fit(build=build, name=name) -> tuple[dict[str, pd.DataFrame], dict]:
            train.set_seed(args.seed)
            run = train.train(build, dataset, config, seeds=[args.seed], progress=progress, label=name)
            history = run.history.drop(columns="run").assign(diverged=run.diverged[0])
            return {"history": history}, {}

        history = cache.fetch(name, fit)[0]["history"]
        model = build()
        last = history.iloc[-1]
        model_rows.append({"model": name, "description": models.describe(model), "params": model.count_params(),
                           **{k: last[k] for k in ("train_loss", "train_acc", "test_loss", "test_acc")},
                           "diverged": bool(last["diverged"])})
        histories.append(history.drop(columns="diverged").assign(model=name))

    # ---------------------------------------------------------------- Write CSVs and figures
    history = pd.concat(histories)[["model", "epoch", "train_loss", "train_acc", "test_loss", "test_acc"]]
    results.write_csv(folder / "models.csv", pd.DataFrame(model_rows))
    results.write_csv(folder / "history.csv", history)
    figures = results.finish(folder, EXPERIMENT, args, settings, progress, cache)
    progress(f"wrote {len(figures)} figures and 2 CSVs to {folder}")


if __name__ == "__main__":
    main()
