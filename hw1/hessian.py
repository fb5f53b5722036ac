"""Curvature of the loss: flat parameter vectors, exact Hessians, Hessian-vector products.

Every quantity here is about ``L(θ) = mean over (x, y) of the per-sample loss`` of a
Keras model with parameters θ = ALL its trainable weights, in inference mode:
exactly :func:`hw1.train.loss_fn`. Weights are given as a list of arrays in
``model.trainable_variables`` order (what :func:`hw1.train.train` returns).

- :func:`flatten` / :func:`unflatten`: one vector of all parameters and back, exactly.
- :func:`exact_hessian`: the full n×n matrix ∂²L/∂θ∂θ, by a nested ``GradientTape``
  and a vectorized ``jacobian`` of the gradient, compiled once per (model, loss).
- :func:`hessian_eigenvalues`: ``numpy.linalg.eigvalsh`` of the symmetrized Hessian.
- :func:`hessian_vector_product`: H·v by double back-propagation, never forming H
  (for models too large for the full matrix).
- :func:`top_hessian_eigenvalue`: the largest eigenvalue by power iteration on H·v.
- :func:`minimal_ratio`: the share of eigenvalues greater than a tolerance;
  :func:`curvature_at`: loss, ‖∇L‖ and the spectrum's summary at one point.

Use a float64 model (``fc_net(..., dtype="float64")``) when "zero" matters: the
rounding error of an eigenvalue is up to ~n·ε·max|λ|, ε = 2.2e-16 instead of 6e-8 (float32).
"""

from __future__ import annotations

import functools
from typing import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from hw1.train import loss_fn

ArrayLike = np.ndarray | tf.Tensor


# ---------------------------------------------------------------- flat parameter view

def flatten(weights: Sequence[ArrayLike]) -> np.ndarray:
    """All parameters as one vector (each array raveled in C order, in list order)."""
    return np.concatenate([np.asarray(w).reshape(-1) for w in weights])


def unflatten(vector: ArrayLike, like: keras.Model | Sequence[ArrayLike]) -> list[np.ndarray]:
    """Inverse of :func:`flatten`: split ``vector`` into arrays shaped like ``like``.

    Args:
        vector: a flat vector of length n_params.
        like: a model (its trainable variables) or a list of arrays giving the shapes and dtypes.

    Raises:
        ValueError: the vector's length is not the number of parameters.

    Example:
        >>> w = [np.ones((2, 3)), np.zeros(3)]
        >>> [a.shape for a in unflatten(flatten(w), w)]
        [(2, 3), (3,)]
    """
    templates = like.trainable_variables if isinstance(like, keras.Model) else like
    shapes = [tuple(t.shape) for t in templates]
    dtypes = [np.dtype(getattr(t.dtype, "as_numpy_dtype", t.dtype)) for t in templates]
    vector = np.asarray(vector).reshape(-1)
    sizes = [int(np.prod(s)) for s in shapes]
    if vector.size != sum(sizes):
        raise ValueError(f"vector has {vector.size} entries; the model has {sum(sizes)} parameters")
    parts = np.split(vector, np.cumsum(sizes)[:-1])
    return [p.reshape(s).astype(d) for p, s, d in zip(parts, shapes, dtypes)]


def get_flat(model: keras.Model) -> np.ndarray:
    """The model's trainable parameters as one vector."""
    return flatten([v.numpy() for v in model.trainable_variables])


def set_flat(model: keras.Model, vector: ArrayLike) -> None:
    """Write one vector back into the model's trainable variables (exact inverse of :func:`get_flat`)."""
    for variable, value in zip(model.trainable_variables, unflatten(vector, model)):
        variable.assign(value)


def n_params(model: keras.Model) -> int:
    """Number of trainable parameters."""
    return int(sum(np.prod(v.shape) for v in model.trainable_variables))


# ---------------------------------------------------------------- compiled operations

class _Curvature:
    """The compiled Hessian and Hessian-vector product of one (model, loss); traced once each."""

    def __init__(self, model: keras.Model, loss: str) -> None:
        self.dtype = model.trainable_variables[0].dtype
        self.shapes = [tuple(v.shape) for v in model.trainable_variables]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        self.loss = loss
        f = loss_fn(model, loss)

        def split(theta: tf.Tensor) -> list[tf.Tensor]:
            return [tf.reshape(p, s) for p, s in zip(tf.split(theta, self.sizes), self.shapes)]

        def value_and_gradient(theta: tf.Tensor, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            """L and ∇L (flat); called inside an outer tape, which then differentiates ∇L once more."""
            with tf.GradientTape() as inner:
                inner.watch(theta)
                value = f(split(theta), x, y)
            return value, inner.gradient(value, theta)

        def hessian(theta: tf.Tensor, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
            with tf.GradientTape() as outer:
                outer.watch(theta)
                value, grad = value_and_gradient(theta, x, y)
            return value, grad, outer.jacobian(grad, theta, experimental_use_pfor=True)

        def hvp(theta: tf.Tensor, vector: tf.Tensor, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
            with tf.GradientTape() as outer:
                outer.watch(theta)
                _, grad = value_and_gradient(theta, x, y)
                directional = tf.reduce_sum(grad * tf.stop_gradient(vector))
            return outer.gradient(directional, theta)

        self.hessian = tf.function(hessian, reduce_retracing=True)
        self.hvp = tf.function(hvp, reduce_retracing=True)

    def tensors(self, weights: Sequence[ArrayLike] | ArrayLike, x: ArrayLike,
                y: ArrayLike) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        theta = weights if isinstance(weights, np.ndarray) and weights.ndim == 1 else flatten(weights)
        if theta.size != sum(self.sizes):
            raise ValueError(f"weights have {theta.size} parameters; the model has {sum(self.sizes)}")
        y = tf.constant(np.asarray(y), self.dtype) if self.loss == "mse" else tf.constant(np.asarray(y), tf.int32)
        return tf.constant(theta, self.dtype), tf.constant(np.asarray(x), self.dtype), y


@functools.lru_cache(maxsize=16)  # the compiled functions of the 16 most recent (model, loss) pairs
def _curvature(model: keras.Model, loss: str) -> _Curvature:
    if loss not in ("mse", "sparse_ce"):
        raise ValueError(f"loss={loss!r}; choose one of mse, sparse_ce")
    return _Curvature(model, loss)


# ---------------------------------------------------------------- public measurements

def exact_hessian(model: keras.Model, weights: Sequence[ArrayLike], x: ArrayLike, y: ArrayLike,
                  loss: str) -> np.ndarray:
    """The full Hessian ∂²L/∂θ² (n_params × n_params, float64) of the mean loss on ``(x, y)``.

    θ is every trainable parameter, in :func:`flatten` order. The matrix is returned as
    computed (symmetric up to rounding); :func:`hessian_eigenvalues` symmetrizes it.
    The first call for a (model, loss) compiles the graph (~1 s); later calls reuse it
    (float32: ~30 ms for 481 parameters on 256 points; float64 is 2-4× slower on CPU).

    Example:
        >>> H = exact_hessian(model, weights, x, y, "mse")     # doctest: +SKIP
    """
    return loss_gradient_hessian(model, weights, x, y, loss)[2]


def loss_gradient_hessian(model: keras.Model, weights: Sequence[ArrayLike], x: ArrayLike, y: ArrayLike,
                          loss: str) -> tuple[float, np.ndarray, np.ndarray]:
    """The mean loss L, its gradient ∇L (flat) and its Hessian, from one compiled call (float64 arrays)."""
    ops = _curvature(model, loss)
    theta, x, y = ops.tensors(weights, x, y)
    value, grad, hessian = ops.hessian(theta, x, y)
    return float(value.numpy()), grad.numpy().astype(np.float64), hessian.numpy().astype(np.float64)


def hessian_eigenvalues(hessian: np.ndarray) -> np.ndarray:
    """Eigenvalues (ascending) of the symmetrized matrix ½(H + Hᵀ), by ``numpy.linalg.eigvalsh``."""
    hessian = np.asarray(hessian, dtype=np.float64)
    return np.linalg.eigvalsh(0.5 * (hessian + hessian.T))


def hessian_vector_product(model: keras.Model, weights: Sequence[ArrayLike], x: ArrayLike, y: ArrayLike,
                           loss: str, vector: ArrayLike) -> np.ndarray:
    """H·v for the mean loss on ``(x, y)``, by double back-propagation (H is never formed).

    Args:
        model: the architecture (its current variable values are not used).
        weights: the point θ, arrays in ``model.trainable_variables`` order.
        x, y: the samples over which the loss is averaged (labels: targets for "mse",
            class indices for "sparse_ce").
        loss: "mse" or "sparse_ce" (as in :func:`hw1.train.loss_fn`).
        vector: a flat vector of length n_params (in :func:`flatten` order).

    Returns:
        H·v as a flat float64 vector.
    """
    ops = _curvature(model, loss)
    theta, x, y = ops.tensors(weights, x, y)
    vector = np.asarray(vector).reshape(-1)
    if vector.size != theta.shape[0]:
        raise ValueError(f"vector has {vector.size} entries; the model has {theta.shape[0]} parameters")
    return ops.hvp(theta, tf.constant(vector, ops.dtype), x, y).numpy().astype(np.float64)


def top_hessian_eigenvalue(model: keras.Model, weights: Sequence[ArrayLike], x: ArrayLike, y: ArrayLike,
                           loss: str, iterations: int = 100, rtol: float = 1e-4, seed: int = 0) -> float:
    """The largest (most positive) Hessian eigenvalue, by power iteration on Hessian-vector products.

    Power iteration converges to the eigenvalue of largest magnitude; if that one is
    negative, the iteration is repeated on H − λI (whose top eigenvalue is λ_max − λ).
    Stops when the Rayleigh quotient changes by less than ``rtol`` (relative) or after
    ``iterations`` products. Cost: one compiled H·v per iteration, no n×n matrix.

    Example:
        >>> top_hessian_eigenvalue(model, weights, x_train, y_train, "sparse_ce")   # doctest: +SKIP
    """
    ops = _curvature(model, loss)
    theta, x_t, y_t = ops.tensors(weights, x, y)
    product = lambda v: ops.hvp(theta, tf.constant(v, ops.dtype), x_t, y_t).numpy().astype(np.float64)  # noqa: E731
    start = np.random.default_rng(seed).standard_normal(int(theta.shape[0]))
    top = _power_iteration(product, start, iterations, rtol)
    if top < 0:
        top = _power_iteration(lambda v: product(v) - top * v, start, iterations, rtol) + top
    return float(top)


def _power_iteration(product: Callable[[np.ndarray], np.ndarray], start: np.ndarray, iterations: int,
                     rtol: float) -> float:
    v = start / np.linalg.norm(start)
    estimate = np.nan
    for _ in range(iterations):
        hv = product(v)
        previous, estimate = estimate, float(v @ hv)
        norm = np.linalg.norm(hv)
        if norm == 0.0:
            return 0.0
        v = hv / norm
        if abs(estimate - previous) <= rtol * abs(estimate):
            break
    return estimate


def minimal_ratio(eigenvalues: ArrayLike, tol: float) -> float:
    """Minimal ratio: the share of Hessian eigenvalues greater than ``tol`` (1 at a strict minimum).

    Example:
        >>> minimal_ratio([-1.0, 0.0, 1e-12, 2.0], tol=1e-9)
        0.25
    """
    eigenvalues = np.asarray(eigenvalues, dtype=np.float64)
    return float(np.mean(eigenvalues > tol))


def spectrum_summary(eigenvalues: ArrayLike, tol: float) -> dict[str, float | int]:
    """``minimal_ratio``, ``n_near_zero`` (count of |λ| ≤ tol), ``min_eig`` and ``max_eig`` of one spectrum."""
    eigenvalues = np.asarray(eigenvalues, dtype=np.float64)
    return {"minimal_ratio": minimal_ratio(eigenvalues, tol),
            "n_near_zero": int(np.sum(np.abs(eigenvalues) <= tol)),
            "min_eig": float(eigenvalues.min()), "max_eig": float(eigenvalues.max())}


def curvature_at(model: keras.Model, weights: Sequence[ArrayLike], x: ArrayLike, y: ArrayLike, loss: str,
                 tol: float) -> tuple[dict[str, float | int], np.ndarray]:
    """Everything the minimal-ratio experiment records at one point, from one exact Hessian.

    Returns:
        ``(summary, eigenvalues)``: ``summary`` holds ``loss`` (mean loss on ``(x, y)``), ``grad_norm``
        (‖∇L‖₂ over all parameters) and the :func:`spectrum_summary` entries; ``eigenvalues`` ascending.
    """
    value, grad, matrix = loss_gradient_hessian(model, weights, x, y, loss)
    eigenvalues = hessian_eigenvalues(matrix)
    return {"loss": value, "grad_norm": float(np.linalg.norm(grad)), **spectrum_summary(eigenvalues, tol)}, eigenvalues

