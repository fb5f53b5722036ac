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

from typing import TYPE_CHECKING, Any, NamedTuple, Sequence

import keras
import numpy as np
import tensorflow as tf

from hw1.measure import analysis, hessian, trajectory
from hw1.measure.adapt import (MAX_BYTES, MAX_DENSITY_GRID, MAX_EPSILON, MAX_EXACT_PARAMS, MAX_GRID_POINTS, MAX_PROBES,
                       MAX_STEPS, DataChunks, Problem, check_argument, check_bytes, check_choice, check_count,
                       check_differentiable_inputs, check_dtype, check_flag, check_model, check_number, check_weights,
                       ends_in_softmax, make_problem, model_view, n_trainable, outputs_are_probabilities, resolve_loss,
                       trial_call)
from hw1.measure.core import Evaluator, evaluator, stack
from hw1.measure.operator import Curvature
from hw1.measure.trajectory import GRID_CHUNK

if TYPE_CHECKING:
    import pandas as pd

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
        ``{"loss": …, "accuracy": …}`` (accuracy as a fraction; absent for MSE; NaN if the loss is
        not finite, i.e. overflows: inputs and weights themselves are checked to be finite).

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
    losses = loss_sum / total
    return losses, np.where(np.isfinite(losses), acc_sum / total, np.nan)  # argmax of NaN logits is no accuracy


class _ChunkedEvaluator:
    """An :class:`Evaluator` over every chunk of a dataset, in the call form :func:`hw1.measure.trajectory.loss_grid` uses."""

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

def _check_basis(name: str, steps: int, model: keras.Model) -> None:
    """Lanczos keeps min(steps, n) vectors of n parameters: refuse more than MAX_BYTES of them (counted as float64,
    the largest dtype), before any work."""
    n = n_trainable(model)
    check_bytes(f"{name}={steps} (a Lanczos basis of {min(steps, n):,} x {n:,} values)", 8 * min(steps, n) * n,
                MAX_BYTES)


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
                  curvature: str = "hessian", variables: Sequence[Any] | None = None, batch_size: int = 8192,
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
                    batch_size: int = 8192, strategy: tf.distribute.Strategy | None = None) -> SpectralDensity:
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
                  dtype: str | None = None, max_params: int = MAX_EXACT_PARAMS) -> np.ndarray:
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
    tol = None if tol is None else check_number("tol", tol, 0)
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
    softmax (never a second softmax); for an MSE model, its raw outputs. Labels play no part,
    and no loss is needed: without one (an uncompiled model, ``loss=None``) p is the model's
    outputs as they are, so an uncompiled logit model is measured on its logits unless
    ``loss=`` says they are logits. Units: probability (output) per unit of input.

    The inputs must be floating point (an Embedding on integer ids has no input gradient: refused,
    naming the dtype); the model needs no trainable weights (a frozen model is measured too).

    Args:
        model: a built Keras model. Whether its outputs are logits is read from its last layer
            (softmax) or its loss (compiled, or ``loss=``).
        x: inputs as a float array, or a tf.data.Dataset of x or (x, y) batches.
        loss: None (the compiled loss, if any), or a loss as in :func:`evaluate`: only read to
            tell logits from outputs to take as they are.
        weights, dtype: as in :func:`evaluate`.
        per_sample: return one value per sample instead of the mean.

    Example:
        >>> hw1.sensitivity(model, x_test)      # doctest: +SKIP
        0.412
    """
    check_model(model, trainable=False)
    check_argument("x", f"<tuple of {len(x)}>" if isinstance(x, tuple) else "", not isinstance(x, tuple),
                   "sensitivity takes the inputs alone: pass x, not (x, y)")
    check_dtype(dtype)
    per_sample = check_flag("per_sample", per_sample)
    known = loss is not None or getattr(model, "loss", None) is not None
    resolved = resolve_loss(model, loss) if known else None
    theta = check_weights(model, weights)
    data = DataChunks(x if isinstance(x, tf.data.Dataset) else (x, None), model, None, need_labels=False)
    check_differentiable_inputs(model, data.first_inputs()[:2])
    softmax = False  # a model ending in softmax, or no loss to say otherwise: the outputs as they are
    if not ends_in_softmax(model) and resolved is not None:
        softmax = resolved.kind == "ce" and not outputs_are_probabilities(model, data, resolved)
    view = model_view(model, False, dtype)
    trial_call(view, data)
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
        epsilon: the box's relative half-width, in [0, 1] (Keskar et al.: 1e-3 and 5e-4).
        steps, starts, seed: the ascent (see :func:`hw1.measure.analysis.sharpness`): steps in [0, 100,000],
            starts in [1, 100,000] (starts copies of the weights, at most 2 GiB), seed >= 0.

    Example:
        >>> hw1.sharpness(model, (x_train, y_train), epsilon=1e-3)   # doctest: +SKIP
        1.87
    """
    check_model(model)
    epsilon = check_number("epsilon", epsilon, 0, MAX_EPSILON)
    steps = check_count("steps", steps, 0, MAX_STEPS)
    starts = check_count("starts", starts, 1, MAX_STEPS)
    seed = check_count("seed", seed, 0)
    check_bytes(f"starts={starts} ({starts} copies of {n_trainable(model):,} float64 weights)",
                8 * 3 * starts * n_trainable(model))  # the perturbations, their bounds and gradients
    problem = make_problem(model, data, loss, weights, dtype)
    return analysis.sharpness_on_batches(problem.view, problem.weights, problem.batches, problem.loss,
                                         epsilon=epsilon, steps=steps, starts=starts, seed=seed)


def interpolate(model_a: keras.Model, model_b: keras.Model, data: Any,
                alphas: Sequence[float] = tuple(np.linspace(-1.0, 2.0, 31)), *, loss: Any = None,
                dtype: str | None = None) -> pd.DataFrame:
    """Full-data loss and accuracy of θα = (1 − α)·θa + α·θb, on the line through two models' weights.

    Both models must have the same architecture (trainable variable shapes); α = 0 is model_a,
    α = 1 is model_b, α outside [0, 1] extrapolates. The loss is model_a's (compiled or ``loss=``).

    Args:
        model_a, model_b: built models of one architecture.
        data, loss, dtype: as in :func:`evaluate`.
        alphas: 1 to 10,000 finite numbers.

    Returns:
        One row per α: ``alpha, loss, accuracy`` (accuracy NaN for MSE, and where the loss is not finite).

    Example:
        >>> hw1.interpolate(small_batch_model, large_batch_model, (x_test, y_test))   # doctest: +SKIP
    """
    check_model(model_a)
    check_model(model_b)
    alphas = _check_reals("alphas", alphas, MAX_GRID_POINTS)
    end = [np.asarray(v.numpy()) for v in model_b.trainable_variables]
    start = [np.asarray(v.numpy()) for v in model_a.trainable_variables]
    if [w.shape for w in end] != [w.shape for w in start]:
        raise ValueError(f"model_b {model_b.name!r} has trainable shapes {[w.shape for w in end]}; model_a "
                         f"{model_a.name!r} has {[w.shape for w in start]} (same architecture needed)")
    check_weights(model_b, None)
    problem = make_problem(model_a, data, loss, None, dtype)
    evaluate_all = _ChunkedEvaluator(problem)
    parts = [evaluate_all(analysis.interpolation_points(problem.weights, end, alphas[i:i + GRID_CHUNK]))
             for i in range(0, len(alphas), GRID_CHUNK)]  # memory: GRID_CHUNK copies of the weights at a time
    import pandas as pd

    return pd.DataFrame({"alpha": alphas, "loss": np.concatenate([p[0] for p in parts]),
                         "accuracy": np.concatenate([p[1] for p in parts])})


def _check_reals(name: str, values: Any, most: int) -> np.ndarray:
    """1 to ``most`` finite real numbers (a scalar or any sequence) as a flat float64 array; else one ValueError."""
    array = None
    try:
        array = np.asarray(values)
        ok = array.dtype.kind in "iuf" and 1 <= array.size <= most
    except (TypeError, ValueError):  # ragged
        ok = False
    if ok:
        array = array.astype(np.float64).reshape(-1)
        ok = bool(np.all(np.isfinite(array)))
    if not ok:
        size = array.size if isinstance(array, np.ndarray) else 1
        shown = repr(values) if size <= 10 else f"<{size:,} values>"
        raise ValueError(f"{name}={shown}; {name} must be 1 to {most:,} finite real numbers")
    return array


def _check_directions(directions: Any, dims: int, shapes: list[tuple]) -> list[list[np.ndarray]]:
    """``dims`` directions, each finite real arrays shaped like the trainable weights; else one ValueError."""
    wanted = f"directions must be 'filter' or {dims} lists of finite arrays shaped like the trainable weights {shapes}"
    try:
        chosen = [[np.asarray(a) for a in d] for d in directions]
    except (TypeError, ValueError):
        raise ValueError(f"directions is a {type(directions).__name__}; {wanted}") from None
    if len(chosen) != dims or any([a.shape for a in d] != shapes for d in chosen):
        raise ValueError(f"{len(chosen)} directions of shapes {[[a.shape for a in d] for d in chosen]}; {wanted}")
    for i, d in enumerate(chosen):
        for j, a in enumerate(d):
            if a.dtype.kind not in "iuf" or not np.all(np.isfinite(a)):
                raise ValueError(f"directions[{i}][{j}] is not finite real numbers (dtype {a.dtype}); {wanted}")
    return [[a.astype(np.float64) for a in d] for d in chosen]


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
            weights' own filter norms for "filter"); a positive number.
        points: grid points per axis, an integer >= 2 with points ** dims <= 10,000 (each point
            is one pass over the data; memory holds 128 points' weights at a time).
        seed: seeds the random directions (d2 uses seed + 1), an integer >= 0.

    Returns:
        One row per grid point: ``a, b, loss, accuracy`` (b = 0 for dims=1; accuracy NaN for MSE,
        and where the loss is not finite).

    Example:
        >>> surface = hw1.loss_surface(model, (x_train, y_train), points=31)   # doctest: +SKIP
        >>> surface.pivot(index="b", columns="a", values="loss")               # doctest: +SKIP
    """
    check_model(model)
    dims = check_count("dims", dims, 1, 2)
    points = check_count("points", points, 2)
    if points ** dims > MAX_GRID_POINTS:
        raise ValueError(f"points={points} with dims={dims} makes {points ** dims:,} grid points; hw1 evaluates at "
                         f"most {MAX_GRID_POINTS:,} (points <= {int(MAX_GRID_POINTS ** (1 / dims) + 1e-9):,} for "
                         f"dims={dims})")
    extent = check_number("extent", extent, 0, low_open=True)
    seed = check_count("seed", seed, 0)
    if isinstance(directions, str):
        check_choice("directions", directions, ("filter",))
    problem = make_problem(model, data, loss, weights, dtype)
    shapes = [w.shape for w in problem.weights]
    if isinstance(directions, str):
        chosen = [trajectory.filter_normalized_direction(problem.weights, seed + i) for i in range(dims)]
    else:
        chosen = _check_directions(directions, dims, shapes)
    d1 = chosen[0]
    d2 = chosen[1] if dims == 2 else [np.zeros(s) for s in shapes]
    axis = np.linspace(-extent, extent, int(points))
    betas = axis if dims == 2 else np.zeros(1)
    losses, accs = trajectory.loss_grid(_ChunkedEvaluator(problem), problem.weights, d1, d2, axis, betas, None, None)
    aa, bb = np.meshgrid(axis, betas)
    import pandas as pd

    return pd.DataFrame({"a": aa.ravel(), "b": bb.ravel(), "loss": losses.ravel(), "accuracy": accs.ravel()})
