"""The compiled per-chunk sums behind :class:`hw1.Curvature`: loss, gradient and C·v of one chunk of data.

Each is a function of (θ_block, v, rest, x, y): θ_block the chosen parameters (flat), ``rest``
the other trainable weights (held fixed), the SUMS over the chunk's samples (the caller divides
by the number of samples). Compiled once per (model view, loss, kind, block, input shape) with
a fixed input signature (any chunk size), and kept on the view (:func:`hw1.measure.core.per_model`).

:meth:`_Graphs.block_product` is C·vᵢ for a block of P probe vectors (P, n) in ONE call: for the
Hessian, one forward and one first backward pass of the chunk, kept on a persistent tape, then P
second backward passes; for GGN and Fisher, the P products of one graph. :func:`probe_block`
says how many probes go in one block (the memory rule).
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from hw1.measure.core import forward, per_model, per_sample_loss

__all__ = ["graphs", "probe_block", "PROBE_SAMPLES", "PROBE_BYTES", "MAX_PROBES"]

PROBE_SAMPLES = 32768  # probes × chunk samples per block call: P second backward passes run at once, each
#                        holding about one chunk's activations, so a block holds what one product on P chunks does
PROBE_BYTES = 2 ** 26  # the block of probes (and of products) takes at most 64 MiB
MAX_PROBES = 8  # the shared pass is then ≤ 1/8 of a product: larger blocks save little and cost memory


def probe_block(n: int, chunk: int, itemsize: int) -> int:
    """Probes per block product: min(8, 32768 // chunk samples, 64 MiB // (n · itemsize)), at least 1.

    E.g. a 8,192-sample chunk: 4 probes; 4,000 samples: 8; n = 1.6 M float32 parameters on small
    chunks: 8 (10 by the bytes); 16.8 M: 1 (each probe a plain product).
    """
    return max(1, min(MAX_PROBES, PROBE_SAMPLES // max(int(chunk), 1), PROBE_BYTES // max(int(n) * int(itemsize), 1)))


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
        self.signature = (theta, rest, x, y)
        self._blocks: dict[int, tf.types.experimental.PolymorphicFunction] = {}

    def block_product(self, probes: int):
        """``f(θ_block, V, rest, x, y)``: the chunk's sums C·vᵢ for the (probes, n) rows vᵢ of V (uncompiled)."""
        def product(theta, V, rest, x, y):
            if self.kind != "hessian":  # no shared second-order pass: the P products in one graph
                return tf.stack([self.gauss_newton_product(theta, V[i], rest, x, y) for i in range(probes)])
            with tf.GradientTape(persistent=True) as outer:  # one forward and first backward, kept for the P
                outer.watch(theta)
                _, grad = self.gradient_sum(theta, rest, x, y)
                directional = [tf.reduce_sum(grad * tf.stop_gradient(V[i])) for i in range(probes)]
            return tf.stack([outer.gradient(d, theta) for d in directional])  # as hessian_product, P times

        return product

    def compiled_block_product(self, probes: int):
        """:meth:`block_product` compiled once per block size (a fixed signature, any chunk size)."""
        if probes not in self._blocks:
            theta, rest, x, y = self.signature
            block = tf.TensorSpec([probes, theta.shape[0]], theta.dtype)
            self._blocks[probes] = tf.function(self.block_product(probes),
                                               input_signature=[theta, block, rest, x, y])
        return self._blocks[probes]

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
