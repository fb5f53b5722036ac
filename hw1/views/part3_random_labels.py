"""View of HW1-3a, random labels: one figure and the report section."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from hw1.document import Note, Table
from hw1.plots import TEST_STYLE, TRAIN_STYLE
from hw1.prose import binomial_se, num, pct
from hw1.results import ResultsFolder
from hw1.views import Plot, Task, View
from hw1.views.common import architecture_text, dataset_rows, live, settings_table, training_rows

COLUMNS = ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "diverged"]
Z_CHANCE = 2.0  # test accuracy more than this many standard errors above chance: the net generalizes
LAST_SHARE, LAST_MAX = 0.1, 20  # the test accuracy judged: the mean over the last 10% of the epochs (at most 20)


def _history(run: ResultsFolder):
    return run.csv("history.csv", COLUMNS)


@dataclass(frozen=True)
class ChanceTest:
    """Is the test accuracy at the end above chance? Judged on the mean over the last ``epochs`` evaluations,
    in units of the larger of the binomial standard error of one accuracy at chance and the spread (SD) of
    those evaluations: a net fitted to random labels gives whole groups of similar test images the same
    (random) answer, so its accuracy jumps between epochs far more than independent errors would
    (between 5% and 14% from one epoch to the next in the full-size run, 10,000 Fashion-MNIST test images)."""
    chance: float
    mean: float
    low: float
    high: float
    epochs: int
    binomial: float
    spread: float

    @property
    def se(self) -> float:
        return max(self.binomial, self.spread)

    @property
    def z(self) -> float:
        return (self.mean - self.chance) / self.se

    @property
    def above(self) -> bool:
        return self.z > Z_CHANCE

    def text(self, n_test: int) -> str:
        which = ("the spread over those epochs" if self.spread > self.binomial else
                 f"the binomial SE on {n_test:,} test images")
        over = (f"the last {self.epochs} evaluations (epochs) average {pct(self.mean)} (from {pct(self.low)} to "
                f"{pct(self.high)})" if self.epochs > 1 else f"the last evaluation gives {pct(self.mean)}")
        return (f"{over} against chance {pct(self.chance)}: z = {self.z:+.1f} standard errors (SE = {pct(self.se)}, "
                f"{which})")


def chance_test(test_acc: Sequence[float], classes: int, n_test: int) -> ChanceTest:
    """The :class:`ChanceTest` of a run's test accuracies, one per evaluation, in order."""
    acc = np.asarray(test_acc, dtype=float)
    k = max(1, min(LAST_MAX, int(np.ceil(LAST_SHARE * len(acc)))))
    last = acc[-k:]
    chance = 1.0 / classes
    return ChanceTest(chance, float(last.mean()), float(last.min()), float(last.max()), k,
                      binomial_se(chance, n_test), float(last.std(ddof=1)) if k > 1 else 0.0)


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
    test = chance_test(h["test_acc"], classes, n_test)
    if not test.above:
        notes.append(Note(f"Test accuracy (true labels): {test.text(n_test)}; highest over all epochs "
                          f"{pct(h['test_acc'].max())}. One-sided test: the network generalizes only if z > "
                          f"{Z_CHANCE:g}; it does not, as Zhang et al. report.", "agrees"))
    else:
        notes.append(Note(f"Test accuracy (true labels): {test.text(n_test)}, above chance: something about the true "
                          f"labels was learned, unlike Zhang et al.'s networks.", "contradicts"))
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
    test = chance_test(h["test_acc"], s["dataset"]["num_classes"], s["dataset"]["test_size"])
    fits = "Yes" if o["epochs_to_target"] is not None else "Not within the epoch cap"
    verdict = ("above chance" if test.above else "at chance: it memorizes without learning anything that transfers"
               if o["epochs_to_target"] is not None else "at chance: what it fits of the noise teaches it nothing "
               "that transfers")
    return (f"{fits}: {_outcome_text(run)} on {s['dataset']['train_size']:,} images with random labels "
            f"({num(s['params'])} parameters), while on the true test labels {test.text(s['dataset']['test_size'])}, "
            f"{verdict}.", "random_labels.png")


VIEW = View("part3_random_labels", position=7, plots=plots, tasks=(
    Task("1-3a", "Can the network fit random labels",
         "Can a network memorize random training labels, and what happens to the test set?",
         describe, comment, conclusion),))
