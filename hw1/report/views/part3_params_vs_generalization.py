"""View of HW1-3b, number of parameters vs generalization: two figures and the report section."""

from __future__ import annotations

import math

import pandas as pd

from hw1.report import evidence as ev
from hw1.report.document import Note, Table
from hw1.report.plots import TEST_STYLE, TRAIN_STYLE, mean_band
from hw1.report.prose import binomial_se, num, pct
from hw1.results import ResultsFolder
from hw1.report.views import Plot, Task, View
from hw1.report.views.common import (dataset_rows, diverged_note, live, schedule_text, settings_table, subset_text,
                               training_rows)

FIT = 0.99  # training accuracy reported beside the criterion
WIDEST = 4  # the widest widths every seed of which must reach the criterion, or the capped note is a warning
MARGIN_LOSS = 0.10  # a loss trend counts only if the median moves by more than 10% of the first condition's
MARGIN_POINTS = 0.5  # an error or gap trend (in percentage points) only if the median moves by more than this
# the findings of the task, Holm-corrected together: (key, column, past the fitting width only)
FINDINGS = (("train_loss", "train_loss", False), ("test_loss", "test_loss", False), ("test_error", "test_error", False),
            ("gap", "gap", False), ("past_error", "test_error", True), ("past_loss", "test_loss", True))
CLAIM = ("Neyshabur, Tomioka & Srebro (2015) and Neyshabur et al. (2019) widened one-hidden-layer ReLU networks "
         "(MNIST, CIFAR-10, SVHN) past the size at which they fit the training set, training each to ~100% training "
         "accuracy, and found that the larger networks do not overfit more: the test error keeps falling, or stays "
         "flat, as hidden units are added")


def _models(run: ResultsFolder) -> pd.DataFrame:
    frame = run.csv("models.csv").sort_values(["params", "seed"]).reset_index(drop=True)
    # in percentage points, so that the seed ranges a trend cites read as points
    return frame.assign(test_error=100 * (1 - frame["test_acc"]), gap=100 * (frame["train_acc"] - frame["test_acc"]))


def by_width(frame: pd.DataFrame) -> pd.DataFrame:
    """Per width (rows that did not diverge): params, n, and the mean and standard deviation of every metric."""
    metrics = ["train_loss", "train_acc", "test_loss", "test_acc", "gap"]
    grouped = live(frame).groupby("width", sort=True)
    out = grouped.agg(params=("params", "first"), n=("seed", "size"), min_train_acc=("train_acc", "min"),
                      reached=("reached", "sum"), max_epochs=("epochs", "max"))
    for m in metrics:
        out[m], out[f"{m}_sd"] = grouped[m].mean(), grouped[m].std(ddof=1)
    return out.reset_index()


def width_from(frame: pd.DataFrame, column: str, level: float) -> int | None:
    """The smallest width from which ``column`` (of :func:`by_width`) is ≥ ``level`` at EVERY larger width too."""
    table = by_width(frame)
    above = (table[column] >= level).to_numpy()
    return next((int(table["width"].iloc[i]) for i in range(len(above)) if above[i:].all()), None)


def fit_width(frame: pd.DataFrame) -> int | None:
    """The smallest width from which every width has every seed at the training criterion (None if none)."""
    table = by_width(frame)
    above = (table["reached"] == table["n"]).to_numpy()
    return next((int(table["width"].iloc[i]) for i in range(len(above)) if above[i:].all()), None)


def findings(frame: pd.DataFrame) -> dict[str, ev.Evidence]:
    """The task's findings under the one evidence rule: pooled (unpaired: widths share no weights) trends
    against the number of parameters, Holm-corrected together; losses with a relative margin, errors and gaps
    (points) with an absolute one."""
    models, fitted = live(frame), fit_width(frame)
    out = {}
    for key, column, past in FINDINGS:
        part = models[models["width"] >= fitted] if past and fitted is not None else models if not past else None
        if part is None:
            continue
        loss = "loss" in column
        out[key] = ev.trend(part, "params", column, margin=MARGIN_LOSS if loss else MARGIN_POINTS, relative=loss)
    return dict(zip(out, ev.holm(list(out.values()))))


def _width_name(params_by_width: dict[int, int]):
    width = {p: w for w, p in params_by_width.items()}
    return lambda p: f"w = {width.get(int(p), p)}"


def _margins() -> str:
    return (f"margins: {100 * MARGIN_LOSS:g}% of the first width's median for losses, {MARGIN_POINTS:g} points for "
            "errors and gaps")


def _ms(mean: float, sd: float, fmt=num) -> str:
    return fmt(mean) if not math.isfinite(sd) else f"{fmt(mean)} ± {fmt(sd)}"


def _points(value: float) -> str:
    return f"{value:+.1f}"


def criterion_text(s: dict) -> str:
    """``training cross-entropy ≤ 0.01`` or, where the profile stops on accuracy, ``training accuracy ≥ 99%``."""
    if s.get("target_acc") is not None:
        return f"training accuracy ≥ {pct(s['target_acc'], 0)}"
    return f"training cross-entropy ≤ {s['target_loss']:g}"


def _budget(s: dict) -> str:
    return (f"{schedule_text(s)}, batch size {s['batch_size']}, each run until its {criterion_text(s)} (a criterion "
            f"of Neyshabur et al.) or the cap of {s['epochs']} epochs")


def plots(run: ResultsFolder) -> list[Plot]:
    s, frame = run.settings, _models(run)
    models, table = live(frame), by_width(frame)
    fitted = fit_width(frame)
    capped = models[~models["reached"].astype(bool)]
    widths = sorted(frame["width"].unique())
    tail = models[models["width"] >= (fitted or widths[max(0, len(widths) - 4)])]
    data = s["dataset"]
    caption = (f"{len(widths)} fully connected nets {s['architecture'].replace('MLP ', '')} (one hidden relu layer "
               f"of width w = {widths[0]} … {widths[-1]}), {len(s['seeds'])} seeds each, fresh initialization, "
               f"{_budget(s)}. {data['name']}: {data['train_size']:,} training / {data['test_size']:,} test images; "
               "metrics on the full sets after training. Line: mean over seeds; dots: each seed."
               + (f" Dotted line: from {num(int(table.loc[table['width'] == fitted, 'params'].iloc[0]))} "
                  f"parameters (w = {fitted}) on, every seed reaches the criterion." if fitted else "")
               + (" Open black circles: runs stopped by the cap, short of the criterion ("
                  + ", ".join(f"w = {w}: {n}" for w, n in capped.groupby("width").size().items()) + " seeds)."
                  if len(capped) else " No run was capped.")
               + "".join(f" Diverged, left out: w = {r.width}, seed {r.seed}." for r in
                         frame[frame["diverged"].astype(bool)].itertuples()))

    def width_axis(ax, rows: pd.DataFrame, label: bool, every: int = 1) -> None:
        """Each model's hidden width as a tick at its parameter count (log x), every ``every``-th one labelled."""
        ax.set_xticks(list(rows["params"]), [str(w) if i % every == 0 else "" for i, w in enumerate(rows["width"])])
        ax.minorticks_off()
        if label:
            ax.set_xlabel("hidden width w")

    def panel(metric: str, ylabel: str, legend: str, log: bool, zoom: bool = False):
        def draw(fig) -> None:
            if zoom and tail["width"].nunique() >= 2:
                ax, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2.2, 1]})
            else:
                ax, right = fig.subplots(), None
            mean_band(ax, models, "params", f"train_{metric}", "C0", "training", log=log, **TRAIN_STYLE)
            mean_band(ax, models, "params", f"test_{metric}", "C3", "test", log=log, **TEST_STYLE)
            if len(capped):
                for split in ("train", "test"):
                    ax.scatter(capped["params"], capped[f"{split}_{metric}"], s=30, facecolors="none",
                               edgecolors="k", linewidths=0.8, label="capped (criterion not reached)"
                               if split == "train" else None, zorder=3)
            if fitted:
                ax.axvline(table.loc[table["width"] == fitted, "params"].iloc[0], color="0.4", ls=":", lw=1.2,
                           label="every seed at the criterion")
            ax.set(xscale="log", yscale="log" if log else "linear", xlabel="number of parameters (log scale)",
                   ylabel=ylabel)
            ax.legend(loc=legend)
            top = ax.twiny()  # each model's hidden width above its parameter count
            top.set(xscale="log", xlim=ax.get_xlim())
            width_axis(top, table, label=True, every=2 if right is not None and len(table) > 9 else 1)
            top.grid(False)
            if right is not None:  # test accuracy where the nets fit the training set, on its own axis
                mean_band(right, tail, "params", "test_acc", "C3", **TEST_STYLE)
                right.set(xscale="log", title="test accuracy (zoom)")
                width_axis(right, by_width(tail), label=True)
                right.yaxis.set_major_formatter(lambda v, _: f"{100 * v:.1f}%")
        return draw

    return [Plot("params_loss.png", "Loss vs number of parameters", caption,
                 panel("loss", "cross-entropy (nats, log scale)", "lower left", True)),
            Plot("params_accuracy.png", "Accuracy vs number of parameters", caption
                 + (f" Right: the test accuracy of w ≥ {int(tail['width'].min())} on its own axis."
                    if tail["width"].nunique() >= 2 else ""),
                 panel("acc", "accuracy", "lower right", False, zoom=True))]


def describe(run: ResultsFolder) -> list[Table]:
    s, frame = run.settings, _models(run)
    table = by_width(frame)
    decades = math.log10(table["params"].max() / table["params"].min())
    rows = [("Model family", f"fully connected, one hidden relu layer: {s['architecture'].replace('MLP ', '')}"),
            ("Hidden widths w", ", ".join(map(str, sorted(frame["width"].unique())))),
            ("Parameters", f"{num(int(table['params'].min()))} to {num(int(table['params'].max()))} "
                           f"({decades:.1f} decades)"),
            ("Seeds per width", f"{len(s['seeds'])} ({', '.join(map(str, s['seeds']))}), trained together"),
            *dataset_rows(s), *training_rows(s, learning_rate=schedule_text(s))]
    models = Table(["Width w", "Parameters"], [[str(r.width), num(int(r.params))] for r in table.itertuples()],
                   "Models")
    return [settings_table(run, rows), models]


def metrics_by_width(frame: pd.DataFrame) -> Table:
    t = by_width(frame)
    rows = [[str(r.width), num(int(r.params)), _ms(r.train_loss, r.train_loss_sd),
             _ms(r.train_acc, r.train_acc_sd, pct),
             _ms(r.test_loss, r.test_loss_sd), _ms(r.test_acc, r.test_acc_sd, pct),
             f"{r.gap:+.1f}" + (f" ± {r.gap_sd:.1f}" if math.isfinite(r.gap_sd) else "")] for r in t.itertuples()]
    n = f"{t['n'].min()}" if t["n"].min() == t["n"].max() else f"{t['n'].min()}–{t['n'].max()}"
    return Table(["Width", "Params", "train loss", "train acc", "test loss", "test acc", "gap (points)"], rows,
                 f"Final metrics, mean ± standard deviation over {n} seeds (gap = train − test accuracy)")


def _trend_text(e: ev.Evidence, what: str, up: str, down: str, name) -> str:
    steps = ev.reversal_steps(e, name)
    tail = f" (not monotone: {steps})" if steps else ""
    if e.resolved:
        return f"{what} {up if e.direction > 0 else down} with the number of parameters — {e.reason}{tail}"
    return f"{what}: no trend resolved by this run ({e.reason}){tail}"


def _namer(frame: pd.DataFrame):
    return _width_name(dict(zip(frame["width"].astype(int), frame["params"].astype(int))))


def capped_note(frame: pd.DataFrame, s: dict) -> Note:
    """Which runs the cap stopped short of the criterion, per width (none dropped)."""
    models = live(frame)
    capped = models[~models["reached"].astype(bool)]
    if capped.empty:
        return Note(f"Every run reached the criterion ({criterion_text(s)}) before the cap "
                    f"of {s['epochs']} epochs; epochs needed: "
                    + ", ".join(f"w = {w}: {g['epochs'].min()}–{g['epochs'].max()}" for w, g in models.groupby("width"))
                    + ".")
    per = ", ".join(f"w = {w} ({len(g)} of {int((models['width'] == w).sum())} seeds, training loss "
                    f"{num(g['train_loss'].min())}–{num(g['train_loss'].max())})" for w, g in capped.groupby("width"))
    reached = models[models["reached"].astype(bool)]
    needed = ", ".join(f"w = {w}: {g['epochs'].min()}–{g['epochs'].max()}" for w, g in reached.groupby("width"))
    widest = sorted(models["width"].unique())[-WIDEST:]
    short = sorted(set(capped["width"]) & set(widest))
    return Note(f"Stopped by the cap of {s['epochs']} epochs short of the criterion ({criterion_text(s)}), drawn "
                f"as open circles and kept in every number: {per}."
                + (f" The others reached it, after (epochs) {needed}." if needed else "")
                + (f" Among the {WIDEST} widest widths, w = {', '.join(map(str, short))} did not: the regime past the "
                   "interpolation threshold is not fully reached." if short else ""), "warning" if short else "")


def literature_note(frame: pd.DataFrame, n_test: int, found: dict[str, ev.Evidence] | None = None) -> Note:
    """Neyshabur et al.'s claim, tested on the widths from the one where every seed reaches the criterion."""
    fitted = fit_width(frame)
    found = findings(frame) if found is None else found
    if fitted is None or "past_error" not in found:
        return Note(f"{CLAIM}. Not resolved by this run: no width has every seed at the training criterion, so the "
                    "regime the claim is about is not reached.", "unresolved")
    models, name = live(frame), _namer(frame)
    past = models[models["width"] >= fitted]
    error, loss = found["past_error"], found["past_loss"]
    widths, acc = sorted(past["width"].unique()), float(past["test_acc"].mean())
    best = by_width(past).set_index("width")["test_loss"].idxmin()
    where = (f"Every seed reaches the training criterion from width {fitted} on; over the {len(widths)} widths from "
             f"there ({', '.join(map(str, widths))}): "
             f"{_trend_text(error, 'the test error (points)', 'rises', 'falls', name)}; "
             f"{_trend_text(loss, 'the test loss', 'rises', 'falls', name)}; the lowest mean test loss there is at "
             f"w = {best}. The seeds share one test set of {n_test:,} images, on which one accuracy has a binomial "
             f"standard error of about {100 * binomial_se(acc, n_test):.1f} points at {pct(acc)}: the rule reads the "
             f"spread between trainings, not the sampling of the test set ({_margins()})")
    if len(widths) < 3:
        return Note(f"{CLAIM}. {where}. Not resolved by this run: only {len(widths)} widths are past the fitting size.",
                    "unresolved")
    if error.direction < 0:
        return Note(f"{CLAIM}. {where}. Test error falls past the fitting size.", "agrees")
    if error.direction > 0:
        return Note(f"{CLAIM}. {where}. Test error rises past the fitting size: larger nets overfit more here.",
                    "contradicts")
    return Note(f"{CLAIM}. {where}. Not resolved by this run: the test error's trend past the fitting size is not "
                f"carried by the rule ({ev.RULE}); a flat trend, which the claim allows, cannot be told from noise "
                "this way.", "unresolved")


def comment(run: ResultsFolder) -> list[Note | Table]:
    frame = _models(run)
    models, table = live(frame), by_width(frame)
    notes: list[Note | Table] = [metrics_by_width(frame)]
    notes += diverged_note(frame, lambda r: f"w = {r['width']}, seed {r['seed']}")
    if models.empty:
        return notes
    found, name = findings(frame), _namer(frame)
    decades = math.log10(table["params"].max() / table["params"].min())
    if len(table) < 10 or decades < 2:
        notes.append(Note(f"Only {len(table)} widths spanning {decades:.1f} decades of parameter count (the "
                          "assignment asks for at least 10 spanning two decades).", "warning"))
    notes.append(capped_note(frame, run.settings))
    notes.append(Note(f"Every finding below is read by the one evidence rule: {ev.RULE}. Here the widths share no "
                      f"weights, so the runs are pooled (unpaired); Holm's correction runs over the {len(found)} "
                      f"findings of this task; {_margins()}."))
    small, large = table.iloc[0], table.iloc[-1]
    notes.append(Note(f"Training loss goes from {_ms(small.train_loss, small.train_loss_sd)} "
                      f"(w = {int(small.width)}) to "
                      f"{_ms(large.train_loss, large.train_loss_sd)} (w = {int(large.width)}): "
                      f"{_trend_text(found['train_loss'], 'it', 'rises', 'falls', name)}. The runs that reach the "
                      "criterion stop there, so past the fitting size the training loss is the criterion, not a "
                      "result."))
    full = width_from(frame, "train_acc", 0.999)
    fitted = fit_width(frame)
    notes.append(Note((f"Every seed reaches the training criterion from width {fitted} "
                       f"({num(int(table.loc[table['width'] == fitted, 'params'].iloc[0]))} parameters) on"
                       if fitted else "No width has every seed at the training criterion")
                      + (f"; the mean training accuracy is ≥ 99.9% (~100%) from width {full} on." if full
                         else "; the mean training accuracy does not stay at ~100% (≥ 99.9%) up to the widest net.")))
    best = table.loc[table["test_loss"].idxmin()]
    notes.append(Note(f"Test loss goes from {_ms(small.test_loss, small.test_loss_sd)} to "
                      f"{_ms(large.test_loss, large.test_loss_sd)} (lowest mean {num(best.test_loss)} at w = "
                      f"{int(best.width)}): {_trend_text(found['test_loss'], 'it', 'rises', 'falls', name)}."
                      + (f" Past w = {int(best.width)} the mean test loss rises again, to {num(large.test_loss)} at "
                         f"w = {int(large.width)}" + (" (every seed of the widest net above every seed of "
                                                      f"w = {int(best.width)})" if
                                                      models[models['width'] == large.width]['test_loss'].min() >
                                                      models[models['width'] == best.width]['test_loss'].max()
                                                      else "") + "."
                         if int(best.width) != int(large.width) else "")))
    notes.append(Note(f"Test error goes from {_points(100 * (1 - small.test_acc))[1:]} to "
                      f"{_points(100 * (1 - large.test_acc))[1:]} %: "
                      f"{_trend_text(found['test_error'], 'it', 'rises', 'falls', name)}."))
    notes.append(Note(f"The generalization gap (train − test accuracy) goes from {_points(small.gap)} points "
                      f"(w = {int(small.width)}) to {_points(large.gap)} (w = {int(large.width)}); widest "
                      f"{_points(table['gap'].max())} at w = {int(table.loc[table['gap'].idxmax(), 'width'])}: "
                      f"{_trend_text(found['gap'], 'it', 'widens', 'narrows', name)}."
                      + (f" The smallest nets fit neither set (training accuracy {pct(small.train_acc)} at w = "
                         f"{int(small.width)}), so over the whole range the gap also tracks how well each net fits; "
                         "overfitting is read past the fitting size, below." if small.train_acc < FIT else "")))
    notes.append(literature_note(frame, run.settings['dataset']['test_size'], found))
    return notes


def conclusion(run: ResultsFolder) -> tuple[str, Plot]:
    _, accuracy = plots(run)
    frame = _models(run)
    table = by_width(frame)
    if table.empty:
        return "Every model diverged; nothing to conclude.", accuracy
    small, large = table.iloc[0], table.iloc[-1]
    found = findings(frame)
    note = literature_note(frame, run.settings['dataset']['test_size'], found)
    fitted = fit_width(frame)
    past = {"agrees": "past that size the test error keeps falling, so the larger nets do not overfit more",
            "contradicts": "past that size the test error rises: the larger nets overfit more",
            "unresolved": "past that size the test error does not move by the evidence rule"}[note.verdict]
    fits = (f"Every seed reaches the training criterion ({criterion_text(run.settings)}) from width "
            f"{fitted} on; {past}" if fitted else "No width has every seed at the training criterion within the cap")
    overall = -found["test_error"].direction
    effect = {1: "More parameters help", -1: "More parameters hurt",
              0: "The number of parameters has no resolved effect on test error"}[overall]
    return (f"{subset_text(run.settings)}{effect}: over {num(int(small.params))} to {num(int(large.params))} "
            f"parameters ({len(table)} widths, {int(table['n'].max())} seeds each, each trained to the criterion or "
            f"the cap), test accuracy goes from {pct(small.test_acc)} to {pct(large.test_acc)} and test loss from "
            f"{num(small.test_loss)} to {num(large.test_loss)}, while the train − test gap goes from "
            f"{_points(small.gap)} to {_points(large.gap)} points. {fits}.", accuracy)


VIEW = View("part3_params_vs_generalization", position=8, plots=plots, tasks=(
    Task("1-3b", "Number of parameters vs generalization",
         "How do training and test loss and accuracy move with the number of parameters?",
         describe, comment, conclusion),))
