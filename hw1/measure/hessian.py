"""Curvature of the loss: flat parameter vectors, exact Hessians, Hessian-vector products.

Every quantity here is about ``L(θ) = mean over (x, y) of the per-sample loss`` of a
Keras model with parameters θ = ALL its trainable weights, in inference mode:
exactly :func:`hw1.measure.core.loss_fn`. Weights are given as a list of arrays in
``model.trainable_variables`` order (what :func:`hw1.lab.train.train` returns).

- :func:`flatten` / :func:`unflatten`: one vector of all parameters and back, exactly.
- :func:`loss_gradient_hessian`: the loss, its gradient and the full n×n matrix ∂²L/∂θ∂θ, by a nested
  ``GradientTape`` and a vectorized ``jacobian`` of the gradient, compiled once per (model, loss)
  (:func:`hw1.exact_hessian` on it).
- :func:`symmetric_eigenvalues`: ``numpy.linalg.eigvalsh`` of the symmetrized Hessian.
- :func:`hessian_vector_product`: H·v by double back-propagation, never forming H
  (for models too large for the full matrix).
- :func:`loss_and_gradient`, :func:`batched_loss_gradient_hessian`: the full-set loss, gradient (and Hessian),
  summed over chunks of data (arrays or any iterable of batches), in the model's dtype or float64; what
  :func:`hw1.gradient_norm` and :func:`hw1.exact_hessian` run on.
- :func:`spectrum_summary`: the minimal ratio and the other counts of
  :func:`hw1.measure.critical_points.spectrum_counts` of one spectrum, with its extremes.

Use float64 (``fc_net(..., dtype="float64")``, or ``dtype="float64"`` where offered) when
"zero" matters: the rounding error of an eigenvalue is up to ~n·ε·max|λ|, ε = 2.2e-16
instead of 6e-8 (float32).
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

import keras
import numpy as np
import tensorflow as tf

from hw1.measure.core import (ArrayLike, chunk_means, flatten, labels_as, loss_fn, n_params,  # noqa: F401
                              per_model, slices, unflatten)
from hw1.measure.critical_points import spectrum_counts

Batches = Callable[[], Iterable[tuple[ArrayLike, ArrayLike]]]  # a fresh pass over the data at every call

# ---------------------------------------------------------------- flat parameter view

def get_flat(model: keras.Model) -> np.ndarray:
    """The model's trainable parameters as one vector."""
    return flatten([v.numpy() for v in model.trainable_variables])


def set_flat(model: keras.Model, vector: ArrayLike) -> None:
    """Write one vector back into the model's trainable variables (exact inverse of :func:`get_flat`)."""
    for variable, value in zip(model.trainable_variables, unflatten(vector, model)):
        variable.assign(value)


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
        self.value_and_gradient = tf.function(value_and_gradient, reduce_retracing=True)

    def batch(self, x: ArrayLike, y: ArrayLike) -> tuple[tf.Tensor, tf.Tensor]:
        """One chunk of data as the compiled functions want it."""
        return tf.cast(x, self.dtype), labels_as(y, self.loss, self.dtype)

    def theta(self, weights: Sequence[ArrayLike] | ArrayLike) -> tf.Tensor:
        theta = weights if isinstance(weights, np.ndarray) and weights.ndim == 1 else flatten(weights)
        if theta.size != sum(self.sizes):
            raise ValueError(f"weights have {theta.size} parameters; the model has {sum(self.sizes)}")
        return tf.constant(theta, self.dtype)

    def chunks(self, batches: Batches) -> Iterable[tuple[int, tf.Tensor, tf.Tensor]]:
        """``(count, x, y)`` of each chunk of one pass over the data."""
        for x, y in batches():
            x, y = self.batch(x, y)
            count = int(x.shape[0])
            if count:
                yield count, x, y

    def tensors(self, weights: Sequence[ArrayLike] | ArrayLike, x: ArrayLike,
                y: ArrayLike) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        theta = weights if isinstance(weights, np.ndarray) and weights.ndim == 1 else flatten(weights)
        if theta.size != sum(self.sizes):
            raise ValueError(f"weights have {theta.size} parameters; the model has {sum(self.sizes)}")
        return tf.constant(theta, self.dtype), tf.constant(np.asarray(x), self.dtype), labels_as(np.asarray(y), self.loss,
                                                                                             self.dtype)


def _pairs(ops: _Curvature, batches: Batches) -> Iterable[tuple[tf.Tensor, tf.Tensor]]:
    """The non-empty chunks of one pass, as the compiled functions take them (the chunk means are weighted by
    their sample counts, then reduced by :func:`hw1.measure.core.chunk_means`)."""
    return ((x, y) for _, x, y in ops.chunks(batches))


@per_model  # compiled once per (model, loss), kept with the model
def _curvature(model: keras.Model, loss: str) -> _Curvature:
    if loss not in ("mse", "sparse_ce"):
        raise ValueError(f"loss={loss!r}; choose one of mse, sparse_ce")
    return _Curvature(model, loss)


# ---------------------------------------------------------------- data in chunks, models in another dtype

def array_batches(x: ArrayLike, y: ArrayLike, size: int | None = None) -> Batches:
    """``(x, y)`` as chunks of ``size`` samples (None: :data:`hw1.measure.constants.EVAL_CHUNK`, read at each pass),
    sliced lazily (each pass converts one chunk at a time; :func:`hw1.measure.core.slices`)."""
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} samples but y has {len(y)}")
    return lambda: slices(x, y, size)


def _clone_in(model: keras.Model, dtype: str) -> keras.Model:
    """A clone of a Sequential or functional ``model`` (nested ones too) whose float inputs and layers are ``dtype``."""
    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        if isinstance(layer, keras.Model):
            return _clone_in(layer, dtype)
        return layer.__class__.from_config({**layer.get_config(), "dtype": dtype})

    inputs = [keras.Input(batch_shape=tuple(t.shape), dtype=dtype if "float" in str(t.dtype) else t.dtype)
              for t in model.inputs]
    return keras.models.clone_model(model, input_tensors=inputs[0] if len(inputs) == 1 else inputs,
                                    clone_function=clone)


@per_model
def _twin(model: keras.Model, dtype: str) -> keras.Model:
    try:
        twin = _clone_in(model, dtype)
    except Exception as error:  # subclassed models, custom layers without get_config
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"model {model.name!r} cannot be rebuilt in {dtype} ({reason}); build it with "
                         f"dtype={dtype!r} yourself, or measure in its own dtype") from None
    if [tuple(v.shape) for v in twin.weights] != [tuple(v.shape) for v in model.weights]:
        raise ValueError(f"model {model.name!r} cannot be rebuilt in {dtype}: its clone has other weights")
    return twin


def variable_dtype(model: keras.Model) -> str:
    """The dtype of ``model``'s trainable variables (its variables', or its compute dtype, for a frozen model)."""
    variables = model.trainable_variables or model.variables
    return str(variables[0].dtype) if variables else str(model.compute_dtype)


def in_dtype(model: keras.Model, dtype: str | None) -> keras.Model:
    """``model`` computing in ``dtype``: itself if it already does (or ``dtype`` is None), else a float twin.

    The twin is a clone (Sequential, functional, nested) whose layers compute in ``dtype``; it is
    cached per (model, dtype) and its non-trainable variables (e.g. batch-normalization statistics)
    are refreshed from ``model`` at every call. Trainable weights are always passed explicitly.
    """
    if dtype is None or variable_dtype(model) == dtype:
        return model
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype={dtype!r}; choose 'float32' or 'float64'")
    twin = _twin(model, dtype)
    for target, source in zip(twin.non_trainable_variables, model.non_trainable_variables):
        target.assign(tf.cast(source.value, target.dtype))
    return twin


def loss_and_gradient(model: keras.Model, weights: Sequence[ArrayLike], batches: Batches, loss: str,
                      dtype: str | None = None) -> tuple[float, np.ndarray]:
    """The full-set mean loss and its gradient (flat, float64), summed over the chunks of ``batches``."""
    ops = _curvature(in_dtype(model, dtype), loss)
    theta = ops.theta(weights)
    value, grad = chunk_means(lambda x, y: [int(x.shape[0]) * np.asarray(part, np.float64) for part in
                                            ops.value_and_gradient(theta, x, y)], _pairs(ops, batches))
    return float(value), grad


def batched_loss_gradient_hessian(model: keras.Model, weights: Sequence[ArrayLike], batches: Batches, loss: str,
                                  dtype: str | None = None) -> tuple[float, np.ndarray, np.ndarray]:
    """:func:`loss_gradient_hessian` summed over the chunks of ``batches`` (float64 arrays)."""
    ops = _curvature(in_dtype(model, dtype), loss)
    theta = ops.theta(weights)
    value, grad, hessian = chunk_means(lambda x, y: [int(x.shape[0]) * np.asarray(part, np.float64) for part in
                                                     ops.hessian(theta, x, y)], _pairs(ops, batches))
    return float(value), grad, hessian


# ---------------------------------------------------------------- measurements

def loss_gradient_hessian(model: keras.Model, weights: Sequence[ArrayLike], x: ArrayLike, y: ArrayLike,
                          loss: str) -> tuple[float, np.ndarray, np.ndarray]:
    """The mean loss L, its gradient ∇L (flat) and its Hessian (float64 arrays), one compiled call per chunk."""
    return batched_loss_gradient_hessian(model, weights, array_batches(x, y), loss)


SERIAL_EIGVALSH = 1024  # up to this size eigvalsh runs on one BLAS thread (beside TensorFlow's it was 20× faster)


def symmetric_eigenvalues(hessian: np.ndarray) -> np.ndarray:
    """Eigenvalues (ascending) of the symmetrized matrix ½(H + Hᵀ), by ``numpy.linalg.eigvalsh``.

    Matrices up to :data:`SERIAL_EIGVALSH` rows are decomposed on one BLAS thread: for them, the
    threads' start-up and their contention with TensorFlow's own pool cost more than they gain
    (321 × 321: 204 ms with the default threads, 10 ms on one, measured here).
    """
    from threadpoolctl import threadpool_limits

    hessian = np.asarray(hessian, dtype=np.float64)
    symmetric = 0.5 * (hessian + hessian.T)
    if len(symmetric) > SERIAL_EIGVALSH:
        return np.linalg.eigvalsh(symmetric)
    with threadpool_limits(limits=1, user_api="blas"):
        return np.linalg.eigvalsh(symmetric)


def hessian_vector_product(model: keras.Model, weights: Sequence[ArrayLike], x: ArrayLike, y: ArrayLike,
                           loss: str, vector: ArrayLike) -> np.ndarray:
    """H·v for the mean loss on ``(x, y)``, by double back-propagation (H is never formed).

    Args:
        model: the architecture (its current variable values are not used).
        weights: the point θ, arrays in ``model.trainable_variables`` order.
        x, y: the samples over which the loss is averaged (labels: targets for "mse",
            class indices for "sparse_ce").
        loss: "mse" or "sparse_ce" (as in :func:`hw1.lab.train.loss_fn`).
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


def spectrum_summary(eigenvalues: ArrayLike, tol: float) -> dict[str, float | int]:
    """The counts of :func:`hw1.measure.critical_points.spectrum_counts` (``minimal_ratio``, ``n_positive``, ``n_negative``,
    ``n_flat``, ``positive_share``) and ``min_eig``, ``max_eig`` of one spectrum."""
    eigenvalues = np.asarray(eigenvalues, dtype=np.float64)
    return {**spectrum_counts(eigenvalues, tol), "min_eig": float(eigenvalues.min()),
            "max_eig": float(eigenvalues.max())}
