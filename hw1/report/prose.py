"""Numbers into words: formatting and descriptive trend words.

Whether a comparison between models counts is not decided here but by the one rule of
:mod:`hw1.report.evidence`. This module imports neither TensorFlow nor matplotlib.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable

import numpy as np
import pandas as pd
from scipy import stats

FEW = 5  # fewer points than this: a rank correlation is weak evidence, and the report says so
TREND, CONSISTENT = 0.3, 0.8  # |Spearman ρ| from which a quantity "tends to" / "consistently" rises or falls
LOSS_NAMES = {"mse": "mean squared error", "sparse_ce": "cross-entropy (nats)"}


# ---------------------------------------------------------------- numbers

def num(value: object, digits: int = 3) -> str:
    """A measured number for prose: 3 significant digits, thousands separators for large values."""
    if value is None:
        return "n/a"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    value = float(value)  # type: ignore[arg-type]
    if not math.isfinite(value):
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def pct(fraction: float, digits: int = 1) -> str:
    """``0.9921875`` → ``99.2%``."""
    return "n/a" if not math.isfinite(fraction) else f"{100 * fraction:.{digits}f}%"


def signed_pct(fraction: float) -> str:
    """A relative change: ``-0.016`` → ``-1.6%``, ``2e-7`` → ``+2e-05%``."""
    return "n/a" if not math.isfinite(fraction) else f"{100 * fraction:+.2g}%"


def span(values: pd.Series, fmt: Callable[[float], str] = num) -> str:
    """``from 0.1 to 0.3``, or ``of 0.1 for all`` when both ends print the same."""
    low, high = fmt(values.min()), fmt(values.max())
    return f"of {low} for all" if low == high else f"from {low} to {high}"


def times(a: float, b: float) -> str:
    """How many times ``a`` is ``b``: ``3.2×``."""
    return "n/a" if b == 0 or not math.isfinite(a / b) else f"{a / b:.3g}×"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def mean_sd(values: Iterable[float], fmt: Callable[[float], str] = num) -> str:
    """``0.912 ± 0.004``: mean ± standard deviation of the finite values (just the value if there is one)."""
    a = np.asarray(list(values), dtype=float)
    a = a[np.isfinite(a)]
    if len(a) == 0:
        return "n/a"
    return fmt(a[0]) if len(a) == 1 else f"{fmt(a.mean())} ± {fmt(a.std(ddof=1))}"


def mean_spread(values: Iterable[float], fmt: Callable[[float], str] = num) -> str:
    """``0.912 ± 0.004 (n = 3)``: mean ± standard deviation over seeds (the spread the figures draw)."""
    n = int(np.isfinite(np.asarray(list(values), dtype=float)).sum())
    if n == 0:
        return "n/a"
    return f"{mean_sd(values, fmt)} ({'one seed' if n == 1 else f'n = {n}'})"


def value_range(values: Iterable[float], fmt: Callable[[float], str] = num) -> str:
    """``93.3%–93.5%``: the smallest and the largest value (one value when both print the same)."""
    a = np.asarray(list(values), dtype=float)
    low, high = fmt(np.nanmin(a)), fmt(np.nanmax(a))
    return low if low == high else f"{low}–{high}"


def binomial_se(accuracy: float, n: int) -> float:
    """Standard error of an accuracy measured on ``n`` independent samples: √(p(1 − p)/n).

    Example:
        >>> round(binomial_se(0.9, 1000), 4)
        0.0095
    """
    return math.sqrt(accuracy * (1 - accuracy) / n)


# ---------------------------------------------------------------- rank correlation and trend words

def spearman(x: Iterable[float], y: Iterable[float]) -> float:
    """Spearman rank correlation (``scipy.stats.spearmanr``) of the finite pairs; NaN with < 3 pairs
    or a constant side."""
    a, b = np.asarray(list(x), dtype=float), np.asarray(list(y), dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    if keep.sum() < 3 or np.ptp(a[keep]) == 0 or np.ptp(b[keep]) == 0:
        return math.nan
    return float(stats.spearmanr(a[keep], b[keep]).statistic)


def rho_text(rho: float, n: int) -> str:
    """``Spearman ρ = -1.00 over 3 points`` (with a caveat when there are few points)."""
    if not math.isfinite(rho):
        return f"no rank correlation computable from {n} point{'s' if n != 1 else ''}"
    caveat = ", too few for firm evidence" if n < FEW else ""
    return f"Spearman ρ = {rho:.2f} over {n:,} points{caveat}"


def rho_value(rho: float) -> str:
    """``ρ = -1.00`` (``ρ = n/a`` when it cannot be computed)."""
    return f"ρ = {rho:.2f}" if math.isfinite(rho) else "ρ = n/a"


def trend_words(rho: float, up: str = "rises", down: str = "falls") -> str:
    """Words for a rank correlation: ``falls consistently``, ``tends to rise``, ``shows no monotone trend``."""
    if not math.isfinite(rho):
        return "cannot be ranked"
    if rho >= CONSISTENT:
        return f"{up} consistently"
    if rho >= TREND:
        return f"tends to {up[:-1]}"
    if rho > -TREND:
        return "shows no monotone trend"
    return f"tends to {down[:-1]}" if rho > -CONSISTENT else f"{down} consistently"
