"""View of HW1-1b, train on an actual task: loss and accuracy figures and the report section."""

from __future__ import annotations

import math

import pandas as pd

from hw1.document import Note, Table
from hw1.prose import binomial_se, mean_spread, num, pct, ranges_apart, times, value_range
from hw1.results import ResultsFolder
from hw1.views import Plot, Task, View
from hw1.views.common import dataset_rows, diverged_note, live, settings_table, training_rows

METRICS = ["train_loss", "train_acc", "test_loss", "test_acc"]
MODEL_COLUMNS = ["model", "run", "seed", "params", *METRICS, "diverged"]
HISTORY_COLUMNS = ["model", "run", "seed", "epoch", *METRICS, "diverged"]
NAMES = {"dnn": "DNN", "cnn": "CNN", "rnn": "RNN"}


def name(model: str) -> str:
    return NAMES.get(model, model.upper())


def _models(run: ResultsFolder) -> pd.DataFrame:
    return run.csv("models.csv", MODEL_COLUMNS)


def seed_lines(ax, frame: pd.DataFrame, x: str, y: str, color: str, label: str, **style) -> None:
    """The mean over seeds of ``y`` against ``x`` as a line, and each seed as a thin line of the same colour."""
    for _, part in frame.groupby("seed"):
        ax.plot(part[x], part[y], color=color, lw=0.6, alpha=0.4, **style)
    mean = frame.groupby(x)[y].mean()
    ax.plot(mean.index, mean.to_numpy(), color=color, lw=1.6, label=label, **style)


def plots(run: ResultsFolder) -> list[Plot]:
    s, models = run.settings, _models(run)
    history = live(run.csv("history.csv", HISTORY_COLUMNS))
    order = list(dict.fromkeys(models["model"]))
    colors = {m: f"C{i}" for i, m in enumerate(order)}
    labels = {m: f"{name(m)}, {num(int(s['models'][m]['params']))} params" for m in order}
    seeds = len(s["seeds"])
    # accuracies from the second epoch on set the axis, so that the final differences are readable
    late = history[history["epoch"] >= min(2, history["epoch"].max())]
    floor = max(0.0, math.floor(20 * min(late["train_acc"].min(), late["test_acc"].min(), 1.0)) / 20 - 0.05)

    def figure(metric: str, ylabel: str, log: bool, legend: str):
        def draw(fig) -> None:
            from matplotlib.ticker import MaxNLocator

            axes = fig.subplots(1, 2, sharey=True)
            for ax, split in zip(axes, ("train", "test")):
                for m in order:
                    seed_lines(ax, history[history["model"] == m], "epoch", f"{split}_{metric}", colors[m],
                               labels[m] if split == "train" else None)
                ax.set(xlabel="epoch", title=f"{'Training' if split == 'train' else 'Test'} {ylabel}")
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
                if log:
                    ax.set_yscale("log")
                else:
                    ax.set_ylim(floor, 1.005)
            axes[0].set_ylabel(ylabel)
            axes[0].legend(loc=legend)  # where the curves are not: upper right for losses, lower right for accuracies
        return draw

    data = s["dataset"]
    common = (f"Thick line: mean of {seeds} seeds per model; thin lines: each seed. Adam, learning rate "
              f"{s['learning_rate']:g}, batch size {s['batch_size']}, {data['name']} ({data['train_size']:,} "
              f"training / {data['test_size']:,} test images); full-set values in inference mode.")
    return [Plot("loss.png", f"Loss of every model on {data['name']}",
                 f"Cross-entropy per epoch, training (left) beside test (right), log scale. {common}",
                 figure("loss", "loss (cross-entropy)", True, "upper right"), size=(7.0, 4.4)),
            Plot("acc.png", f"Accuracy of every model on {data['name']}",
                 f"Accuracy per epoch, training (left) beside test (right). {common}"
                 + (f" The axis starts at {pct(floor, 0)}; the first epochs, below it, are cut." if floor > 0 else ""),
                 figure("acc", "accuracy", False, "lower right"), size=(7.0, 4.4))]


def describe(run: ResultsFolder) -> list[Table]:
    s = run.settings
    rows = [*dataset_rows(s), *training_rows(s),
            ("Seeds per model", f"{len(s['seeds'])} ({', '.join(map(str, s['seeds']))}), trained together")]
    architectures = Table(["Model", "Layers", "Parameters"],
                          [[name(m), d["architecture"], num(int(d["params"]))] for m, d in s["models"].items()],
                          "Architectures (ReLU, logits out)")
    return [settings_table(run, rows), architectures]


def _per_model(models: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {m: part for m, part in live(models).groupby("model", sort=False)}


def compare(a: pd.Series, b: pd.Series, se: float) -> tuple[int, str]:
    """Whether test accuracies ``a`` are above (+1) or below (-1) ``b``, or not resolved (0), with the reason.

    A difference counts when the seed ranges are apart (:func:`hw1.prose.ranges_apart`) AND the means differ by
    more than twice the binomial standard error ``se`` of one accuracy: the seeds share one test set, so their
    spread does not include the test set's own sampling noise.
    """
    side, gap = ranges_apart(a, b), float(a.mean() - b.mean())
    if side == 0:
        return 0, f"the seed ranges overlap ({value_range(a, pct)} vs {value_range(b, pct)})"
    if abs(gap) <= 2 * se:
        return 0, (f"the seed ranges are apart ({value_range(a, pct)} vs {value_range(b, pct)}) but the means "
                   "differ by only "
                   f"{100 * abs(gap):.2g} points, within twice the binomial standard error ({200 * se:.2g} points)")
    return side, (f"every seed is {'above' if side > 0 else 'below'} ({value_range(a, pct)} vs "
                  f"{value_range(b, pct)}), the means "
                  f"{100 * abs(gap):.2g} points apart ({abs(gap) / se:.1f}× the binomial standard error)")


def _scale(run: ResultsFolder, models: pd.DataFrame) -> tuple[int, float, float]:
    """Test-set size, mean test accuracy of the live runs, and its binomial standard error."""
    n_test = int(run.settings["dataset"]["test_size"])
    mean_acc = float(live(models)["test_acc"].mean())
    return n_test, mean_acc, binomial_se(mean_acc, n_test)


def best(groups: dict[str, pd.DataFrame], se: float) -> tuple[str, dict[str, str]]:
    """The model with the highest mean test accuracy, and why each model it is not resolved against is not."""
    top = max(groups, key=lambda m: groups[m]["test_acc"].mean())
    pending = {m: compare(groups[top]["test_acc"], part["test_acc"], se) for m, part in groups.items() if m != top}
    return top, {m: reason for m, (side, reason) in pending.items() if side != 1}


def comment(run: ResultsFolder) -> list[Note | Table]:
    s, models = run.settings, _models(run)
    groups = _per_model(models)
    notes: list[Note | Table] = [Table(
        ["Model", "Parameters", "train loss", "train acc", "test loss", "test acc", "test acc, seed range"],
        [[name(m), num(int(part["params"].iloc[0])), mean_spread(part["train_loss"]),
          mean_spread(part["train_acc"], pct), mean_spread(part["test_loss"]), mean_spread(part["test_acc"], pct),
          value_range(part["test_acc"], pct)] for m, part in groups.items()],
        "Final metrics, mean ± standard deviation over seeds (full sets, inference mode)")]
    notes += diverged_note(models, lambda r: f"{name(r['model'])} seed {int(r['seed'])}")
    if not groups:
        return notes
    n_test, mean_acc, se = _scale(run, models)
    notes.append(Note(f"For scale: on {n_test:,} test images an accuracy near {pct(mean_acc)} has a binomial "
                      f"standard error of {100 * se:.2g} points (√(p(1−p)/n)). All seeds are scored on the same "
                      "images, so the spread between seeds does not include that noise: a model is called better only "
                      "when its seed range is apart from the other's AND the means differ by more than twice it."))
    seeds = min(len(part) for part in groups.values())
    if len(groups) > 1:
        top, unresolved = best(groups, se)
        if seeds < 2:
            notes.append(Note(f"With one seed per model the spread between seeds is unknown, so no model is named the "
                              f"best (highest test accuracy: {name(top)})."))
        elif not unresolved:
            versus = [f"Against the {name(m)}, {compare(groups[top]['test_acc'], part['test_acc'], se)[1]}"
                      for m, part in groups.items() if m != top]
            notes.append(Note(f"The {name(top)} generalizes best. " + ". ".join(versus) + "."))
        else:
            notes.append(Note(f"Which model generalizes best is not resolved by {seeds} seeds: the {name(top)} has the "
                              "highest mean test accuracy, but against the "
                              + "; against the ".join(f"{name(m)} {reason}" for m, reason in unresolved.items()) + "."))
        loss = {m: part["train_loss"] for m, part in groups.items()}
        fast = min(loss, key=lambda m: loss[m].mean())
        slow = max(loss, key=lambda m: loss[m].mean())
        apart = seeds > 1 and all(ranges_apart(loss[m], loss[fast]) == 1 for m in loss if m != fast)
        notes.append(Note(f"After {s['epochs']} epochs the {name(fast)} has the lowest training loss (mean "
                          f"{num(loss[fast].mean())}, {times(loss[slow].mean(), loss[fast].mean())} below the "
                          f"{name(slow)}'s {num(loss[slow].mean())}), "
                          + ("in every seed below every other model's seeds." if apart else
                             "but the seed ranges overlap, so the order is not settled.")))
    gaps = ", ".join(f"{name(m)} {100 * (part['train_acc'] - part['test_acc']).mean():+.1f}"
                     for m, part in groups.items())
    notes.append(Note(f"Generalization gap (training − test accuracy, mean over seeds, points): {gaps}."))
    params = [int(part["params"].iloc[0]) for part in groups.values()]
    if max(params) / min(params) > 1.1:
        notes.append(Note(f"The parameter counts are not matched: they range from {num(min(params))} to "
                          f"{num(max(params))} ({times(max(params), min(params))}), so part of any difference is "
                          "size, not kind."))
    if "cnn" in groups and "dnn" in groups:
        notes.append(cnn_verdict(groups, seeds, se))
    return notes


def cnn_verdict(groups: dict[str, pd.DataFrame], seeds: int, se: float) -> Note:
    """The CNN against the fully connected net, as the literature compared them."""
    train_acc = pd.concat([groups["cnn"]["train_acc"], groups["dnn"]["train_acc"]])
    claim = ("The claim tested: on images a convolutional net (local filters shared across positions) generalizes "
             "better than a fully connected one, even a larger one — LeCun et al. (1998), on MNIST: LeNet-5, about "
             "60,000 parameters, 0.95 % test error; fully connected nets with one hidden layer of 300 or 1,000 units "
             "(4 and 13 times as many parameters) 4.7 % and 4.5 %. Here the two have about the same size and are "
             f"compared after equal epochs, at training accuracies of {value_range(train_acc, pct)} (not matched)")
    if seeds < 2:
        return Note(f"{claim}. Not resolved by this run: one seed per model, so the spread between seeds is "
                    "unknown.", "unresolved")
    side, reason = compare(groups["cnn"]["test_acc"], groups["dnn"]["test_acc"], se)
    if side > 0:
        return Note(f"{claim}. The CNN's test accuracy is above the DNN's: {reason}.", "agrees")
    if side < 0:
        return Note(f"{claim}. The CNN's test accuracy is below the DNN's: {reason}.", "contradicts")
    return Note(f"{claim}. Not resolved by this run: {reason}.", "unresolved")


def conclusion(run: ResultsFolder) -> tuple[str, str]:
    s, models = run.settings, _models(run)
    groups = _per_model(models)
    if not groups:
        return "Every run diverged; nothing to conclude.", "acc.png"
    n_test, _, se = _scale(run, models)
    top, unresolved = best(groups, se)
    seeds = min(len(part) for part in groups.values())
    ranking = "; ".join(f"{name(m)} {mean_spread(part['test_acc'], pct)}" for m, part in
                        sorted(groups.items(), key=lambda kv: -kv[1]["test_acc"].mean()))
    if seeds < 2:
        verdict = f"The {name(top)} is ahead, on one seed only, so this run does not rank them"
    elif unresolved:
        verdict = (f"The {name(top)} is ahead on average, but not clearly against the "
                   + " and the ".join(name(m) for m in unresolved) + ", so this run does not rank them")
    else:
        verdict = (f"The {name(top)} generalizes best: its seed range is apart from the others' and its lead exceeds "
                   "twice the test set's binomial standard error")
    return (f"After {s['epochs']} epochs on {s['dataset']['train_size']:,} {s['dataset']['name']} images, test "
            f"accuracy (mean ± sd over seeds): {ranking}. {verdict} (one accuracy on {n_test:,} test images has a "
            f"binomial standard error of {100 * se:.2g} points).", "acc.png")


VIEW = View("part1_actual_task", position=2, plots=plots, tasks=(
    Task("1-1b", "Train on an actual task",
         "How do models of different kind (DNN, CNN, RNN) of about the same size compare on real images?",
         describe, comment, conclusion),))
