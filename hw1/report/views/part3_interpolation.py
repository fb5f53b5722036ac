"""View of HW1-3c, linear interpolation between two trained models: one figure per pair and the report section."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from hw1.report.document import Note, Table
from hw1.report.plots import TEST_STYLE, TRAIN_STYLE, legend_under, twin
from hw1.report.prose import num, pct
from hw1.results import ResultsFolder
from hw1.report.views import Plot, Task, View
from hw1.report.views.common import architecture_text, dataset_rows, metrics_table, settings_table, training_rows
from hw1.results.schema import METRICS

TOL = 1e-5  # relative: two losses closer than this are the same number (float32 sums over a full set differ ~1e-7)
HIGH_BARRIER = 0.1  # nats of mean training cross-entropy; ≈ ln(1/0.9), the loss of giving every label p = 0.9
PAIRS = {"batch_size": ("batch size", lambda r: num(int(r["batch_size"]))),
         "learning_rate": ("learning rate", lambda r: f"{r['learning_rate']:g}")}
LOSS_COLOR, ACC_COLOR = "C0", "C3"


def same(a: float, b: float, tol: float = TOL) -> bool:
    """Whether two measured numbers are equal within the relative tolerance ``tol``."""
    return abs(a - b) <= tol * max(abs(a), abs(b), 1e-12)


def _tables(run: ResultsFolder) -> tuple[pd.DataFrame, pd.DataFrame]:
    return run.csv("interpolation.csv"), run.csv("endpoints.csv")


def pairs(run: ResultsFolder):
    """(pair, what varies, θ1 label, θ2 label, θ1 row, θ2 row, curve sorted by α) for every pair."""
    curves, ends = _tables(run)
    for pair, pair_ends in ends.groupby("pair", sort=False):
        what, value = PAIRS.get(pair, (pair, lambda r: str(r[pair])))
        e1, e2 = pair_ends.sort_values("alpha").iloc[0], pair_ends.sort_values("alpha").iloc[1]
        curve = curves[(curves["pair"] == pair) & ~curves["diverged"].astype(bool)].sort_values("alpha")
        yield pair, what, f"{what} {value(e1)}", f"{what} {value(e2)}", e1, e2, curve.reset_index(drop=True)


def plots(run: ResultsFolder) -> list[Plot]:
    s = run.settings
    out = []
    for pair, what, first, second, e1, e2, curve in pairs(run):
        def draw(fig, curve=curve, first=first, second=second) -> None:
            ax = fig.subplots()
            for alpha in (0, 1):
                ax.axvline(alpha, color="0.5", ls=":", lw=1)
            if curve.empty:
                ax.text(0.5, 0.5, "an endpoint diverged: nothing to interpolate", ha="center",
                        transform=ax.transAxes)
                return
            ax.plot(curve["alpha"], curve["train_loss"], color=LOSS_COLOR, label="training loss", **TRAIN_STYLE)
            ax.plot(curve["alpha"], curve["test_loss"], color=LOSS_COLOR, label="test loss", **TEST_STYLE)
            ax.set(yscale="log", xlabel="α   (θα = (1 − α)·θ1 + α·θ2)",
                   title=f"θ1: {first}   vs   θ2: {second}")
            ax.set_ylabel("cross-entropy (nats, log scale)", color=LOSS_COLOR)
            ax.tick_params(axis="y", colors=LOSS_COLOR)
            right = twin(ax, ACC_COLOR, "accuracy")
            right.plot(curve["alpha"], curve["train_acc"], color=ACC_COLOR, label="training accuracy", **TRAIN_STYLE)
            right.plot(curve["alpha"], curve["test_acc"], color=ACC_COLOR, label="test accuracy", **TEST_STYLE)
            right.set_ylim(0, 1.02)
            top = ax.secondary_xaxis("top")
            top.set_xticks([0, 1], ["θ1", "θ2"])
            handles = [h for a in (ax, right) for h in a.get_legend_handles_labels()[0]]
            legend_under(ax, handles, [h.get_label() for h in handles], ncol=4)

        fixed = (f"learning rate {e1['learning_rate']:g}" if pair == "batch_size" else
                 f"batch size {int(e1['batch_size'])}" if pair == "learning_rate" else "")
        caption = (f"{architecture_text(s)}, Adam, {fixed}, {s['epochs']} epochs per endpoint, "
                   f"{'the same' if s['init'] == 'shared' else 'independent'} initial weights. Every θα is evaluated "
                   f"on the full {s['dataset']['name']} training ({s['dataset']['train_size']:,}) and test "
                   f"({s['dataset']['test_size']:,}) sets without retraining; dotted lines mark the trained models. "
                   "Loss on the left (log), accuracy on the right; training solid, test dashed.")
        out.append(Plot(f"interpolation_{pair}.png", f"Interpolation between {first} and {second}", caption, draw))
    return out


def describe(run: ResultsFolder) -> list[Table]:
    s = run.settings
    _, ends = _tables(run)
    (bs1, bs2), (lr1, lr2) = s["batch_sizes"], s["learning_rates"]
    rows = [("Architecture", architecture_text(s)), *dataset_rows(s),
            *training_rows(s, batch=f"{bs1} vs {bs2} (pair 1, learning rate {lr1:g})",
                           learning_rate=f"{lr1:g} vs {lr2:g} (pair 2, batch size {bs1})"),
            ("Initial weights", "the same for every endpoint" if s["init"] == "shared"
             else "independent for the two endpoints of a pair"),
            ("Interpolation", f"θα = (1 − α)·θ1 + α·θ2 over every parameter, α from {s['alpha_min']:g} to "
                              f"{s['alpha_max']:g} ({s['alpha_points']} points, 0 and 1 included), no retraining"),
            ("Equal numbers", f"two losses are called equal when within a relative {TOL:g} (float32 sums over a full "
                              "set differ in the 7th–8th digit with the order of summation)"),
            ("Barrier", f"called high when the training loss on the segment exceeds the higher endpoint's by ≥ "
                        f"{HIGH_BARRIER:g} nats (≈ ln(1/0.9): the loss of giving every label probability 0.9)")]
    endpoints = ends.assign(endpoint=np.where(ends["alpha"] == 0, "θ1", "θ2"))
    return [settings_table(run, rows),
            metrics_table(endpoints, "pair", "Pair", ["endpoint", "batch_size", "learning_rate"])]


def endpoint_error(curve: pd.DataFrame, e1: pd.Series, e2: pd.Series) -> float:
    """Largest relative difference between the curve at α = 0, 1 and the trained models' own metrics."""
    worst = 0.0
    for alpha, end in ((0.0, e1), (1.0, e2)):
        row = curve[np.isclose(curve["alpha"], alpha, rtol=0, atol=1e-9)]
        if row.empty:
            return math.inf
        for m in METRICS:
            a, b = float(row[m].iloc[0]), float(end[m])
            worst = max(worst, abs(a - b) / max(abs(b), 1e-12))
    return worst


def lowest_test_loss(curve: pd.DataFrame, e1: pd.Series, e2: pd.Series) -> tuple[str, str]:
    """(where the test loss is lowest along the line, the numbers that say so); the endpoints are compared
    within :data:`TOL`, so a float32 difference in the 8th digit does not move the minimum off a trained model."""
    low = curve.loc[curve["test_loss"].idxmin()]
    for end, name in ((e1, "θ1 (α = 0)"), (e2, "θ2 (α = 1)")):
        if same(low["test_loss"], end["test_loss"]):
            return f"at the trained model {name}", f"{num(end['test_loss'])}"
    below = min(e1["test_loss"], e2["test_loss"]) - low["test_loss"]
    place = "between the two trained models" if 0 < low["alpha"] < 1 else "outside the segment (extrapolation)"
    return (f"{place}, at α = {low['alpha']:g}",
            f"{num(low['test_loss'])} (test accuracy {pct(low['test_acc'])}), {num(below)} nats below the better "
            "trained model")


def barrier(curve: pd.DataFrame, e1: pd.Series, e2: pd.Series) -> tuple[float, float, pd.Series]:
    """(barrier in nats, drop of training accuracy in points, the peak row) on the segment 0 ≤ α ≤ 1.

    The barrier is the highest training loss on the segment minus the higher endpoint's; the drop is the
    lower endpoint's training accuracy minus the lowest on the segment. Both ≥ 0."""
    inside = curve[(curve["alpha"] >= 0) & (curve["alpha"] <= 1)]
    peak = inside.loc[inside["train_loss"].idxmax()]
    higher = max(e1["train_loss"], e2["train_loss"])
    nats = 0.0 if same(peak["train_loss"], higher) or peak["train_loss"] < higher else peak["train_loss"] - higher
    points = max(0.0, 100 * (min(e1["train_acc"], e2["train_acc"]) - inside["train_acc"].min()))
    return nats, points, peak


def line_curvature(curve: pd.DataFrame, alpha: float) -> tuple[float, bool]:
    """Second difference of the training loss at ``alpha`` along the line (nats per unit α²), and whether
    ``alpha`` is a minimum along the line (both neighbours higher)."""
    alphas, loss = curve["alpha"].to_numpy(), curve["train_loss"].to_numpy()
    i = int(np.argmin(np.abs(alphas - alpha)))
    if i == 0 or i == len(alphas) - 1:
        return math.nan, False
    (a0, a1, a2), (l0, l1, l2) = alphas[i - 1:i + 2], loss[i - 1:i + 2]
    return 2 * ((l2 - l1) / (a2 - a1) - (l1 - l0) / (a1 - a0)) / (a2 - a0), bool(l0 > l1 < l2)


def barrier_text(nats: float, points: float, peak: pd.Series, e1: pd.Series, e2: pd.Series) -> str:
    if nats == 0.0:
        return (f"no loss barrier: on 0 ≤ α ≤ 1 the training loss never exceeds the higher endpoint's "
                f"({num(max(e1['train_loss'], e2['train_loss']))})")
    size = "a high" if nats >= HIGH_BARRIER else "a low"
    return (f"{size} loss barrier (threshold {HIGH_BARRIER:g} nats): the training loss peaks at "
            f"{num(peak['train_loss'])} at α = {peak['alpha']:g}, +{num(nats)} nats above the higher endpoint's, "
            f"and training accuracy falls to {pct(peak['train_acc'])} ({points:.1f} points below the less accurate "
            "endpoint's)")


def comment(run: ResultsFolder) -> list[Note | Table]:
    s = run.settings
    notes: list[Note | Table] = []
    if s["alpha_points"] < 31 or s["alpha_min"] > -1 or s["alpha_max"] < 2:
        notes.append(Note(f"α runs from {s['alpha_min']:g} to {s['alpha_max']:g} with {s['alpha_points']} points; "
                          "the assignment asks for −1 to 2 with at least 31.", "warning"))
    for pair, what, first, second, e1, e2, curve in pairs(run):
        name = f"θ1 ({first}) vs θ2 ({second})"
        if curve.empty:
            dead = " and ".join(n for n, e in (("θ1", e1), ("θ2", e2)) if bool(e["diverged"]))
            notes.append(Note(f"{name}: {dead} diverged in training (the loss became NaN or infinite), so there is "
                              "no line to evaluate.", "warning"))
            continue
        error = endpoint_error(curve, e1, e2)
        if not error <= TOL:
            notes.append(Note(f"{name}: at α = 0 and 1 the curve differs from the trained models' own metrics by up "
                              f"to a relative {error:.2g} (tolerance {TOL:g}); they should be equal.", "warning"))
        where, value = lowest_test_loss(curve, e1, e2)
        notes.append(Note(f"{name}: the test loss is lowest {where}: {value}; the trained models "
                          f"have {num(e1['test_loss'])} (θ1) and {num(e2['test_loss'])} (θ2), test accuracy "
                          f"{pct(e1['test_acc'])} and {pct(e2['test_acc'])}."))
        notes.append(Note(f"{name}: {barrier_text(*barrier(curve, e1, e2), e1, e2)}."))
        (k1, min1), (k2, min2) = line_curvature(curve, 0.0), line_curvature(curve, 1.0)
        if min1 and min2:
            valley = (f"along the line the training loss curves by {num(k1)} at θ1 and {num(k2)} at θ2 (second "
                      f"difference, nats per unit α²): on this one line the loss curves more at the {second if k2 > k1 else first} "
                      "model, one observation of one model per setting, not a resolved comparison of valleys")
        else:
            off = "neither trained model is" if not (min1 or min2) else f"{second if min1 else first} is not"
            bottom = curve.loc[curve["train_loss"].idxmin()]
            valley = (f"{off} at the bottom of a valley along this line (the training loss is lowest at α = "
                      f"{bottom['alpha']:g}, {num(bottom['train_loss'])}), so the line does not compare the widths "
                      "of two valleys")
        if pair != "batch_size":
            notes.append(Note(f"{name}: {valley}."))
            continue
        large, small = (e2, e1) if e2["batch_size"] > e1["batch_size"] else (e1, e2)
        reasons = ["one trained model per batch size (one seed), so the spread between trainings is unknown"]
        if min(e1["train_acc"], e2["train_acc"]) < 0.99 or not same(e1["train_acc"], e2["train_acc"], 0.005):
            reasons.append(f"the two models are not minimizers of the same quality (training accuracy "
                           f"{pct(small['train_acc'])} with batch {int(small['batch_size'])} vs "
                           f"{pct(large['train_acc'])} with batch {int(large['batch_size'])}, training loss "
                           f"{num(small['train_loss'])} vs {num(large['train_loss'])})")
        notes.append(Note(f"Keskar et al. (2017) trained one network with small (256) and large (10% of the data) "
                          "batches, both to ~100% training accuracy, and plotted the loss on the line between the two "
                          "minimizers (their fig. 3): the large-batch one sits in a sharper valley and generalizes "
                          f"worse. Here {valley}; the large-batch model has test accuracy {pct(large['test_acc'])} vs "
                          f"{pct(small['test_acc'])}. Not resolved by this run: {'; and '.join(reasons)}.",
                          "unresolved"))
    return notes


def conclusion(run: ResultsFolder) -> tuple[str, Plot | None]:
    parts, figure = [], None
    for plot, (pair, what, first, second, e1, e2, curve) in zip(plots(run), pairs(run)):  # one figure per pair
        if curve.empty:
            parts.append(f"Between {first} and {second} there is no line: an endpoint diverged.")
            continue
        figure = figure or plot
        nats, points, _ = barrier(curve, e1, e2)
        shape = ("the training loss moves between its two values without a barrier" if nats == 0.0 else
                 f"the training loss crosses a {'high' if nats >= HIGH_BARRIER else 'low'} barrier "
                 f"(+{num(nats)} nats, training accuracy −{points:.1f} points)")
        parts.append(f"From {first} (θ1) to {second} (θ2), {shape}, and the test loss is lowest "
                     f"{lowest_test_loss(curve, e1, e2)[0]}.")
    return (" ".join(parts) + " One model per setting: which valley is sharper is not resolved by this run.",
            figure)


VIEW = View("part3_interpolation", position=9, plots=plots, tasks=(
    Task("1-3c", "Flatness vs generalization: interpolation",
         "What lies on the line between two models trained differently (batch size, learning rate)?",
         describe, comment, conclusion),))
