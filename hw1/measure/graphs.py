"""The compiled per-chunk sums behind :class:`hw1.Curvature`: loss, gradient and C·v of one chunk of data.

Each is a function of (θ_block, v, rest, x, y): θ_block the chosen parameters (flat), ``rest``
the other trainable weights (held fixed), the SUMS over the chunk's samples (the caller divides
by the number of samples). Compiled once per (model view, loss, kind, block, input shape) with
a fixed input signature (any chunk size), and kept on the view (:func:`hw1.measure.core.per_model`).
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from hw1.measure.core import forward, per_model, per_sample_loss

__all__ = ["graphs"]


class _Graphs:
    """The per-chunk sums of one (model view, loss, curvature kind, block) as functions of (θ_block, v, rest, x, y)."""

    def __init__(self, view: keras.Model, loss: str, kind: str, index: tuple[int, ...], x_tail: tuple,
                 y_tail: tuple) -> None:
        self.view, self.loss, self.kind, self.index = view, loss, kind, index
        variables = view.trainable_variables
        self.dtype = variables[0].dtype
        self.shapes = [tuple(variables[i].shape) for i in index]
        self.sizes = [int(np.prod(shape)) for shape in self.shapes]
        self.count = len(variables)
        theta = tf.TensorSpec([sum(self.sizes)], self.dtype)
        rest = [tf.TensorSpec(v.shape, self.dtype) for i, v in enumerate(variables) if i not in index]
        x = tf.TensorSpec([None, *x_tail], view.compute_dtype)
        y = tf.TensorSpec([None, *y_tail], self.dtype if loss == "mse" else tf.int32)
        product = self.hessian_product if kind == "hessian" else self.gauss_newton_product
        self.product = product
        self.compiled_product = tf.function(product, input_signature=[theta, theta, rest, x, y])
        self.compiled_gradient = tf.function(self.gradient_sum, input_signature=[theta, rest, x, y])

    def weights(self, theta: tf.Tensor, rest: Sequence[tf.Tensor]) -> list[tf.Tensor]:
        pieces = iter([tf.reshape(p, s) for p, s in zip(tf.split(theta, self.sizes), self.shapes)])
        others = iter(rest)
        return [next(pieces) if i in self.index else next(others) for i in range(self.count)]

    def loss_sum(self, theta, rest, x, y):
        return tf.reduce_sum(per_sample_loss(forward(self.view, self.weights(theta, rest), x), y, self.loss))

    def gradient_sum(self, theta, rest, x, y):
        with tf.GradientTape() as tape:
            tape.watch(theta)
            value = self.loss_sum(theta, rest, x, y)
        return value, tape.gradient(value, theta)

    def hessian_product(self, theta, v, rest, x, y):
        with tf.GradientTape() as outer:
            outer.watch(theta)
            _, grad = self.gradient_sum(theta, rest, x, y)
            directional = tf.reduce_sum(grad * tf.stop_gradient(v))
        return outer.gradient(directional, theta)

    def gauss_newton_product(self, theta, v, rest, x, y):
        with tf.GradientTape() as tape:
            tape.watch(theta)
            with tf.autodiff.ForwardAccumulator(theta, v) as accumulator:
                z = forward(self.view, self.weights(theta, rest), x)
        jv = accumulator.jvp(z, unconnected_gradients=tf.UnconnectedGradients.ZERO)  # J·v
        return tape.gradient(z, theta, output_gradients=self.output_curvature(tf.stop_gradient(z), y, jv))

    def output_curvature(self, z: tf.Tensor, y: tf.Tensor, jv: tf.Tensor) -> tf.Tensor:
        """H_out·(J·v) per sample: the Hessian of the loss in the outputs z (GGN), or r·rᵀ with r = ∂ℓ/∂z (Fisher)."""
        if self.loss == "mse":
            scale = 2.0 / tf.cast(tf.shape(z)[-1], z.dtype)  # ℓ = mean over K outputs of (z − y)²
            if self.kind == "ggn":
                return scale * jv
            residual = scale * (z - y)
        else:
            p = tf.nn.softmax(z)  # ℓ = −log softmax(z)_y
            if self.kind == "ggn":
                return p * jv - p * tf.reduce_sum(p * jv, -1, keepdims=True)
            residual = p - tf.one_hot(y, tf.shape(z)[-1], dtype=z.dtype)
        return residual * tf.reduce_sum(residual * jv, -1, keepdims=True)


@per_model  # a new Curvature of the same model, loss, kind, block and input shape reuses these graphs
def graphs(view: keras.Model, loss: str, kind: str, index: tuple[int, ...], x_tail: tuple, y_tail: tuple) -> _Graphs:
    return _Graphs(view, loss, kind, index, x_tail, y_tail)
