"""hw1's measurements on your own Keras model: Hessian spectrum, trace and density, sensitivity, sharpness.

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
``dtype="float64"`` computes in a float64 copy of the model, for small curvatures.

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
import pandas as pd
import tensorflow as tf

from hw1 import analysis, hessian, trajectory
from hw1.adapt import (DTYPES, DataChunks, MAX_EXACT_PARAMS, Problem, check_argument, check_model, ends_in_softmax,
                       make_problem, model_view, outputs_are_probabilities, resolve_loss,
                       trial_call, weights_of)
from hw1.core import Evaluator, evaluator, stack
from hw1.curvature_op import Curvature

__all__ = ["evaluate", "gradient_norm", "hessian_eigenvalues", "hessian_trace", "hessian_density", "exact_hessian",
           "minimal_ratio", "sensitivity", "sharpness", "interpolate", "loss_surface", "plot_density",
           "TraceEstimate", "SpectralDensity"]

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
             dtype: str | None = None) -> dict[str, float]:
    """Mean loss (and accuracy, for classifiers) over all of ``data``, in inference mode.

    The loss ``model.evaluate`` reports (mean over samples; nats for cross-entropy), computed
    the way every other measurement here sees the model.

    Args:
        model: a built Keras model (its current weights, unless ``weights``).
        data: ``(x, y)`` arrays or a finite tf.data.Dataset of ``(x, y)`` batches.
        loss: None (the compiled loss), a loss name or a Keras loss object.
        weights: trainable weights to measure at, in ``model.trainable_variables`` order.
        dtype: None (the model's), "float32" or "float64".

    Returns:
        ``{"loss": …, "accuracy": …}`` (accuracy as a fraction; absent for MSE).

    Example:
        >>> hw1.evaluate(model, (x_test, y_test))                   # doctest: +SKIP
        {'loss': 0.121, 'accuracy': 0.964}
    """
    problem = make_problem(model, data, loss, weights, dtype)
    losses, correct = _evaluate_runs(evaluator(problem.view, problem.loss), stack([problem.weights]),
                                     problem.batches)
    return {"loss": float(losses[0])} if problem.loss == "mse" else {"loss": float(losses[0]),
                                                                    "accuracy": float(correct[0])}


def _evaluate_runs(evaluate: Evaluator, stacked: list[np.ndarray],
                   batches: hessian.Batches) -> tuple[np.ndarray, np.ndarray]:
    """Full-set mean loss and accuracy of every run of ``stacked``, summed over chunks."""
    loss_sum = acc_sum = 0.0
    total = 0
    for x, y in batches():
        count = int(x.shape[0])
        losses, accs = evaluate(stacked, x, y)
        loss_sum, acc_sum, total = loss_sum + count * losses, acc_sum + count * accs, total + count
    return loss_sum / total, acc_sum / total


class _ChunkedEvaluator:
    """An :class:`Evaluator` over every chunk of a dataset, in the call form :func:`hw1.trajectory.loss_grid` uses."""

    def __init__(self, problem: Problem) -> None:
        self.evaluator = evaluator(problem.view, problem.loss)
        self.batches = problem.batches

    def __call__(self, stacked: list[np.ndarray], x: Any = None, y: Any = None) -> tuple[np.ndarray, np.ndarray]:
        return _evaluate_runs(self.evaluator, stacked, self.batches)


def gradient_norm(model: keras.Model, data: Any, *, loss: Any = None, weights: Sequence[Any] | None = None,
                  dtype: str | None = None) -> float:
    """‖∇θ L‖₂: the L2 norm of the gradient of the full-data mean loss over ALL trainable parameters.

    Args: as in :func:`evaluate`.

    Example:
        >>> hw1.gradient_norm(model, (x_train, y_train))           # doctest: +SKIP
        0.0213
    """
    problem = make_problem(model, data, loss, weights, dtype)
    _, grad = hessian.loss_and_gradient(problem.view, problem.weights, problem.batches, problem.loss)
    return float(np.linalg.norm(grad))


# ---------------------------------------------------------------- curvature

def hessian_eigenvalues(model: keras.Model, data: Any, k: int = 1, *, which: str = "largest", rtol: float = 1e-3,
                        max_iterations: int = 300, seed: int = 0, loss: Any = None,
                        weights: Sequence[Any] | None = None, dtype: str | None = None, return_vectors: bool = False,
                        curvature: str = "hessian", variables: Sequence[Any] | None = None, batch_size: int = 8192,
                        strategy: tf.distribute.Strategy | None = None) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest (or smallest) eigenvalues of the Hessian of the full-data mean loss.

    Lanczos with full reorthogonalization on Hessian-vector products (double back-propagation,
    chunked over the data); each returned Ritz value θ has residual ‖H·u − θ·u‖ ≤ ``rtol``·|θ|,
    so an eigenvalue of H lies within ``rtol`` (relative) of it. Units: loss per squared
    parameter unit. θ is every trainable parameter.

    Args:
        model, data, loss, weights, dtype: as in :func:`evaluate`.
        k: how many eigenvalues.
        which: "largest" (most positive first) or "smallest" (most negative first).
        rtol: relative tolerance (above).
        max_iterations: at most this many Hessian-vector products; not converged: the values found,
            with a RuntimeWarning.
        seed: seeds the start vector.
        return_vectors: also return the (k, n) unit eigenvectors (flattened ``model.trainable_weights`` order).
        curvature, variables, batch_size, strategy: as in :func:`hw1.curvature` (C for H then).

    Returns:
        float64 array of the k eigenvalues (with ``return_vectors``: ``(values, vectors)``).

    Example:
        >>> hw1.hessian_eigenvalues(model, (x_train, y_train), k=3)    # doctest: +SKIP
        array([21.37, 15.18, 11.92])
    """
    check_argument("k", k, isinstance(k, (int, np.integer)) and k >= 1, "k must be a positive integer")
    check_argument("which", which, which in ("largest", "smallest"), "choose 'largest' or 'smallest'")
    check_argument("rtol", rtol, isinstance(rtol, (int, float)) and 0 < rtol < 1, "rtol must be in (0, 1)")
    check_argument("max_iterations", max_iterations, isinstance(max_iterations, (int, np.integer)) and max_iterations >= 1,
           "max_iterations must be a positive integer")
    return Curvature(model, data, loss, curvature, variables, batch_size, dtype, strategy, weights).eigenvalues(
        k, which, rtol, return_vectors, max_iterations=max_iterations, seed=seed)


def hessian_trace(model: keras.Model, data: Any, *, probes: int = 100, seed: int = 0, loss: Any = None,
                  weights: Sequence[Any] | None = None, dtype: str | None = None, method: str = "hutchinson",
                  curvature: str = "hessian", variables: Sequence[Any] | None = None, batch_size: int = 8192,
                  strategy: tf.distribute.Strategy | None = None) -> TraceEstimate:
    """tr(H) of the full-data mean loss, by Hutchinson's estimator with Rademacher probes.

    tr(H) = E[vᵀHv] for v with independent ±1 entries; the estimate is the mean over ``probes``
    Hessian-vector products, with its standard error. Units: loss per squared parameter unit.

    Args:
        model, data, loss, weights, dtype: as in :func:`evaluate`.
        probes: number of random vectors (≥ 2; Hessian-vector products for "hutch++", ≥ 4).
        seed: seeds the probes.
        method: "hutchinson" or "hutch++" (see :meth:`hw1.Curvature.trace`).
        curvature, variables, batch_size, strategy: as in :func:`hw1.curvature` (C for H then).

    Returns:
        ``TraceEstimate(trace, stderr, probes)``.

    Example:
        >>> trace, stderr, _ = hw1.hessian_trace(model, (x_train, y_train))   # doctest: +SKIP
    """
    check_argument("probes", probes, isinstance(probes, (int, np.integer)) and probes >= 2, "probes must be an integer >= 2")
    return Curvature(model, data, loss, curvature, variables, batch_size, dtype, strategy, weights).trace(
        probes, method, seed=seed)


def hessian_density(model: keras.Model, data: Any, *, probes: int = 1, steps: int = 80, sigma: float | None = None,
                    grid_points: int = 1000, seed: int = 0, loss: Any = None, weights: Sequence[Any] | None = None,
                    dtype: str | None = None, curvature: str = "hessian", variables: Sequence[Any] | None = None,
                    batch_size: int = 8192, strategy: tf.distribute.Strategy | None = None) -> SpectralDensity:
    """The Hessian's eigenvalue density, by stochastic Lanczos quadrature (Ubaru et al. 2017; as in PyHessian).

    Each probe (a normalized Rademacher vector) gets ``steps`` Lanczos steps; the Ritz values
    and squared first components of their eigenvectors form a Gauss quadrature of the spectral
    measure, averaged over probes, then smoothed by a Gaussian of width ``sigma``.

    Args:
        model, data, loss, weights, dtype: as in :func:`evaluate`.
        probes: random start vectors (1 is usually enough for large models: the estimate concentrates
            as 1/√n_params).
        steps: Lanczos steps per probe (moments up to degree 2·steps − 1 are exact per probe).
        sigma: smoothing width; default 1 % of the spectrum's range.
        grid_points: points of the grid, which spans the nodes ± 5·sigma.
        seed: seeds the probes.
        curvature, variables, batch_size, strategy: as in :func:`hw1.curvature` (C for H then).

    Returns:
        :class:`SpectralDensity`; draw it with :func:`plot_density`.

    Example:
        >>> density = hw1.hessian_density(model, (x_train, y_train))   # doctest: +SKIP
        >>> hw1.plot_density(density).figure.savefig("density.png")    # doctest: +SKIP
    """
    check_argument("probes", probes, isinstance(probes, (int, np.integer)) and probes >= 1, "probes must be an integer >= 1")
    check_argument("steps", steps, isinstance(steps, (int, np.integer)) and steps >= 2, "steps must be an integer >= 2")
    check_argument("sigma", sigma, sigma is None or (np.isfinite(sigma) and sigma > 0), "sigma must be positive or None")
    check_argument("grid_points", grid_points, isinstance(grid_points, (int, np.integer)) and grid_points >= 10,
           "grid_points must be an integer >= 10")
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
                  dtype: str | None = None, max_params: int = MAX_EXACT_PARAMS) -> np.ndarray:
    """The full n×n Hessian (float64) of the full-data mean loss, over all trainable parameters.

    For small models only (n² entries; refused above ``max_params``). Order of the parameters:
    ``model.trainable_variables``, each raveled in C order.

    Example:
        >>> H = hw1.exact_hessian(small_model, (x, y), dtype="float64")   # doctest: +SKIP
    """
    check_model(model)
    n = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    check_argument("max_params", max_params, n <= max_params,
           f"model {model.name!r} has {n} parameters; raise max_params (the matrix takes {8 * n * n / 1e9:.2g} GB) "
           "or use hessian_eigenvalues / hessian_trace / hessian_density")
    problem = make_problem(model, data, loss, weights, dtype)
    return hessian.batched_loss_gradient_hessian(problem.view, problem.weights, problem.batches, problem.loss)[2]


def minimal_ratio(model: keras.Model, data: Any, *, tol: float | None = None, loss: Any = None,
                  weights: Sequence[Any] | None = None, dtype: str | None = "float64") -> float:
    """Share of the exact Hessian's eigenvalues greater than ``tol`` (1 at a strict minimum).

    ``tol=None`` takes the rounding bound n·ε·max|λ| (ε of the dtype). Small models only
    (see :func:`exact_hessian`); float64 by default, since "zero" is the question.

    Example:
        >>> hw1.minimal_ratio(small_model, (x, y), tol=1e-6)   # doctest: +SKIP
        0.93
    """
    check_argument("tol", tol, tol is None or (np.isfinite(tol) and tol >= 0), "tol must be a non-negative number or None")
    eigenvalues = hessian.hessian_eigenvalues(exact_hessian(model, data, loss=loss, weights=weights, dtype=dtype))
    if tol is None:
        eps = np.finfo(dtype or model.trainable_variables[0].dtype).eps
        tol = len(eigenvalues) * eps * float(np.abs(eigenvalues).max())
    return hessian.minimal_ratio(eigenvalues, tol)


# ---------------------------------------------------------------- generalization measures

def sensitivity(model: keras.Model, x: Any, *, loss: Any = None, weights: Sequence[Any] | None = None,
                per_sample: bool = False, dtype: str | None = None) -> float | np.ndarray:
    """Sensitivity (Novak et al. 2018): ‖∂p(x)/∂x‖_F, the Frobenius norm of the Jacobian of the model's
    OUTPUT probabilities with respect to its INPUT, averaged over the samples.

    p is the softmax of a logit model's outputs, or the outputs themselves of a model ending in
    softmax (never a second softmax); for an MSE model, its raw outputs. Labels play no part.
    Units: probability (output) per unit of input.

    Args:
        model: a built Keras model. Whether its outputs are logits is read from its last layer
            (softmax) or its loss (compiled, or ``loss=``).
        x: inputs as an array, or a tf.data.Dataset of x or (x, y) batches.
        weights, dtype: as in :func:`evaluate`.
        per_sample: return one value per sample instead of the mean.

    Example:
        >>> hw1.sensitivity(model, x_test)      # doctest: +SKIP
        0.412
    """
    check_model(model)
    check_argument("x", f"<tuple of {len(x)}>" if isinstance(x, tuple) else "", not isinstance(x, tuple),
                   "sensitivity takes the inputs alone: pass x, not (x, y)")
    check_argument("dtype", dtype, dtype in DTYPES, "choose None, 'float32' or 'float64'")
    data = DataChunks(x if isinstance(x, tf.data.Dataset) else (x, None), model, None, need_labels=False)
    softmax = False  # a model ending in softmax: its outputs are the probabilities
    if not ends_in_softmax(model):
        resolved = resolve_loss(model, loss)
        softmax = resolved.kind == "ce" and not outputs_are_probabilities(model, data, resolved)
    view = model_view(model, False, dtype)
    trial_call(view, data)
    theta = weights_of(model, weights)
    norms = np.concatenate([analysis.input_jacobian_norms(view, theta, np.asarray(chunk), softmax=softmax)
                            for chunk in data.inputs()])
    return norms if per_sample else float(np.mean(norms))


def sharpness(model: keras.Model, data: Any, epsilon: float = 1e-3, *, steps: int = 20, starts: int = 1,
              seed: int = 0, loss: Any = None, weights: Sequence[Any] | None = None,
              dtype: str | None = None) -> float:
    """ε-sharpness (Keskar et al. 2017) of the full-data mean loss L at the model's weights, in percent:

        100 · (max over |Δθᵢ| ≤ ε(|θᵢ| + 1) of L(θ + Δθ) − L(θ)) / (1 + L(θ)),

    over all trainable parameters, the maximum searched by ``steps`` of projected sign-gradient
    ascent from Δθ = 0 (and ``starts − 1`` random points of the box); a lower bound of the true max.

    Args:
        model, data, loss, weights, dtype: as in :func:`evaluate`.
        epsilon: the box's relative half-width (Keskar et al.: 1e-3 and 5e-4).
        steps, starts, seed: the ascent (see :func:`hw1.analysis.sharpness`).

    Example:
        >>> hw1.sharpness(model, (x_train, y_train), epsilon=1e-3)   # doctest: +SKIP
        1.87
    """
    check_argument("epsilon", epsilon, isinstance(epsilon, (int, float)) and np.isfinite(epsilon) and epsilon >= 0,
           "epsilon must be a non-negative number")
    check_argument("steps", steps, isinstance(steps, (int, np.integer)) and steps >= 0, "steps must be an integer >= 0")
    check_argument("starts", starts, isinstance(starts, (int, np.integer)) and starts >= 1, "starts must be an integer >= 1")
    problem = make_problem(model, data, loss, weights, dtype)
    return analysis.sharpness_on_batches(problem.view, problem.weights, problem.batches, problem.loss,
                                         epsilon=epsilon, steps=steps, starts=starts, seed=seed)


def interpolate(model_a: keras.Model, model_b: keras.Model, data: Any,
                alphas: Sequence[float] = tuple(np.linspace(-1.0, 2.0, 31)), *, loss: Any = None,
                dtype: str | None = None) -> pd.DataFrame:
    """Full-data loss and accuracy of θα = (1 − α)·θa + α·θb, on the line through two models' weights.

    Both models must have the same architecture (trainable variable shapes); α = 0 is model_a,
    α = 1 is model_b, α outside [0, 1] extrapolates. The loss is model_a's (compiled or ``loss=``).

    Returns:
        One row per α: ``alpha, loss, accuracy`` (accuracy NaN for MSE).

    Example:
        >>> hw1.interpolate(small_batch_model, large_batch_model, (x_test, y_test))   # doctest: +SKIP
    """
    check_model(model_b)
    alphas = np.asarray(alphas, np.float64).reshape(-1)
    check_argument("alphas", alphas.tolist(), alphas.size >= 1 and np.all(np.isfinite(alphas)),
           "alphas must be finite numbers")
    problem = make_problem(model_a, data, loss, None, dtype)
    end = [v.numpy() for v in model_b.trainable_variables]
    if [w.shape for w in end] != [w.shape for w in problem.weights]:
        raise ValueError(f"model_b {model_b.name!r} has trainable shapes {[w.shape for w in end]}; model_a "
                         f"{model_a.name!r} has {[w.shape for w in problem.weights]} (same architecture needed)")
    losses, accs = _ChunkedEvaluator(problem)(analysis.interpolation_points(problem.weights, end, alphas))
    return pd.DataFrame({"alpha": alphas, "loss": losses, "accuracy": accs})


def loss_surface(model: keras.Model, data: Any, directions: Any = "filter", *, dims: int = 2, extent: float = 1.0,
                 points: int = 21, seed: int = 0, loss: Any = None, weights: Sequence[Any] | None = None,
                 dtype: str | None = None) -> pd.DataFrame:
    """The full-data loss around the model's weights θ, on a 1-D line or a 2-D plane: L(θ + a·d1 + b·d2).

    Args:
        model, data, loss, weights, dtype: as in :func:`evaluate`.
        directions: "filter": Gaussian random directions normalized filter by filter to the
            weights' norms, biases zero (Li et al. 2018); or a list of ``dims`` directions, each
            a list of arrays shaped like the trainable weights.
        dims: 1 (a line; b = 0) or 2 (a plane).
        extent: a and b range over [−extent, extent] (in units of the directions: 1 = the
            weights' own filter norms for "filter").
        points: grid points per axis.
        seed: seeds the random directions (d2 uses seed + 1).

    Returns:
        One row per grid point: ``a, b, loss, accuracy`` (b = 0 for dims=1; accuracy NaN for MSE).

    Example:
        >>> surface = hw1.loss_surface(model, (x_train, y_train), points=31)   # doctest: +SKIP
        >>> surface.pivot(index="b", columns="a", values="loss")               # doctest: +SKIP
    """
    check_argument("dims", dims, dims in (1, 2), "choose 1 or 2")
    check_argument("points", points, isinstance(points, (int, np.integer)) and points >= 2, "points must be an integer >= 2")
    check_argument("extent", extent, isinstance(extent, (int, float)) and np.isfinite(extent) and extent > 0,
           "extent must be a positive number")
    problem = make_problem(model, data, loss, weights, dtype)
    shapes = [w.shape for w in problem.weights]
    if isinstance(directions, str):
        check_argument("directions", directions, directions == "filter", "choose 'filter' or pass a list of directions")
        chosen = [trajectory.filter_normalized_direction(problem.weights, seed + i) for i in range(dims)]
    else:
        chosen = [[np.asarray(a, np.float64) for a in d] for d in directions]
        if len(chosen) != dims or any([a.shape for a in d] != shapes for d in chosen):
            raise ValueError(f"directions must be {dims} lists of arrays shaped like the trainable weights {shapes}")
    d1 = chosen[0]
    d2 = chosen[1] if dims == 2 else [np.zeros(s) for s in shapes]
    axis = np.linspace(-extent, extent, int(points))
    betas = axis if dims == 2 else np.zeros(1)
    losses, accs = trajectory.loss_grid(_ChunkedEvaluator(problem), problem.weights, d1, d2, axis, betas, None, None)
    aa, bb = np.meshgrid(axis, betas)
    return pd.DataFrame({"a": aa.ravel(), "b": bb.ravel(), "loss": losses.ravel(), "accuracy": accs.ravel()})
