"""hw1's checks of what a measurement is given, each refusing with one line naming the value and what is accepted.

The way scikit-learn's ``check_array`` does: counts are integers (Python or numpy, never booleans) in a stated
range; numbers are finite reals in a stated range; inputs, targets and weights are finite (the first bad sample or
variable is named); memory that a count would allocate is checked against :data:`MAX_BYTES` first. The model, its
loss and its data as one :class:`hw1.measure.adapt.Problem` are :mod:`hw1.measure.adapt`'s.
"""

from __future__ import annotations

from typing import Any, Sequence

import keras
import numpy as np
import tensorflow as tf

from hw1.measure import constants, hessian
from hw1.measure.constants import MAX_GRID_POINTS  # noqa: F401  (checked here; TF-free for the CLI)

__all__ = ["MAX_EXACT_PARAMS", "DTYPES", "MAX_GRID_POINTS", "MAX_PROBES", "MAX_DENSITY_GRID", "MAX_STEPS",
           "MAX_EPSILON", "MAX_BYTES", "check_count", "check_number", "check_choice", "check_flag", "check_bytes",
           "check_model", "check_weights", "check_finite_inputs", "check_input_dtype", "check_differentiable_inputs",
           "check_dtype", "check_argument", "check_backend", "n_trainable", "weights_of"]

MAX_EXACT_PARAMS = 5000  # exact_hessian refuses larger models unless told otherwise (n² float64 entries)
DTYPES = (None, "float32", "float64")
MAX_PROBES = 100_000      # Hutchinson / SLQ probes
MAX_STEPS = 100_000       # Lanczos iterations, SLQ steps, sharpness ascent steps and starts
MAX_DENSITY_GRID = 100_000  # hessian_density grid_points
MAX_EPSILON = 1.0         # sharpness box half-width, relative to |θᵢ| + 1
MAX_BYTES = 2 ** 31       # 2 GiB: the most one array sized by an argument may take (Lanczos basis, SLQ grid, starts)


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

    Checked :data:`hw1.measure.constants.EVAL_CHUNK` samples at a time (memory stays one chunk's).

    Args:
        x: the samples.
        what: "x" or "y", for the message.
        offset: the index of ``x[0]`` in the whole data (for a dataset read batch by batch).

    Raises:
        ValueError: one line naming the first bad sample, its value and where in the sample it is.
    """
    if _dtype_of(x).kind not in "fc":
        return
    chunk = constants.EVAL_CHUNK
    for start in range(0, int(x.shape[0]), chunk):
        part = np.asarray(x[start:start + chunk])
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


def check_dtype(dtype: Any) -> str | None:
    """``dtype`` if it is None (the model's), "float32" or "float64"; else one ValueError."""
    if dtype is None or (isinstance(dtype, str) and dtype in DTYPES):
        return dtype
    raise ValueError(f"dtype={dtype!r}; choose None (the model's), 'float32' or 'float64'")


def check_argument(name: str, value: Any, ok: bool, accepted: str) -> None:
    if not ok:
        raise ValueError(f"{name}={value!r}; {accepted}")


def check_backend() -> None:
    """Refuse a Keras running on another backend than TensorFlow (hw1 differentiates with tf.GradientTape)."""
    if keras.backend.backend() != "tensorflow":
        raise ValueError(f"Keras runs on the {keras.backend.backend()!r} backend; hw1 measures models on the "
                         "'tensorflow' backend (set KERAS_BACKEND=tensorflow before importing keras)")
