"""The engines of the generalization measures (HW1-3): interpolation points, sensitivity, sharpness.

Every measurement here is of a trained Keras classifier given as ``(model, weights)``:
``model`` is the architecture (its own variable values are not used) and ``weights`` the
trainable arrays in ``model.trainable_variables`` order. Losses are the mean over a full set, in
inference mode, exactly :func:`hw1.measure.core.loss_fn`; many parameter vectors of one model are
evaluated in one batched call (:func:`hw1.measure.core.map_runs`).

- :func:`interpolation_points`: the weights θα = (1 − α)·θ1 + α·θ2 of every α, stacked.
- :func:`input_jacobian_norms`: Novak et al. (2018) sensitivity per sample, ‖∂ softmax(f(x)) / ∂x‖_F.
- :func:`sharpness_on_batches`: Keskar et al. (2017) ε-sharpness of the training loss, in percent.

The public measurements (:func:`hw1.sensitivity`, :func:`hw1.sharpness`, :func:`hw1.interpolate`) run on these.
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from hw1.measure import constants
from hw1.measure.core import Weights, chunk_means, forward, labels_as, map_runs, per_model, per_sample_loss, stack
from hw1.measure.hessian import Batches



# ---------------------------------------------------------------- interpolation

def interpolation_points(start: Weights, end: Weights, alphas: Sequence[float]) -> list[np.ndarray]:
    """θα = (1 − α)·θ1 + α·θ2 for every α, stacked along a leading run axis (mixed in float64)."""
    if len(start) != len(end) or any(np.shape(a) != np.shape(b) for a, b in zip(start, end)):
        raise ValueError("start and end must be weights of the same architecture")
    return stack([[((1.0 - a) * np.asarray(s, np.float64) + a * np.asarray(e, np.float64)).astype(np.asarray(s).dtype)
                   for s, e in zip(start, end)] for a in np.asarray(alphas, np.float64)])


# ---------------------------------------------------------------- sensitivity

@per_model
def _jacobian_norms(model: keras.Model, softmax: bool = True) -> tf.types.experimental.GenericFunction:
    def norms(weights: list[tf.Tensor], x: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            tape.watch(x)
            outputs = forward(model, weights, x)
            probabilities = tf.nn.softmax(outputs, axis=-1) if softmax else outputs
        jacobian = tape.batch_jacobian(probabilities, x)  # (n, classes, *input_shape)
        return tf.sqrt(tf.reduce_sum(tf.square(tf.reshape(jacobian, [tf.shape(x)[0], -1])), axis=1))

    return tf.function(norms, reduce_retracing=True)


def input_jacobian_norms(model: keras.Model, weights: Weights, x: np.ndarray, *, softmax: bool = True) -> np.ndarray:
    """Per sample, the Frobenius norm of the Jacobian of the OUTPUT probabilities w.r.t. the INPUT.

    ‖∂ softmax(f(x)) / ∂x‖_F, summed over every (class, input element) pair; units: probability
    per unit of input (pixel intensity on [0, 1] for the image sets). Not the loss, not the
    parameters: labels play no part. ``softmax=False``: ‖∂f(x)/∂x‖_F of the outputs as they are
    (a model that already outputs probabilities, or a regression model).
    """
    dtype = model.trainable_variables[0].dtype if model.trainable_variables else model.compute_dtype  # frozen model
    weights = [tf.constant(w, dtype) for w in weights]
    fn = _jacobian_norms(model, softmax)
    chunk = constants.JACOBIAN_CHUNK
    return np.concatenate([fn(weights, tf.constant(x[i:i + chunk], dtype)).numpy()
                           for i in range(0, len(x), chunk)]).astype(np.float64)


# ---------------------------------------------------------------- sharpness

@per_model
def _loss_and_gradient_sums(model: keras.Model, loss: str) -> tf.types.experimental.GenericFunction:
    def one_run(weights: list[tf.Tensor], x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, list[tf.Tensor]]:
        with tf.GradientTape() as tape:
            tape.watch(weights)
            total = tf.reduce_sum(per_sample_loss(forward(model, weights, x), y, loss))
        return total, tape.gradient(total, weights)

    return tf.function(lambda w, x, y: map_runs(lambda ww: one_run(list(ww), x, y), w), reduce_retracing=True)


def sharpness_on_batches(model: keras.Model, weights: Weights, batches: Batches, loss: str = "sparse_ce",
                         epsilon: float = 1e-3, steps: int = 20, starts: int = 1, seed: int = 0) -> float:
    """ε-sharpness (Keskar et al. 2017) of the mean loss L over every chunk of ``batches`` at θ = ``weights``, in %:

        100 · (max over the box |Δθᵢ| ≤ ε(|θᵢ| + 1) of L(θ + Δθ) − L(θ)) / (1 + L(θ)),

    over ALL parameters (Keskar's full-space variant, A = I); what :func:`hw1.sharpness` computes. The maximum is
    searched by projected sign-gradient ascent with full-set gradients: each step moves every coordinate by its box
    half-width ε(|θᵢ| + 1) in the direction of its gradient's sign, then clips back into the box (from Δθ = 0 the
    first step goes to the corner that maximizes the linearized loss). It starts from Δθ = 0 and from
    ``starts − 1`` random points of the box (seeded by ``seed``), all run together as one batched graph. The
    largest loss seen at any iterate is taken as the maximum, a lower bound of the true one. Since Δθ = 0 is seen,
    the result is ≥ 0, and exactly 0 for ε = 0.
    """
    if not (np.isfinite(epsilon) and epsilon >= 0):
        raise ValueError(f"epsilon={epsilon!r} must be a non-negative number")
    if steps < 0 or starts < 1:
        raise ValueError(f"steps={steps!r} must be >= 0 and starts={starts!r} >= 1")
    dtype = model.trainable_variables[0].dtype
    theta = [np.asarray(w, np.float64) for w in weights]
    bound = [epsilon * (np.abs(w) + 1.0) for w in theta]
    rng = np.random.default_rng(seed)
    delta = [np.stack([np.zeros_like(b)] + [rng.uniform(-b, b) for _ in range(starts - 1)]) for b in bound]
    fn = _loss_and_gradient_sums(model, loss)

    def loss_and_gradient(delta: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        stacked = [tf.constant(t + d, dtype) for t, d in zip(theta, delta)]
        def sums(x: np.ndarray, y: np.ndarray) -> list[tf.Tensor]:
            total, grads = fn(stacked, tf.cast(x, dtype), labels_as(y, loss, dtype))
            return [total, *grads]

        total, *grads = chunk_means(sums, batches())
        if not np.all(np.isfinite(total)):  # max() would skip a NaN and report the box as flat
            raise ValueError(f"the loss is not finite inside the box epsilon={epsilon:g} (an overflow in {dtype}); "
                             "use a smaller epsilon or dtype='float64'")
        return total, grads

    values, grads = loss_and_gradient(delta)
    base, best = values[0], values.max()
    for _ in range(steps):
        delta = [np.clip(d + b * np.sign(g), -b, b) for d, b, g in zip(delta, bound, grads)]
        values, grads = loss_and_gradient(delta)
        best = max(best, values.max())
    return float(100.0 * (best - base) / (1.0 + base))
