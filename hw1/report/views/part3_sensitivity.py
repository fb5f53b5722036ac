"""View of HW1-3d (sensitivity) and the 1-3 bonus (ε-sharpness, λmax): three figures and two report sections.

The models are minimizers trained to one stopping criterion (full-set training loss ≤ a target), in two
sweeps (batch size, learning rate), several seeds each; seed k starts every condition from the same weights,
so trends are paired (Page's test, :mod:`hw1.report.evidence`). Generalization is judged by ONE metric, fixed
before the run: the test error at matched training loss (:data:`PRIMARY`); the loss gap is secondary and
draws no verdict. Capped and diverged models are shown (capped ones marked) but never read as minimizers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, PercentFormatter

from hw1.report import evidence as ev
from hw1.report.document import Note, Table
from hw1.report.plots import TEST_STYLE, TRAIN_STYLE, mean_band, twin
from hw1.report.prose import num, pct, times
from hw1.results import ResultsFolder
from hw1.report.views import Plot, Task, View
from hw1.report.views.common import architecture_text, dataset_rows, diverged_note, live, settings_table, subset_text
from hw1.report.views.minimizers import (CURVATURE, JASTRZEBSKI, KESKAR, NOVAK, PRIMARY, SWEEPS, TAU, condition_name,
                                         condition_table, goes_with_error, minimizers, moves_text, read_models,
                                         rule_note, sweep_of, sweep_trend, tested_notes, unique_models, x_label)

CAPPED, SENSITIVITY, TARGET = "stopped by the step cap", "sensitivity (right axis)", "target"
LEGEND = ("training", "test", SENSITIVITY, TARGET, CAPPED)  # the order of the sweep figures' one legend
TRAIN, TEST, SENS, SHARP, LMAX = "C0", "C3", "C2", "C4", "C1"
MEASURES = {"sensitivity": ("sensitivity", "sensitivity ‖∂softmax/∂x‖_F\n(test mean)", SENS),  # name, axis, colour
            "sharpness": ("ε-sharpness", "ε-sharpness (% of 1 + L)", SHARP),
            "top_hessian_eigenvalue": ("λmax of the Hessian", "λmax of the Hessian", LMAX)}

# ---------------------------------------------------------------- figures

def _axes(ax, sweep: str, values, data: pd.DataFrame, y: str, log: bool) -> None:
    """Log x with the sweep's values as ticks; log or linear y (plain labels); × on the capped models."""
    ax.set_xscale("log")
    ax.set_xticks(list(values), [x_label(sweep, v) for v in values])
    ax.minorticks_off()
    ax.set_xlabel(f"{SWEEPS[sweep]} (log scale)")
    ax.set_yscale("log" if log else "linear")
    if log:
        label = lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "125" else ""  # noqa: E731
        ax.yaxis.set_major_formatter(FuncFormatter(label))
        ax.yaxis.set_minor_formatter(FuncFormatter(label))
    capped = live(data)[lambda f: ~f["reached_target"]]
    if len(capped):
        ax.scatter(capped[sweep], capped[y], marker="x", s=30, color="k", lw=1.1, zorder=5,
                   label=CAPPED)


def _wide(values: pd.Series) -> bool:
    """Positive values spanning more than a decade: drawn on a log axis."""
    values = values.dropna()
    return len(values) > 1 and bool((values > 0).all()) and values.max() / values.min() > 10


def _caption_tail(frame: pd.DataFrame, logs: list[str]) -> str:
    dead = unique_models(frame[frame["diverged"]])
    capped = (~live(frame)["reached_target"]).any()  # drawn as ×, left out of the line and dots
    seeds, each = ("the seeds that reached the target", "each of those seeds") if capped else ("seeds", "each seed")
    return (f"Line: mean over {seeds}" + "".join(f" (geometric on the log axis of {c})" for c in logs)
            + f"; dots: {each}."
            + (" ×: stopped by the step cap above the target, not a minimizer: left out of the line." if capped
               else "")
            + "".join(f" Diverged, left out: batch {r.batch_size}, lr {r.learning_rate:g}, seed {r.seed}."
                      for r in dead.itertuples()))


def _sweep_plot(run: ResultsFolder, frame: pd.DataFrame, sweep: str) -> Plot:
    s, models = run.settings, live(sweep_of(frame, sweep))
    values, log = sorted(sweep_of(frame, sweep)[sweep].unique()), _wide(models["train_loss"])

    def draw(fig) -> None:
        grid = fig.add_gridspec(3, 2, height_ratios=[1.55, 1.0, 0.16])
        for key, row, col, title in (("test_loss", 0, 0, "Test loss and sensitivity"),
                                     ("test_acc", 0, 1, "Test accuracy and sensitivity"),
                                     ("train_loss", 1, 0, "Training loss (stopping criterion)"),
                                     ("train_acc", 1, 1, "Training accuracy")):
            ax, test = fig.add_subplot(grid[row, col]), key.startswith("test")
            mean_band(ax, minimizers(models), sweep, key, TEST if test else TRAIN, "test" if test else "training",
                      log=log and key == "train_loss", **(TEST_STYLE if test else TRAIN_STYLE))
            _axes(ax, sweep, values, models, key, log and key == "train_loss")
            ax.set(title=title, ylabel="accuracy" if key.endswith("acc") else "cross-entropy (nats)")
            if key.endswith("acc"):
                ax.yaxis.set_major_formatter(PercentFormatter(1.0))
                if models[key].min() > 0.999:  # all at 100%: no axis above it
                    ax.set_ylim(0.99, 1.001)
            if key == "train_loss":
                ax.axhline(s["target_loss"], color="0.35", ls=":", lw=1.2, label=TARGET)
            if test:
                mean_band(twin(ax, SENS, "sensitivity (test mean)"), minimizers(models), sweep, "sensitivity", SENS,
                          SENSITIVITY, lw=1.4)
        handles = {}  # one legend for all panels, in a row of its own: it covers no data, nor the caption
        for ax in fig.axes:
            handles.update({lab: h for h, lab in zip(*ax.get_legend_handles_labels()) if lab not in handles})
        order = [*(lab for lab in LEGEND if lab in handles), *(lab for lab in handles if lab not in LEGEND)]
        legend = fig.add_subplot(grid[2, :])
        legend.axis("off")
        legend.legend([handles[k] for k in order], order, loc="center", ncol=len(order), frameon=False)

    fixed = f"learning rate {s['learning_rate']:g}" if sweep == "batch_size" else f"batch size {s['batch_size']}"
    data = s["dataset"]
    caption = (f"{architecture_text(s)}, Adam at {fixed}; {data['name']} ({data['train_size']:,} training / "
               f"{data['test_size']:,} test images). Every model trained until its full-set training loss was ≤ "
               f"{s['target_loss']:g} (dotted line), at most {s['max_steps']:,} steps; {len(s['seeds'])} seeds per "
               f"{SWEEPS[sweep]}. Sensitivity (green, right axes): ‖∂softmax/∂x‖_F averaged over the test images. "
               + _caption_tail(sweep_of(frame, sweep), ["training loss"] if log else []))
    return Plot(f"{sweep}.png", f"Loss, accuracy and sensitivity vs {SWEEPS[sweep]}", caption, draw, size=(7.0, 6.4))


def _flatness_plot(run: ResultsFolder, frame: pd.DataFrame) -> Plot:
    s = run.settings
    logs = {c: _wide(live(frame)[c]) for c in MEASURES}

    def draw(fig) -> None:
        axes = fig.subplots(3, 2, sharey="row")
        for col, sweep in enumerate(SWEEPS):
            models, values = live(sweep_of(frame, sweep)), sorted(sweep_of(frame, sweep)[sweep].unique())
            for row, (column, (_, label, color)) in enumerate(MEASURES.items()):
                ax = axes[row, col]
                mean_band(ax, minimizers(models), sweep, column, color, log=logs[column], lw=1.5)
                _axes(ax, sweep, values, models, column, logs[column])
                ax.set_ylabel(label if col == 0 else "", fontsize=9.5)
                if row < 2:
                    ax.set_xlabel("")
            fixed = f"lr {s['learning_rate']:g}" if sweep == "batch_size" else f"batch {s['batch_size']}"
            axes[0, col].set_title(f"vs {SWEEPS[sweep]} ({fixed})")

    caption = (f"The models of the two sweeps (left: batch size; right: learning rate), each trained to full-set "
               f"training loss ≤ {s['target_loss']:g}, {len(s['seeds'])} seeds each. Rows (each sharing its y axis): "
               f"sensitivity (test mean of ‖∂softmax/∂x‖_F), ε-sharpness (ε = {s['epsilon']:g}, largest "
               "training-loss increase in the box |Δθᵢ| ≤ ε(|θᵢ| + 1), in % of 1 + L) and the top eigenvalue of the "
               f"training-loss Hessian (float64 Lanczos, relative tolerance {s['hessian_rtol']:g}). "
               + _caption_tail(frame, [MEASURES[c][0] for c in MEASURES if logs[c]]))
    return Plot("flatness.png", "Sensitivity, ε-sharpness and λmax vs batch size and learning rate", caption, draw,
                size=(7.0, 7.4))


def sweep_plots(run: ResultsFolder) -> list[Plot]:
    """The figures of 1-3d: one per sweep."""
    frame = read_models(run)
    return [_sweep_plot(run, frame, sweep) for sweep in SWEEPS]


def plots(run: ResultsFolder) -> list[Plot]:
    return [*sweep_plots(run), _flatness_plot(run, read_models(run))]


# ---------------------------------------------------------------- 1-3d

def _protocol_rows(s: dict) -> list[tuple[str, object]]:
    return [("Architecture", architecture_text(s)), *dataset_rows(s),
            ("Loss, optimizer", "cross-entropy (nats), Adam"),
            ("Sweep 1: batch size", f"{', '.join(f'{b:,}' for b in s['batch_sizes'])} at learning rate "
                                    f"{s['learning_rate']:g}"),
            ("Sweep 2: learning rate", f"{', '.join(x_label('learning_rate', v) for v in s['learning_rates'])} at "
                                       f"batch size {s['batch_size']}"),
            ("Stopping criterion", f"full-set training loss ≤ {s['target_loss']:g} nats, checked after every epoch "
                                   f"or every {s['check_steps']} steps, whichever is longer; each model stops on "
                                   "its own"),
            ("Step cap", f"{s['max_steps']:,} optimizer steps per model"),
            ("Seeds", f"{len(s['seeds'])} per condition ({', '.join(map(str, s['seeds']))}), trained together; "
                      "seed k starts every condition from the same initial weights")]


def describe_sensitivity(run: ResultsFolder) -> list[Table]:
    rows = [*_protocol_rows(run.settings),
            ("Sensitivity", "‖∂ softmax(f(x)) / ∂x‖_F per test image (output probabilities w.r.t. input pixels), "
                            "mean over the test set (and median, a robust check)")]
    columns = {"steps": ("steps", num), "train_loss": ("train loss", num), "train_acc": ("train acc", pct)}
    return [settings_table(run, rows), *(condition_table(read_models(run), sweep, columns, "Training to the criterion",
                                                         live) for sweep in SWEEPS)]


def criterion_notes(frame: pd.DataFrame, s: dict) -> list[Note]:
    models = unique_models(frame)
    capped, reached = live(models)[lambda f: ~f["reached_target"]], minimizers(models)
    notes = diverged_note(models, lambda r: f"batch {r['batch_size']}, lr {r['learning_rate']:g}, seed {r['seed']}")
    if len(capped):
        names = ", ".join(f"batch {r.batch_size}, lr {r.learning_rate:g}, seed {r.seed} (loss {num(r.train_loss)})"
                          for r in capped.itertuples())
        notes.append(Note(f"{len(capped)} of {len(models)} models hit the step cap ({s['max_steps']:,} steps) before "
                          f"their training loss reached {s['target_loss']:g}: {names}. They are not minimizers at the "
                          "criterion and are left out of every trend below.", "warning"))
    if len(reached):
        notes.append(Note(f"{len(reached)} of {len(models)} models reached training loss ≤ {s['target_loss']:g}, "
                          f"after {num(int(reached['steps'].min()))} to {num(int(reached['steps'].max()))} steps, "
                          + ("all at 100% training accuracy" if reached["train_acc"].min() == 1 else
                             f"with training accuracy {pct(reached['train_acc'].min(), 2)} or more")
                          + "; their final "
                          f"training losses range {num(reached['train_loss'].min())} – "
                          f"{num(reached['train_loss'].max())} (the loss is checked once per epoch or "
                          f"{s['check_steps']} steps, so a model stops somewhat below the target). These are the "
                          "minimizers compared."))
    return notes


def _secondary(frame: pd.DataFrame, column: str, what: str) -> str:
    """The trends of a secondary measure over both sweeps, in words (no verdict is drawn from it)."""
    return "; ".join(moves_text(sweep_trend(frame, sweep, column), what, sweep) for sweep in SWEEPS)


def comment_sensitivity(run: ResultsFolder) -> list[Note | Table]:
    s, frame = run.settings, read_models(run)
    notes: list[Note | Table] = list(criterion_notes(frame, s))
    columns = {"test_error": ("test error", pct), "test_loss": ("test loss", num),
               "loss_gap": ("loss gap (test − train)", num), "sensitivity": ("sensitivity (mean)", num),
               "sensitivity_median": ("sensitivity (median)", num)}
    notes += [condition_table(frame, sweep, columns, "Minimizers") for sweep in SWEEPS]
    if minimizers(frame).empty:
        return notes + [Note("No model reached the target: there are no minimizers to compare.", "unresolved")]
    models = unique_models(minimizers(frame))
    ratio = (models["sensitivity"] / models["sensitivity_median"]).replace([np.inf, -np.inf], np.nan)
    notes += [rule_note(frame, s, f"The claims tested. {KESKAR}. {NOVAK}. {JASTRZEBSKI}."),
              *tested_notes(frame, [
                  (sweep_trend(frame, "batch_size", PRIMARY), "Keskar et al.", "at ~100% training accuracy, larger "
                   "batches give a higher test error", 1, "the test error", "batch_size"),
                  (sweep_trend(frame, "learning_rate", PRIMARY), "Jastrzębski et al.", "a larger learning rate (at a "
                   "fixed batch size) generalizes better", -1, "the test error", "learning_rate"),
                  (sweep_trend(frame, "batch_size", "sensitivity"), "Novak et al.", "full-batch (large-batch) training "
                   "gives more sensitive models", 1, "sensitivity", "batch_size"),
                  (goes_with_error(frame, "sensitivity"), "Novak et al.", "sensitivity goes with worse generalization "
                   "across models", 1, "sensitivity", None)]),
              Note(f"Secondary, no verdict: the test loss {_secondary(frame, 'test_loss', 'it')}; the loss gap "
                   f"{_secondary(frame, 'loss_gap', 'it')}."),
              Note(f"The mean sensitivity is a tail statistic: it is {num(ratio.min())} to {num(ratio.max())} times "
                   "the median over the test images, so the few images whose prediction is not saturated carry most "
                   f"of it. Robust check with the median: {_secondary(frame, 'sensitivity_median', 'the median')}.")]
    return notes


def _disagreements(frame: pd.DataFrame) -> list[Note]:
    """Where the secondary metric goes against the primary one: the flattest condition of a sweep with its worst
    test loss."""
    notes = []
    for sweep in SWEEPS:
        means = sweep_of(minimizers(frame), sweep).groupby(sweep)[["sharpness", "test_loss", PRIMARY]].mean()
        if len(means) < 3:
            continue
        flattest, worst = means["sharpness"].idxmin(), means["test_loss"].idxmax()
        if flattest == worst:
            notes.append(Note(
                f"Against the expectation that flatter minimizers generalize better, by the secondary metric: the "
                f"flattest minimizers of the {SWEEPS[sweep]} sweep ({condition_name(sweep)(flattest)}, mean ε-sharpness "
                f"{num(means.loc[flattest, 'sharpness'])}%) have its highest mean test loss "
                f"({num(means.loc[flattest, 'test_loss'])}, against {num(means['test_loss'].min())} at "
                f"{condition_name(sweep)(means['test_loss'].idxmin())}), while their test error is "
                f"{pct(means.loc[flattest, PRIMARY])} (sweep range {pct(means[PRIMARY].min())}–"
                f"{pct(means[PRIMARY].max())}): the higher loss at a similar error comes from how confident the "
                "predictions are, not from more mistakes.", "disagrees"))
    return notes


def _sweep_words(frame: pd.DataFrame, sweep: str, columns: dict[str, tuple[str, object]]) -> str:
    """``from batch size 16 to 4,000, test error 5.7% → 7.0% (rises); ...``: means at the ends and the verdict."""
    parts = sweep_of(minimizers(frame), sweep)
    values = sorted(parts[sweep].unique())
    if len(values) < 2:
        return f"fewer than two {SWEEPS[sweep]}s have minimizers"
    ends = [parts[parts[sweep] == v] for v in (values[0], values[-1])]
    words = {1: "rises", -1: "falls", 0: "not resolved"}
    return (f"from {SWEEPS[sweep]} {x_label(sweep, values[0])} to {x_label(sweep, values[-1])}, "
            + "; ".join(f"{name} {fmt(ends[0][c].mean())} → {fmt(ends[1][c].mean())} "
                        f"({words[sweep_trend(frame, sweep, c).direction]})" for c, (name, fmt) in columns.items()))


def _effect(frame: pd.DataFrame, sweep: str) -> str:
    """Whether larger values of the sweep generalize worse, by the primary metric alone."""
    direction = sweep_trend(frame, sweep, PRIMARY).direction
    if direction == 0:
        return f"Whether the {SWEEPS[sweep]} changes the test error is not resolved by this run"
    return f"Models trained with larger {SWEEPS[sweep]}s generalize {'worse' if direction > 0 else 'better'}"


def conclusion_sensitivity(run: ResultsFolder) -> tuple[str, Plot]:
    s, frame = run.settings, read_models(run)
    figure = _sweep_plot(run, frame, "batch_size")
    if minimizers(frame).empty:
        return "No model reached the training-loss target, so no minimizers could be compared.", figure
    columns = {"test_error": ("test error", pct), "sensitivity": ("sensitivity", num),
               "test_loss": ("test loss, secondary", num)}
    return (f"{subset_text(s)}Compared as minimizers, all trained to the same training loss (≤ {s['target_loss']:g}, "
            f"{len(s['seeds'])} seeds each; generalization = test error; means, then the rule's verdict per "
            f"measure): {_effect(frame, 'batch_size')} — {_sweep_words(frame, 'batch_size', columns)}. "
            f"{_effect(frame, 'learning_rate')} — {_sweep_words(frame, 'learning_rate', columns)}.", figure)


# ---------------------------------------------------------------- 1-3 bonus

def describe_sharpness(run: ResultsFolder) -> list[Table]:
    s = run.settings
    rows = [("Models", "the minimizers of 1-3d (both sweeps, same stopping criterion), at their final weights"),
            ("ε-sharpness", f"100 · (max L(θ + Δθ) − L(θ)) / (1 + L(θ)) over the box |Δθᵢ| ≤ ε(|θᵢ| + 1); "
                            f"ε = {s['epsilon']:g}, all parameters, full training set (Keskar et al. 2017)"),
            ("Ascent", f"projected sign-gradient ascent, {s['sharpness_steps']} steps from "
                       f"{s['sharpness_starts']} start(s) (Δθ = 0, then random points of the box); the largest loss "
                       "seen is kept (a lower bound of the maximum)"),
            ("λmax", f"largest eigenvalue of the Hessian of the full training loss, Lanczos on float64 "
                     f"Hessian-vector products, stopped when the residual is ≤ {s['hessian_rtol']:g} · λ"),
            *_protocol_rows(s)[-5:]]
    return [settings_table(run, rows)]


def comment_sharpness(run: ResultsFolder) -> list[Note | Table]:
    s, frame = run.settings, read_models(run)
    reached = unique_models(minimizers(frame))
    if reached.empty:
        return [Note("No model reached the training-loss target: there are no minimizers to compare.", "unresolved")]
    means = reached.groupby(["batch_size", "learning_rate"])["train_loss"].mean()
    (batch, rate), lowest = means.idxmin(), means.min()
    columns = {"train_loss": ("train loss", num), "sharpness": ("ε-sharpness (%)", num),
               "top_hessian_eigenvalue": ("λmax", num), "test_error": ("test error", pct)}
    lmax_sharp = ev.association(reached, "sharpness", "top_hessian_eigenvalue", margin=TAU)
    return [Note(f"{CURVATURE}: the compared models stopped at training losses {num(reached['train_loss'].min())} – "
                 f"{num(reached['train_loss'].max())}, all ≤ {s['target_loss']:g}. The lowest condition mean is "
                 f"{num(lowest)} (batch {batch}, lr {rate:g}; {times(s['target_loss'], lowest)} below the target: "
                 "the loss can fall past the target between two checks), so part of that condition's flatness may "
                 "come from its lower loss."),
            *(condition_table(frame, sweep, columns, "Sharpness of the minimizers") for sweep in SWEEPS),
            rule_note(frame, s, f"The claims tested. {KESKAR}. {JASTRZEBSKI}."),
            *tested_notes(frame, [
                *((sweep_trend(frame, "batch_size", c), "Keskar et al.", "larger batches find sharper minimizers", 1,
                   name, "batch_size") for c, name in (("sharpness", "ε-sharpness"), ("top_hessian_eigenvalue",
                                                                                     "λmax"))),
                *((sweep_trend(frame, "learning_rate", c), "Jastrzębski et al.", "a larger learning rate finds flatter "
                   "minimizers", -1, name, "learning_rate") for c, name in (("sharpness", "ε-sharpness"),
                                                                            ("top_hessian_eigenvalue", "λmax"))),
                *((goes_with_error(frame, c), "Keskar et al.", "sharper minimizers generalize worse", 1, name, None)
                  for c, name in (("sharpness", "ε-sharpness"), ("top_hessian_eigenvalue", "λmax")))]),
            Note(f"Descriptive: across the {len(reached)} minimizers, ε-sharpness and λmax have Kendall's τ = "
                 f"{lmax_sharp.effect:.2f}. ε-sharpness is the worst loss increase over a box in all parameters at "
                 "once, λmax the curvature along the single sharpest direction, so the two need not rank models "
                 "alike."),
            *_disagreements(frame)]


def conclusion_sharpness(run: ResultsFolder) -> tuple[str, Plot]:
    s, frame = run.settings, read_models(run)
    figure = _flatness_plot(run, frame)
    if minimizers(frame).empty:
        return "No model reached the training-loss target, so no minimizers could be compared.", figure
    trends = [sweep_trend(frame, "batch_size", c).direction for c in ("sharpness", "top_hessian_eigenvalue")]
    lead = ("Larger batches find sharper minimizers, as Keskar et al. report" if trends == [1, 1] else
            "Larger batches find flatter minimizers, against Keskar et al." if trends == [-1, -1] else
            "ε-sharpness and λmax do not agree on a resolved trend with the batch size")
    columns = {"sharpness": ("ε-sharpness (%)", num), "top_hessian_eigenvalue": ("λmax", num)}
    return (f"{subset_text(s)}At the same training loss (≤ {s['target_loss']:g}; means, then the rule's verdict): "
            f"{lead} — {_sweep_words(frame, 'batch_size', columns)}. Over learning rates, "
            f"{_sweep_words(frame, 'learning_rate', columns)}.", figure)


VIEW = View("part3_sensitivity", position=10, plots=plots, tasks=(
    Task("1-3d", "Flatness vs generalization: sensitivity",
         "Trained to the same training loss, do models trained with larger batches (or other learning rates) "
         "generalize worse, and does the sensitivity of their output to the input track it?",
         describe_sensitivity, comment_sensitivity, conclusion_sensitivity,
         figures=sweep_plots),
    Task("1-3 bonus", "Other measures of generalization: ε-sharpness and λmax",
         "Are the minimizers of larger batches (or other learning rates) sharper, by ε-sharpness and by the top "
         "Hessian eigenvalue, and does sharpness track generalization?",
         describe_sharpness, comment_sharpness, conclusion_sharpness,
         figures=lambda run: [_flatness_plot(run, read_models(run))]),
))
