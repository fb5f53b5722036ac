"""HW1-3a Generalization: can the network fit random labels?

Every TRAINING label is replaced by one drawn uniformly at random (fixed seed; the test
images and labels are untouched), and a network large enough to memorize them (an MLP
784-512-512-10 by default) is trained until its training accuracy reaches 99 % or an epoch
cap. The SAME net, from the same initial weights, with the same optimizer, schedule and
stopping rule, is trained on the TRUE labels too: the ratio of the epochs each needs to the
target is Zhang et al.'s "small factor". Zhang et al. (2017): the network memorizes the noise
(~100 % training accuracy) in a small factor more time than the true labels need, while its
test accuracy stays at chance (10 %). One run per label set: nothing is compared between models.

Writes ``history.csv`` (labels: "random", or "original" for the true labels; epoch, train_loss,
train_acc, test_loss, test_acc, diverged; full sets, inference mode, every epoch; the training metrics are against the
labels trained on, the test metrics against the true ones), settings.json, outcome.json (per label
set the epoch at which training accuracy reached the target, or None at the cap; their ratio;
final metrics) and ``random_labels.png`` (loss and accuracy against epochs, chance and target marked).
"""

from hw1.lab import cli, experiment, models
from hw1.results.schema import METRICS, tables

EXPERIMENT = "part3_random_labels"
CONSTANT = dict(optimizer="adam", momentum=0.0, schedule="constant", decay_epochs=[], decay_factor=0.1)
PROFILES = {
    "smoke": dict(dataset="mnist_bundled", train_limit=256, widths=[128, 128], epochs=60, batch_size=32,
                  learning_rate=1e-3, target_train_acc=0.99, **CONSTANT),
    "default": dict(dataset="mnist_bundled", train_limit=None, widths=[512, 512], epochs=200, batch_size=128,
                    learning_rate=1e-3, target_train_acc=0.99, **CONSTANT),
    # 60,000 Fashion-MNIST random labels. Tried (training accuracy on the random labels): Adam 1e-3 constant, 0.33
    # at epoch 80 and 0.485 at 300 (the former profile: its noise floor); Adam 1e-4 cosine over 150 epochs, 0.679 at
    # the cap (the low rates late in the cosine add little); at epoch 30: SGD + momentum 0.9 at lr 0.1, 0.21; at 0.01,
    # 0.26; Adam 1e-4, 0.32; Adam 1e-4 at batch 32, 0.437 (4× the time per epoch); Adam 3e-4, 0.438. Adam 3e-4
    # stepped ×0.1 at epoch 80: 0.798 → 0.854 in 4 epochs, then a crawl (0.872 at 103). Held to epoch 140: 0.917
    # at 120, then between 0.91 and 0.93 (its noise floor); ×0.1 at 140: 0.969 at 142, then +0.05 points per epoch
    # to 0.981 at the cap of 180. So: 3e-4 to the floor (epoch 120), then two steps ×1/3 (1e-4, then 3.3e-5 at 170)
    # that lower the floor without the crawl of a tenfold step; the true-label twin trains with the same protocol
    "full": dict(dataset="mnist", train_limit=None, widths=[512, 512], epochs=220, batch_size=128,
                 learning_rate=3e-4, target_train_acc=0.99, optimizer="adam", momentum=0.0, schedule="step",
                 decay_epochs=[120, 170], decay_factor=1 / 3),
}


def check(s: dict) -> list[cli.Need]:
    n, n_test, inputs, classes = cli.dataset_shape(s)
    params, flag = models.fc_param_count(s["widths"], inputs, classes), ",".join(map(str, s["widths"]))
    return [cli.training_need(f"--widths {flag} with --batch-size {s['batch_size']}", 1, params,
                              sum(s["widths"]) + classes, min(s["batch_size"], n), inputs, max(n, n_test)),
            cli.history_need(f"--epochs {s['epochs']}", 2 * (s["epochs"] + 1))]


@cli.main_guard
def main(argv: list[str] | None = None) -> None:
    # ---------------------------------------------------------------- Setup
    parser = cli.parser(__doc__, PROFILES, dataset=True)
    cli.add_overrides(parser, "epochs", "batch_size", "learning_rate")
    parser.add_argument("--widths", type=cli.int_list, help="hidden widths of the MLP, e.g. 512,512")
    run = experiment.start(EXPERIMENT, parser, PROFILES, argv, check=check)
    import numpy as np
    import pandas as pd

    from hw1.lab import data, labels, train

    # ---------------------------------------------------------------- Data: random training labels, true test labels
    s = run.settings
    dataset = data.load(s["dataset"], run.args.data_dir, limit=s["train_limit"], seed=run.seed)
    data.check_batch_sizes(s["batch_size"], len(dataset.x_train))
    noisy = labels.random_label_dataset(dataset, seed=run.seed)
    changed = float(np.mean(noisy.y_train != dataset.y_train))
    run.progress(f"{changed:.1%} of {len(noisy.y_train):,} training labels changed; test labels untouched")

    # ---------------------------------------------------------------- Model and the one protocol of both label sets
    model, build = models.fc_classifier(s["widths"], noisy)
    s.update(dataset=noisy.describe(), label_seed=run.seed, labels_changed=round(changed, 4), loss="sparse_ce",
             **models.fc_settings(model))
    config = train.TrainConfig(epochs=s["epochs"], batch_size=s["batch_size"], learning_rate=s["learning_rate"],
                               optimizer=s["optimizer"], momentum=s["momentum"], schedule=s["schedule"],
                               decay_epochs=tuple(s["decay_epochs"]), decay_factor=s["decay_factor"])

    # ---------------------------------------------------------------- Train until memorized (or the cap), then the twin
    def fit(ds, label: str) -> pd.DataFrame:
        result = train.train(build, ds, config, seeds=[run.seed],
                             callbacks=[train.StopAt(train_acc=s["target_train_acc"])], progress=run.progress,
                             label=label)
        return result.history.assign(diverged=result.history["train_loss"].isna())  # NaN once diverged

    history = pd.concat([run.step("train", lambda: fit(noisy, "random labels")).assign(labels="random"),
                         run.step("train_true", lambda: fit(dataset, "true labels")).assign(labels="original")],
                        ignore_index=True)

    # ---------------------------------------------------------------- Write CSV, figure, outcome
    outcome = {}
    for labels, part in history.groupby("labels", sort=False):
        reached, last = part.loc[part["train_acc"] >= s["target_train_acc"], "epoch"], part.iloc[-1]
        prefix = "" if labels == "random" else "true_"  # the twin on the original (true) labels
        outcome.update({f"{prefix}epochs_run": int(last["epoch"]), f"{prefix}diverged": bool(part["diverged"].any()),
                        f"{prefix}epochs_to_target": int(reached.iloc[0]) if len(reached) else None,
                        **{f"{prefix}final_{k}": float(last[k]) for k in METRICS}})
    both = outcome["epochs_to_target"], outcome["true_epochs_to_target"]
    outcome["epochs_ratio"] = both[0] / both[1] if None not in both and both[1] > 0 else None
    run.finish({"history.csv": history}, outcome=outcome)


if __name__ == "__main__":
    main()
