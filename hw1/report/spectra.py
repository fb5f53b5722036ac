"""The saved Hessian spectra of a run, read again at any tolerance for "zero" (pandas and numpy; no TensorFlow).

The minimal-ratio view uses these tables to sweep the tolerance over the spectra that ``spectra.csv`` holds,
without retraining. At tolerance ``tol`` an eigenvalue λ is *positive* if λ > tol, *negative* if λ < −tol, *flat*
otherwise, as in :func:`hw1.measure.critical_points.spectrum_counts` (the experiment's counts of one spectrum; a
test checks the two agree).

- :func:`tolerance_counts` / :func:`run_counts`: the counts of every spectrum of a tidy table, at several
  tolerances or one;
- :func:`tolerance_sweep`: the same summarized over runs.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

__all__ = ["tolerance_counts", "run_counts", "tolerance_sweep"]


def tolerance_counts(spectra: pd.DataFrame, tols: Sequence[float], by: Sequence[str] = ("run",)) -> pd.DataFrame:
    """:func:`hw1.measure.critical_points.spectrum_counts` of every spectrum of a tidy table, at every tolerance of ``tols``.

    Args:
        spectra: columns ``by`` (identify one spectrum, e.g. ``activation, run``) and ``eigenvalue``.
        tols: the tolerances for "zero".
        by: the columns that identify a spectrum.

    Returns:
        One row per spectrum and tolerance: the ``by`` columns, ``tol`` and the counts of :func:`spectrum_counts`.
    """
    tols = np.asarray(sorted(float(t) for t in tols))
    if not (np.isfinite(tols).all() and (tols >= 0).all()):
        raise ValueError(f"tolerances must be non-negative numbers; got {tols.tolist()}")
    parts = []
    for key, group in spectra.groupby(list(by), sort=True)["eigenvalue"]:
        values = np.sort(group.to_numpy(np.float64))
        if not np.isfinite(values).all():
            raise ValueError(f"the spectrum {key} holds non-finite eigenvalues")
        positive = values.size - np.searchsorted(values, tols, side="right")  # λ > tol
        negative = np.searchsorted(values, -tols, side="left")                # λ < −tol
        nonflat = positive + negative
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(nonflat > 0, positive / nonflat, np.nan)
        key = key if isinstance(key, tuple) else (key,)
        parts.append(pd.DataFrame({**{c: [k] * tols.size for c, k in zip(by, key)}, "tol": tols,
                                   "n_positive": positive, "n_negative": negative, "n_flat": values.size - nonflat,
                                   "minimal_ratio": positive / values.size, "positive_share": share}))
    return pd.concat(parts, ignore_index=True)


def run_counts(spectra: pd.DataFrame, tol: float, by: Sequence[str] = ("run",)) -> pd.DataFrame:
    """:func:`spectrum_counts` of every spectrum of a tidy table at one tolerance (one row per spectrum)."""
    return tolerance_counts(spectra, [tol], by).drop(columns="tol")


def tolerance_sweep(spectra: pd.DataFrame, tols: Sequence[float], by: Sequence[str] = ()) -> pd.DataFrame:
    """How the minimal ratio and the negative eigenvalues move with the tolerance for "zero".

    Args:
        spectra: tidy spectra with columns ``run``, ``by`` and ``eigenvalue``.
        tols: the tolerances.
        by: columns that split the runs into groups summarized apart (e.g. ``["activation"]``).

    Returns:
        One row per group and tolerance (ascending): ``by``, ``tol``, ``runs``, ``ratio_q1``, ``ratio_median``,
        ``ratio_q3`` (quartiles of the minimal ratio over runs), ``runs_negative`` (runs with some λ < −tol),
        ``nonflat_median`` (median count of |λ| > tol) and ``share_median`` (median positive share over the
        runs that have a non-flat eigenvalue).
    """
    counts = tolerance_counts(spectra, tols, by=[*by, "run"])
    counts["nonflat"] = counts["n_positive"] + counts["n_negative"]
    groups = counts.groupby([*by, "tol"], sort=True)
    out = groups.agg(runs=("run", "size"), ratio_q1=("minimal_ratio", lambda v: v.quantile(0.25)),
                     ratio_median=("minimal_ratio", "median"), ratio_q3=("minimal_ratio", lambda v: v.quantile(0.75)),
                     runs_negative=("n_negative", lambda v: int((v > 0).sum())), nonflat_median=("nonflat", "median"),
                     share_median=("positive_share", "median"))
    return out.reset_index()
