"""Keras ``Sequential`` model builders.

Classifiers end in a Dense layer of logits (no softmax): the loss applies the
softmax, and measurements that need probabilities (sensitivity) apply it
explicitly. No model here has dropout or batch normalization, so training and
inference mode compute the same function and every weight is trainable.
The parameter arithmetic (:func:`fc_param_count`, :func:`widths_for_params`) needs no Keras:
an experiment's memory estimate uses it before TensorFlow is imported.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

if TYPE_CHECKING:
    import keras

    from hw1.lab.validate import Dataset

__all__ = ["fc_param_count", "widths_for_params", "spread_kinks", "fc_architecture", "fc_settings", "fc_net",
           "fc_classifier", "cnn", "rnn", "image_classifiers", "describe"]


def fc_param_count(widths: Sequence[int], input_dim: int = 1, output_dim: int = 1) -> int:
    """Number of weights and biases of a fully connected net ``input_dim → widths… → output_dim``."""
    sizes = [input_dim, *widths, output_dim]
    return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))


def widths_for_params(hidden_layers: int, target_params: int, input_dim: int = 1, output_dim: int = 1,
                      tolerance: float = 0.02) -> list[int]:
    """Hidden widths of a ``hidden_layers``-deep fully connected net with about ``target_params`` parameters.

    All hidden layers get the same width ``w`` (the integer whose count is closest to the
    target); the last hidden layer's width is then tuned to come closer still.

    Raises:
        ValueError: no widths reach the target within ``tolerance`` (relative).

    Example:
        >>> widths_for_params(1, 600)
        [200]
    """
    if hidden_layers < 1 or target_params < 1:
        raise ValueError(f"hidden_layers={hidden_layers} and target_params={target_params} must be >= 1")
    count = lambda ws: fc_param_count(ws, input_dim, output_dim)  # noqa: E731
    # params grow monotonically with w; search near the positive root of the quadratic in w
    a, b = hidden_layers - 1, input_dim + 1 + (hidden_layers - 1) + output_dim
    c = output_dim - target_params
    root = (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a) if a else -c / b
    candidates = range(max(1, int(root) - 2), int(root) + 3)
    width = min(candidates, key=lambda w: abs(count([w] * hidden_layers) - target_params))
    # the last width L (1 … 3·width + 1) enters the count linearly, f0 + s·L: the best is next to
    # (target − f0) / s; the same width stays unless another is strictly closer, of two equally close the smaller
    f0 = count([width] * (hidden_layers - 1) + [0])
    s = count([width] * (hidden_layers - 1) + [1]) - f0
    near = (target_params - f0) // s
    gap = lambda last: abs(f0 + s * last - target_params)  # noqa: E731
    last = min(sorted({min(max(v, 1), 3 * width + 1) for v in (near, near + 1)}), key=gap)
    best = [width] * hidden_layers if gap(width) <= gap(last) else [width] * (hidden_layers - 1) + [last]
    if abs(count(best) - target_params) > tolerance * target_params:
        raise ValueError(f"no {hidden_layers}-hidden-layer net has {target_params} parameters within "
                         f"{tolerance:.0%} (closest: {best}, {count(best)} parameters)")
    return best


def spread_kinks(weights: Sequence[np.ndarray], low: float, high: float, seed: int) -> list[np.ndarray]:
    """The weights of a one-input :func:`fc_net` with its first layer's ReLU kinks spread over ``[low, high]``.

    Unit j of the first hidden layer computes relu(w_j·x + b_j), whose kink is at x = −b_j / w_j. With
    Keras's zero biases every kink sits at x = 0, so on inputs in (0, 1] each first-layer unit is linear
    and the whole net starts as one straight line. Here each kink is drawn uniform on ``[low, high]``
    (c_j, from ``numpy.random.default_rng(seed)``) and b_j = −w_j·c_j; the kernel (Glorot uniform) and
    every other weight are kept, so each unit keeps its random slope and facing.

    Args:
        weights: ``model.get_weights()`` of the net, first layer first: a kernel of shape (1, width) and
            its bias of shape (width,).
        low, high: the input domain, in the units of x; ``low < high``.
        seed: the run's seed (the kink positions are a function of it).

    Returns:
        A new list of arrays; only the first bias differs from ``weights``.

    Raises:
        ValueError: the first layer does not take one input, or ``low >= high``, or a first-layer slope is 0.

    Example:
        >>> w = spread_kinks(fc_net([8]).get_weights(), 0.0, 1.0, seed=0)
        >>> bool(np.all((-w[1] / w[0][0] >= 0) & (-w[1] / w[0][0] <= 1)))
        True
    """
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ValueError(f"low={low!r}, high={high!r}: the domain needs finite low < high")
    kernel, bias = np.asarray(weights[0]), np.asarray(weights[1])
    if kernel.ndim != 2 or kernel.shape[0] != 1 or bias.shape != kernel.shape[1:]:
        raise ValueError(f"the first layer has a kernel of shape {kernel.shape} and a bias of shape {bias.shape}; "
                         "spread_kinks needs a one-input Dense layer (kernel (1, width), bias (width,))")
    if np.any(kernel == 0):
        raise ValueError("a first-layer unit has slope 0, so it has no kink to place")
    kinks = np.random.default_rng(int(seed)).uniform(low, high, size=bias.shape)
    return [kernel, (-kernel[0] * kinks).astype(bias.dtype), *[np.asarray(w) for w in weights[2:]]]


def fc_architecture(widths: Sequence[int], input_dim: int = 1, output_dim: int = 1) -> str:
    """The name hw1 gives a fully connected net: ``MLP 1-20-20-1`` (layer sizes, inputs to outputs).

    Example:
        >>> fc_architecture([128], 784, 10)
        'MLP 784-128-10'
    """
    return "MLP " + "-".join(map(str, [input_dim, *widths, output_dim]))


def fc_settings(model: keras.Model) -> dict[str, object]:
    """What settings.json records of a built :func:`fc_net`: ``architecture`` (``MLP 784-128-10``),
    ``activation`` of its hidden layers and ``params``, counted by Keras.

    Example:
        >>> fc_settings(fc_net([20, 20]))
        {'architecture': 'MLP 1-20-20-1', 'activation': 'relu', 'params': 481}
    """
    import keras

    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    inputs = math.prod(model.input_shape[1:])
    return {"architecture": fc_architecture([layer.units for layer in dense[:-1]], inputs, dense[-1].units),
            "activation": dense[0].activation.__name__, "params": model.count_params()}


def fc_net(widths: Sequence[int], input_shape: Sequence[int] = (1,), output_dim: int = 1,
           activation: str = "relu", name: str | None = None, dtype: str = "float32") -> keras.Sequential:
    """Fully connected net: (flatten) → Dense(w, activation) for each width → Dense(output_dim).

    ``dtype="float64"`` builds it in double precision (for exact Hessians of tiny nets).

    Example:
        >>> fc_net([20, 20]).count_params()   # 1-20-20-1
        481
    """
    import keras

    layers: list[keras.layers.Layer] = [keras.Input(tuple(input_shape), dtype=dtype)]
    if len(input_shape) > 1:
        layers.append(keras.layers.Flatten(dtype=dtype))
    layers += [keras.layers.Dense(w, activation=activation, name=f"dense_{i + 1}", dtype=dtype)
               for i, w in enumerate(widths)]
    layers.append(keras.layers.Dense(output_dim, name="output", dtype=dtype))
    return keras.Sequential(layers, name=name or "fc_" + "_".join(map(str, widths)))


def fc_classifier(widths: Sequence[int], dataset: Dataset) -> tuple[keras.Sequential, Callable[[], keras.Sequential]]:
    """A :func:`fc_net` classifier of ``dataset`` (its samples' shape in, logits of its classes out), and the builder
    of fresh ones that :func:`hw1.lab.train.train` takes: one net to measure and describe, fresh ones to train.

    Example:
        >>> model, build = fc_classifier([32], data.load("mnist_bundled"))   # doctest: +SKIP
        >>> fc_settings(model)["architecture"], build() is model              # doctest: +SKIP
        ('MLP 784-32-10', False)
    """
    widths = list(widths)

    def build() -> keras.Sequential:
        return fc_net(widths, dataset.input_shape, dataset.num_classes)

    return build(), build


def cnn(input_shape: Sequence[int], num_classes: int = 10, filters: Sequence[int] = (16, 32),
        dense: int = 64, name: str = "cnn") -> keras.Sequential:
    """Conv(3×3, relu) → MaxPool(2) per entry of ``filters``, then Dense(dense, relu) → logits."""
    import keras

    layers: list[keras.layers.Layer] = [keras.Input(tuple(input_shape))]
    for i, f in enumerate(filters):
        layers += [keras.layers.Conv2D(f, 3, padding="same", activation="relu", name=f"conv_{i + 1}"),
                   keras.layers.MaxPooling2D(2, name=f"pool_{i + 1}")]
    layers += [keras.layers.Flatten(), keras.layers.Dense(dense, activation="relu", name="dense_1"),
               keras.layers.Dense(num_classes, name="output")]
    return keras.Sequential(layers, name=name)


def rnn(input_shape: Sequence[int], num_classes: int = 10, units: int = 64, name: str = "rnn") -> keras.Sequential:
    """An LSTM reading the image one row at a time (28 steps of 28 pixels for MNIST) → logits."""
    import keras

    rows, cols, channels = input_shape
    return keras.Sequential([
        keras.Input(tuple(input_shape)),
        keras.layers.Reshape((rows, cols * channels)),
        keras.layers.LSTM(units, name="lstm"),
        keras.layers.Dense(num_classes, name="output"),
    ], name=name)


def image_classifiers(input_shape: Sequence[int], num_classes: int, dnn_width: int, cnn_filters: Sequence[int],
                      cnn_dense: int, rnn_units: int) -> dict[str, Callable[[], keras.Sequential]]:
    """The three kinds of classifier HW1-1b compares, as builders ``{"dnn", "cnn", "rnn"}``.

    ``dnn``: one hidden Dense layer of ``dnn_width`` (:func:`fc_net`); ``cnn``: :func:`cnn` with
    ``cnn_filters`` and ``cnn_dense``; ``rnn``: an LSTM of ``rnn_units`` reading the image row by
    row (:func:`rnn`). Each call of a builder makes a fresh model.

    Example:
        >>> build = image_classifiers((28, 28, 1), 10, 32, [8, 16], 32, 64)
        >>> {name: b().count_params() for name, b in build.items()}
        {'dnn': 25450, 'cnn': 26698, 'rnn': 24458}
    """
    shape, filters = tuple(input_shape), list(cnn_filters)
    return {"dnn": lambda: fc_net([dnn_width], shape, num_classes, name="dnn"),
            "cnn": lambda: cnn(shape, num_classes, filters, cnn_dense),
            "rnn": lambda: rnn(shape, num_classes, rnn_units)}


def describe(model: keras.Model) -> str:
    """A one-line architecture summary, e.g. ``Dense 1→20→20→1 (relu)``."""
    parts = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Dense":
            parts.append(f"Dense({layer.units})")
        elif kind == "Conv2D":
            parts.append(f"Conv{layer.kernel_size[0]}x{layer.kernel_size[1]}({layer.filters})")
        elif kind == "LSTM":
            parts.append(f"LSTM({layer.units})")
        elif kind == "MaxPooling2D":
            parts.append("MaxPool")
    return " → ".join(parts)
