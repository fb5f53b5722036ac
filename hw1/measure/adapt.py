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
from hw1.measure.core import EVAL_CHUNK, per_model

__all__ = ["MAX_UNKNOWN_SAMPLES", "MAX_GRID_POINTS", "MAX_PROBES", "MAX_DENSITY_GRID", "MAX_STEPS", "MAX_EPSILON",
           "MAX_BYTES", "check_count", "check_number", "check_choice", "check_flag", "check_bytes", "check_model",
           "check_weights", "check_finite_inputs", "check_input_dtype", "check_differentiable_inputs",
           "check_dtype", "n_trainable", "DataChunks", "Problem", "make_problem"]

EPSILON = 1e-7  # keras.config.epsilon(): probabilities are clipped to [ε, 1 − ε] before the log, as Keras does
MAX_EXACT_PARAMS = 5000  # exact_hessian refuses larger models unless told otherwise (n² float64 entries)
DTYPES = (None, "float32", "float64")
_CE_NAMES = {"sparse_categorical_crossentropy", "categorical_crossentropy", "sparse_ce", "crossentropy"}
_MSE_NAMES = {"mse", "mean_squared_error"}
MAX_UNKNOWN_SAMPLES = 100_000  # samples read per pass from a tf.data.Dataset of unknown cardinality
MAX_GRID_POINTS = 10_000  # loss_surface points ** dims, interpolate's alphas (one full-data pass each)
MAX_PROBES = 100_000      # Hutchinson / SLQ probes
MAX_STEPS = 100_000       # Lanczos iterations, SLQ steps, sharpness ascent steps and starts
MAX_DENSITY_GRID = 100_000  # hessian_density grid_points
MAX_EPSILON = 1.0         # sharpness box half-width, relative to |θᵢ| + 1
MAX_BYTES = 2 ** 31       # 2 GiB: the most one array sized by an argument may take (Lanczos basis, SLQ grid, starts)
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


# ---------------------------------------------------------------- arguments: counts, numbers, choices, memory

def _is_integer(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_count(name: str, value: Any, minimum: int = 1, maximum: int | None = None) -> int:
    """``value`` as an int, if it is an integer (Python or numpy; never a bool) in [minimum, maximum].

    Args:
        name: the argument's name, for the message.
        value: the argument as given.
        minimum, maximum: the accepted range (inclusive; no upper bound if ``maximum`` is None).

    Returns:
        ``int(value)``.

    Raises:
        ValueError: one line naming the value and the accepted range.
    """
    if _is_integer(value) and value >= minimum and (maximum is None or value <= maximum):
        return int(value)
    bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum:,}]"
    note = " (a bool is not a count)" if isinstance(value, (bool, np.bool_)) else ""
    raise ValueError(f"{name}={value!r}; {name} must be an integer {bound}{note}")


def check_number(name: str, value: Any, low: float | None = None, high: float | None = None, *,
                 low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a float, if it is a finite real number (Python or numpy; never a bool) in the stated interval.

    Args:
        name: the argument's name, for the message.
        value: the argument as given.
        low, high: the interval's ends (None: unbounded on that side).
        low_open, high_open: exclude that end.

    Returns:
        ``float(value)``.

    Raises:
        ValueError: one line naming the value and the accepted interval.
    """
    real = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if real and np.isfinite(value) and (low is None or (value > low if low_open else value >= low)) \
            and (high is None or (value < high if high_open else value <= high)):
        return float(value)
    if low is not None and high is not None:
        interval = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    elif low is not None:
        interval = f"{'>' if low_open else '>='} {low:g}"
    elif high is not None:
        interval = f"{'<' if high_open else '<='} {high:g}"
    else:
        interval = "finite"
    raise ValueError(f"{name}={value!r}; {name} must be a real number {interval}")


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> Any:
    """``value`` if it is one of ``choices`` (compared without numpy's element-wise ==); else one ValueError."""
    if any(value is c or (type(value) is type(c) and value == c) for c in choices):
        return value
    raise ValueError(f"{name}={value!r}; choose one of {', '.join(repr(c) for c in choices)}")


def check_flag(name: str, value: Any) -> bool:
    """``value`` as a bool, if it is a Python or numpy bool; else one ValueError."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ValueError(f"{name}={value!r}; {name} must be True or False")


def check_bytes(what: str, count: int, limit: int = MAX_BYTES) -> None:
    """Refuse an allocation of ``count`` bytes above ``limit`` (before making it), in one line."""
    if count > limit:
        raise ValueError(f"{what} would take {count / 1e9:.3g} GB; hw1 allows {limit / 1e9:.3g} GB per array")


def n_trainable(model: keras.Model) -> int:
    """The number of trainable parameters (scalars) of ``model``."""
    return sum(int(np.prod(v.shape)) for v in model.trainable_variables)


# ---------------------------------------------------------------- the model and its weights

def check_model(model: Any, trainable: bool = True) -> None:
    """Refuse what is not a built, single-output keras.Model (with trainable weights, if ``trainable``).

    Args:
        model: the model as given.
        trainable: the measurement is with respect to the trainable weights (all but sensitivity).
    """
    check_backend()
    if not isinstance(model, keras.Model):
        raise TypeError(f"model is a {type(model).__name__}; hw1 measures keras.Model instances")
    if not model.built:
        raise ValueError(f"model {model.name!r} has no weights yet (never built or called); train it, call it "
                         "once on data, or start it with keras.Input")
    if trainable and not model.trainable_variables:
        raise ValueError(f"model {model.name!r} has no trainable weights (model.trainable = False, or every layer "
                         "frozen); hw1 measures with respect to the trainable weights: set trainable = True on the "
                         "model or on the layers to measure")
    try:
        outputs = model.outputs
    except (AttributeError, ValueError):
        outputs = None
    if outputs is not None and len(outputs) != 1:
        raise ValueError(f"model {model.name!r} has {len(outputs)} outputs; hw1 measures single-output models")


def _first_bad(array: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])


def check_weights(model: keras.Model, weights: Sequence[Any] | None) -> list[np.ndarray]:
    """The trainable weights to measure at (``weights``, or the model's own), checked to be finite real arrays.

    The model's non-trainable variables (e.g. batch-normalization statistics) must be finite too.

    Args:
        model: a checked model (:func:`check_model`).
        weights: None (the model's current weights) or arrays in ``model.trainable_variables`` order.

    Returns:
        The weights as numpy arrays.

    Raises:
        ValueError: one line naming the first variable with a bad shape, dtype or a NaN/inf entry.
    """
    variables = model.trainable_variables
    current = [np.asarray(v.numpy()) for v in variables]
    if weights is None:
        given, source = current, "model variable"
    else:
        if isinstance(weights, (np.ndarray, str)) or not isinstance(weights, Sequence):
            raise ValueError(f"weights is a {type(weights).__name__}; pass a list of arrays in "
                             "model.trainable_variables order")
        given, source = [np.asarray(w) for w in weights], "weights[{i}]"
        if [w.shape for w in given] != [w.shape for w in current]:
            raise ValueError(f"weights have shapes {[w.shape for w in given]}; model {model.name!r} has trainable "
                             f"variables of shapes {[w.shape for w in current]}")
        for i, w in enumerate(given):
            if w.dtype.kind not in "iuf":
                raise ValueError(f"weights[{i}] ({variables[i].path}) has dtype {w.dtype}; pass real numbers")
    for i, w in enumerate(given):
        if not np.all(np.isfinite(w)):
            at = _first_bad(w)
            raise ValueError(f"{source.format(i=i)} {variables[i].path!r} holds {w[at]} at {list(at)}; hw1 "
                             "measures at finite weights")
    for v in model.non_trainable_variables:
        value = np.asarray(v.numpy())
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            at = _first_bad(value)
            raise ValueError(f"model variable {v.path!r} (non-trainable) holds {value[at]} at {list(at)}; hw1 "
                             "measures models whose state is finite")
    return given


def weights_of(model: keras.Model, weights: Sequence[Any] | None) -> list[np.ndarray]:
    """:func:`check_weights` (the name the measurements have used)."""
    return check_weights(model, weights)


# ---------------------------------------------------------------- the data

def _dtype_of(x: Any) -> np.dtype:
    return np.dtype(x.dtype.as_numpy_dtype) if isinstance(x.dtype, tf.DType) else np.dtype(x.dtype)


def check_input_dtype(dtype: Any, what: str = "x") -> None:
    """Refuse inputs or labels that are not real numbers (strings, objects, complex), naming the dtype."""
    dtype = np.dtype(dtype.as_numpy_dtype) if isinstance(dtype, tf.DType) else np.dtype(dtype)
    if dtype.kind not in "biuf":
        raise ValueError(f"{what} has dtype {dtype}; hw1 measures real-valued arrays (floats, or integer ids)")


def check_finite_inputs(x: Any, what: str = "x", offset: int = 0) -> None:
    """Refuse floating-point ``x`` (array or tensor, samples along axis 0) holding NaN or ±inf.

    Checked :data:`hw1.measure.core.EVAL_CHUNK` samples at a time (memory stays one chunk's).

    Args:
        x: the samples.
        what: "x" or "y", for the message.
        offset: the index of ``x[0]`` in the whole data (for a dataset read batch by batch).

    Raises:
        ValueError: one line naming the first bad sample, its value and where in the sample it is.
    """
    if _dtype_of(x).kind not in "fc":
        return
    for start in range(0, int(x.shape[0]), EVAL_CHUNK):
        part = np.asarray(x[start:start + EVAL_CHUNK])
        ok = np.isfinite(part.reshape(len(part), -1)).all(axis=1)
        if not ok.all():
            i = int(np.argmin(ok))
            where = _first_bad(part[i]) if part.ndim > 1 else ()
            at = f" at {list(where)}" if where else ""
            raise ValueError(f"{what} is not finite: sample {offset + start + i} holds {part[i][where]}{at}; "
                             "hw1 measures finite data (drop or impute NaN/inf first)")


def check_differentiable_inputs(model: keras.Model, x: Any) -> None:
    """Refuse inputs that have no gradient: integer or boolean x, a model taking integer inputs, or outputs not
    connected to the input by differentiable operations (an Embedding's lookup, a cast to integers).

    Args:
        model: the user's model.
        x: a few input samples.
    """
    dtype = _dtype_of(x)
    if dtype.kind != "f":
        raise ValueError(f"x has dtype {dtype}; sensitivity differentiates the outputs with respect to the inputs, "
                         "which needs floating-point inputs (integer ids, e.g. an Embedding's, have no gradient)")
    try:
        declared = [str(t.dtype) for t in model.inputs]
    except (AttributeError, ValueError):
        declared = []
    if declared and "float" not in declared[0]:
        raise ValueError(f"model {model.name!r} takes {declared[0]} inputs; sensitivity differentiates with respect "
                         "to the inputs, which needs a model with floating-point inputs")
    x = tf.constant(np.asarray(x), hessian.variable_dtype(model))
    with tf.GradientTape() as tape:
        tape.watch(x)
        outputs = model(x, training=False)
    if tape.gradient(outputs, x) is None:
        raise ValueError(f"model {model.name!r}'s outputs do not depend differentiably on its inputs (an Embedding "
                         "lookup or a cast to integers on the way); sensitivity needs an input gradient")


class DataChunks:
    """``(x, y)`` arrays or a tf.data.Dataset, as chunks of (x, labels in hw1's form), every one checked.

    Arrays are checked up front (finite, real, as many labels as samples). A dataset is checked
    as it is read, before any value is returned: finite batches on the first complete pass (the
    passes after it read the same samples; checking each would cost up to a fifth of a
    Hessian-vector product), and on every pass at least one sample and at most
    :data:`MAX_UNKNOWN_SAMPLES` samples when its cardinality is unknown.
    """

    def __init__(self, data: Any, model: keras.Model, kind: str | None, need_labels: bool = True) -> None:
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
                data = data.batch(EVAL_CHUNK)
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
            return hessian.array_batches(*self.arrays)
        return lambda: ((x, self.labels(y.numpy())) for x, y in self._pass())

    def inputs(self) -> Any:
        """A fresh pass over the input chunks only."""
        if self.arrays is not None:
            x = self.arrays[0]
            return (x[i:i + EVAL_CHUNK] for i in range(0, len(x), EVAL_CHUNK))
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


def check_dtype(dtype: Any) -> str | None:
    """``dtype`` if it is None (the model's), "float32" or "float64"; else one ValueError."""
    if dtype is None or (isinstance(dtype, str) and dtype in DTYPES):
        return dtype
    raise ValueError(f"dtype={dtype!r}; choose None (the model's), 'float32' or 'float64'")


def make_problem(model: Any, data: Any, loss: Any, weights: Sequence[Any] | None, dtype: str | None) -> Problem:
    """Check everything a measurement of the loss with respect to the trainable weights takes; one Problem.

    Args:
        model, data, loss, weights, dtype: as :mod:`hw1.measure` takes them.

    Returns:
        The :class:`Problem`; every check (model, dtype, loss, weights, data, one trial forward pass) is done.
    """
    check_model(model)
    check_dtype(dtype)
    resolved = resolve_loss(model, loss)
    theta = check_weights(model, weights)
    chunks = DataChunks(data, model, resolved.kind)
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


def check_argument(name: str, value: Any, ok: bool, accepted: str) -> None:
    if not ok:
        raise ValueError(f"{name}={value!r}; {accepted}")


def check_backend() -> None:
    """Refuse a Keras running on another backend than TensorFlow (hw1 differentiates with tf.GradientTape)."""
    if keras.backend.backend() != "tensorflow":
        raise ValueError(f"Keras runs on the {keras.backend.backend()!r} backend; hw1 measures models on the "
                         "'tensorflow' backend (set KERAS_BACKEND=tensorflow before importing keras)")
