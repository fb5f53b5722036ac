"""View of HW1-3b, number of parameters vs generalization: two figures and the report section."""

from __future__ import annotations

import math

import pandas as pd

from hw1.document import Note, Table
from hw1.plots import TEST_STYLE, TRAIN_STYLE, mean_band
from hw1.prose import RULE, Trend, binomial_se, num, pct, seed_trend
from hw1.results import ResultsFolder
from hw1.views import Plot, Task, View
from hw1.views.common import dataset_rows, diverged_note, live, settings_table, training_rows

COLUMNS = ["model", "width", "params", "seed", "train_loss", "train_acc", "test_loss", "test_acc", "diverged"]
FIT = 0.99  # a width "fits the training set" when every seed's training accuracy is at least this
CLAIM = ("Neyshabur, Tomioka & Srebro (2015) and Neyshabur et al. (2019) widened one-hidden-layer ReLU networks "
         "(MNIST, CIFAR-10, SVHN) past the size at which they fit the training set, training each to ~100% training "
         "accuracy, and found that the larger networks do not overfit more: the test error keeps falling, or stays "
         "flat, as hidden units are added")


def _models(run: ResultsFolder) -> pd.DataFrame:
    frame = run.csv("models.csv", COLUMNS).sort_values(["params", "seed"]).reset_index(drop=True)
    # in percentage points, so that the seed ranges a trend cites read as points
    return frame.assign(test_error=100 * (1 - frame["test_acc"]), gap=100 * (frame["train_acc"] - frame["test_acc"]))


def by_width(frame: pd.DataFrame) -> pd.DataFrame:
    """Per width (rows that did not diverge): params, n, and the mean and standard deviation of every metric."""
    metrics = ["train_loss", "train_acc", "test_loss", "test_acc", "gap"]
    grouped = live(frame).groupby("width", sort=True)
    out = grouped.agg(params=("params", "first"), n=("seed", "size"), min_train_acc=("train_acc", "min"))
    for m in metrics:
        out[m], out[f"{m}_sd"] = grouped[m].mean(), grouped[m].std(ddof=1)
    return out.reset_index()


def width_from(frame: pd.DataFrame, column: str, level: float) -> int | None:
    """The smallest width from which ``column`` (of :func:`by_width`) is ≥ ``level`` at EVERY larger width too."""
    table = by_width(frame)
    above = (table[column] >= level).to_numpy()
    return next((int(table["width"].iloc[i]) for i in range(len(above)) if above[i:].all()), None)


def fit_width(frame: pd.DataFrame) -> int | None:
    """The smallest width from which every width has every seed at ≥ FIT training accuracy (None if none)."""
    return width_from(frame, "min_train_acc", FIT)


def _ms(mean: float, sd: float, fmt=num) -> str:
    return fmt(mean) if not math.isfinite(sd) else f"{fmt(mean)} ± {fmt(sd)}"


def _points(value: float) -> str:
    return f"{value:+.1f}"


def _budget(s: dict) -> str:
    return (f"{s['epochs']} epochs of Adam (learning rate {s['learning_rate']:g}, batch size {s['batch_size']}) "
            "for every model")


def plots(run: ResultsFolder) -> list[Plot]:
    s, frame = run.settings, _models(run)
    models, table = live(frame), by_width(frame)
    fitted = fit_width(frame)
    widths = sorted(frame["width"].unique())
    tail = models[models["width"] >= (fitted or widths[max(0, len(widths) - 4)])]
    data = s["dataset"]
    caption = (f"{len(widths)} fully connected nets {s['architecture'].replace('MLP ', '')} (one hidden relu layer "
               f"of width w = {widths[0]} … {widths[-1]}), {len(s['seeds'])} seeds each, fresh initialization, "
               f"{_budget(s)}. {data['name']}: {data['train_size']:,} training / {data['test_size']:,} test images; "
               "metrics on the full sets after training. Line: mean over seeds; dots: each seed."
               + (f" Dotted line: from {num(int(table.loc[table['width'] == fitted, 'params'].iloc[0]))} "
                  f"parameters (w = {fitted}) on, every seed has ≥ {pct(FIT, 0)} training accuracy."
                  if fitted else "")
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
            if fitted:
                ax.axvline(table.loc[table["width"] == fitted, "params"].iloc[0], color="0.4", ls=":", lw=1.2,
                           label=f"every seed ≥ {pct(FIT, 0)} training acc.")
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
            *dataset_rows(s), *training_rows(s)]
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


def _trend_text(trend: Trend, what: str, up: str, down: str) -> str:
    if trend.resolved:
        return f"{what} {up if trend.direction > 0 else down} with the number of parameters — {trend.reason}"
    return f"{what}: no trend resolved by this run ({trend.reason})"


def literature_note(frame: pd.DataFrame, n_test: int) -> Note:
    """Neyshabur et al.'s claim, tested on the widths past the size that fits the training set."""
    fitted = fit_width(frame)
    if fitted is None:
        return Note(f"{CLAIM}. Not resolved by this run: no width fits the training set (every seed ≥ {pct(FIT, 0)} "
                    "training accuracy), so the regime the claim is about is not reached.", "unresolved")
    models = live(frame)
    past = models[models["width"] >= fitted]
    error, loss = seed_trend(past, "params", "test_error"), seed_trend(past, "params", "test_loss")
    widths, acc = sorted(past["width"].unique()), float(past["test_acc"].mean())
    where = (f"Every seed fits the training set (≥ {pct(FIT, 0)} training accuracy) from width {fitted} on; "
             f"over the {len(widths)} widths from there ({', '.join(map(str, widths))}): "
             f"{_trend_text(error, 'the test error (%)', 'rises', 'falls')}; "
             f"{_trend_text(loss, 'the test loss', 'rises', 'falls')}. The seeds share one test set of "
             f"{n_test:,} images, on which one accuracy has a binomial standard error of about "
             f"{100 * binomial_se(acc, n_test):.1f} points at {pct(acc)}: the rule reads the spread "
             "between trainings, not the sampling of the test set")
    if error.direction < 0:
        return Note(f"{CLAIM}. {where}. Test error falls past the fitting size.", "agrees")
    if error.direction > 0:
        return Note(f"{CLAIM}. {where}. Test error rises past the fitting size: larger nets overfit more here.",
                    "contradicts")
    return Note(f"{CLAIM}. {where}. Not resolved by this run: the test error's trend past the fitting size is "
                f"within the spread over seeds (rule: {RULE}); a flat trend, which the claim allows, cannot be told "
                "from noise this way.", "unresolved")


def comment(run: ResultsFolder) -> list[Note | Table]:
    frame = _models(run)
    models, table = live(frame), by_width(frame)
    notes: list[Note | Table] = [metrics_by_width(frame)]
    notes += diverged_note(frame, lambda r: f"w = {r['width']}, seed {r['seed']}")
    if models.empty:
        return notes
    decades = math.log10(table["params"].max() / table["params"].min())
    if len(table) < 10 or decades < 2:
        notes.append(Note(f"Only {len(table)} widths spanning {decades:.1f} decades of parameter count (the "
                          "assignment asks for at least 10 spanning two decades).", "warning"))
    small, large = table.iloc[0], table.iloc[-1]
    train = seed_trend(models, "params", "train_loss")
    notes.append(Note(f"Training loss goes from {_ms(small.train_loss, small.train_loss_sd)} "
                      f"(w = {int(small.width)}) to "
                      f"{_ms(large.train_loss, large.train_loss_sd)} (w = {int(large.width)}): "
                      f"{_trend_text(train, 'it', 'rises', 'falls')}. At an equal budget, capacity is what fits the "
                      "training set."))
    full = width_from(frame, "train_acc", 0.999)
    fitted = fit_width(frame)
    notes.append(Note((f"Every seed reaches ≥ {pct(FIT, 0)} training accuracy from width {fitted} "
                       f"({num(int(table.loc[table['width'] == fitted, 'params'].iloc[0]))} parameters) on"
                       if fitted else f"No width has every seed at ≥ {pct(FIT, 0)} training accuracy")
                      + (f"; the mean is ≥ 99.9% (~100%) from width {full} on." if full
                         else "; the mean does not stay at ~100% (≥ 99.9%) up to the widest net.")))
    test = seed_trend(models, "params", "test_loss")
    best = table.loc[table["test_loss"].idxmin()]
    notes.append(Note(f"Test loss goes from {_ms(small.test_loss, small.test_loss_sd)} to "
                      f"{_ms(large.test_loss, large.test_loss_sd)} (lowest mean {num(best.test_loss)} at w = "
                      f"{int(best.width)}): {_trend_text(test, 'it', 'rises', 'falls')}."))
    gap = seed_trend(models, "params", "gap")
    notes.append(Note(f"The generalization gap (train − test accuracy) goes from {_points(small.gap)} points "
                      f"(w = {int(small.width)}) to {_points(large.gap)} (w = {int(large.width)}); widest "
                      f"{_points(table['gap'].max())} at w = {int(table.loc[table['gap'].idxmax(), 'width'])}: "
                      f"{_trend_text(gap, 'it', 'widens', 'narrows')}."
                      + (f" The smallest nets fit neither set (training accuracy {pct(small.train_acc)} at w = "
                         f"{int(small.width)}), so over the whole range the gap also tracks how well each net fits; "
                         "overfitting is read past the fitting size, below." if small.train_acc < FIT else "")))
    notes.append(literature_note(frame, run.settings['dataset']['test_size']))
    return notes


def conclusion(run: ResultsFolder) -> tuple[str, str]:
    frame = _models(run)
    table = by_width(frame)
    if table.empty:
        return "Every model diverged; nothing to conclude.", "params_accuracy.png"
    small, large = table.iloc[0], table.iloc[-1]
    note = literature_note(frame, run.settings['dataset']['test_size'])
    fitted = fit_width(frame)
    past = {"agrees": "past that size the test error keeps falling, so the larger nets do not overfit more",
            "contradicts": "past that size the test error rises: the larger nets overfit more",
            "unresolved": "past that size the test error does not move beyond the spread over seeds"}[note.verdict]
    fits = (f"The nets fit the training set (every seed ≥ {pct(FIT, 0)}) from width {fitted} on; {past}"
            if fitted else "No width fits the training set within the budget")
    overall = seed_trend(live(frame), "params", "test_acc").direction
    effect = {1: "More parameters help at an equal budget", -1: "More parameters hurt at an equal budget",
              0: "The number of parameters has no resolved effect on test accuracy at an equal budget"}[overall]
    return (f"{effect}: over {num(int(small.params))} to {num(int(large.params))} "
            f"parameters ({len(table)} widths, {int(table['n'].max())} seeds each), test accuracy goes from "
            f"{pct(small.test_acc)} to {pct(large.test_acc)} and test loss from {num(small.test_loss)} to "
            f"{num(large.test_loss)}, while the train − test gap widens from {_points(small.gap)} to "
            f"{_points(large.gap)} points. {fits}.", "params_accuracy.png")


VIEW = View("part3_params_vs_generalization", position=8, plots=plots, tasks=(
    Task("1-3b", "Number of parameters vs generalization",
         "How do training and test loss and accuracy move with the number of parameters?",
         describe, comment, conclusion),))
