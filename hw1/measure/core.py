"""The weight-vector core: a Keras model evaluated at parameter vectors it does not hold.

Every measurement of hw1 (training, Hessians, interpolation, sharpness, loss surfaces)
treats a Keras model as a pure function ``f(θ, x)`` of its trainable weights θ, given as a
list of arrays in ``model.trainable_variables`` order. This module is that view, in one place:

- :func:`forward`: ``model(x)`` at weights θ (``stateless_call``, inference mode);
- :func:`per_sample_loss` / :func:`loss_fn`: the losses hw1 trains and measures;
- :func:`stack` / :func:`unstack`: many runs' weights with a leading run axis, and back;
- :func:`flatten` / :func:`unflatten`: one flat parameter vector, and back;
- :func:`map_runs`: a function of one θ applied to every run of stacked weights;
- :func:`chunk_means`: THE full-set reduction: per-chunk sums added up over the chunks, divided once by the
  number of samples (every full-data value of hw1 is one);
- :class:`Evaluator`: full-set loss, accuracy and ‖∇L‖ of many parameter vectors, chunked.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Iterable, Sequence

import keras
import numpy as np
import tensorflow as tf

from hw1.measure import constants

LOSSES = ("mse", "sparse_ce")

Weights = list[np.ndarray]
ArrayLike = np.ndarray | tf.Tensor


# ---------------------------------------------------------------- runs and flat vectors

def stack(runs: Sequence[Weights]) -> list[np.ndarray]:
    """Stack per-run weight lists along a new leading run axis."""
    return [np.stack([w[i] for w in runs]) for i in range(len(runs[0]))]


def unstack(stacked: Sequence[np.ndarray | tf.Tensor]) -> list[Weights]:
    """Inverse of :func:`stack`."""
    arrays = [np.asarray(s) for s in stacked]
    return [[a[r] for a in arrays] for r in range(arrays[0].shape[0])]


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


def n_params(model: keras.Model) -> int:
    """Number of trainable parameters."""
    return int(sum(np.prod(v.shape) for v in model.trainable_variables))


# ---------------------------------------------------------------- the one full-set reduction

def chunk_means(sums: Callable[[Any, Any], Sequence[Any]], chunks: Iterable[tuple[Any, Any]]) -> list[np.ndarray]:
    """The full-set means of per-chunk sums: ``sums(x, y)`` of every chunk, added up in float64, divided by the
    number of samples once.

    ``sums`` returns a sequence of values (tensors or arrays; scalars or any shape) that are SUMS over the chunk's
    samples; the result holds their means over all samples, in the same order. Memory is one chunk's.

    Raises:
        ValueError: the chunks hold no sample.
    """
    totals, count = None, 0
    for x, y in chunks:
        parts = [np.asarray(part, dtype=np.float64) for part in sums(x, y)]
        totals = parts if totals is None else [t + p for t, p in zip(totals, parts)]
        count += int(x.shape[0])
    if not count:
        raise ValueError("the data have no samples")
    return [t / count for t in totals]


def slices(x: ArrayLike, y: ArrayLike, size: int | None = None) -> Iterable[tuple[ArrayLike, ArrayLike]]:
    """``(x, y)`` in chunks of ``size`` samples (the last one shorter; None: :data:`hw1.measure.constants.EVAL_CHUNK`,
    read at the call)."""
    size = constants.EVAL_CHUNK if size is None else size
    return ((x[i:i + size], y[i:i + size]) for i in range(0, int(x.shape[0]), size))


# ---------------------------------------------------------------- the model as a function of θ

def labels_as(y: ArrayLike, loss: str, dtype: tf.DType) -> tf.Tensor:
    """Labels as the loss wants them: regression targets in the model's dtype, class indices as int32."""
    return tf.cast(y, dtype) if loss == "mse" else tf.cast(y, tf.int32)


def per_sample_loss(logits: tf.Tensor, y: tf.Tensor, loss: str) -> tf.Tensor:
    """Loss of each sample: squared error averaged over outputs, or softmax cross-entropy."""
    if loss == "mse":
        return tf.reduce_mean(tf.square(logits - y), axis=-1)
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(y, tf.int32), logits=logits)


def check_stateless(model: keras.Model) -> None:
    """Refuse a model that computes another function in training than in inference."""
    stateful = [layer.name for layer in model.layers
                if isinstance(layer, (keras.layers.BatchNormalization, keras.layers.Dropout))]
    if stateful:
        raise ValueError(f"model {model.name!r} has layers {stateful}; hw1 models must compute the same "
                         "function in training and inference (no batch normalization, no dropout)")


def forward(model: keras.Model, weights: Sequence[tf.Tensor], x: tf.Tensor) -> tf.Tensor:
    """``model(x)`` with the given trainable weights (non-trainable state, e.g. an RNN's seed, held fixed)."""
    outputs, _ = model.stateless_call(list(weights), [v.value for v in model.non_trainable_variables], x)
    return outputs


def loss_fn(model: keras.Model, loss: str) -> Callable[[Sequence[tf.Tensor], tf.Tensor, tf.Tensor], tf.Tensor]:
    """``f(weights, x, y)`` = mean loss of ``model`` with ``weights`` on ``(x, y)``, in inference mode.

    This is the function whose gradient, Hessian and sharpness hw1 measures.
    """
    check_stateless(model)

    def f(weights: Sequence[tf.Tensor], x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        logits = forward(model, weights, x)
        return tf.reduce_mean(per_sample_loss(logits, y, loss))

    return f


def map_runs(fn: Callable[..., object], stacked: Sequence[tf.Tensor], *per_run: tf.Tensor) -> object:
    """Apply ``fn(weights, *args)`` to each run of stacked weights (and per-run args).

    With one run this is a plain call (no ``vectorized_map`` overhead); outputs gain the run axis.
    """
    if stacked[0].shape[0] == 1:
        out = fn([w[0] for w in stacked], *[a[0] for a in per_run])
        return tf.nest.map_structure(lambda t: tf.expand_dims(t, 0), out)
    return tf.vectorized_map(lambda e: fn(list(e[0]), *e[1]), (list(stacked), tuple(per_run)))


# ---------------------------------------------------------------- compiled functions, kept with their model

def per_model(build: Callable[..., object]) -> Callable[..., object]:
    """Decorate ``build(model, *args)`` so that its result is computed once per (model, args) and kept ON the
    model: a compiled graph lives exactly as long as the model it was traced for (a module-level
    ``lru_cache`` would keep every measured model alive). ``args`` must be hashable."""
    @functools.wraps(build)
    def cached(model: keras.Model, *args: object) -> object:
        store = model.__dict__.get("_hw1_compiled")
        if store is None:
            store = {}
            object.__setattr__(model, "_hw1_compiled", store)  # bypass Keras's attribute tracking
        key = (build.__module__, build.__qualname__, *args)
        if key not in store:
            store[key] = build(model, *args)
        return store[key]

    return cached


# ---------------------------------------------------------------- full-set evaluation

class Evaluator:
    """Full-set loss, accuracy and gradient norm of many parameter vectors of one model.

    One compiled graph, reused for any number of runs: interpolation points, grid points
    of a loss surface and perturbed copies are all "runs" here. The data go through in
    chunks of :data:`hw1.measure.constants.EVAL_CHUNK` samples (or ``batch_size``) whose sums make the full-set value.

    Example:
        >>> ev = Evaluator(model, "sparse_ce")                     # doctest: +SKIP
        >>> losses, accs = ev(stack([w1, w2]), x_test, y_test)    # doctest: +SKIP
    """

    def __init__(self, model: keras.Model, loss: str) -> None:
        check_stateless(model)
        self.model, self.loss = model, loss
        self.dtype = model.trainable_variables[0].dtype

        def sums(weights: list[tf.Tensor], x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            logits = forward(model, weights, x)
            total = tf.reduce_sum(per_sample_loss(logits, y, loss))
            if loss == "mse":
                return total, tf.zeros([])
            correct = tf.cast(tf.argmax(logits, -1, output_type=tf.int32) == tf.cast(y, tf.int32), tf.float32)
            return total, tf.reduce_sum(correct)

        def grad_sums(weights: list[tf.Tensor], x: tf.Tensor, y: tf.Tensor) -> list[tf.Tensor]:
            with tf.GradientTape() as tape:
                tape.watch(weights)
                logits = forward(model, weights, x)
                total = tf.reduce_sum(per_sample_loss(logits, y, loss))
            return tape.gradient(total, weights)

        self._sums = tf.function(lambda w, x, y: map_runs(lambda ww: sums(ww, x, y), w), reduce_retracing=True)
        self._grads = tf.function(lambda w, x, y: map_runs(lambda ww: grad_sums(ww, x, y), w),
                                  reduce_retracing=True)

    def _tensors(self, stacked: Sequence[ArrayLike], x: ArrayLike,
                 y: ArrayLike) -> tuple[list[tf.Tensor], tf.Tensor, tf.Tensor]:
        return [tf.cast(w, self.dtype) for w in stacked], tf.cast(x, self.dtype), labels_as(y, self.loss, self.dtype)

    def sums(self, stacked: Sequence[ArrayLike], x: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Summed loss and number of correct predictions of each run on the samples ``(x, y)`` (one chunk).

        Runs go through :data:`hw1.measure.constants.RUN_CHUNK` at a time, so memory stays bounded however many
        parameter vectors there are.
        """
        stacked, x, y = self._tensors(stacked, x, y)
        runs, group_size = int(stacked[0].shape[0]), constants.RUN_CHUNK
        loss_sum, correct = np.zeros(runs), np.zeros(runs)
        for first in range(0, runs, group_size):
            group = [w[first:first + group_size] for w in stacked] if runs > group_size else stacked
            chunk_loss, chunk_correct = self._sums(group, x, y)
            loss_sum[first:first + group_size] = chunk_loss.numpy()
            correct[first:first + group_size] = chunk_correct.numpy()
        return loss_sum, correct

    def __call__(self, stacked: Sequence[ArrayLike], x: ArrayLike, y: ArrayLike,
                 batch_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Mean loss and accuracy (NaN for regression) of each run on the full set ``(x, y)``, ``batch_size``
        samples at a time (None: :data:`hw1.measure.constants.EVAL_CHUNK`; :func:`chunk_means`)."""
        loss, acc = chunk_means(lambda xs, ys: self.sums(stacked, xs, ys), slices(x, y, batch_size))
        return loss, (acc if self.loss != "mse" else np.full_like(acc, np.nan))

    def grad_norm(self, stacked: Sequence[ArrayLike], x: ArrayLike, y: ArrayLike,
                  batch_size: int | None = None) -> np.ndarray:
        """‖∇θ L‖₂ of each run, L the mean loss over the full set, over all trainable parameters (chunks as in
        :meth:`__call__`)."""
        stacked, x, y = self._tensors(stacked, x, y)
        grads = chunk_means(lambda xs, ys: self._grads(stacked, xs, ys), slices(x, y, batch_size))
        return np.sqrt(sum(np.sum(g ** 2, axis=tuple(range(1, g.ndim))) for g in grads))


@per_model
def evaluator(model: keras.Model, loss: str) -> Evaluator:
    """The :class:`Evaluator` of ``(model, loss)``, compiled once and kept with the model."""
    return Evaluator(model, loss)
