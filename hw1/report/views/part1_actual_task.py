"""View of HW1-1b, train on an actual task: loss and accuracy figures and the report section."""

from __future__ import annotations

import math

import pandas as pd

from hw1.report import evidence
from hw1.report.document import Note, Table
from hw1.report.prose import binomial_se, mean_spread, num, pct, times, value_range
from hw1.results import ResultsFolder
from hw1.report.views import Plot, Task, View
from hw1.report.views.common import dataset_rows, diverged_note, live, settings_table, training_rows

NAMES = {"dnn": "DNN", "cnn": "CNN", "rnn": "RNN"}
KINDS = ("dnn", "cnn", "rnn")
SE_MARGIN = 2.0  # an accuracy difference counts only beyond this many binomial standard errors of one accuracy
LOSS_MARGIN = 0.10  # a training-loss trend counts only if the median changes by more than 10 %
LECUN = ("on MNIST, LeNet-5, about 60,000 parameters, 0.95 % test error; fully connected nets "
         "with one hidden layer of 300 or 1,000 units (4 and 13 times as many parameters) 4.7 % and 4.5 %")
SEIDE = ("on Switchboard phone-call transcription, fully connected nets with 5 and 7 hidden "
         "layers of 2,048 units reached test word error rates of 17.2 % and 17.1 %, nets with ONE hidden layer and "
         "the same number of parameters (3,772 and 4,634 units) 22.5 % and 22.6 % (their training error is not "
         "given)")


def name(model: str) -> str:
    """``DNN``, ``CNN``, ``RNN``; a deeper fully connected net ``dnn4`` is ``DNN-4`` (4 hidden layers)."""
    if model in NAMES:
        return NAMES[model]
    return f"DNN-{model[3:]}" if model.startswith("dnn") and model[3:].isdigit() else model.upper()


def family(settings: dict) -> dict[str, int]:
    """The deep-vs-shallow family: model → number of hidden layers (empty for a run without one)."""
    f = settings.get("depth_family") or {}
    return dict(zip(f.get("models", []), f.get("hidden_layers", [])))


def _models(run: ResultsFolder) -> pd.DataFrame:
    return run.csv("models.csv")


def seed_lines(ax, frame: pd.DataFrame, x: str, y: str, color: str, label: str, **style) -> None:
    """The mean over seeds of ``y`` against ``x`` as a line, and each seed as a thin line of the same colour."""
    for _, part in frame.groupby("seed"):
        ax.plot(part[x], part[y], color=color, lw=0.6, alpha=0.4, **style)
    mean = frame.groupby(x)[y].mean()
    ax.plot(mean.index, mean.to_numpy(), color=color, lw=1.6, label=label, **style)


def plots(run: ResultsFolder) -> list[Plot]:
    s, models = run.settings, _models(run)
    history = live(run.csv("history.csv"))
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
                               labels[m] if split == "train" else None,
                               ls="--" if m not in KINDS else "-")
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
    common = (f"Thick line: mean of {seeds} seeds per model; thin lines: each seed; dashed: the deeper fully connected "
              "nets (DNN-k: k hidden layers, the DNN's parameter count). Adam, learning rate "
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
    tables = [settings_table(run, rows), architectures]
    depths = family(s)
    if depths:
        f, target = s["depth_family"], s["depth_family"]["target_params"]
        tables.append(Table(
            ["Model", "Hidden layers", "Widths", "Parameters", "vs the DNN"],
            [[name(m), num(d), "-".join(map(str, ws)), num(int(s["models"][m]["params"])),
              f"{100 * (s['models'][m]['params'] - target) / target:+.1f}%"]
             for (m, d), ws in zip(depths.items(), f["widths"])],
            "Deep vs shallow: fully connected nets with the DNN's parameter count (widths solved by code)"))
    return tables


def _per_model(models: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {m: part for m, part in live(models).groupby("model", sort=False)}


def _scale(run: ResultsFolder, models: pd.DataFrame) -> tuple[int, float, float]:
    """Test-set size, mean test accuracy of the live runs, and its binomial standard error."""
    n_test = int(run.settings["dataset"]["test_size"])
    mean_acc = float(live(models)["test_acc"].mean())
    return n_test, mean_acc, binomial_se(mean_acc, n_test)


def findings(run: ResultsFolder, models: pd.DataFrame) -> dict[tuple[str, ...], evidence.Evidence]:
    """Every comparison the section reports, Holm-corrected together (one task).

    ``("kind", a, b)``: test accuracy of kind ``b`` against kind ``a`` (Mann–Whitney U, unpaired: the kinds share
    no weights; absolute margin of :data:`SE_MARGIN` binomial standard errors); ``("depth", "test_acc")`` and
    ``("depth", "train_loss")``: the trend over the number of hidden layers of the fully connected family
    (Jonckheere–Terpstra over every run pooled; margins :data:`SE_MARGIN` SEs and :data:`LOSS_MARGIN`).
    """
    groups = _per_model(models)
    _, _, se = _scale(run, models)
    kinds = [m for m in KINDS if m in groups]
    raw: dict[tuple[str, ...], evidence.Evidence] = {}
    for i, a in enumerate(kinds):
        for b in kinds[i + 1:]:
            raw[("kind", a, b)] = evidence.difference(groups[a], groups[b], "test_acc", relative=False,
                                                      margin=SE_MARGIN * se)
    depths = family(run.settings)
    runs = live(models)
    deep = runs[runs["model"].isin(depths)].assign(hidden_layers=lambda f: f["model"].map(depths))
    if deep["hidden_layers"].nunique() > 1:
        raw[("depth", "test_acc")] = evidence.trend(deep, "hidden_layers", "test_acc", relative=False,
                                                    margin=SE_MARGIN * se)
        raw[("depth", "train_loss")] = evidence.trend(deep, "hidden_layers", "train_loss", margin=LOSS_MARGIN)
    return dict(zip(raw, evidence.holm(list(raw.values()))))


def kind_against(found: dict, a: str, b: str) -> int:
    """+1 if kind ``b``'s test accuracy is resolved above ``a``'s, −1 below, 0 not resolved (either order)."""
    if ("kind", a, b) in found:
        return found[("kind", a, b)].direction
    return -found[("kind", b, a)].direction if ("kind", b, a) in found else 0


def kind_evidence(found: dict, a: str, b: str) -> evidence.Evidence:
    return found[("kind", a, b)] if ("kind", a, b) in found else found[("kind", b, a)]


def lead(groups: dict[str, pd.DataFrame], top: str, other: str) -> str:
    """``median 2.1 points above``: how far ``top``'s median test accuracy is from ``other``'s."""
    gap = 100 * (groups[top]["test_acc"].median() - groups[other]["test_acc"].median())
    return f"median {abs(gap):.2g} points {'above' if gap >= 0 else 'below'}"


def best(groups: dict[str, pd.DataFrame], found: dict) -> tuple[str, list[str]]:
    """The kind with the highest median test accuracy, and the kinds it is not resolved above."""
    kinds = [m for m in KINDS if m in groups]
    top = max(kinds, key=lambda m: groups[m]["test_acc"].median())
    return top, [m for m in kinds if m != top and kind_against(found, m, top) != 1]


def layers(n: object) -> str:
    return f"{n} hidden layer{'s' if n != 1 else ''}"


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
    found = findings(run, models)
    notes.append(Note(f"For scale: on {n_test:,} test images an accuracy near {pct(mean_acc)} has a binomial "
                      f"standard error of {100 * se:.2g} points (√(p(1−p)/n)). All seeds are scored on the same "
                      "images, so the spread between seeds does not include that noise: an accuracy difference "
                      f"counts only when its median exceeds {SE_MARGIN:g} standard errors "
                      f"({100 * SE_MARGIN * se:.2g} points), on top of the rank test."))
    kinds = [m for m in KINDS if m in groups]
    if len(kinds) > 1:
        top, unresolved = best(groups, found)
        if not unresolved:
            versus = [f"{lead(groups, top, m)} the {name(m)}'s, {kind_evidence(found, m, top).summary()}"
                      for m in kinds if m != top]
            notes.append(Note(f"The {name(top)} generalizes best of the three kinds ({'; '.join(versus)})."))
        else:
            notes.append(Note(f"Which kind generalizes best is not resolved by this run: the {name(top)} has the "
                              "highest median test accuracy, but against the "
                              + "; against the ".join(f"{name(m)} {kind_evidence(found, m, top).reason}"
                                                      for m in unresolved) + "."))
        loss = {m: groups[m]["train_loss"] for m in kinds}
        fast, slow = min(loss, key=lambda m: loss[m].median()), max(loss, key=lambda m: loss[m].median())
        notes.append(Note(f"After {s['epochs']} epochs the {name(fast)} has the lowest median training loss "
                          f"({num(loss[fast].median())}, {times(loss[slow].median(), loss[fast].median())} below the "
                          f"{name(slow)}'s {num(loss[slow].median())}; seed ranges "
                          + ", ".join(f"{name(m)} {value_range(loss[m])}" for m in kinds)
                          + "). This order is described, not tested."))
    gaps = ", ".join(f"{name(m)} {100 * (part['train_acc'] - part['test_acc']).mean():+.1f}"
                     for m, part in groups.items())
    notes.append(Note(f"Generalization gap (training − test accuracy, mean over seeds, points): {gaps}."))
    params = [int(groups[m]["params"].iloc[0]) for m in kinds]
    if params and max(params) / min(params) > 1.1:
        notes.append(Note(f"The parameter counts of the three kinds are not matched: they range from "
                          f"{num(min(params))} to {num(max(params))} ({times(max(params), min(params))}), so part of "
                          "any difference is size, not kind."))
    if ("kind", "dnn", "cnn") in found:
        notes.append(cnn_verdict(groups, found[("kind", "dnn", "cnn")]))
    if ("depth", "test_acc") in found:
        notes += depth_verdicts(s, groups, found)
    notes.append(Note(f"The verdicts follow one rule ({evidence.__name__}): {evidence.RULE}. Here Holm runs over the "
                      f"{len(found)} comparisons of this section. Each model has {min(len(p) for p in groups.values())} "
                      "seeds, trained independently (no weights shared between models); 5 runs against 5 can reach "
                      "p = 0.008 in the two-sided Mann–Whitney test, 3 against 3 never goes below 0.1."))
    return notes


def cnn_verdict(groups: dict[str, pd.DataFrame], found: evidence.Evidence) -> Note:
    """The CNN against the fully connected net, as the literature compared them."""
    train_acc = {m: value_range(groups[m]["train_acc"], pct) for m in ("cnn", "dnn")}
    claim = ("on images a convolutional net (local filters shared across positions) generalizes better than a "
             f"fully connected one, even a larger one ({LECUN}); here the two have about the same size and are "
             f"compared by test accuracy after equal epochs, at training accuracies of {train_acc['cnn']} (CNN) and "
             f"{train_acc['dnn']} (DNN), not matched")
    return Note(evidence.verdict(found, +1, claim, "LeCun et al. (1998)"),
                {1: "agrees", -1: "contradicts"}.get(found.direction, "unresolved"))


def depth_verdicts(s: dict, groups: dict[str, pd.DataFrame], found: dict) -> list[Note]:
    """Deep against shallow at the same parameter count: test accuracy (Seide et al.) and training loss."""
    depths = family(s)
    members = [m for m in depths if m in groups]
    per_depth = "; ".join(f"{layers(depths[m])} test accuracy median {pct(groups[m]['test_acc'].median(), 2)} at "
                          f"training accuracy {value_range(groups[m]['train_acc'], pct)}" for m in members)
    target = num(int(s["depth_family"]["target_params"]))
    notes = [Note(f"Deep vs shallow on a real task: fully connected nets of {', '.join(str(depths[m]) for m in members)} "
                  f"hidden layers, each with {target} parameters within 2 %, trained identically: {per_depth}.")]
    test, fit = found[("depth", "test_acc")], found[("depth", "train_loss")]
    claim = (f"at the same number of parameters a deeper fully connected net generalizes better ({SEIDE}); here "
             "compared by test accuracy after equal epochs, at the training accuracies above")
    notes.append(Note(evidence.verdict(test, +1, claim, "Seide, Li & Yu (2011)", name=layers),
                      {1: "agrees", -1: "contradicts"}.get(test.direction, "unresolved")))
    loss = "; ".join(f"{layers(depths[m])} {num(groups[m]['train_loss'].median())}" for m in members)
    gap = ", ".join(f"{layers(depths[m])} {100 * (groups[m]['train_acc'] - groups[m]['test_acc']).median():+.1f}"
                    for m in members)
    what = (f"Training loss after {s['epochs']} epochs, median per depth: {loss}. "
            + ("It falls with depth" if fit.direction < 0 else "It rises with depth" if fit.direction > 0 else
               "Not resolved by this run whether it changes with depth") + f" ({fit.reason}).")
    notes.append(Note(what + evidence.reversal_text(fit, layers)
                      + f" Generalization gap (training − test accuracy, median, points): {gap}."))
    return notes


def conclusion(run: ResultsFolder) -> tuple[str, Plot]:
    _, accuracy = plots(run)
    s, models = run.settings, _models(run)
    groups = _per_model(models)
    if not groups:
        return "Every run diverged; nothing to conclude.", accuracy
    n_test, _, se = _scale(run, models)
    found = findings(run, models)
    kinds = [m for m in KINDS if m in groups]
    ranking = "; ".join(f"{name(m)} {mean_spread(groups[m]['test_acc'], pct)}" for m in
                        sorted(kinds, key=lambda m: -groups[m]["test_acc"].median()))
    top, unresolved = best(groups, found)
    if unresolved:
        verdict = (f"The {name(top)} is ahead, but not resolved against the "
                   + " and the ".join(name(m) for m in unresolved) + ", so this run does not rank the kinds")
    else:
        verdict = (f"The {name(top)} generalizes best: its test accuracy is above each other kind's under the rank "
                   f"test (Holm) and by more than {SE_MARGIN:g} binomial standard errors")
    text = (f"After {s['epochs']} epochs on {s['dataset']['train_size']:,} {s['dataset']['name']} images, test "
            f"accuracy (mean ± sd over seeds): {ranking}. {verdict} (one accuracy on {n_test:,} test images has a "
            f"binomial standard error of {100 * se:.2g} points).")
    if ("depth", "test_acc") in found:
        depths = family(s)
        e = found[("depth", "test_acc")]
        medians = ", ".join(f"{pct(groups[m]['test_acc'].median(), 2)} with {layers(d)}"
                            for m, d in depths.items() if m in groups)
        word = {1: "the deeper nets generalize better", -1: "the shallower nets generalize better"}.get(
            e.direction, "an effect of depth on test accuracy is not resolved by this run")
        fit = found[("depth", "train_loss")]
        fitted = {1: "rises", -1: "falls"}.get(fit.direction)
        text += (f" Deep vs shallow at {num(int(s['depth_family']['target_params']))} parameters (fully connected): "
                 f"median test accuracy {medians}; {word} ({e.reason})."
                 + (f" The training loss {fitted} with depth ({fit.reason})." if fitted else
                    " Whether the training loss changes with depth is not resolved by this run."))
    return text, accuracy


VIEW = View("part1_actual_task", position=2, plots=plots, tasks=(
    Task("1-1b", "Train on an actual task",
         "How do models of different kind (DNN, CNN, RNN) of about the same size compare on real images, and does "
         "a deeper fully connected net beat a shallow one of the same size?",
         describe, comment, conclusion),))
