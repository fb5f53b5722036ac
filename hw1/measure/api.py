"""hw1's measurements on your own Keras model: loss, gradient, Hessian spectrum, trace and density.

Give a model as you have it (trained with ``model.fit``, compiled or not) and data as you
have them; every function measures the MEAN LOSS OVER ALL THE DATA at the model's CURRENT
weights (or ``weights=``), in inference mode (batch normalization uses its moving
statistics, dropout is off), exactly the loss ``model.evaluate`` reports:

- model: ``keras.Sequential``, functional or nested, one input and one output, built
  (trained, or started with ``keras.Input``). Outputs may be logits or probabilities: a model
  ending in softmax is measured from its probabilities (never a second softmax).
- loss: None (the model's compiled loss), a name ("sparse_categorical_crossentropy",
  "categorical_crossentropy", "mse"), or a Keras loss object (``from_logits`` either way).
- data: ``(x, y)`` arrays, or a finite ``tf.data.Dataset`` of ``(x, y)`` batches; labels as
  class indices or one-hot rows. Data go through in chunks whose sums make the full-set
  value, so memory does not grow with the number of samples.

Curvature is computed from Hessian-vector products (double back-propagation, never the
n×n matrix, except in :func:`exact_hessian`): :func:`hessian_eigenvalues` (Lanczos),
:func:`hessian_trace` (Hutchinson), :func:`hessian_density` (stochastic Lanczos quadrature).
``dtype="float64"`` computes in a float64 copy of the model, for small curvatures. Sensitivity, sharpness,
interpolation and loss surfaces, taking the same arguments, are :mod:`hw1.measure.generalization`'s.

Example:
    >>> import hw1                                                          # doctest: +SKIP
    >>> model.fit(x, y, epochs=5)                                           # doctest: +SKIP
    >>> hw1.hessian_eigenvalues(model, (x, y), k=3)                         # doctest: +SKIP
    array([21.4, 15.2, 11.9])
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import keras
import numpy as np
import tensorflow as tf

from hw1.measure import hessian
from hw1.measure.adapt import Problem, make_problem
from hw1.measure.checks import (MAX_BYTES, MAX_DENSITY_GRID, MAX_EXACT_PARAMS, MAX_PROBES, MAX_STEPS, check_bytes,
                                check_choice, check_count, check_model, check_number, n_trainable)
from hw1.measure.core import Evaluator, chunk_means, evaluator, stack
from hw1.measure.critical_points import spectrum_counts
from hw1.measure.operator import Curvature

__all__ = ["evaluate", "gradient_norm", "hessian_eigenvalues", "hessian_trace", "hessian_density", "exact_hessian",
           "minimal_ratio", "plot_density", "TraceEstimate", "SpectralDensity", "ChunkedEvaluator"]

class TraceEstimate(NamedTuple):
    """An estimate of tr(H) (Hutchinson or Hutch++), its standard error (the probes' spread / √probes), the products."""

    trace: float
    stderr: float
    probes: int


class SpectralDensity(NamedTuple):
    """Spectral density of H by stochastic Lanczos quadrature.

    ``nodes`` and ``weights`` are the quadrature (a discrete measure; weights sum to 1, moments
    of degree ≤ 2·steps − 1 unbiased for tr(Hᵖ)/n); ``density`` is it smoothed by a Gaussian of
    width ``sigma`` on ``grid`` (integrates to 1; units: eigenvalues per unit of λ, per parameter).
    """

    grid: np.ndarray
    density: np.ndarray
    nodes: np.ndarray
    weights: np.ndarray
    sigma: float


# ---------------------------------------------------------------- loss and gradient

def evaluate(model: keras.Model, data: Any, *, loss: Any = None, weights: Sequence[Any] | None = None,
             dtype: str | None = None, batch_size: int | None = None) -> dict[str, float]:
    """Mean loss (and accuracy, for classifiers) over all of ``data``, in inference mode.

    The loss ``model.evaluate`` reports (mean over samples; nats for cross-entropy), computed
    the way every other measurement here sees the model.

    Args:
        model: a built Keras model (its current weights, unless ``weights``).
        data: ``(x, y)`` arrays or a finite tf.data.Dataset of ``(x, y)`` batches.
        loss: None (the compiled loss), a loss name or a Keras loss object.
        weights: trainable weights to measure at, in ``model.trainable_variables`` order.
        dtype: None (the model's), "float32" or "float64".
        batch_size: samples per chunk of arrays (a tf.data.Dataset goes in its own batches): sets the memory,
            not the value (every full-data value is the sum of the chunks' sums over the number of samples);
            None: :data:`hw1.measure.constants.EVAL_CHUNK`, read when the function is called.

    Returns:
        ``{"loss": …, "accuracy": …}`` (accuracy as a fraction; absent for MSE; NaN if the loss is
        not finite, i.e. overflows: inputs and weights themselves are checked to be finite).

    Example:
        >>> hw1.evaluate(model, (x_test, y_test))                   # doctest: +SKIP
        {'loss': 0.121, 'accuracy': 0.964}
    """
    problem = make_problem(model, data, loss, weights, dtype, batch_size)
    losses, correct = _evaluate_runs(evaluator(problem.view, problem.loss), stack([problem.weights]),
                                     problem.batches)
    return {"loss": float(losses[0])} if problem.loss == "mse" else {"loss": float(losses[0]),
                                                                    "accuracy": float(correct[0])}


def _evaluate_runs(evaluate: Evaluator, stacked: list[np.ndarray],
                   batches: hessian.Batches) -> tuple[np.ndarray, np.ndarray]:
    """Full-set mean loss and accuracy of every run of ``stacked`` (:func:`hw1.measure.core.chunk_means`)."""
    losses, accs = chunk_means(lambda x, y: evaluate.sums(stacked, x, y), batches())
    if evaluate.loss == "mse":
        return losses, np.full_like(losses, np.nan)
    return losses, np.where(np.isfinite(losses), accs, np.nan)  # argmax of NaN logits is no accuracy


class ChunkedEvaluator:
    """An :class:`Evaluator` over every chunk of a dataset, in the call form :func:`hw1.measure.trajectory.loss_grid` uses."""

    def __init__(self, problem: Problem) -> None:
        self.evaluator = evaluator(problem.view, problem.loss)
        self.batches = problem.batches

    def __call__(self, stacked: list[np.ndarray], x: Any = None, y: Any = None) -> tuple[np.ndarray, np.ndarray]:
        return _evaluate_runs(self.evaluator, stacked, self.batches)


def gradient_norm(model: keras.Model, data: Any, *, loss: Any = None, weights: Sequence[Any] | None = None,
                  dtype: str | None = None, batch_size: int | None = None) -> float:
    """‖∇θ L‖₂: the L2 norm of the gradient of the full-data mean loss over ALL trainable parameters.

    Args: as in :func:`evaluate`.

    Example:
        >>> hw1.gradient_norm(model, (x_train, y_train))           # doctest: +SKIP
        0.0213
    """
    problem = make_problem(model, data, loss, weights, dtype, batch_size)
    _, grad = hessian.loss_and_gradient(problem.view, problem.weights, problem.batches, problem.loss)
    return float(np.linalg.norm(grad))


# ---------------------------------------------------------------- curvature

def _check_basis(name: str, steps: int, model: keras.Model) -> None:
    """Lanczos keeps min(steps, n) vectors of n parameters: refuse more than MAX_BYTES of them (counted as float64,
    the largest dtype), before any work."""
    n = n_trainable(model)
    check_bytes(f"{name}={steps} (a Lanczos basis of {min(steps, n):,} x {n:,} values)", 8 * min(steps, n) * n,
                MAX_BYTES)


def hessian_eigenvalues(model: keras.Model, data: Any, k: int = 1, *, which: str = "largest", rtol: float = 1e-3,
                        max_iterations: int = 300, seed: int = 0, loss: Any = None,
                        weights: Sequence[Any] | None = None, dtype: str | None = None, return_vectors: bool = False,
                        curvature: str = "hessian", variables: Sequence[Any] | None = None, batch_size: int | None = None,
                        strategy: tf.distribute.Strategy | None = None) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest (or smallest) eigenvalues of the Hessian of the full-data mean loss.

    Lanczos with full reorthogonalization on Hessian-vector products (double back-propagation,
    chunked over the data); each returned Ritz value θ has residual ‖H·u − θ·u‖ ≤ ``rtol``·|θ|,
    so an eigenvalue of H lies within ``rtol`` (relative) of it. Units: loss per squared
    parameter unit. θ is every trainable parameter.

    Args:
        model, data, loss, weights, dtype: as in :func:`evaluate`.
        k: how many eigenvalues (an integer >= 1, at most the number of parameters).
        which: "largest" (most positive first) or "smallest" (most negative first).
        rtol: relative tolerance (above), in (0, 1).
        max_iterations: at most this many Hessian-vector products (<= 100,000, and a Lanczos basis of
            at most 2 GiB); not converged: the values found, with a RuntimeWarning.
        seed: seeds the start vector (an integer >= 0).
        return_vectors: also return the (k, n) unit eigenvectors (flattened ``model.trainable_weights`` order).
        curvature, variables, batch_size, strategy: as in :func:`hw1.curvature` (C for H then).

    Returns:
        float64 array of the k eigenvalues (with ``return_vectors``: ``(values, vectors)``).

    Example:
        >>> hw1.hessian_eigenvalues(model, (x_train, y_train), k=3)    # doctest: +SKIP
        array([21.37, 15.18, 11.92])
    """
    check_model(model)
    k, n = check_count("k", k), n_trainable(model)
    if k > n:
        raise ValueError(f"k={k}; the model has only {n} parameters")
    which = check_choice("which", which, ("largest", "smallest"))
    rtol = check_number("rtol", rtol, 0, 1, low_open=True, high_open=True)
    max_iterations = check_count("max_iterations", max_iterations, 1, MAX_STEPS)
    seed = check_count("seed", seed, 0)
    _check_basis("max_iterations", max_iterations, model)
    return Curvature(model, data, loss, curvature, variables, batch_size, dtype, strategy, weights).eigenvalues(
        k, which, rtol, return_vectors, max_iterations=max_iterations, seed=seed)


def hessian_trace(model: keras.Model, data: Any, *, probes: int = 100, seed: int = 0, loss: Any = None,
                  weights: Sequence[Any] | None = None, dtype: str | None = None, method: str = "hutchinson",
                  curvature: str = "hessian", variables: Sequence[Any] | None = None, batch_size: int | None = None,
                  strategy: tf.distribute.Strategy | None = None) -> TraceEstimate:
    """tr(H) of the full-data mean loss, by Hutchinson's estimator with Rademacher probes.

    tr(H) = E[vᵀHv] for v with independent ±1 entries; the estimate is the mean over ``probes``
    Hessian-vector products, with its standard error. Units: loss per squared parameter unit.

    Args:
        model, data, loss, weights, dtype: as in :func:`evaluate`.
        probes: number of random vectors (an integer in [2, 100,000]; Hessian-vector products for "hutch++",
            ≥ 4).
        seed: seeds the probes (an integer >= 0).
        method: "hutchinson" or "hutch++" (see :meth:`hw1.Curvature.trace`).
        curvature, variables, batch_size, strategy: as in :func:`hw1.curvature` (C for H then).

    Returns:
        ``TraceEstimate(trace, stderr, probes)``.

    Example:
        >>> trace, stderr, _ = hw1.hessian_trace(model, (x_train, y_train))   # doctest: +SKIP
    """
    probes = check_count("probes", probes, 2, MAX_PROBES)
    seed = check_count("seed", seed, 0)
    return Curvature(model, data, loss, curvature, variables, batch_size, dtype, strategy, weights).trace(
        probes, method, seed=seed)


def hessian_density(model: keras.Model, data: Any, *, probes: int = 1, steps: int = 80, sigma: float | None = None,
                    grid_points: int = 1000, seed: int = 0, loss: Any = None, weights: Sequence[Any] | None = None,
                    dtype: str | None = None, curvature: str = "hessian", variables: Sequence[Any] | None = None,
                    batch_size: int | None = None, strategy: tf.distribute.Strategy | None = None) -> SpectralDensity:
    """The Hessian's eigenvalue density, by stochastic Lanczos quadrature (Ubaru et al. 2017; as in PyHessian).

    Each probe (a normalized Rademacher vector) gets ``steps`` Lanczos steps; the Ritz values
    and squared first components of their eigenvectors form a Gauss quadrature of the spectral
    measure, averaged over probes, then smoothed by a Gaussian of width ``sigma``.

    Args:
        model, data, loss, weights, dtype: as in :func:`evaluate`.
        probes: random start vectors (1 is usually enough for large models: the estimate concentrates
            as 1/√n_params); an integer in [1, 100,000].
        steps: Lanczos steps per probe (moments up to degree 2·steps − 1 are exact per probe); an
            integer in [2, 100,000], its Lanczos basis at most 2 GiB.
        sigma: smoothing width (a positive number); default 1 % of the spectrum's range.
        grid_points: points of the grid, which spans the nodes ± 5·sigma (an integer in [10, 100,000];
            grid_points × probes × steps float64 values at most 2 GiB).
        seed: seeds the probes (an integer >= 0).
        curvature, variables, batch_size, strategy: as in :func:`hw1.curvature` (C for H then).

    Returns:
        :class:`SpectralDensity`; draw it with :func:`plot_density`.

    Example:
        >>> density = hw1.hessian_density(model, (x_train, y_train))   # doctest: +SKIP
        >>> hw1.plot_density(density).figure.savefig("density.png")    # doctest: +SKIP
    """
    check_model(model)
    probes = check_count("probes", probes, 1, MAX_PROBES)
    steps = check_count("steps", steps, 2, MAX_STEPS)
    sigma = None if sigma is None else check_number("sigma", sigma, 0, low_open=True)
    grid_points = check_count("grid_points", grid_points, 10, MAX_DENSITY_GRID)
    seed = check_count("seed", seed, 0)
    _check_basis("steps", steps, model)
    check_bytes(f"grid_points={grid_points} x probes={probes} x steps={steps} (the smoothed density)",
                8 * grid_points * probes * min(steps, n_trainable(model)))
    return Curvature(model, data, loss, curvature, variables, batch_size, dtype, strategy, weights).density(
        probes, steps, sigma, grid_points, seed=seed)


def plot_density(density: SpectralDensity, ax: Any = None, log: bool = True) -> Any:
    """Draw a :class:`SpectralDensity` (log-scale density, as PyHessian does); returns the matplotlib Axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    values = np.maximum(density.density, 1e-12) if log else density.density
    ax.plot(density.grid, values, lw=1.2)
    if log:
        ax.set_yscale("log")
        ax.set_ylim(bottom=max(values.min(), 1e-8 * values.max()))
    ax.set_xlabel("eigenvalue λ of the Hessian")
    ax.set_ylabel("density (per unit λ)")
    ax.set_title(f"Hessian spectral density (SLQ, σ = {density.sigma:.3g})")
    return ax


def exact_hessian(model: keras.Model, data: Any, *, loss: Any = None, weights: Sequence[Any] | None = None,
                  dtype: str | None = None, max_params: int = MAX_EXACT_PARAMS,
                  batch_size: int | None = None) -> np.ndarray:
    """The full n×n Hessian (float64) of the full-data mean loss, over all trainable parameters.

    For small models only (n² entries; refused above ``max_params``). Order of the parameters:
    ``model.trainable_variables``, each raveled in C order.

    Example:
        >>> H = hw1.exact_hessian(small_model, (x, y), dtype="float64")   # doctest: +SKIP
    """
    check_model(model)
    max_params = check_count("max_params", max_params, 1)
    n = n_trainable(model)
    if n > max_params:
        raise ValueError(f"max_params={max_params!r}: model {model.name!r} has {n} parameters; raise max_params (the "
                         f"matrix takes {8 * n * n / 1e9:.2g} GB) or use hessian_eigenvalues / hessian_trace / "
                         "hessian_density")
    problem = make_problem(model, data, loss, weights, dtype, batch_size)
    return hessian.batched_loss_gradient_hessian(problem.view, problem.weights, problem.batches, problem.loss)[2]


def minimal_ratio(model: keras.Model, data: Any, *, tol: float | None = None, loss: Any = None,
                  weights: Sequence[Any] | None = None, dtype: str | None = "float64",
                  batch_size: int | None = None) -> float:
    """Share of the exact Hessian's eigenvalues greater than ``tol`` (1 at a strict minimum).

    ``tol=None`` takes the rounding bound n·ε·max|λ| (ε of the dtype). Small models only
    (see :func:`exact_hessian`); float64 by default, since "zero" is the question.

    Example:
        >>> hw1.minimal_ratio(small_model, (x, y), tol=1e-6)   # doctest: +SKIP
        0.93
    """
    tol = None if tol is None else check_number("tol", tol, 0)
    eigenvalues = hessian.symmetric_eigenvalues(exact_hessian(model, data, loss=loss, weights=weights, dtype=dtype,
                                                                     batch_size=batch_size))
    if tol is None:
        eps = np.finfo(dtype or model.trainable_variables[0].dtype).eps
        tol = len(eigenvalues) * eps * float(np.abs(eigenvalues).max())
    return spectrum_counts(eigenvalues, tol)["minimal_ratio"]
