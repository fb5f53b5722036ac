"""HW1-3a Generalization: can the network fit random labels?

Every TRAINING label is replaced by one drawn uniformly at random (fixed seed; the
test labels are untouched), and a network large enough to memorize them (an MLP
784-512-512-10 by default) is trained until its training accuracy reaches 99 % or
an epoch cap. Zhang et al. (2017): the network memorizes the noise, while its test
accuracy stays at chance (10 %) and its test loss grows.

Writes ``history.csv`` (epoch, train_loss, train_acc, test_loss, test_acc; full sets,
inference mode, every epoch), settings.json (with ``summary``: the epoch at which
training accuracy reached the target, final metrics) and ``random_labels.png``:
training and test loss against epochs, accuracy in a second panel.
"""

import _path  # noqa: F401  (puts the repository root on sys.path)

from hw1 import cli

cli.quiet_tensorflow()

import numpy as np  # noqa: E402

from hw1 import analysis, data, models, results, train  # noqa: E402

EXPERIMENT = "part3_random_labels"
PROFILES = {
    "smoke": dict(dataset="mnist_bundled", train_limit=256, widths=[128, 128], epochs=60, batch_size=32,
                  learning_rate=1e-3, target_train_acc=0.99),
    "default": dict(dataset="mnist_bundled", train_limit=None, widths=[512, 512], epochs=200, batch_size=128,
                    learning_rate=1e-3, target_train_acc=0.99),
    "full": dict(dataset="mnist", train_limit=None, widths=[1024, 1024], epochs=400, batch_size=128,
                 learning_rate=1e-3, target_train_acc=0.99),
}
COLUMNS = ["epoch", "train_loss", "train_acc", "test_loss", "test_acc"]


@cli.main_guard
def main() -> None:
    # ---------------------------------------------------------------- Setup
    parser = cli.parser(__doc__, PROFILES, dataset=True)
    parser.add_argument("--epochs", type=cli.positive_int, help="epoch cap (default: the profile's)")
    parser.add_argument("--batch-size", dest="batch_size", type=cli.positive_int, help="samples per Adam step")
    parser.add_argument("--widths", type=cli.int_list, help="hidden widths of the MLP, e.g. 512,512")
    args = parser.parse_args()
    settings = cli.settings(PROFILES, args)
    folder = cli.output_dir(args.out, EXPERIMENT)
    progress = results.Progress(EXPERIMENT)

    # ---------------------------------------------------------------- Prepare the data
    dataset = data.load(settings["dataset"], args.data_dir, limit=settings["train_limit"], seed=args.seed)
    noisy = analysis.random_label_dataset(dataset, seed=args.seed)
    changed = float(np.mean(noisy.y_train != dataset.y_train))
    settings.update(dataset=noisy.describe(), label_seed=args.seed, labels_changed=round(changed, 4),
                    optimizer="adam", loss="sparse_ce")
    progress(f"{changed:.1%} of {len(noisy.y_train):,} training labels changed; test labels untouched")
    cache = results.RunCache(folder, {"settings": settings, "seed": args.seed}, fresh=args.fresh)

    # ---------------------------------------------------------------- Build the model
    build = lambda: models.fc_net(settings["widths"], noisy.input_shape, noisy.num_classes)  # noqa: E731
    config = train.TrainConfig(epochs=settings["epochs"], batch_size=settings["batch_size"],
                               learning_rate=settings["learning_rate"], stop_train_acc=settings["target_train_acc"])
    params = build().count_params()

    # ---------------------------------------------------------------- Train until memorized (or the cap)
    def fit() -> tuple[dict, dict]:
        train.set_seed(args.seed)
        run = train.train(build, noisy, config, seeds=[args.seed], progress=progress, label="random labels")
        return {"history": run.history[COLUMNS].assign(diverged=run.diverged[0])}, {}

    history = cache.fetch("random_labels", fit)[0]["history"]

    # ---------------------------------------------------------------- Write CSVs and figures
    reached = history.loc[history["train_acc"] >= settings["target_train_acc"], "epoch"]
    last = history.iloc[-1]
    summary = {"params": params, "epochs_run": int(last["epoch"]), "diverged": bool(last["diverged"]),
               "epochs_to_target": int(reached.iloc[0]) if len(reached) else None,
               **{f"final_{k}": float(last[k]) for k in COLUMNS[1:]}}
    results.write_csv(folder / "history.csv", history[COLUMNS])
    figures = results.finish(folder, EXPERIMENT, args, settings, progress, cache, summary=summary)
    target = f"{settings['target_train_acc']:.0%}"
    outcome = (f"reached {target} training accuracy at epoch {summary['epochs_to_target']}" if len(reached)
               else f"did NOT reach {target} in {summary['epochs_run']} epochs")
    progress(f"{outcome}; test accuracy {last['test_acc']:.3f} (chance {1 / noisy.num_classes:.2f}); "
             f"wrote history.csv and {len(figures)} figure(s) to {folder}")


if __name__ == "__main__":
    main()
