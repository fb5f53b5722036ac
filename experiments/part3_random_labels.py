"""HW1-3a Generalization: can the network fit random labels?

Every TRAINING label is replaced by one drawn uniformly at random (fixed seed; the test
images and labels are untouched), and a network large enough to memorize them (an MLP
784-512-512-10 by default) is trained until its training accuracy reaches 99 % or an epoch
cap. Zhang et al. (2017): the network memorizes the noise (~100 % training accuracy), while
its test accuracy stays at chance (10 %). One run: nothing is compared between models.

Writes ``history.csv`` (epoch, train_loss, train_acc, test_loss, test_acc, diverged; full
sets, inference mode, every epoch; the training metrics are against the RANDOM labels, the
test metrics against the true ones), settings.json, outcome.json (the epoch at which
training accuracy reached the target, or the cap; final metrics) and ``random_labels.png``
(loss and accuracy against epochs, chance and target marked).
"""

from hw1 import cli, experiment

EXPERIMENT = "part3_random_labels"
PROFILES = {
    "smoke": dict(dataset="mnist_bundled", train_limit=256, widths=[128, 128], epochs=60, batch_size=32,
                  learning_rate=1e-3, target_train_acc=0.99),
    "default": dict(dataset="mnist_bundled", train_limit=None, widths=[512, 512], epochs=200, batch_size=128,
                    learning_rate=1e-3, target_train_acc=0.99),
    # 60,000 random labels: 784-512-512-10 is as fast per epoch as 784-1024-1024-10 at memorizing them
    # (33 % training accuracy after 80 epochs, both) at a quarter of the cost; 300 epochs is the budget
    "full": dict(dataset="mnist", train_limit=None, widths=[512, 512], epochs=300, batch_size=128,
                 learning_rate=1e-3, target_train_acc=0.99),
}
COLUMNS = ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "diverged"]


@cli.main_guard
def main(argv: list[str] | None = None) -> None:
    # ---------------------------------------------------------------- Setup
    parser = cli.parser(__doc__, PROFILES, dataset=True)
    cli.add_overrides(parser, "epochs", "batch_size", "learning_rate")
    parser.add_argument("--widths", type=cli.int_list, help="hidden widths of the MLP, e.g. 512,512")
    run = experiment.start(EXPERIMENT, parser, PROFILES, argv)
    import numpy as np

    from hw1 import analysis, data, models, train

    # ---------------------------------------------------------------- Data: random training labels, true test labels
    s = run.settings
    dataset = data.load(s["dataset"], run.args.data_dir, limit=s["train_limit"], seed=run.seed)
    data.check_batch_sizes(s["batch_size"], len(dataset.x_train))
    noisy = analysis.random_label_dataset(dataset, seed=run.seed)
    changed = float(np.mean(noisy.y_train != dataset.y_train))
    run.progress(f"{changed:.1%} of {len(noisy.y_train):,} training labels changed; test labels untouched")

    # ---------------------------------------------------------------- Model
    build = lambda: models.fc_net(s["widths"], noisy.input_shape, noisy.num_classes)  # noqa: E731
    s.update(dataset=noisy.describe(), label_seed=run.seed, labels_changed=round(changed, 4), optimizer="adam",
             loss="sparse_ce", **models.fc_settings(build()))
    config = train.TrainConfig(epochs=s["epochs"], batch_size=s["batch_size"], learning_rate=s["learning_rate"],
                               stop_train_acc=s["target_train_acc"])

    # ---------------------------------------------------------------- Train until memorized (or the cap)
    def fit():
        result = train.train(build, noisy, config, seeds=[run.seed], progress=run.progress, label="random labels")
        return result.history.assign(diverged=result.history["train_loss"].isna())[COLUMNS]  # NaN once diverged

    history = run.step("train", fit)

    # ---------------------------------------------------------------- Write CSV, figure, outcome
    reached = history.loc[history["train_acc"] >= s["target_train_acc"], "epoch"]
    last = history.iloc[-1]
    run.finish({"history.csv": history}, outcome={
        "epochs_run": int(last["epoch"]), "diverged": bool(history["diverged"].any()),
        "epochs_to_target": int(reached.iloc[0]) if len(reached) else None,
        **{f"final_{k}": float(last[k]) for k in COLUMNS[1:5]}})


if __name__ == "__main__":
    main()
