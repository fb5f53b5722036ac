"""The compiled step of hw1's trainer: what one optimizer step needs, and one compiled loop per model shape.

:class:`TrainConfig` is what the step needs (optimizer, rate and its schedule, loss, objective, batch size)
and nothing else: evaluations, stopping rules, snapshots, step records and progress are callbacks
(:mod:`hw1.lab.train_callbacks`) run by the loop of :func:`hw1.lab.train.train` between compiled chunks of epochs.

:class:`CompiledLoop` holds R stacked runs of one architecture and the ``tf.function`` that runs a chunk of
epochs on them. Models of one shape share ONE such loop (:func:`compiled_loop`): the weights, the optimizer's
slots, the learning rate, momentum, schedule, seeds and data are tf.Variables or arguments of the graph,
assigned afresh by each training, never constants captured in it, so a second training of the same shape
(another learning rate, another seed, other labels) runs the graph already traced. The mini-batch size is the
one exception: it fixes the shapes of the step, and each distinct size traces once (a static batch shape is
~20 % cheaper per step at small batches than a dynamic one).
"""

from __future__ import annotations

import collections
import dataclasses
import json
from dataclasses import dataclass
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from hw1.measure.core import LOSSES, Weights, evaluator, forward, labels_as, map_runs, per_sample_loss, stack

__all__ = ["TrainConfig", "learning_rate_at", "CompiledLoop", "compiled_loop", "release_compiled",
           "OPTIMIZERS", "OBJECTIVES", "SCHEDULES"]

OPTIMIZERS = ("adam", "sgd")
OBJECTIVES = ("loss", "grad_norm_sq")
SCHEDULES = ("constant", "step", "cosine")
SHARED_LOOPS = 4  # compiled loops kept for reuse (least recently used first out)


@dataclass(frozen=True)
class TrainConfig:
    """What the optimizer step needs.

    Args:
        epochs: passes over the training set (full batch: optimizer steps); the cap of the loop and the
            length of the cosine schedule.
        learning_rate: the optimizer's (initial) step size.
        batch_size: samples per step; ``None`` or ≥ the training-set size means full batch.
        optimizer: ``"adam"`` or ``"sgd"``.
        momentum: SGD's heavy-ball momentum μ ∈ [0, 1), Keras's semantics: m ← μ·m − η·g, θ ← θ + m
            (0: plain SGD). Only with ``optimizer="sgd"``.
        schedule: the learning rate η over the optimizer steps k = 0, 1, … (:func:`learning_rate_at`):
            ``"constant"``; ``"step"``: multiplied by ``decay_factor`` at the start of each epoch in
            ``decay_epochs`` (Zhang et al.'s step decay); ``"cosine"``: from ``learning_rate`` down to
            ``decay_factor · learning_rate`` at the cap (``epochs``) along a half cosine
            (``keras.optimizers.schedules.CosineDecay`` with ``alpha=decay_factor``).
        decay_epochs: epochs (counted from 0) at whose first step the step schedule multiplies η by
            ``decay_factor``; strictly increasing positive integers; only with ``schedule="step"``.
        decay_factor: step: the factor at each decay epoch, in (0, 1]; cosine: the final rate as a fraction
            of ``learning_rate``, in [0, 1].
        loss: ``"mse"`` (regression) or ``"sparse_ce"`` (logits vs integer labels).
        objective: ``"loss"`` or ``"grad_norm_sq"`` (minimize ‖∇L‖² of the batch loss).
    """

    epochs: int
    learning_rate: float = 1e-3
    batch_size: int | None = None
    optimizer: str = "adam"
    momentum: float = 0.0
    schedule: str = "constant"
    decay_epochs: tuple[int, ...] = ()
    decay_factor: float = 0.1
    loss: str = "sparse_ce"
    objective: str = "loss"

    def __post_init__(self) -> None:
        for name, allowed in (("loss", LOSSES), ("optimizer", OPTIMIZERS), ("objective", OBJECTIVES),
                              ("schedule", SCHEDULES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r}; choose one of {', '.join(allowed)}")
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, (int, np.integer)) or value < (0 if name == "epochs" else 1)):
                raise ValueError(f"{name}={value!r} must be a {'non-negative' if name == 'epochs' else 'positive'} "
                                 "integer")
        if not (np.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError(f"learning_rate={self.learning_rate!r} must be a positive number")
        if not (isinstance(self.momentum, (int, float)) and 0 <= self.momentum < 1):
            raise ValueError(f"momentum={self.momentum!r} must be a number in [0, 1)")
        if self.momentum and self.optimizer != "sgd":
            raise ValueError(f"momentum={self.momentum!r} is SGD's; optimizer={self.optimizer!r} takes momentum=0")
        object.__setattr__(self, "decay_epochs", tuple(self.decay_epochs))
        epochs = self.decay_epochs
        if self.schedule == "step":
            if not epochs or any(not isinstance(e, (int, np.integer)) or e < 1 for e in epochs) or \
                    any(b <= a for a, b in zip(epochs, epochs[1:])):
                raise ValueError(f"decay_epochs={epochs!r}: the step schedule needs strictly increasing positive "
                                 "integers")
            if not (np.isfinite(self.decay_factor) and 0 < self.decay_factor <= 1):
                raise ValueError(f"decay_factor={self.decay_factor!r} must be in (0, 1] for the step schedule")
        elif epochs:
            raise ValueError(f"decay_epochs={epochs!r} is for schedule='step', not schedule={self.schedule!r}")
        if self.schedule == "cosine" and not (np.isfinite(self.decay_factor) and 0 <= self.decay_factor <= 1):
            raise ValueError(f"decay_factor={self.decay_factor!r} must be in [0, 1] for the cosine schedule")

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)

    @property
    def graph_kind(self) -> tuple[object, ...]:
        """What the compiled step's ops depend on; every other field is a value the graph reads."""
        return (self.optimizer, bool(self.momentum), self.schedule, len(self.decay_epochs), self.loss,
                self.objective)


def learning_rate_at(config: TrainConfig, step: int | np.ndarray, steps_per_epoch: int) -> float | np.ndarray:
    """The learning rate of optimizer step ``step`` (counted from 0, as Keras counts ``iterations``).

    Args:
        config: the schedule (``schedule``, ``learning_rate``, ``decay_epochs``, ``decay_factor``, ``epochs``).
        step: the step index, or an array of them.
        steps_per_epoch: optimizer steps per epoch (1 for full batch).

    Returns:
        η(step) in the optimizer's units (a float, or an array like ``step``): ``constant``: the learning rate;
        ``step``: η₀·f^(number of decay epochs e with step ≥ e·steps_per_epoch); ``cosine``:
        η₀·((1 − f)·½(1 + cos(π·min(step, K)/K)) + f), K = epochs·steps_per_epoch.

    Example:
        >>> c = TrainConfig(epochs=10, learning_rate=0.1, optimizer="sgd", schedule="step", decay_epochs=(5,))
        >>> float(learning_rate_at(c, 49, 10)), float(learning_rate_at(c, 50, 10))
        (0.1, 0.010000000000000002)
    """
    k = np.asarray(step, dtype=np.float64)
    lr, f = float(config.learning_rate), float(config.decay_factor)
    if config.schedule == "constant":
        rate = np.full_like(k, lr)
    elif config.schedule == "step":
        passed = sum((k >= e * steps_per_epoch).astype(np.float64) for e in config.decay_epochs)
        rate = lr * f ** passed
    else:
        total = max(1, config.epochs * steps_per_epoch)
        rate = lr * ((1 - f) * 0.5 * (1 + np.cos(np.pi * np.minimum(k, total) / total)) + f)
    return float(rate) if np.ndim(step) == 0 else rate


class _Optimizer:
    """Adam, plain SGD or SGD with momentum as one fused kernel per variable (``ResourceApplyAdam``,
    ``ResourceApplyGradientDescent``, ``ResourceApplyKerasMomentum``).

    The same update as ``keras.optimizers.Adam`` / ``SGD(momentum=…)`` with their defaults (β₁ = 0.9,
    β₂ = 0.999, ε = 1e-7, bias correction folded into the step size; m ← μ·m − η·g, θ ← θ + m), but a handful
    of graph ops per step instead of about a dozen per variable. The hyperparameters are variables
    (:meth:`reset` assigns them): a constant rate in the variables' dtype, a scheduled one computed in float64
    from the step index (:func:`learning_rate_at`) and cast.
    """

    BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-7

    def __init__(self, config: TrainConfig, variables: Sequence[tf.Variable]) -> None:
        self.kind, self.schedule, self.momentum_on = config.optimizer, config.schedule, bool(config.momentum)
        dtype = variables[0].dtype
        self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.rate = tf.Variable(0, dtype=dtype, trainable=False)  # the constant rate, as Keras keeps it
        self.rate64 = tf.Variable(0, dtype=tf.float64, trainable=False)
        self.factor = tf.Variable(0, dtype=tf.float64, trainable=False)
        self.total = tf.Variable(0, dtype=tf.float64, trainable=False)  # cosine: steps to the cap
        self.decays = tf.Variable(tf.zeros([len(config.decay_epochs)], tf.float64), trainable=False)  # step: at steps
        self.momentum = tf.Variable(0, dtype=dtype, trainable=False)
        self.slots = [[tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
                      for _ in range(2 if self.kind == "adam" else int(self.momentum_on))]

    def reset(self, config: TrainConfig, steps_per_epoch: int) -> None:
        """Start afresh with ``config``'s hyperparameters."""
        self.iterations.assign(0)
        for slot in self.slots:
            for m in slot:
                m.assign(tf.zeros_like(m))
        self.rate.assign(config.learning_rate)
        self.rate64.assign(config.learning_rate)
        self.factor.assign(config.decay_factor)
        self.total.assign(float(max(1, config.epochs * steps_per_epoch)))
        self.decays.assign([float(e * steps_per_epoch) for e in config.decay_epochs])
        self.momentum.assign(config.momentum)

    def _rate(self, step: tf.Tensor, dtype: tf.DType) -> tf.Tensor:
        """η of the step with index ``step`` − 1 (the graph twin of :func:`learning_rate_at`)."""
        if self.schedule == "constant":
            return self.rate.value()
        k = tf.cast(step - 1, tf.float64)
        lr, f = self.rate64.value(), self.factor.value()
        if self.schedule == "step":
            passed = tf.add_n([tf.cast(k >= self.decays[i], tf.float64) for i in range(int(self.decays.shape[0]))])
            rate = lr * tf.pow(f, passed)
        else:
            total = self.total.value()
            rate = lr * ((1 - f) * 0.5 * (1 + tf.cos(np.pi * tf.minimum(k, total) / total)) + f)
        return tf.cast(rate, dtype)

    def apply(self, grads: Sequence[tf.Tensor], variables: Sequence[tf.Variable]) -> None:
        step = self.iterations.assign_add(1)
        dtype = variables[0].dtype
        lr = self._rate(step, dtype)
        if self.kind == "sgd":
            if self.momentum_on:
                momentum = self.momentum.value()
                for var, m, grad in zip(variables, self.slots[0], grads):
                    tf.raw_ops.ResourceApplyKerasMomentum(var=var.handle, accum=m.handle, lr=lr, grad=grad,
                                                          momentum=momentum)
                return
            for var, grad in zip(variables, grads):
                tf.raw_ops.ResourceApplyGradientDescent(var=var.handle, alpha=lr, delta=grad)
            return
        t = tf.cast(step, dtype)
        beta_1, beta_2 = tf.constant(self.BETA_1, dtype), tf.constant(self.BETA_2, dtype)
        beta_1_power, beta_2_power = tf.pow(beta_1, t), tf.pow(beta_2, t)
        epsilon = tf.constant(self.EPSILON, dtype)
        for var, m, v, grad in zip(variables, self.slots[0], self.slots[1], grads):
            tf.raw_ops.ResourceApplyAdam(var=var.handle, m=m.handle, v=v.handle, beta1_power=beta_1_power,
                                         beta2_power=beta_2_power, lr=lr, beta1=beta_1, beta2=beta_2,
                                         epsilon=epsilon, grad=grad)


class CompiledLoop:
    """R stacked runs of one architecture, their optimizer, and the compiled chunk of epochs that trains them.

    :meth:`start` loads a training (weights, hyperparameters, seeds, data); :meth:`epochs` runs ``count``
    epochs from ``first_epoch`` in one graph call and returns the per-step (batch loss, ‖∇ objective‖) of
    each run when ``record`` (else two empty arrays). A run marked ``diverged`` or ``done`` has its gradient
    masked; a run whose objective becomes NaN/inf is marked diverged by the step itself.
    """

    def __init__(self, model: keras.Model, config: TrainConfig, runs: int, full_batch: bool, record: bool) -> None:
        self.model, self.loss, self.objective, self.runs = model, config.loss, config.objective, runs
        self.full_batch, self.record, self.in_use = full_batch, record, False
        self.dtype = model.trainable_variables[0].dtype
        self.variables = [tf.Variable(tf.zeros([runs, *v.shape], self.dtype)) for v in model.trainable_variables]
        self.optimizer = _Optimizer(config, self.variables)
        self.diverged = tf.Variable(tf.zeros([runs], tf.bool))
        self.done = tf.Variable(tf.zeros([runs], tf.bool))  # met its stopping rule: frozen, not trained on
        self.evaluator = evaluator(model, config.loss)
        # full batch: `count` is a Python int (one trace per distinct chunk length, static shapes).
        # XLA (jit_compile) was measured 8x SLOWER here for 100-step chunks: not used
        self._run = tf.function(self._full_batch_epochs if full_batch else self._epochs)

    def start(self, config: TrainConfig, weights: Sequence[Weights], seeds: Sequence[int], x: np.ndarray,
              y: np.ndarray, state: Sequence[np.ndarray] = ()) -> None:
        """Load one training: initial weights per run, hyperparameters, seeds, the training set, and the
        non-trainable state of the model the caller built (an RNN's seed generator, …)."""
        for var, value in zip(self.variables, stack(weights)):
            var.assign(value)
        for var, value in zip(self.model.non_trainable_variables, state):
            var.assign(value)
        self.x, self.y = tf.constant(x, self.dtype), labels_as(y, config.loss, self.dtype)
        self.n = int(x.shape[0])
        self.batch = min(config.batch_size or self.n, self.n)
        self.steps_per_epoch = -(-self.n // self.batch)
        self.seeds = tf.constant(list(seeds), tf.int64)
        self.optimizer.reset(config, self.steps_per_epoch)
        self.diverged.assign(tf.zeros([self.runs], tf.bool))
        self.done.assign(tf.zeros([self.runs], tf.bool))

    def epochs(self, first_epoch: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        if self.full_batch:
            losses, norms = self._run(self.x, self.y, count)
        else:
            losses, norms = self._run(self.x, self.y, self.seeds, tf.constant(first_epoch), tf.constant(count),
                                      self.batch)
        return losses.numpy(), norms.numpy()

    # -- one step, inside the graph
    def _objective(self, weights: list[tf.Tensor], x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """(objective, loss) of one run on one batch."""
        def batch_loss(w: list[tf.Tensor]) -> tf.Tensor:
            return tf.reduce_mean(per_sample_loss(forward(self.model, w, x), y, self.loss))

        if self.objective == "loss":
            value = batch_loss(weights)
            return value, value
        with tf.GradientTape() as inner:
            inner.watch(weights)
            value = batch_loss(weights)
        grads = inner.gradient(value, weights)
        return tf.add_n([tf.reduce_sum(tf.square(g)) for g in grads]), value

    def _step(self, x: tf.Tensor, y: tf.Tensor, shared: bool) -> tuple[tf.Tensor, tf.Tensor] | None:
        """One optimizer step of every run on its batch (``shared``: one batch for all runs); the batch loss
        and ‖∇‖ of the objective per run if steps are recorded."""
        with tf.GradientTape() as tape:
            if shared:
                objective, loss = map_runs(lambda w: self._objective(w, x, y), self.variables)
            else:
                objective, loss = map_runs(self._objective, self.variables, x, y)
            finite = tf.math.is_finite(objective) & ~self.diverged & ~self.done
            total = tf.reduce_sum(tf.where(finite, objective, tf.zeros_like(objective)))
        grads = tape.gradient(total, self.variables)
        self.optimizer.apply(grads, self.variables)
        self.diverged.assign(self.diverged | (~tf.math.is_finite(objective) & ~self.done))
        if not self.record:
            return None
        if self.objective == "grad_norm_sq":
            grad_norm = tf.sqrt(tf.maximum(objective, 0.0))
        else:
            grad_norm = tf.sqrt(tf.add_n([tf.reduce_sum(tf.square(g), axis=list(range(1, len(g.shape))))
                                          for g in grads]))
        return loss, grad_norm

    def _full_batch_epochs(self, x: tf.Tensor, y: tf.Tensor, count: int) -> tuple[tf.Tensor, tf.Tensor]:
        losses = tf.TensorArray(self.dtype, size=count if self.record else 0, element_shape=[self.runs])
        norms = tf.TensorArray(self.dtype, size=count if self.record else 0, element_shape=[self.runs])
        for e in tf.range(count):
            out = self._step(x, y, shared=True)
            if self.record:
                losses, norms = losses.write(e, out[0]), norms.write(e, out[1])
        return losses.stack(), norms.stack()

    def _epochs(self, x: tf.Tensor, y: tf.Tensor, seeds: tf.Tensor, first_epoch: tf.Tensor, count: tf.Tensor,
                batch: int) -> tuple[tf.Tensor, tf.Tensor]:
        """``count`` epochs of mini-batches of ``batch`` samples (a Python int: one trace per batch size).

        Every batch has a static shape: the epoch's ⌊n / batch⌋ full batches in a graph loop, then its last,
        shorter batch (n mod batch samples) by a second copy of the step. A dynamic batch dimension cost ~20 %
        more per step at batch 16-64 (``benchmarks/bench_small_batch.py``): ``vectorized_map``'s shape ops
        then run at every step instead of being folded once."""
        n = int(x.shape[0])
        full, rest = divmod(n, batch)
        losses = tf.TensorArray(self.dtype, size=0, dynamic_size=True, element_shape=[self.runs])
        norms = tf.TensorArray(self.dtype, size=0, dynamic_size=True, element_shape=[self.runs])
        i = tf.constant(0)
        for e in tf.range(count):
            epoch = tf.cast(first_epoch + e, tf.int64)
            order = tf.stack([tf.argsort(tf.random.stateless_uniform([n], tf.stack([seeds[r], epoch])))
                              for r in range(self.runs)])
            for s in tf.range(full):
                idx = tf.slice(order, tf.stack([0, s * batch]), [self.runs, batch])
                out = self._step(tf.gather(x, idx), tf.gather(y, idx), shared=False)
                if self.record:
                    losses, norms, i = losses.write(i, out[0]), norms.write(i, out[1]), i + 1
            if rest:
                idx = order[:, full * batch:]
                out = self._step(tf.gather(x, idx), tf.gather(y, idx), shared=False)
                if self.record:
                    losses, norms, i = losses.write(i, out[0]), norms.write(i, out[1]), i + 1
        return losses.stack(), norms.stack()


_LOOPS: collections.OrderedDict[tuple[object, ...], CompiledLoop] = collections.OrderedDict()


def _architecture(model: keras.Model) -> object:
    """A key equal for two models that compute the same function of their weights: the configuration of a
    ``Sequential`` of Keras's own layers without the layers' names; any other model is its own key (a
    custom layer's configuration need not describe what it computes)."""
    if type(model) is not keras.Sequential or any(not type(layer).__module__.startswith("keras.")
                                                  for layer in model.layers):
        return ("model", id(model))

    def unnamed(value: object) -> object:
        if isinstance(value, dict):
            return {k: unnamed(v) for k, v in value.items() if k != "name"}
        return [unnamed(v) for v in value] if isinstance(value, (list, tuple)) else value

    shapes = [(tuple(v.shape), str(v.dtype)) for v in model.variables]
    return json.dumps([unnamed(model.get_config()), shapes], sort_keys=True, default=str)


def compiled_loop(model: keras.Model, config: TrainConfig, runs: int, full_batch: bool,
                  record: bool) -> CompiledLoop:
    """The compiled loop for ``runs`` runs of ``model``'s architecture, traced once and shared by every
    training of that shape and graph kind; the :data:`SHARED_LOOPS` most recent are kept."""
    key = (_architecture(model), runs, full_batch, record, config.graph_kind)
    loop = _LOOPS.get(key)
    if loop is not None and loop.in_use:  # a training inside a training (a callback's): its own loop
        return CompiledLoop(model, config, runs, full_batch, record)
    loop = _LOOPS.pop(key, None) or CompiledLoop(model, config, runs, full_batch, record)
    _LOOPS[key] = loop
    while len(_LOOPS) > SHARED_LOOPS:
        _LOOPS.popitem(last=False)
    return loop


def release_compiled() -> None:
    """Drop every shared compiled loop (their graphs and variables), e.g. between two experiments."""
    _LOOPS.clear()
