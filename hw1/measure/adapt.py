"""How hw1 takes a model as the user has it: the model, its loss, its weights, its data.

:func:`problem` turns ``(model, data, loss, weights, dtype)`` into one :class:`Problem`: a Keras
view of the model that outputs what the loss wants (logits, or log-probabilities for a model
ending in softmax: never a second softmax), in inference mode; the loss as hw1 computes it
("sparse_ce" or "mse"); the weights; and the data as chunks whose sums make the full-set value.
Everything :mod:`hw1.measure` cannot measure stops here with one line naming the value and what
is accepted, before any work, the way scikit-learn's ``check_array`` does: counts are integers
(Python or numpy, never booleans) in a stated range; numbers are finite reals in a stated range;
inputs, targets and weights are finite (the first bad sample or variable is named); a
``tf.data.Dataset`` of unknown cardinality is read at most :data:`MAX_UNKNOWN_SAMPLES` samples
per pass; memory that a count would allocate is checked against :data:`MAX_BYTES` first.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any, Iterator, Sequence

import keras
import numpy as np
import tensorflow as tf

from hw1.measure import hessian
from hw1.measure.checks import (check_count, check_dtype, check_finite_inputs, check_input_dtype, check_model,
                                check_weights)
from hw1.measure import constants
from hw1.measure.core import per_model

__all__ = ["MAX_UNKNOWN_SAMPLES", "DataChunks", "Problem", "make_problem", "model_view", "resolve_loss",
           "ends_in_softmax", "outputs_are_probabilities", "trial_call"]

EPSILON = 1e-7  # keras.config.epsilon(): probabilities are clipped to [ε, 1 − ε] before the log, as Keras does
_CE_NAMES = {"sparse_categorical_crossentropy", "categorical_crossentropy", "sparse_ce", "crossentropy"}
_MSE_NAMES = {"mse", "mean_squared_error"}
MAX_UNKNOWN_SAMPLES = 100_000  # samples read per pass from a tf.data.Dataset of unknown cardinality
ACCEPTED_LOSSES = ("None (the compiled loss), 'sparse_categorical_crossentropy', 'categorical_crossentropy', "
                   "'mse', or keras.losses.SparseCategoricalCrossentropy / CategoricalCrossentropy / "
                   "MeanSquaredError")



# ---------------------------------------------------------------- the model, its loss, its data

class _Outputs(keras.Model):
    """The user's model in inference mode; probabilities turned into log-probabilities.

    softmax(log p) = p, so hw1's logit-based cross-entropy of these outputs is −log p_y
    (p clipped to [ε, 1 − ε] like Keras): the model's own probabilities, never a second softmax.
    Its variables are the user's model's, in the same order.
    """

    def __init__(self, wrapped: keras.Model, log_probabilities: bool) -> None:
        super().__init__(name=f"{wrapped.name}_measured", dtype=hessian.variable_dtype(wrapped))
        self.wrapped, self.log_probabilities = wrapped, log_probabilities
        self.built = True

    def call(self, x: tf.Tensor) -> tf.Tensor:
        outputs = self.wrapped(x, training=False)
        if not self.log_probabilities:
            return outputs
        p = outputs / tf.reduce_sum(outputs, axis=-1, keepdims=True)
        return tf.math.log(tf.clip_by_value(p, EPSILON, 1.0 - EPSILON))


@per_model  # the views of a model live as long as the model
def _views_of(model: keras.Model) -> dict:
    return {}


def model_view(model: keras.Model, log_probabilities: bool, dtype: str | None) -> keras.Model:
    """The cached :class:`_Outputs` of ``model`` (in ``dtype``), so compiled graphs are reused across calls."""
    source = hessian.in_dtype(model, dtype)  # refreshes a float64 twin's non-trainable state
    views = _views_of(model)
    # a changed set of trainable variables (layer.trainable toggled) gets a new view, hence new compiled graphs
    key = (log_probabilities, hessian.variable_dtype(source), tuple(id(v) for v in model.trainable_variables))
    if key not in views:
        views[key] = _Outputs(source, log_probabilities)
    return views[key]


def ends_in_softmax(model: keras.layers.Layer) -> bool:
    last = model
    while isinstance(last, keras.Model) and last.layers:
        last = last.layers[-1]
    if isinstance(last, keras.layers.Softmax):
        return True
    activation = getattr(last, "activation", None)
    return activation is keras.activations.softmax or getattr(activation, "__name__", "") == "softmax"


@dataclasses.dataclass(frozen=True)
class _Loss:
    kind: str                 # "ce" or "mse"
    from_logits: bool | None  # None: not stated (hw1's own "sparse_ce" means logits)
    text: str


def _describe(loss: Any) -> str:
    return repr(loss) if isinstance(loss, str) else type(loss).__name__


def resolve_loss(model: keras.Model, loss: Any) -> _Loss:
    if loss is None:
        loss = getattr(model, "loss", None)
        if loss is None:
            raise ValueError(f"model {model.name!r} is not compiled; pass loss= one of {ACCEPTED_LOSSES}")
    if isinstance(loss, (list, tuple, dict)):
        raise ValueError(f"loss={loss!r}: hw1 measures models with one output and one loss")
    if isinstance(loss, str):
        name = loss.lower()
        if name in _MSE_NAMES:
            return _Loss("mse", None, loss)
        if name in _CE_NAMES:
            return _Loss("ce", None if name == "sparse_ce" else False, loss)
        raise ValueError(f"loss={loss!r} is not supported; use {ACCEPTED_LOSSES}")
    if isinstance(loss, keras.losses.Loss):
        config = loss.get_config()
        if config.get("reduction", "sum_over_batch_size") != "sum_over_batch_size":
            raise ValueError(f"loss reduction={config['reduction']!r}; hw1 measures the mean loss "
                             "(reduction='sum_over_batch_size')")
        if config.get("label_smoothing") or config.get("ignore_class") is not None or config.get("axis", -1) != -1:
            raise ValueError(f"loss {_describe(loss)} with label_smoothing, ignore_class or axis is not supported")
        if isinstance(loss, (keras.losses.SparseCategoricalCrossentropy, keras.losses.CategoricalCrossentropy)):
            return _Loss("ce", bool(config["from_logits"]), _describe(loss))
        if isinstance(loss, keras.losses.MeanSquaredError):
            return _Loss("mse", None, _describe(loss))
        raise ValueError(f"loss={_describe(loss)} is not supported; use {ACCEPTED_LOSSES}")
    if callable(loss) and getattr(loss, "__name__", None) in _CE_NAMES | _MSE_NAMES:
        return resolve_loss(model, loss.__name__)
    raise ValueError(f"loss={_describe(loss)} is not supported; use {ACCEPTED_LOSSES}")


class DataChunks:
    """``(x, y)`` arrays or a tf.data.Dataset, as chunks of (x, labels in hw1's form), every one checked.

    Arrays are checked up front (finite, real, as many labels as samples). A dataset is checked
    as it is read, before any value is returned: finite batches on the first complete pass (the
    passes after it read the same samples; checking each would cost up to a fifth of a
    Hessian-vector product), and on every pass at least one sample and at most
    :data:`MAX_UNKNOWN_SAMPLES` samples when its cardinality is unknown.
    """

    def __init__(self, data: Any, model: keras.Model, kind: str | None, need_labels: bool = True,
                 batch_size: int | None = None) -> None:
        self.batch_size = check_count("batch_size", constants.EVAL_CHUNK if batch_size is None else batch_size, 1)
        self.kind, self.outputs = kind, int(model.output_shape[-1]) if _has_shape(model) else None
        input_shape = tuple(model.input_shape[1:]) if _has_shape(model) else None
        input_rank = len(input_shape) + 1 if input_shape is not None else None
        self.capped, self.checked = False, False
        if isinstance(data, tf.data.Dataset):
            cardinality = int(data.cardinality())
            if cardinality == tf.data.INFINITE_CARDINALITY:
                raise ValueError("data is an infinite tf.data.Dataset (repeat() without count); pass a finite "
                                 "one, e.g. dataset.take(n)")
            if cardinality == 0:
                raise ValueError("data is an empty tf.data.Dataset (cardinality 0); hw1 needs at least one sample")
            self.capped = cardinality == tf.data.UNKNOWN_CARDINALITY
            spec = data.element_spec
            if isinstance(spec, tf.TensorSpec):
                if need_labels:
                    raise ValueError("data is a tf.data.Dataset of inputs only; hw1 needs (x, y) batches here")
                data = data.map(lambda x: (x, tf.zeros([tf.shape(x)[0]], tf.int32) if x.shape.rank else 0))
                spec = data.element_spec
            if not isinstance(spec, tuple) or len(spec) != 2:
                n = len(spec) if isinstance(spec, tuple) else 1
                raise ValueError(f"data is a tf.data.Dataset of {n}-element items; hw1 needs (x, y) batches "
                                 "(no sample weights)")
            if not all(isinstance(s, tf.TensorSpec) for s in spec):
                raise ValueError(f"data is a tf.data.Dataset of {type(spec[0]).__name__} / {type(spec[1]).__name__} "
                                 "items (dicts, ragged or sparse); hw1 needs (x, y) batches of dense tensors")
            check_input_dtype(spec[0].dtype, "x")
            check_input_dtype(spec[1].dtype, "y")
            if input_rank is not None and spec[0].shape.rank == input_rank - 1:  # unbatched samples
                data = data.batch(self.batch_size)
            _check_inputs(tuple(data.element_spec[0].shape), input_shape, model)
            self.dataset, self.arrays = data, None
        elif isinstance(data, (tuple, list)) and len(data) == 2:
            x, y = data
            if isinstance(x, Mapping) or isinstance(y, Mapping):
                raise TypeError(f"data hold a {type(x if isinstance(x, Mapping) else y).__name__}; pass x and y as "
                                "arrays (one input, one output)")
            if y is None and need_labels:
                raise ValueError("data=(x, None): this measurement needs labels (class indices, one-hot rows or "
                                 "regression targets); only sensitivity takes inputs alone")
            x = x if isinstance(x, (np.ndarray, tf.Tensor)) else np.asarray(x)
            y = np.asarray(y) if y is not None else np.zeros(len(x), np.int32)
            check_input_dtype(x.dtype, "x")
            check_input_dtype(y.dtype, "y")
            if x.ndim == 0 or y.ndim == 0:
                raise ValueError(f"x has shape {tuple(x.shape)} and y {y.shape}; pass samples along the first axis")
            if len(x) != len(y):
                raise ValueError(f"x has {len(x)} samples but y has {len(y)}")
            if len(x) == 0:
                raise ValueError("data have no samples")
            _check_inputs(tuple(x.shape), input_shape, model)
            check_finite_inputs(x, "x")
            check_finite_inputs(y, "y")
            self.dataset, self.arrays = None, (x, self.labels(y) if need_labels else y)
        else:
            raise TypeError(f"data is a {type(data).__name__}; pass (x, y) arrays or a tf.data.Dataset of "
                            "(x, y) batches")

    def labels(self, y: Any) -> np.ndarray:
        """Class indices (int32) for cross-entropy, from indices or one-hot rows; (n, outputs) targets for MSE."""
        y = np.asarray(y)
        if self.kind == "mse":
            y = y.astype(np.float64, copy=False)
            if self.outputs is not None:
                if y.size != len(y) * self.outputs:
                    raise ValueError(f"targets have shape {y.shape}; the model has {self.outputs} outputs")
                y = y.reshape(len(y), self.outputs)
            return y
        if y.ndim == 2 and y.shape[1] > 1:  # one-hot (categorical) rows
            if self.outputs is not None and y.shape[1] != self.outputs:
                raise ValueError(f"labels have {y.shape[1]} columns; the model has {self.outputs} classes")
            if not (np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1)):
                raise ValueError("labels are 2-D but not one-hot rows (soft labels are not supported); pass "
                                 "class indices or one-hot rows")
            return np.argmax(y, axis=1).astype(np.int32)
        y = y.reshape(len(y)) if y.ndim == 2 and y.shape[1] == 1 else y
        if y.ndim != 1 or (y.size and not np.all(np.equal(np.mod(y, 1), 0))):
            raise ValueError(f"labels have shape {y.shape} (dtype {y.dtype}); pass class indices (n,) or one-hot "
                             "rows (n, classes)")
        if self.outputs is not None and y.size and (y.min() < 0 or y.max() >= self.outputs):
            raise ValueError(f"labels range over [{y.min()}, {y.max()}]; the model has {self.outputs} classes "
                             f"(0 … {self.outputs - 1})")
        return y.astype(np.int32)

    def batches(self) -> hessian.Batches:
        """A callable giving a fresh pass over the chunks, as hw1's internals take them."""
        if self.arrays is not None:
            return hessian.array_batches(*self.arrays, size=self.batch_size)
        return lambda: ((x, self.labels(y.numpy())) for x, y in self._pass())

    def inputs(self) -> Any:
        """A fresh pass over the input chunks only."""
        if self.arrays is not None:
            x = self.arrays[0]
            return (x[i:i + self.batch_size] for i in range(0, len(x), self.batch_size))
        return (x for x, _ in self._pass())

    def first_inputs(self) -> Any:
        """The first chunk of inputs (a dataset with no samples raises the one-line ValueError of a pass)."""
        return next(iter(self.inputs()))

    def _pass(self) -> Iterator[tuple[tf.Tensor, tf.Tensor]]:
        """One pass over the dataset, each batch checked; an error of the dataset itself becomes one line."""
        seen, batches = 0, iter(self.dataset)
        while True:
            try:
                x, y = next(batches)
            except StopIteration:
                break
            except tf.errors.OpError as error:
                raise ValueError(f"reading the tf.data.Dataset failed after {seen} samples: "
                                 f"{_first_line(error)}") from None
            count = int(x.shape[0]) if x.shape.rank else 1
            if not self.checked:
                check_finite_inputs(x, "x", seen)
                check_finite_inputs(y, "y", seen)
            seen += count
            if self.capped and seen > MAX_UNKNOWN_SAMPLES:
                raise ValueError(f"data is a tf.data.Dataset of unknown cardinality (from_generator, filter, ...) "
                                 f"that gave more than {MAX_UNKNOWN_SAMPLES:,} samples in one pass; hw1 reads "
                                 "every sample on every pass and stops there: state its size with "
                                 "dataset.apply(tf.data.experimental.assert_cardinality(n)), or pass a finite "
                                 "dataset of known size")
            yield x, y
        if seen == 0:
            raise ValueError("data is an empty tf.data.Dataset (no samples in a pass); hw1 needs at least one sample")
        self.checked = True


def _check_inputs(shape: tuple, expected: tuple | None, model: keras.Model) -> None:
    if expected is None:
        return
    if len(shape) != len(expected) + 1 or any(a is not None and b is not None and a != b
                                              for a, b in zip(shape[1:], expected)):
        raise ValueError(f"x has shape {shape}; model {model.name!r} takes inputs of shape {(None, *expected)}")


def _has_shape(model: keras.Model) -> bool:
    try:
        return model.input_shape is not None and model.output_shape is not None
    except (AttributeError, ValueError):
        return False


@dataclasses.dataclass
class Problem:
    """One measurement, normalized: hw1's internals take (view, weights, batches, loss)."""

    view: keras.Model
    weights: list[np.ndarray]
    data: DataChunks
    loss: str  # "sparse_ce" or "mse" (hw1.measure.core's losses, on the view's outputs)

    @property
    def batches(self) -> hessian.Batches:
        return self.data.batches()


def make_problem(model: Any, data: Any, loss: Any, weights: Sequence[Any] | None, dtype: str | None,
                 batch_size: int | None = None) -> Problem:
    """Check everything a measurement of the loss with respect to the trainable weights takes; one Problem.

    Args:
        model, data, loss, weights, dtype: as :mod:`hw1.measure` takes them.
        batch_size: samples per chunk of arrays (and of a dataset of single samples): memory, not the value;
            None: :data:`hw1.measure.constants.EVAL_CHUNK`.

    Returns:
        The :class:`Problem`; every check (model, dtype, loss, weights, data, one trial forward pass) is done.
    """
    check_model(model)
    check_dtype(dtype)
    resolved = resolve_loss(model, loss)
    theta = check_weights(model, weights)
    chunks = DataChunks(data, model, resolved.kind, batch_size=batch_size)
    probabilities = False
    if resolved.kind == "ce":
        probabilities = ends_in_softmax(model) or outputs_are_probabilities(model, chunks, resolved)
    view = model_view(model, probabilities, dtype)
    trial_call(view, chunks)
    return Problem(view, theta, chunks, "mse" if resolved.kind == "mse" else "sparse_ce")


def outputs_are_probabilities(model: keras.Model, chunks: DataChunks, resolved: _Loss) -> bool:
    """For a model not ending in softmax: trust from_logits=True; check that from_logits=False is true."""
    if resolved.from_logits is not False:
        return False
    x = chunks.first_inputs()[:256]
    p = np.asarray(model(x, training=False), np.float64)
    if np.all(p >= 0) and np.allclose(p.sum(axis=-1), 1.0, atol=1e-3):
        return True
    raise ValueError(f"loss {resolved.text} says the outputs are probabilities (from_logits=False) but model "
                     f"{model.name!r} outputs are not (row sums {p.sum(axis=-1).min():.3g} … "
                     f"{p.sum(axis=-1).max():.3g}); pass a loss with from_logits=True or end the model in softmax")


def trial_call(view: keras.Model, chunks: DataChunks) -> None:
    """One small stateless forward pass, so that a model hw1 cannot evaluate fails here with one clear line."""
    x = chunks.first_inputs()[:2]
    try:
        view.stateless_call([v.value for v in view.trainable_variables],
                            [v.value for v in view.non_trainable_variables], tf.cast(x, view.compute_dtype))
    except Exception as error:
        raise ValueError(f"model {view.wrapped.name!r} cannot be evaluated as a function of its weights "
                         f"(stateless_call failed: {_first_line(error)})") from None


def _first_line(error: Exception) -> str:
    """The informative first line of an exception (Keras wraps layer errors in a generic header; TensorFlow's
    op errors carry a ``{{function_node …}}`` prefix and an ``[Op:…]`` suffix)."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(error).splitlines()]
    lines = [line for line in lines if line and not line.startswith("Exception encountered when calling")]
    if not lines:
        return type(error).__name__
    line = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", lines[0])
    return re.sub(r"\s*\[Op:[^\]]*\].*$", "", line) or type(error).__name__
