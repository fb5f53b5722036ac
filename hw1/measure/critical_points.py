"""Points where ‖∇L‖ ≈ 0: where a gradient-norm walk stops, what the Hessian spectrum says there,
and what the network computes there.

Pure numpy (no TensorFlow, no pandas): the minimal-ratio experiment uses these functions to
write its CSVs; its view reads the SAVED spectra again at other tolerances with
:mod:`hw1.report.spectra`, without retraining.

- :func:`stopping_epochs`: per run, the check at which ‖∇L‖² minimization is taken to stop.
- :func:`spectrum_counts`: how many eigenvalues are positive, negative or flat at a tolerance,
  the minimal ratio and the positive share among the non-flat ones.
- :func:`hidden_preactivations`, :func:`dead_units`, :func:`switching_units`, :func:`predict`,
  :func:`affine_residual`:
  a fully connected net evaluated in float64 from its weights (Dense layers, ``fc_net`` order).

Vocabulary: at tolerance ``tol`` an eigenvalue λ is *positive* if λ > tol, *negative* if
λ < −tol, *flat* otherwise. Minimal ratio = #positive / #all (the assignment's definition);
positive share = #positive / (#positive + #negative), the share that tells a minimum (1) from
a saddle (< 1) once the flat directions are set aside.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["stopping_epochs", "spectrum_counts", "hidden_preactivations", "dead_units", "switching_units", "predict",
           "affine_residual", "function_summary"]

ACTIVATIONS = {"relu": (lambda z: np.maximum(z, 0.0), lambda z: (z > 0).astype(np.float64)),
               "tanh": (np.tanh, lambda z: 1.0 - np.tanh(z) ** 2)}


# ---------------------------------------------------------------- where the ‖∇L‖² walk stops

def stopping_epochs(history: pd.DataFrame, tol: float) -> np.ndarray:
    """Per run (in run order), the epoch where ‖∇L‖² minimization stops: its first check with
    ‖∇L‖ < ``tol``, else its check with the lowest ‖∇L‖.

    Args:
        history: columns ``run, epoch, grad_norm`` (one row per run and check).
        tol: the gradient-norm tolerance.

    Example:
        >>> import pandas as pd
        >>> h = pd.DataFrame({"run": [0, 0, 1, 1], "epoch": [0, 10] * 2, "grad_norm": [1, 1e-5, 1, 0.5]})
        >>> stopping_epochs(h, 1e-4).tolist()
        [10, 10]
    """
    norms = history.pivot(index="epoch", columns="run", values="grad_norm").sort_index().sort_index(axis=1)
    below = norms < tol
    return np.where(below.any(), below.idxmax(), norms.fillna(np.inf).idxmin()).astype(int)


# ---------------------------------------------------------------- spectra at a tolerance

def spectrum_counts(eigenvalues: Sequence[float] | np.ndarray, tol: float) -> dict[str, float | int]:
    """Counts of one Hessian spectrum at the tolerance ``tol`` for "zero".

    Returns:
        ``n_positive`` (λ > tol), ``n_negative`` (λ < −tol), ``n_flat`` (|λ| ≤ tol), ``minimal_ratio``
        (n_positive / n, the assignment's definition) and ``positive_share`` (n_positive / (n_positive +
        n_negative): 1 when no non-flat direction curves down; NaN when every eigenvalue is flat).

    Example:
        >>> spectrum_counts([-1.0, -1e-9, 0.0, 1e-9, 2.0, 3.0], tol=1e-6)["positive_share"]
        0.6666666666666666
    """
    values = np.asarray(eigenvalues, dtype=np.float64)
    if values.ndim != 1 or values.size == 0 or not np.isfinite(values).all():
        raise ValueError(f"a spectrum is a non-empty vector of finite numbers; got shape {values.shape}")
    if not (np.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol={tol!r} must be a non-negative number")
    positive, negative = int(np.sum(values > tol)), int(np.sum(values < -tol))
    nonflat = positive + negative
    return {"n_positive": positive, "n_negative": negative, "n_flat": int(values.size - nonflat),
            "minimal_ratio": positive / values.size, "positive_share": positive / nonflat if nonflat else np.nan}


# ---------------------------------------------------------------- what a fully connected net computes

def _layers(weights: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    if len(weights) < 2 or len(weights) % 2:
        raise ValueError(f"expected kernel, bias pairs of Dense layers; got {len(weights)} arrays")
    return [(np.asarray(k, np.float64), np.asarray(b, np.float64)) for k, b in zip(weights[::2], weights[1::2])]


def hidden_preactivations(weights: Sequence[np.ndarray], x: np.ndarray, activation: str) -> list[np.ndarray]:
    """The pre-activations (samples × units) of each hidden Dense layer of an ``fc_net``, in float64."""
    act = ACTIVATIONS[activation][0]
    h, out = np.asarray(x, np.float64).reshape(len(x), -1), []
    for kernel, bias in _layers(weights)[:-1]:
        z = h @ kernel + bias
        out.append(z)
        h = act(z)
    return out


def predict(weights: Sequence[np.ndarray], x: np.ndarray, activation: str) -> np.ndarray:
    """The net's output (samples × outputs) at ``x``, in float64."""
    layers = _layers(weights)
    pre = hidden_preactivations(weights, x, activation)
    h = ACTIVATIONS[activation][0](pre[-1]) if pre else np.asarray(x, np.float64).reshape(len(x), -1)
    kernel, bias = layers[-1]
    return h @ kernel + bias


def dead_units(weights: Sequence[np.ndarray], x: np.ndarray, activation: str) -> int:
    """Hidden units whose activation has zero slope on EVERY input of ``x``: they pass no gradient, and
    every weight into them, and the weight out of them, is a direction of exactly zero curvature.

    ReLU: pre-activation ≤ 0 on all inputs (a dead unit). tanh: only if saturated to float64 precision.
    """
    slope = ACTIVATIONS[activation][1]
    return int(sum(np.all(slope(z) == 0, axis=0).sum() for z in hidden_preactivations(weights, x, activation)))


def switching_units(weights: Sequence[np.ndarray], x: np.ndarray, activation: str) -> int:
    """Hidden units whose pre-activation changes sign between inputs of ``x``: for ReLU, each is a kink of
    the net's function inside the data (for tanh, an inflection). A ReLU net with none computes one affine
    piece on ``x``."""
    return int(sum(((z > 0).any(axis=0) & ~(z > 0).all(axis=0)).sum()
                   for z in hidden_preactivations(weights, x, activation)))


def affine_residual(prediction: np.ndarray, x: np.ndarray) -> float:
    """RMS distance of a 1-D prediction from the straight line a·x + b that fits it best (least squares).

    0 means the net computes an affine function of x on these inputs (e.g. a ReLU net with no kink
    inside the data).
    """
    x = np.asarray(x, np.float64).reshape(-1)
    y = np.asarray(prediction, np.float64).reshape(-1)
    basis = np.column_stack([x, np.ones_like(x)])
    coef, *_ = np.linalg.lstsq(basis, y, rcond=None)
    return float(np.sqrt(np.mean((y - basis @ coef) ** 2)))


def function_summary(weights: Sequence[np.ndarray], x: np.ndarray, activation: str) -> dict[str, float | int]:
    """``dead_units``, ``switching_units`` and ``affine_residual`` of a 1-input ``fc_net`` on the inputs ``x``."""
    return {"dead_units": dead_units(weights, x, activation),
            "switching_units": switching_units(weights, x, activation),
            "affine_residual": affine_residual(predict(weights, x, activation), x)}
