"""View of HW1-2c, the minimal ratio where ‖∇L‖ ≈ 0: figures, tolerance sweep and report section.

Every number is read from runs.csv, stages.csv and spectra.csv; the tolerance sweep recounts the SAVED
spectra (:func:`hw1.report.spectra.tolerance_sweep`), nothing is retrained.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter, NullLocator

from hw1.report import evidence as ev
from hw1.report.document import Note, Table
from hw1.report.evidence import Evidence
from hw1.report.prose import num, pct
from hw1.report.spectra import tolerance_counts, tolerance_sweep
from hw1.results import ResultsFolder, check_grid
from hw1.report.views import Plot, Task, View
from hw1.report.views.common import diverged_note, live, settings_table

SWEEP = (1e-10, 1e-8, 1e-6, 1e-5, 1e-4, 1e-3)  # tolerances of the table
COLORS = {"relu": "C0", "tanh": "C1"}
NAMES = {"relu": "ReLU", "tanh": "tanh"}
AFFINE = 1e-9  # affine_residual below this: the net computes a straight line on the training inputs


# ---------------------------------------------------------------- reading

def _live(run: ResultsFolder) -> pd.DataFrame:
    return live(run.csv("runs.csv"))


def _activations(run: ResultsFolder) -> list[str]:
    return [a for a in run.settings["activations"] if a in set(_live(run)["activation"])]


def sweep(run: ResultsFolder, tols=SWEEP) -> pd.DataFrame:
    """The tolerance sweep of the saved spectra, per activation (the run's own eig_tol included)."""
    tols = sorted({*tols, run.settings["eig_tol"]})
    return tolerance_sweep(run.csv("spectra.csv"), tols, by=["activation"])


rho_p = partial(Evidence.tau_text, unit="runs", digits=1)  # a rank test over independent runs, in words


def affine_fit_loss(settings: dict) -> float:
    """MSE of the least-squares straight line through the training data (numpy, from the data's definition)."""
    from hw1.lab import data  # numpy only

    d = data.function_data(settings["function"], settings["samples"])
    x, y = d.x_train.astype(np.float64).ravel(), d.y_train.astype(np.float64).ravel()
    basis = np.column_stack([x, np.ones_like(x)])
    coef, *_ = np.linalg.lstsq(basis, y, rcond=None)
    return float(np.mean((basis @ coef - y) ** 2))


# ---------------------------------------------------------------- figures

def _setup(run: ResultsFolder) -> str:
    """The protocol, for the start of every caption."""
    s, acts = run.settings, _activations(run)
    return (f"{s['architecture']} ({s['params']:,} parameters) with {' and '.join(NAMES[a] for a in acts)} hidden "
            f"units, {s['runs']} runs each, on {s['samples']} points of y = {s['function_label']}; Adam on the MSE "
            f"for {s['loss_steps']:,} full-batch steps, then on ‖∇L‖² (≤ {s['grad_steps']:,} steps, stop at ‖∇L‖ < "
            f"{s['grad_tol']:g}); exact float64 Hessian of the full-data loss")


def _log_loss_axis(ax, loss: pd.Series) -> None:
    """Log x; less than a decade of losses gets three labelled ticks, or the axis would have no numbers."""
    ax.set_xscale("log")
    if loss.max() > 10 * loss.min():
        ax.xaxis.set_minor_formatter(NullFormatter())
    else:
        ticks = np.geomspace(loss.min(), loss.max(), 3)
        ax.set_xticks(ticks, [f"{v:.2g}" for v in ticks])
        ax.xaxis.set_minor_locator(NullLocator())


def draw_scatter(run: ResultsFolder, fig) -> None:
    """Minimal ratio (top) and positive share (bottom) against the loss, one column per activation."""
    runs, acts, tol, gtol = _live(run), _activations(run), run.settings["eig_tol"], run.settings["grad_tol"]
    axes = fig.subplots(2, len(acts), squeeze=False, sharey="row")
    for j, a in enumerate(acts):
        part = runs[runs["activation"] == a]
        done = part["converged"].astype(bool)
        for i, column in enumerate(("minimal_ratio", "positive_share")):
            ax = axes[i, j]
            ax.scatter(part.loc[done, "train_loss"], part.loc[done, column], s=18, color=COLORS[a], alpha=0.75,
                       linewidths=0)
            ax.scatter(part.loc[~done, "train_loss"], part.loc[~done, column], s=18, facecolor="none",
                       edgecolor=COLORS[a], linewidths=0.9)
            _log_loss_axis(ax, part["train_loss"])
        affine = part[part["affine_residual"] < AFFINE]
        if len(affine) >= 2:
            axes[0, j].annotate("a straight line\n(best affine fit)", (affine["train_loss"].median(),
                                affine["minimal_ratio"].median()), xytext=(-12, 50), textcoords="offset points",
                                ha="center", fontsize=8.5, arrowprops=dict(arrowstyle="->", color="0.3", lw=0.8))
        axes[1, j].text(0.03, 0.05, f"share = 1 in {int((part['positive_share'] == 1).sum())} of {len(part)} runs",
                        transform=axes[1, j].transAxes, fontsize=9, color="0.2")
        axes[0, j].set_title(f"{NAMES[a]}: {len(part)} runs")
        axes[1, j].set_xlabel("training loss (MSE) where ‖∇L‖² stopped")
    axes[0, 0].set_ylabel(f"minimal ratio\n(share of λ > {tol:g})")
    axes[1, 0].set_ylabel(f"positive share\n#(λ > {tol:g}) / #(|λ| > {tol:g})")
    axes[1, 0].set_ylim(-0.03, 1.08)
    marks = [Line2D([], [], ls="", marker="o", color="0.4", label=f"‖∇L‖ < {gtol:g}"),
             Line2D([], [], ls="", marker="o", mfc="none", color="0.4", label=f"stopped at ‖∇L‖ ≥ {gtol:g}")]
    axes[0, 0].legend(handles=marks, loc="upper right")


def draw_tolerance(run: ResultsFolder, fig) -> None:
    """The minimal ratio (left) and the share of runs with negative curvature (right) against the tolerance."""
    acts, tol = _activations(run), run.settings["eig_tol"]
    left, right = fig.subplots(1, 2)
    grid = np.logspace(-10, -2, 33)
    counts = tolerance_counts(run.csv("spectra.csv"), grid, by=["activation", "run"])
    table = sweep(run, grid)
    for a in acts:
        mine = counts[counts["activation"] == a].pivot(index="tol", columns="run", values="minimal_ratio")
        left.plot(mine.index, mine.to_numpy(), color=COLORS[a], lw=0.4, alpha=0.12)
        rows = table[table["activation"] == a]
        left.plot(rows["tol"], rows["ratio_median"], color=COLORS[a], lw=2, label=f"{NAMES[a]}: median over runs")
        right.plot(rows["tol"], rows["runs_negative"] / rows["runs"], color=COLORS[a], lw=2, marker="o", ms=3,
                   label=NAMES[a])
    for ax in (left, right):
        ax.axvline(tol, color="0.2", ls="--", lw=1)
        ax.set(xscale="log", xlabel="tolerance for zero (|λ| ≤ tol)")
    left.set(ylabel="minimal ratio (share of λ > tol)", ylim=(0, None), title="Minimal ratio")
    right.set(ylabel="share of runs with some λ < −tol", ylim=(-0.02, 1.02), title="Runs with negative curvature")
    right.yaxis.set_major_formatter(lambda v, _: f"{100 * v:.0f}%")
    left.legend(loc="upper right")


def draw_spectra(run: ResultsFolder, fig) -> None:
    """Histograms of |λ|, positive and negative apart, one panel per activation."""
    acts, tol = _activations(run), run.settings["eig_tol"]
    axes = fig.subplots(1, len(acts), squeeze=False, sharey=True)[0]
    values = run.csv("spectra.csv").merge(_live(run)[["activation", "run"]])
    floor, top = 1e-17, max(values["eigenvalue"].abs().max(), 10 * tol)
    edges = np.logspace(np.log10(floor) - 0.01, np.log10(top) + 0.01, 57)
    for ax, a in zip(axes, acts):
        v = values.loc[values["activation"] == a, "eigenvalue"].to_numpy()
        ax.axvspan(edges[0], tol, color="0.9", zorder=0, label=f"|λ| ≤ {tol:g}: zero")
        ax.hist(np.clip(v[v > 0], floor, None), bins=edges, color="C0", alpha=0.6, label="λ > 0")
        ax.hist(np.clip(-v[v < 0], floor, None), bins=edges, histtype="step", color="C3", lw=1.4, label="λ < 0")
        if np.any(v == 0):
            ax.hist(np.full(int(np.sum(v == 0)), floor), bins=edges, color="0.2", label="λ = 0 exactly (black)")
        ax.axvline(tol, color="0.2", ls="--", lw=1)
        ax.set(xscale="log", yscale="log", title=f"{NAMES[a]}: {len(v):,} eigenvalues,\n"
               f"{pct(np.mean(np.abs(v) <= tol), 0)} within ±{tol:g}", xlabel="|λ|")
    axes[0].set_ylabel("count (all runs pooled)")
    axes[0].set_ylim(top=axes[0].get_ylim()[1] * 300)  # room for the legend above the bars
    handles = {h.get_label(): h for ax in axes for h in ax.get_legend_handles_labels()[0]}
    axes[-1].legend(handles=list(handles.values()), loc="upper right")


def plots(run: ResultsFolder) -> list[Plot]:
    s, setup, tol, gtol = run.settings, _setup(run), run.settings["eig_tol"], run.settings["grad_tol"]
    return [
        Plot("minimal_ratio.png", "Minimal ratio and positive share against the loss",
             f"{setup}. One point per run. Top: the minimal ratio (share of eigenvalues > {tol:g}). Bottom: the share "
             f"of positive eigenvalues among those with |λ| > {tol:g}; 1 means no direction of negative curvature "
             "beyond the tolerance (minimum-like), below 1 a saddle at this tolerance. Open circles: runs whose "
             f"‖∇L‖² minimization stopped above ‖∇L‖ = {gtol:g}.", partial(draw_scatter, run), size=(7.0, 6.4)),
        Plot("tolerance_sweep.png", "Minimal ratio and negative eigenvalues against the tolerance",
             f"{setup}. Recounted from the saved spectra at each tolerance, no retraining. Left: the minimal ratio, "
             "one thin line per run and the median over runs in bold. Right: the share of runs with at least one "
             f"eigenvalue below −tol. Dashed: the tolerance of the run's main results, {tol:g}.",
             partial(draw_tolerance, run)),
        Plot("spectra.png", "Hessian spectra, all runs pooled",
             f"{setup}. Histograms of |λ| on log axes: positive eigenvalues filled, negative ones outlined, "
             "|λ| below 1e-17 drawn at 1e-17 (exact zeros in black). Grey band: counted as zero. float64 rounding "
             "of an eigenvalue is about n·ε·max|λ| = "
             f"{s['params'] * 2.2e-16 * float(_live(run)['max_eig'].max()):.0e}.", partial(draw_spectra, run)),
    ]


# ---------------------------------------------------------------- report

def describe(run: ResultsFolder) -> list[Table]:
    s = run.settings
    rows = [("Architecture", f"{s['architecture']}, {s['params']:,} parameters; hidden activation "
                             f"{' and '.join(NAMES[a] for a in s['activations'])} (one set of runs each)"),
            ("Training data", f"{s['samples']} points of y = {s['function_label']} on (0, 1]"),
            ("Loss", "mean squared error, full training set"),
            ("Phase 1: the loss", f"Adam, learning rate {s['loss_learning_rate']:g}, {s['loss_steps']:,} full-batch "
                                  "steps (float32)"),
            ("Phase 2: ‖∇L‖²", f"Adam, learning rate {s['grad_learning_rate']:g}, at most {s['grad_steps']:,} "
                               f"full-batch steps on ‖∇L‖² by double back-propagation; ‖∇L‖ checked every "
                               f"{s['check_every']} steps; a run stops at its first check with ‖∇L‖ < "
                               f"{s['grad_tol']:g} "
                               "(else at its check with the lowest ‖∇L‖)"),
            ("Hessian", "exact (all parameters, full-data loss), float64, eigenvalues by numpy eigvalsh"),
            ("Minimal ratio", f"share of eigenvalues > {s['eig_tol']:g}; |λ| ≤ {s['eig_tol']:g} counts as zero"),
            ("Positive share", f"#(λ > {s['eig_tol']:g}) / #(|λ| > {s['eig_tol']:g}): 1 = no negative curvature "
                               "beyond the tolerance"),
            ("Tolerance sweep", "the saved spectra recounted at " + ", ".join(f"{t:g}" for t in SWEEP)),
            ("Runs", f"{s['runs']} per activation, seeds {s['seeds'][0]} to {s['seeds'][-1]} (the same for both)")]
    return [settings_table(run, rows)]


def _stats(run: ResultsFolder, a: str) -> dict:
    part = _live(run)[lambda f: f["activation"] == a]
    done = part[part["converged"].astype(bool)]
    affine = part[part["affine_residual"] < AFFINE]
    return {"part": part, "done": done, "affine": affine, "rest": part[part["affine_residual"] >= AFFINE],
            "ratio": ev.rank_correlation(part["train_loss"], part["minimal_ratio"]),
            "share": ev.rank_correlation(part["train_loss"], part["positive_share"]),
            "index": ev.rank_correlation(part["train_loss"], part["n_negative"]),
            "index_done": ev.rank_correlation(done["train_loss"], done["n_negative"]),
            "grad": ev.rank_correlation(part["train_loss"], part["grad_norm"]),
            "nonflat": ev.rank_correlation(part["train_loss"], part["n_positive"] + part["n_negative"])}


def sweep_table(run: ResultsFolder) -> Table:
    rows = [[f"{r['tol']:g}", NAMES[r["activation"]],
             f"{r['ratio_median']:.3f} ({r['ratio_q1']:.3f}–{r['ratio_q3']:.3f})",
             f"{int(r['runs_negative'])} of {int(r['runs'])}", num(r["nonflat_median"]), num(r["share_median"])]
            for _, r in sweep(run).sort_values(["tol", "activation"]).iterrows()]
    return Table(["tol", "activation", "minimal ratio: median (quartiles)", "runs with some λ < −tol",
                  "median #(|λ| > tol)", "median positive share"], rows,
                 "The tolerance for zero, swept over the saved spectra (spectra.csv)")


TESTS = ("ratio", "share", "index", "index_done", "grad", "nonflat")


def all_stats(run: ResultsFolder) -> dict[str, dict]:
    """:func:`_stats` of every activation, with Holm's correction over all rank tests of the task."""
    st = {a: _stats(run, a) for a in _activations(run)}
    keys = [(a, t) for a in st for t in TESTS]
    for (a, t), adjusted in zip(keys, ev.holm([st[a][t] for a, t in keys])):
        st[a][t] = adjusted
    return st


def _direction(test: Evidence, more: str, fewer: str) -> str:
    if not test.resolved:
        return "no rank relation with the loss that the rule carries"
    return more if test.direction < 0 else fewer


def comment(run: ResultsFolder) -> list[Note | Table]:
    s, runs = run.settings, run.csv("runs.csv")
    tol, gtol, n = s["eig_tol"], s["grad_tol"], s["params"]
    notes: list[Note | Table] = diverged_note(runs, lambda r: f"{NAMES[r['activation']]} run {int(r['run'])}")
    acts = _activations(run)
    if not acts:
        return notes + [Note("Every run diverged: there is nothing to measure.", "warning")]
    st = all_stats(run)
    stages = run.csv("stages.csv")
    check_grid(stages, ["activation", "run"], "stage", run.folder / "stages.csv")
    wide = stages.pivot_table(index=["activation", "run"], columns="stage", values="train_loss")
    change = wide["grad_norm"] / wide["loss"] - 1
    notes.append(Note("Where ‖∇L‖² minimization left the runs: " + "; ".join(
        f"{NAMES[a]}: {len(st[a]['done'])} of {len(st[a]['part'])} reached ‖∇L‖ < {gtol:g} (final ‖∇L‖ median "
        f"{num(st[a]['part']['grad_norm'].median())}, largest {num(st[a]['part']['grad_norm'].max())}), changing the "
        f"loss by a median of {100 * change.loc[a].median():+.2g}%" for a in acts) + ". The loss-phase and final "
        "values of every run are in stages.csv."))
    notes.append(sweep_table(run))
    for a in acts:
        p = st[a]["part"]
        nonflat = p["n_positive"] + p["n_negative"]
        notes.append(Note(
            f"{NAMES[a]}, at tol = {tol:g}: the minimal ratio ranges from {num(p['minimal_ratio'].min())} to "
            f"{num(p['minimal_ratio'].max())} (median {num(p['minimal_ratio'].median())}); "
            f"{int((p['n_negative'] == 0).sum())} of {len(p)} runs have no eigenvalue below −{tol:g}, and the "
            f"positive share among the non-flat eigenvalues is 1 in {int((p['positive_share'] == 1).sum())}. What "
            f"differs between runs is how many eigenvalues stand clear of zero: {int(nonflat.min())} to "
            f"{int(nonflat.max())} of {n}. Loss against minimal ratio: {rho_p(st[a]['ratio'])}, i.e. "
            + _direction(st[a]["ratio"], "more directions in use goes with lower loss",
                         "more eigenvalues clear of zero at higher loss")
            + f"; loss against positive share: {rho_p(st[a]['share'])}."))
    notes.append(Note(
        "So the minimal ratio mostly counts how many directions the net uses at that point (its capacity in use), "
        "not whether the point is a minimum or a saddle; the positive share (bottom row of the first figure) is "
        "what tells the two apart. Why so many eigenvalues are zero: the MSE Hessian is (2/N)·JᵀJ + (2/N)·Σᵢ rᵢ∇²fᵢ "
        f"(J the N × n Jacobian of the outputs, rᵢ the residuals); with N = {s['samples']} points and n = {n} "
        f"parameters the first part has rank ≤ {min(s['samples'], n)}, so at least {max(n - s['samples'], 0)} "
        "eigenvalues lie within the range of the residual part's eigenvalues, which is small at a good fit and of "
        "either sign"
        + (f"; ReLU units that are inactive on every input (median {num(st['relu']['part']['dead_units'].median())} "
           f"of {sum(s['widths'])} hidden units) add exactly flat directions" if "relu" in st else "") + "."))
    table = sweep(run)
    notes.append(Note("Every reading depends on the tolerance: " + "; ".join(
        f"{NAMES[a]} runs with some λ < −tol: " + ", ".join(
            f"{int(r['runs_negative'])} at {r['tol']:g}" for _, r in table[table["activation"] == a].iterrows())
        for a in acts) + ". The table above gives the minimal ratio at each."))
    if "relu" in st and len(st["relu"]["affine"]) >= 2:
        aff, rest = st["relu"]["affine"], st["relu"]["rest"]
        positive = sorted(set(aff["n_positive"].astype(int)))
        kinkless = int((aff["switching_units"] == 0).sum())
        notes.append(Note(
            f"The degenerate cluster: {len(aff)} ReLU runs compute a straight line on the training inputs "
            f"(affine_residual ≤ {aff['affine_residual'].max():.0e}) and sit at loss "
            f"{num(aff['train_loss'].median(), 6)}, the MSE of the least-squares line through the data "
            f"({num(affine_fit_loss(s), 6)}, computed from the data), with {' or '.join(map(str, positive))} "
            "positive eigenvalues"
            + (" (the slope and intercept of that line; every other direction is flat). " if positive == [2] else ". ")
            + f"In {kinkless} of them no hidden unit switches on or off inside the data (switching_units = 0; median "
            f"{num(rest['switching_units'].median())} in the other runs), while dead units are as common as elsewhere "
            f"(median {num(aff['dead_units'].median())} vs {num(rest['dead_units'].median())}): the net collapsed to "
            "one affine piece, a poor stationary point that ‖∇L‖ alone cannot tell from a good one."))
    if len(acts) == 2:
        r, t = st["relu"], st["tanh"]
        notes.append(Note(
            f"tanh against ReLU, same widths and protocol: median loss {num(t['part']['train_loss'].median())} vs "
            f"{num(r['part']['train_loss'].median())}, median minimal ratio {num(t['part']['minimal_ratio'].median())} "
            f"vs {num(r['part']['minimal_ratio'].median())}, runs with some λ < −{tol:g}: "
            f"{int((t['part']['n_negative'] > 0).sum())} vs {int((r['part']['n_negative'] > 0).sum())}. In tanh the "
            f"minimal ratio "
            + _direction(t["ratio"], "is higher at lower loss", "is higher at higher loss")
            + f" ({rho_p(t['ratio'])}); so is the count of eigenvalues of either sign clear of zero (loss against "
            f"#(|λ| > {tol:g}): {rho_p(t['nonflat'])}), and the positive share is "
            + _direction(t["share"], "higher at lower loss", "lower at lower loss") + f" ({rho_p(t['share'])})."))
    notes.append(Note(f"{CLAIM}. {TEST}."))
    notes += [_index_note(a, st[a], tol, gtol) for a in acts]
    return notes


CLAIM = ("Dauphin et al. (2014, Fig. 1) located critical points of small MLPs on down-sampled MNIST and CIFAR-10 and "
         "found the training error rising with the index (the share of negative Hessian eigenvalues): minima had the "
         "lowest error, saddles with more descent directions higher error")
TEST = (f"The test below, by the report's rule for independent runs ({ev.RULE}): Kendall's τ of the loss against "
        "#(λ < −tol) (scipy.stats.kendalltau) over all runs AND over the runs that reached the gradient tolerance (at "
        "least 10), both carried after Holm's correction over every rank test of this section, so that the relation "
        "is not just where the ‖∇L‖² walk stalled")


def _index_note(a: str, st: dict, tol: float, gtol: float) -> Note:
    index, done = st["index"], st["index_done"]
    n, n_d = index.n, done.n
    head = f"Index against loss, {NAMES[a]}: loss against #(λ < −{tol:g}): {rho_p(index)}"
    if not math.isfinite(index.p):  # no spread of the index to rank
        return Note(f"{head}. Not resolved by this run: {int((st['part']['n_negative'] > 0).sum())} of {n} runs "
                    f"have any eigenvalue below −{tol:g}, so there is no spread of the index to rank.", "unresolved")
    together = n_d >= 10 and index.resolved and done.resolved and index.direction == done.direction
    if together:
        return Note(f"{head}; over the {n_d} runs with ‖∇L‖ < {gtol:g}: {rho_p(done)}.", ev.kind(index, 1))
    p_part = st["part"]
    reason = (f"{int((p_part['n_negative'] > 0).sum())} of {n} runs have any eigenvalue below −{tol:g}"
              if not index.resolved else
              f"the runs with higher loss are those the ‖∇L‖² walk left with a larger gradient (loss against ‖∇L‖: "
              f"{rho_p(st['grad'])}) and their most negative eigenvalue is about as large as ‖∇L‖ (median "
              f"|λmin| / ‖∇L‖ = {num((p_part['min_eig'].abs() / p_part['grad_norm']).median())}), the scale that "
              f"cannot be told from zero; over the {n_d} runs with ‖∇L‖ < {gtol:g}: {rho_p(st['index_done'])}")
    return Note(f"{head}. Not resolved by this run: {reason}.", "unresolved")


def conclusion(run: ResultsFolder) -> tuple[str, Plot]:
    figure, *_ = plots(run)
    s, acts = run.settings, _activations(run)
    if not acts:
        return "Every run diverged; nothing to conclude.", figure
    tol = s["eig_tol"]
    st = all_stats(run)
    table = sweep(run)
    parts = ["Where ‖∇L‖ ≈ 0 (median ‖∇L‖ " + ", ".join(
        f"{num(st[a]['part']['grad_norm'].median())} {NAMES[a]}" for a in acts) + f"), most Hessian eigenvalues are "
        f"zero within {tol:g}, so the minimal ratio is small (median " + ", ".join(
        f"{num(st[a]['part']['minimal_ratio'].median())} {NAMES[a]}" for a in acts) + ") and counts how many "
        "directions the net uses rather than telling a minimum from a saddle."]
    if "relu" in st:
        r = st["relu"]["part"]
        low = table[(table["activation"] == "relu")].iloc[0]
        parts.append(f"For ReLU, {int((r['n_negative'] == 0).sum())} of {len(r)} points have no eigenvalue below "
                     f"−{tol:g} (minimum-like at that tolerance, but {int(low['runs_negative'])} of {len(r)} have one "
                     f"below −{low['tol']:g}), and "
                     + _direction(st["relu"]["ratio"], "more directions in use goes with lower loss",
                                  "more eigenvalues clear of zero go with higher loss")
                     + f" (τ = {st['relu']['ratio'].effect:.2f})"
                     + (f"; {len(st['relu']['affine'])} runs collapsed to the best straight line (loss "
                        f"{num(st['relu']['affine']['train_loss'].median())}, "
                        f"{int(st['relu']['affine']['n_positive'].median())} positive eigenvalues)"
                        if len(st["relu"]["affine"]) >= 2 else "") + ".")
    if "tanh" in st:
        t = st["tanh"]
        shown = t["share"].resolved and t["share"].direction < 0
        verdict = _index_note("tanh", t, tol, s["grad_tol"]).verdict
        parts.append(f"tanh reaches a lower loss (median {num(t['part']['train_loss'].median())} vs "
                     f"{num(st['relu']['part']['train_loss'].median()) if 'relu' in st else 'n/a'} for ReLU); "
                     + (f"its lower-loss points look more minimum-like (positive share against loss τ = "
                        f"{t['share'].effect:.2f})" if shown else "its positive share shows no significant relation with "
                        "the loss")
                     + (", and this holds among the runs that reached the gradient tolerance too."
                        if verdict == "agrees" else ", but this run does not resolve it: it goes with how far ‖∇L‖² "
                        "minimization got." if shown else "."))
    return " ".join(parts), figure


VIEW = View("part2_minimal_ratio", position=5, plots=plots, tasks=(
    Task("1-2c", "What happens when the gradient is almost zero",
         "Where ‖∇L‖ ≈ 0, how minimum-like is the Hessian (minimal ratio), and how does it relate to the loss?",
         describe, comment, conclusion),))
