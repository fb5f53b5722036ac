"""The one evidence rule of every report: when a comparison between models counts.

A finding "agrees with" or "contradicts" a published claim only when a rank test from scipy
carries it at level :data:`ALPHA`, after Holm's correction over the findings of one task, AND
the effect is larger than a margin stated beside it. Which test depends on the design:

- **unpaired** (the usual case: seed k of one condition shares nothing with seed k of
  another, e.g. nets of different depth or width): a pooled test that does not depend on how
  seeds are paired. For an ordered trend over three or more conditions, the
  Jonckheere–Terpstra test in its Kendall form: Kendall's τ-b between the condition and the
  measure over all runs pooled (``scipy.stats.kendalltau``); for two conditions, the
  Mann–Whitney U test (``scipy.stats.mannwhitneyu``, two-sided).
- **paired** (seed k starts from the same initial weights in every condition, e.g. one
  architecture trained with different batch sizes): Page's trend test with the seeds as blocks
  (``scipy.stats.page_trend_test``, two-sided as twice the smaller one-sided p-value), or the
  Wilcoxon signed-rank test for two conditions.

The effect is the change of the median from the first to the last condition, relative to the
first (``relative=True``, for losses and other positive scales) or absolute (accuracies), and
must exceed ``margin``. A trend is read over every condition, not only its ends: each step
between neighbouring conditions that goes against the overall direction with every run of one
condition beyond every run of the other (two runs or more each) is named (:attr:`Evidence.reversals`).
Whether two measures go together across models is Kendall's τ-b between them over every model
(:func:`association`), its margin a least |τ|.

This module imports neither TensorFlow nor matplotlib.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["ALPHA", "RULE", "Evidence", "trend", "difference", "association", "rank_correlation", "holm", "verdict",
           "reversal_steps", "reversal_text", "kind"]

ALPHA = 0.05  # family-wise level of the findings of one task (Holm)

RULE = (f"a comparison counts only when a rank test from scipy carries it at level {ALPHA} after Holm's "
        "correction over the findings of its task, and its effect exceeds the margin stated beside it. Where seeds "
        "of different conditions share nothing (different architectures), the test pools every run and does not "
        "depend on how seeds are paired: Jonckheere–Terpstra (Kendall's τ-b of the measure against the condition) "
        "for an ordered trend, Mann–Whitney U for two conditions; where seed k starts from the same weights in every "
        "condition, Page's trend test with seeds as blocks (Wilcoxon signed-rank for two conditions). The effect is "
        "the change of the median from the first to the last condition; whether two measures go together across models, "
        "Kendall's τ-b between them over every model. Steps between neighbouring conditions that go "
        "against the trend with the runs of the two fully apart are named")


@dataclass(frozen=True)
class Evidence:
    """The outcome of one comparison under the rule.

    Attributes:
        direction: +1 (y rises with x, or b above a), -1 (falls), 0 (not resolved).
        test: the test's name, e.g. ``"Jonckheere–Terpstra"``.
        p: its two-sided p-value (Holm-adjusted after :func:`holm`); NaN when it cannot be computed.
        effect: change of the median from the first to the last condition (relative when ``relative``).
        margin: the effect it had to exceed.
        relative: whether ``effect`` and ``margin`` are fractions of the first condition's median.
        sign: the sign of the test statistic (+1, -1 or 0), whether or not it is significant.
        reversals: steps against the overall direction with the runs of the two conditions fully apart,
            as ``(x_before, x_after)`` pairs.
        n: number of runs used; ``groups``: number of conditions.
        reason: why it is, or is not, resolved (a clause for the report).
    """

    direction: int
    test: str
    p: float
    effect: float
    margin: float
    relative: bool
    sign: int
    reversals: tuple[tuple[object, object], ...]
    n: int
    groups: int
    reason: str
    adjusted_over: int = 1

    @property
    def resolved(self) -> bool:
        return self.direction != 0

    def effect_text(self) -> str:
        if not math.isfinite(self.effect):
            return "n/a"
        return f"{100 * self.effect:+.3g}%" if self.relative else f"{self.effect:+.3g}"

    def summary(self) -> str:
        """``Jonckheere–Terpstra p = 0.004, median change −96% (margin 10%)``."""
        p = "n/a" if not math.isfinite(self.p) else f"{self.p:.2g}"
        holm_note = f", Holm over {self.adjusted_over}" if self.adjusted_over > 1 else ""
        margin = f"{100 * self.margin:.3g}%" if self.relative else f"{self.margin:.3g}"
        if self.test == "Kendall's τ":
            return f"Kendall's τ = {self.effect:.2f} over {self.n} models, p = {p}{holm_note} (margin |τ| > {margin})"
        return f"{self.test} p = {p}{holm_note}, median change {self.effect_text()} (margin {margin})"

    def tau_text(self, unit: str = "models", digits: int = 2) -> str:
        """``Kendall's τ = 0.42 over 100 runs, p = 0.003 (Holm over 12 tests)``, for a finding of
        :func:`association` or :func:`rank_correlation` whose margin is not in question; when p cannot be computed,
        why."""
        if not math.isfinite(self.p):
            return f"no rank correlation (one side is constant over {self.n} {unit})"
        holm = f" (Holm over {self.adjusted_over} tests)" if self.adjusted_over > 1 else ""
        return f"Kendall's τ = {self.effect:.2f} over {self.n} {unit}, p = {self.p:.{digits}g}{holm}"


def _decide(test: str, p: float, sign: int, effect: float, margin: float, relative: bool,
            reversals: tuple, n: int, groups: int, alpha: float = ALPHA, adjusted_over: int = 1) -> Evidence:
    common = dict(test=test, p=p, effect=effect, margin=margin, relative=relative, sign=sign, reversals=reversals,
                  n=n, groups=groups, adjusted_over=adjusted_over)
    shown = Evidence(0, reason="", **common).summary()
    if not math.isfinite(p):
        return Evidence(0, reason=f"{test} cannot be computed from these runs", **common)
    if p >= alpha:
        return Evidence(0, reason=f"the test does not carry it ({shown}; level {alpha})", **common)
    if not (math.isfinite(effect) and np.sign(effect) == sign and abs(effect) > margin):
        return Evidence(0, reason=f"the effect is within the stated margin ({shown})", **common)
    return Evidence(sign, reason=shown, **common)


def _groups(frame: pd.DataFrame, x: str, y: str) -> tuple[np.ndarray, list[np.ndarray]]:
    frame = frame[np.isfinite(frame[y].astype(float))]
    xs = np.sort(frame[x].unique())
    return xs, [frame.loc[frame[x] == v, y].to_numpy(float) for v in xs]


def _effect(first: np.ndarray, last: np.ndarray, relative: bool) -> float:
    a, b = float(np.median(first)), float(np.median(last))
    if not relative:
        return b - a
    return (b - a) / abs(a) if a != 0 else math.nan


def _reversals(xs: np.ndarray, groups: list[np.ndarray], sign: int) -> tuple[tuple[object, object], ...]:
    """Neighbouring steps that go against ``sign`` with every run of one beyond every run of the other."""
    if sign == 0:
        return ()
    found = []
    for i in range(len(xs) - 1):
        a, b = groups[i], groups[i + 1]
        if len(a) >= 2 and len(b) >= 2 and (b.max() < a.min() if sign > 0 else b.min() > a.max()):
            found.append((_plain(xs[i]), _plain(xs[i + 1])))
    return tuple(found)


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def trend(frame: pd.DataFrame, x: str, y: str, *, paired: bool = False, seed: str = "seed", margin: float = 0.0,
          relative: bool = True, alpha: float = ALPHA) -> Evidence:
    """Whether ``y`` rises or falls with ``x`` over the runs in ``frame`` (one row per run and condition).

    Args:
        frame: one row per (condition, seed); non-finite ``y`` (diverged runs) are left out.
        x: the condition's column (ordered: numbers); y: the measure's column.
        paired: seeds in column ``seed`` share initial weights across conditions (Page's test over the seeds
            that have every condition); else the runs are pooled (Jonckheere–Terpstra via Kendall's τ-b).
        margin: the median change from the first to the last condition must exceed this (a fraction of the
            first median when ``relative``, else in the units of ``y``).
        alpha: the level (before Holm's correction, which :func:`holm` applies over a task's findings).

    Returns:
        An :class:`Evidence`.

    Example:
        >>> f = pd.DataFrame({"x": [1, 2, 3] * 3, "y": [1, 2, 3, 1.1, 2.1, 3.1, 0.9, 1.9, 2.9],
        ...                   "seed": [0] * 3 + [1] * 3 + [2] * 3})
        >>> trend(f, "x", "y").direction
        1
    """
    xs, groups = _groups(frame, x, y)
    n = int(sum(len(g) for g in groups))
    if len(xs) < 2:
        return Evidence(0, "none", math.nan, math.nan, margin, relative, 0, (), n, len(xs),
                        f"only {len(xs)} value of {x}")
    if len(xs) == 2:
        first, second = frame[frame[x] == xs[0]], frame[frame[x] == xs[1]]
        return difference(first, second, y, paired=paired, seed=seed, margin=margin, relative=relative,
                          alpha=alpha)
    effect = _effect(groups[0], groups[-1], relative)
    if paired:
        wide = frame[np.isfinite(frame[y].astype(float))].pivot_table(index=seed, columns=x, values=y).dropna()
        if len(wide) < 2:
            return Evidence(0, "Page's trend test", math.nan, effect, margin, relative, 0, (), n, len(xs),
                            "fewer than two seeds have every condition")
        data = wide[sorted(wide.columns)].to_numpy(float)
        up, down = (stats.page_trend_test(d).pvalue for d in (data, data[:, ::-1]))
        p, sign = min(1.0, 2 * min(up, down)), (1 if up < down else -1 if down < up else 0)
        test, n = "Page's trend test", int(data.size)
    else:
        pooled = frame[np.isfinite(frame[y].astype(float))]
        result = stats.kendalltau(pooled[x].astype(float), pooled[y].astype(float))
        p, sign = float(result.pvalue), int(np.sign(result.statistic)) if math.isfinite(result.statistic) else 0
        test = "Jonckheere–Terpstra"
    p = float(p) if p is not None and math.isfinite(p) else math.nan
    return _decide(test, p, sign, effect, margin, relative, _reversals(xs, groups, sign), n, len(xs), alpha)


def difference(a: pd.DataFrame | Iterable[float], b: pd.DataFrame | Iterable[float], y: str | None = None, *,
               paired: bool = False, seed: str = "seed", margin: float = 0.0, relative: bool = True,
               alpha: float = ALPHA) -> Evidence:
    """Whether the runs of condition ``b`` lie above (+1) or below (-1) those of ``a``.

    Args:
        a, b: the runs of the two conditions: frames with columns ``y`` (and ``seed`` when paired), or values.
        paired: seed k of ``a`` and of ``b`` share initial weights (Wilcoxon signed-rank over the seeds both
            have); else Mann–Whitney U (two-sided, exact for small samples).
        margin, relative, alpha: as in :func:`trend`; the effect is median(b) − median(a).

    Example:
        >>> difference([1.0, 1.1, 1.2, 1.3], [2.0, 2.1, 2.2, 2.3]).direction
        1
    """
    def values(part) -> np.ndarray:
        v = part[y].to_numpy(float) if isinstance(part, pd.DataFrame) else np.asarray(list(part), float)
        return v[np.isfinite(v)]

    va, vb = values(a), values(b)
    n = len(va) + len(vb)
    if len(va) < 2 or len(vb) < 2:
        return Evidence(0, "Mann–Whitney U", math.nan, math.nan, margin, relative, 0, (), n, 2,
                        "fewer than two runs in a condition, so the spread is unknown")
    effect = _effect(va, vb, relative)
    if paired:
        if not (isinstance(a, pd.DataFrame) and isinstance(b, pd.DataFrame)):
            raise ValueError("paired=True needs frames with a seed column")
        both = a[[seed, y]].merge(b[[seed, y]], on=seed, suffixes=("_a", "_b")).dropna()
        d = (both[f"{y}_b"] - both[f"{y}_a"]).to_numpy(float)
        test = "Wilcoxon signed-rank"
        p = float(stats.wilcoxon(d).pvalue) if len(d) >= 2 and np.any(d != 0) else math.nan
        sign = int(np.sign(np.median(d))) if len(d) else 0
    else:
        test = "Mann–Whitney U"
        result = stats.mannwhitneyu(vb, va, alternative="two-sided")
        p = float(result.pvalue)
        u_centre = len(va) * len(vb) / 2
        sign = int(np.sign(result.statistic - u_centre))
    return _decide(test, p, sign, effect, margin, relative, (), n, 2, alpha)


def association(frame: pd.DataFrame, a: str, b: str, *, margin: float = 0.3, alpha: float = ALPHA) -> Evidence:
    """Whether measures ``a`` and ``b`` rise together (+1) or oppositely (-1) across the models in ``frame``.

    Kendall's τ-b over every model with both values finite (``scipy.stats.kendalltau``); the effect is τ itself
    and must exceed ``margin`` in size. Models are treated as independent observations.

    Example:
        >>> f = pd.DataFrame({"a": [1, 2, 3, 4, 5, 6], "b": [2, 4, 5, 8, 9, 12]})
        >>> association(f, "a", "b").direction
        1
    """
    both = frame[np.isfinite(frame[a].astype(float)) & np.isfinite(frame[b].astype(float))]
    n = len(both)
    if n < 3:
        return Evidence(0, "Kendall's τ", math.nan, math.nan, margin, False, 0, (), n, n,
                        f"only {n} models with both values")
    result = stats.kendalltau(both[a].astype(float), both[b].astype(float))
    tau, p = float(result.statistic), float(result.pvalue)
    sign = int(np.sign(tau)) if math.isfinite(tau) else 0
    evidence = _decide("Kendall's τ", p if math.isfinite(p) else math.nan, sign, tau, margin, False, (), n, n, alpha)
    return evidence


def rank_correlation(x: Iterable[float], y: Iterable[float], *, alpha: float = ALPHA) -> Evidence:
    """Whether ``y`` rises (+1) or falls (-1) with ``x`` over independent runs: :func:`association` of the two
    series, Kendall's τ-b with no margin on τ (Holm is applied over a task's findings by :func:`holm`).

    Example:
        >>> rank_correlation([1, 2, 3, 4, 5, 6], [2, 4, 5, 8, 9, 12]).direction
        1
    """
    frame = pd.DataFrame({"x": np.asarray(list(x), float), "y": np.asarray(list(y), float)})
    return association(frame, "x", "y", margin=0.0, alpha=alpha)


def holm(findings: Sequence[Evidence], alpha: float = ALPHA) -> list[Evidence]:
    """The findings of one task with Holm's step-down correction applied to their p-values (same order).

    Each adjusted p is max over the sorted prefix of min(1, (m − i)·p₍ᵢ₎); a finding stays resolved only if
    its adjusted p is below ``alpha`` (and its effect still beyond its margin). Findings whose p cannot be
    computed take no part in the count.

    Example:
        >>> e = [trend(pd.DataFrame({"x": [1, 2, 3] * 3, "y": list(range(9))[::-1], "seed": [0, 0, 0, 1, 1, 1, 2, 2, 2]}),
        ...            "x", "y")]
        >>> holm(e)[0].adjusted_over
        1
    """
    tested = [i for i, f in enumerate(findings) if math.isfinite(f.p)]
    m = len(tested)
    adjusted: dict[int, float] = {}
    running = 0.0
    for rank, i in enumerate(sorted(tested, key=lambda i: findings[i].p)):
        running = max(running, min(1.0, (m - rank) * findings[i].p))
        adjusted[i] = running
    out = []
    for i, f in enumerate(findings):
        if i not in adjusted:
            out.append(f)
            continue
        out.append(_decide(f.test, adjusted[i], f.sign, f.effect, f.margin, f.relative, f.reversals, f.n, f.groups,
                           alpha, adjusted_over=m))
    return out


def verdict(evidence: Evidence, expected: int, claim: str, who: str,
            name: Callable[[object], str] = str) -> str:
    """The verdict sentence for a claim expecting direction ``expected`` (+1 or -1).

    ``"Agrees with Keskar et al. (2017) …"``, ``"Contradicts …"`` or ``"Not resolved by this run: …"``, with the
    test and the non-monotone steps named (``name`` formats a condition value).

    Example:
        >>> e = difference([1.0, 1.1, 1.2, 1.3], [2.0, 2.1, 2.2, 2.3])
        >>> verdict(e, +1, "b is larger", "Doe (2020)")[:20]
        'Agrees with Doe (202'
    """
    tail = reversal_text(evidence, name)
    if not evidence.resolved:
        return f"Not resolved by this run: {who}: {claim}; {evidence.reason}.{tail}"
    word = "Agrees with" if evidence.direction == expected else "Contradicts"
    return f"{word} {who}: {claim} ({evidence.reason}).{tail}"


def reversal_steps(evidence: Evidence, name: Callable[[object], str] = str) -> str:
    """``from A to B it goes the other way in every run; ...``: the steps of a trend against its direction
    (:attr:`Evidence.reversals`, ``name`` formatting a condition value); empty if none."""
    return "; ".join(f"from {name(a)} to {name(b)} it goes the other way in every run" for a, b in evidence.reversals)


def reversal_text(evidence: Evidence, name: Callable[[object], str] = str) -> str:
    """`` Not monotone: from A to B it goes the other way in every run.`` (:func:`reversal_steps` as a sentence,
    with a leading space); empty if none."""
    steps = reversal_steps(evidence, name)
    return f" Not monotone: {steps}." if steps else ""


def kind(evidence: Evidence, expected: int) -> str:
    """The report's verdict kind for a claim expecting direction ``expected``: ``"agrees"``, ``"contradicts"`` or
    ``"unresolved"``."""
    if not evidence.resolved:
        return "unresolved"
    return "agrees" if evidence.direction == expected else "contradicts"
