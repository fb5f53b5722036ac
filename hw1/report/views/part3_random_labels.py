"""View of HW1-3a, random labels: one figure and the report section."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from hw1.report.document import Note, Table
from hw1.report.plots import TEST_STYLE, TRAIN_STYLE
from hw1.report.prose import binomial_se, num, pct
from hw1.results import ResultsFolder
from hw1.report.views import Plot, Task, View
from hw1.report.views.common import architecture_text, dataset_rows, live, schedule_text, settings_table, training_rows

Z_CHANCE = 2.0  # the interval judged: mean test accuracy ± this many standard errors
CHANCE_MARGIN = 0.05  # "at chance" (equivalence): that whole interval lies within chance ± 5 points
LAST_SHARE, LAST_MAX = 0.1, 20  # the test accuracy judged: the mean over the last 10% of the epochs (at most 20)


def _history(run: ResultsFolder, labels: str = "random"):
    """The history of the run on ``labels``: "random", or "original" (the true labels; "true" would read as a
    boolean)."""
    h = run.csv("history.csv")
    return h[h["labels"] == labels].reset_index(drop=True)


def ratio_bound(run: ResultsFolder) -> float | None:
    """When only the true labels reach the target: the ratio is more than (random epochs run) / (true epochs)."""
    o = run.outcome
    if o.get("epochs_to_target") is None and o.get("true_epochs_to_target") and not o.get("diverged"):
        return o["epochs_run"] / o["true_epochs_to_target"]
    return None


def ratio_text(run: ResultsFolder) -> str:
    """Epochs to the target on random vs true labels, from the outcome (the history says the same)."""
    o, target = run.outcome, pct(run.settings["target_train_acc"], 0)
    rand, true = o.get("epochs_to_target"), o.get("true_epochs_to_target")
    bound = ratio_bound(run)
    if bound is not None:
        return (f"on the true labels the same net with the same protocol passes {target} training accuracy at epoch "
                f"{num(true)}; on random labels it has not by the cap of {num(o['epochs_run'])} epochs, so the ratio "
                f"of epochs is more than {bound:.1f}")
    if rand is None or true is None:
        missing = " and ".join(w for w, e in (("random", rand), ("true", true)) if e is None)
        return f"no epochs-to-target ratio: on the {missing} labels training accuracy stays below {target} at the cap"
    return (f"on the true labels the same net with the same protocol passes {target} training accuracy at epoch "
            f"{num(true)}, on random labels at epoch {num(rand)}: {o['epochs_ratio']:.1f} times as many epochs")


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
        """The interval lies wholly above chance: something about the true labels was learned."""
        return self.z > Z_CHANCE

    @property
    def at_chance(self) -> bool:
        """Equivalence, not a failed test: the whole interval mean ± Z_CHANCE·SE lies within chance ±
        CHANCE_MARGIN (a test that merely fails to reject chance would call a noisy run "at chance")."""
        return abs(self.mean - self.chance) + Z_CHANCE * self.se <= CHANCE_MARGIN

    @property
    def verdict(self) -> str:
        """"agrees" (at chance, as Zhang et al.), "contradicts" (above chance) or "unresolved" (neither)."""
        return "contradicts" if self.above else "agrees" if self.at_chance else "unresolved"

    def reading(self) -> str:
        """What the verdict means, with its rule."""
        interval = f"the interval mean ± {Z_CHANCE:g} SE is {pct(self.mean - Z_CHANCE * self.se)}–" \
                   f"{pct(self.mean + Z_CHANCE * self.se)}"
        if self.above:
            return f"{interval}, wholly above chance: something about the true labels was learned"
        if self.at_chance:
            return (f"{interval}, inside chance ± {100 * CHANCE_MARGIN:g} points (the margin this report takes for \"at "
                    f"chance\"): at chance")
        return (f"{interval}, neither above chance nor inside chance ± {100 * CHANCE_MARGIN:g} points: whether it is at "
                f"chance is not resolved by this run")

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
    s, h, twin = run.settings, live(_history(run)), live(_history(run, "original"))
    chance, target = 1.0 / s["dataset"]["num_classes"], s["target_train_acc"]

    def draw(fig) -> None:
        top, bottom = fig.subplots(2, 1, sharex=True)
        if len(twin):  # the same net and protocol on the true labels, in grey
            top.plot(twin["epoch"], twin["train_loss"], color="0.55", lw=1.0, label="training, twin on true labels")
            bottom.plot(twin["epoch"], twin["train_acc"], color="0.55", lw=1.0, label="training, twin on true labels")
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
               f" changed); the {data['test_size']:,} test images keep their true labels. {schedule_text(s)}, batch "
               f"size {s['batch_size']}; full-set metrics in inference mode after every epoch. Grey: the same net, "
               f"initial weights and protocol on the true training labels. Outcome: {_outcome_text(run)}; "
               f"{ratio_text(run)}." + (" The run DIVERGED; the curves stop there."
                                                                  if run.outcome["diverged"] else ""))
    return [Plot("random_labels.png", "Training on random labels", caption, draw, size=(7.0, 6.2))]


def describe(run: ResultsFolder) -> list[Table]:
    s = run.settings
    rows = [("Architecture", architecture_text(s)), *dataset_rows(s),
            ("Labels", f"every training label redrawn uniformly at random (seed {s['label_seed']}): "
                       f"{pct(s['labels_changed'])} changed; test labels true"),
            *training_rows(s, epochs=f"at most {s['epochs']} (stops once training accuracy ≥ "
                                     f"{pct(s['target_train_acc'], 0)})", learning_rate=schedule_text(s)),
            ("Runs", "two: the net on random labels, and its twin (same initial weights, same protocol) on the true "
                     "labels, for the ratio of epochs to the target")]
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
    notes.append(Note(f"Training time, Zhang et al.'s \"small factor\": {ratio_text(run)}. A measurement of one run "
                      "per label set (one label draw, one initialization), not a comparison between models, so no "
                      "verdict: Zhang et al. (2017, Fig. 1) plotted the time to fit against the share of corrupted "
                      "labels on CIFAR-10 and described the slowdown as a small constant factor, with no threshold."))
    test = chance_test(h["test_acc"], classes, n_test)
    said = {"agrees": "as Zhang et al. report.", "contradicts": "unlike Zhang et al.'s networks.",
            "unresolved": "Zhang et al. report chance."}[test.verdict]
    reading = test.reading()
    notes.append(Note(f"Test accuracy (true labels): {test.text(n_test)}; highest over all epochs "
                      f"{pct(h['test_acc'].max())}. {reading[0].upper()}{reading[1:]}, {said}",
                      test.verdict))
    low = h.loc[h["test_loss"].idxmin()]
    notes.append(Note(f"Test loss goes from {num(h['test_loss'].iloc[0])} at epoch 0 to {num(last['test_loss'])} at "
                      f"the end (lowest {num(low['test_loss'])} at epoch {num(int(low['epoch']))}), while the training "
                      f"loss falls from {num(h['train_loss'].iloc[0])} to {num(last['train_loss'])}"
                      + (": the network grows confident on the noise, and on the test set that confidence is wrong."
                         if last["test_loss"] > h["test_loss"].iloc[0] else ".")))
    notes.append(Note(f"{pct(s['labels_changed'])} of the training labels differ from the true ones; uniform "
                      f"redrawing keeps 1/{classes} of them by chance, so {pct(1 - 1 / classes)} is expected."))
    return notes


def conclusion(run: ResultsFolder) -> tuple[str, Plot]:
    (figure,) = plots(run)
    s, o = run.settings, run.outcome
    h = live(_history(run))
    if h.empty:
        return "The run diverged at once; nothing to conclude.", figure
    test = chance_test(h["test_acc"], s["dataset"]["num_classes"], s["dataset"]["test_size"])
    fits = "Yes" if o["epochs_to_target"] is not None else "Not within the epoch cap"
    verdict = (test.reading() + (": it memorizes without learning anything that transfers"
                                 if test.at_chance and o["epochs_to_target"] is not None else
                                 ": what it fits of the noise teaches it nothing that transfers" if test.at_chance else ""))
    memorized = f"{fits}: {_outcome_text(run)} on {s['dataset']['train_size']:,} images with random labels"
    transfer = f"on the true test labels {test.text(s['dataset']['test_size'])}, {verdict}"
    return f"{memorized} ({num(s['params'])} parameters), while {transfer}; {ratio_text(run)}.", figure


VIEW = View("part3_random_labels", position=7, plots=plots, tasks=(
    Task("1-3a", "Can the network fit random labels",
         "Can a network memorize random training labels, and what happens to the test set?",
         describe, comment, conclusion),))
