"""View of HW1-3a, random labels: one figure and the report section."""

from __future__ import annotations


from hw1.document import Note, Table
from hw1.plots import TEST_STYLE, TRAIN_STYLE
from hw1.prose import binomial_se, num, pct
from hw1.results import ResultsFolder
from hw1.views import Plot, Task, View
from hw1.views.common import architecture_text, dataset_rows, live, settings_table, training_rows

COLUMNS = ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "diverged"]
Z_CHANCE = 2.0  # test accuracy more than this many binomial standard errors above chance: the net generalizes


def _history(run: ResultsFolder):
    return run.csv("history.csv", COLUMNS)


def chance_test(test_acc: float, classes: int, n_test: int) -> tuple[float, float, float]:
    """(chance, binomial standard error of an accuracy at chance on ``n_test`` images, z of ``test_acc``)."""
    chance = 1.0 / classes
    se = binomial_se(chance, n_test)
    return chance, se, (test_acc - chance) / se


def _outcome_text(run: ResultsFolder) -> str:
    o, target = run.outcome, run.settings["target_train_acc"]
    if o["epochs_to_target"] is not None:
        return f"training accuracy passes {pct(target, 0)} at epoch {num(o['epochs_to_target'])}"
    if o["diverged"]:
        return f"the run diverged before training accuracy reached {pct(target, 0)}"
    return (f"training accuracy does NOT reach {pct(target, 0)}: the run stopped at the cap of "
            f"{num(o['epochs_run'])} epochs with {pct(o['final_train_acc'])}")


def plots(run: ResultsFolder) -> list[Plot]:
    s, h = run.settings, live(_history(run))
    chance, target = 1.0 / s["dataset"]["num_classes"], s["target_train_acc"]

    def draw(fig) -> None:
        top, bottom = fig.subplots(2, 1, sharex=True)
        top.plot(h["epoch"], h["train_loss"], color="C0", label="training (random labels)", **TRAIN_STYLE)
        top.plot(h["epoch"], h["test_loss"], color="C0", label="test (true labels)", **TEST_STYLE)
        top.set(yscale="log", ylabel="cross-entropy (nats, log)", title="Loss")
        top.legend(loc="center right")
        bottom.plot(h["epoch"], h["train_acc"], color="C3", label="training (random labels)", **TRAIN_STYLE)
        bottom.plot(h["epoch"], h["test_acc"], color="C3", label="test (true labels)", **TEST_STYLE)
        bottom.axhline(chance, color="0.45", ls=":", lw=1.2, label=f"chance ({pct(chance, 0)})")
        bottom.axhline(target, color="0.2", ls="-.", lw=0.9, label=f"target ({pct(target, 0)})")
        bottom.set(ylim=(0, 1.03), xlabel="epoch", ylabel="accuracy", title="Accuracy")
        bottom.legend(loc="center right")

    data = s["dataset"]
    caption = (f"{architecture_text(s)} trained on {data['name']} ({data['train_size']:,} training images) whose "
               f"training labels were redrawn uniformly at random (seed {s['label_seed']}, {pct(s['labels_changed'])}"
               f" changed); the {data['test_size']:,} test images keep their true labels. Adam, learning rate "
               f"{s['learning_rate']:g}, batch size {s['batch_size']}; full-set metrics in inference mode after "
               f"every epoch. Outcome: {_outcome_text(run)}." + (" The run DIVERGED; the curves stop there."
                                                                  if run.outcome["diverged"] else ""))
    return [Plot("random_labels.png", "Training on random labels", caption, draw, size=(7.0, 6.2))]


def describe(run: ResultsFolder) -> list[Table]:
    s = run.settings
    rows = [("Architecture", architecture_text(s)), *dataset_rows(s),
            ("Labels", f"every training label redrawn uniformly at random (seed {s['label_seed']}): "
                       f"{pct(s['labels_changed'])} changed; test labels true"),
            *training_rows(s, epochs=f"at most {s['epochs']} (stops once training accuracy ≥ "
                                     f"{pct(s['target_train_acc'], 0)})"),
            ("Runs", "one (a single network is asked to memorize; nothing is compared)")]
    return [settings_table(run, rows)]


def comment(run: ResultsFolder) -> list[Note]:
    s, o = run.settings, run.outcome
    h_all = _history(run)
    h = live(h_all)
    classes, n_train, n_test = s["dataset"]["num_classes"], s["dataset"]["train_size"], s["dataset"]["test_size"]
    notes = []
    if o["diverged"]:
        notes.append(Note(f"The run diverged (the loss became NaN or infinite) after epoch "
                          f"{num(int(h['epoch'].max()) if len(h) else 0)}; only the epochs before are read.",
                          "warning"))
    if h.empty:
        return notes
    last = h.iloc[-1]
    claim = ("Zhang et al. (2017) trained networks on CIFAR-10 and ImageNet with every training label replaced "
             "by a random one: they reach 100% training accuracy (memorize the noise), at a training time only a "
             "small factor longer than on true labels, while test accuracy stays at chance.")
    memorized = o["epochs_to_target"] is not None
    notes.append(Note(f"{claim} Here, {_outcome_text(run)}: the {num(s['params'])}-parameter network "
                      + (f"memorizes {n_train:,} random labels." if memorized else
                         f"fits {pct(last['train_acc'])} of {n_train:,} random labels, short of the target. Not "
                         "resolved by this run: " + ("it diverged (a smaller learning rate is needed)." if o["diverged"]
                                                     else "more epochs or a wider net are needed.")),
                      "agrees" if memorized else "unresolved"))
    chance, se, z = chance_test(last["test_acc"], classes, n_test)
    if z <= Z_CHANCE:
        notes.append(Note(f"Final test accuracy (true labels) is {pct(last['test_acc'])} against chance "
                          f"{pct(chance)}: z = {z:+.1f} binomial standard errors (SE = {pct(se)} on {n_test:,} test "
                          f"images); highest over the epochs {pct(h['test_acc'].max())}. One-sided test: the network "
                          f"generalizes only if z > {Z_CHANCE:g}; it does not, as Zhang et al. report.",
                          "agrees"))
    else:
        notes.append(Note(f"Final test accuracy (true labels) is {pct(last['test_acc'])}, {z:+.1f} binomial standard "
                          f"errors (SE = {pct(se)}) above chance {pct(chance)}: something about the true labels was "
                          f"learned, unlike Zhang et al.'s networks.", "contradicts"))
    low = h.loc[h["test_loss"].idxmin()]
    notes.append(Note(f"Test loss goes from {num(h['test_loss'].iloc[0])} at epoch 0 to {num(last['test_loss'])} at "
                      f"the end (lowest {num(low['test_loss'])} at epoch {num(int(low['epoch']))}), while the training "
                      f"loss falls from {num(h['train_loss'].iloc[0])} to {num(last['train_loss'])}"
                      + (": the network grows confident on the noise, and on the test set that confidence is wrong."
                         if last["test_loss"] > h["test_loss"].iloc[0] else ".")))
    notes.append(Note(f"{pct(s['labels_changed'])} of the training labels differ from the true ones; uniform "
                      f"redrawing keeps 1/{classes} of them by chance, so {pct(1 - 1 / classes)} is expected."))
    return notes


def conclusion(run: ResultsFolder) -> tuple[str, str]:
    s, o = run.settings, run.outcome
    h = live(_history(run))
    if h.empty:
        return "The run diverged at once; nothing to conclude.", "random_labels.png"
    last = h.iloc[-1]
    chance, _, z = chance_test(last["test_acc"], s["dataset"]["num_classes"], s["dataset"]["test_size"])
    fits = "Yes" if o["epochs_to_target"] is not None else "Not within the epoch cap"
    test = (f"at chance ({pct(chance)}, z = {z:+.1f} binomial SE): it memorizes without learning anything that "
            "transfers" if z <= Z_CHANCE else f"above chance ({pct(chance)}, z = {z:+.1f} binomial SE)")
    return (f"{fits}: {_outcome_text(run)} on {s['dataset']['train_size']:,} images with random labels "
            f"({num(s['params'])} parameters), while test accuracy on the true labels is {pct(last['test_acc'])}, "
            f"{test}.", "random_labels.png")


VIEW = View("part3_random_labels", position=7, plots=plots, tasks=(
    Task("1-3a", "Can the network fit random labels",
         "Can a network memorize random training labels, and what happens to the test set?",
         describe, comment, conclusion),))
