"""The one training loop of hw1.

:func:`train` trains R independent copies ("runs") of one Keras ``Sequential``
architecture at once: every trainable variable is stacked along a leading run
axis, each run initialized from its own seed, and the model's
``stateless_call`` is mapped over that axis (``tf.vectorized_map``). Per-run
losses are summed for one ``GradientTape``, which gives each run exactly its
own gradient; Adam and SGD update element-wise, so one optimizer over the
stacked variables equals one optimizer per run. With R = 1 it is plain
single-model training. Mini-batch order depends only on (run seed, epoch), so a
run computes the same numbers whether it is trained alone or beside others.

The epochs between two evaluations run inside one ``tf.function`` (a
``tf.range`` loop): no Python per step. Full-set metrics are computed in
inference mode at epoch 0 and every ``eval_every`` epochs.

Objectives: ``"loss"`` (the training loss) or ``"grad_norm_sq"`` (‖∇L‖², by
double back-propagation: used to walk to a point where the gradient vanishes).

Optimizers: Adam, or SGD with optional (heavy-ball) momentum, each one fused kernel per
variable, with a constant learning rate or a step / cosine schedule over the optimizer
steps (:func:`learning_rate_at`), the same updates as ``keras.optimizers.Adam`` / ``SGD``
with a ``keras.optimizers.schedules`` schedule.

A run whose objective becomes NaN/inf is marked diverged and frozen (its
gradient is masked); the other runs go on.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from hw1.measure.core import (LOSSES, Evaluator, Weights, check_stateless, forward, labels_as, map_runs,
                      per_sample_loss, stack, unstack)
from hw1.lab.data import Dataset
from hw1.report.prose import duration

__all__ = ["TrainConfig", "TrainResult", "train", "initial_weights", "run_seeds", "median_run", "learning_rate_at",
           "OPTIMIZERS", "OBJECTIVES", "SCHEDULES"]

OPTIMIZERS = ("adam", "sgd")
OBJECTIVES = ("loss", "grad_norm_sq")
SCHEDULES = ("constant", "step", "cosine")
REPORT_SECONDS = 20.0  # a long training prints a progress line about this often

Builder = Callable[[], keras.Model]


@dataclass(frozen=True)
class TrainConfig:
    """How to train.

    Args:
        epochs: passes over the training set (full-batch: optimizer steps).
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
        eval_every: epochs between full-set evaluations (history rows).
        snapshot_every: epochs between weight snapshots (epoch 0 included); ``None`` for none.
        record_steps: keep the per-step batch loss and gradient norm.
        eval_grad_norm: measure the full-set ‖∇L‖ at each evaluation (a ``grad_norm`` history
            column). It costs a backward pass over the training set, about as much as one epoch
            of training, so it is off unless asked for or needed by ``stop_grad_norm``.
        stop_train_acc: stop EACH run at the first evaluation where its full-set training accuracy is
            ≥ this, as ``stop_train_loss`` does.
        stop_train_loss: stop EACH run at the first evaluation where its full-set training loss is ≤ this:
            from then on it is frozen (its weights and history end there, like a diverged run's), while
            the others go on; training ends when no live run is left. ``TrainResult.stopped`` records the
            epoch. A run that never gets there trains for ``epochs`` (the cap). With both stopping rules
            given, a run stops at the first evaluation that meets either.
        stop_grad_norm: stop once every live run's full-data ‖∇L‖ is ≤ this (implies ``eval_grad_norm``).
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
    eval_every: int = 1
    snapshot_every: int | None = None
    record_steps: bool = False
    eval_grad_norm: bool = False
    stop_train_acc: float | None = None
    stop_train_loss: float | None = None
    stop_grad_norm: float | None = None

    def __post_init__(self) -> None:
        for name, allowed in (("loss", LOSSES), ("optimizer", OPTIMIZERS), ("objective", OBJECTIVES),
                              ("schedule", SCHEDULES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r}; choose one of {', '.join(allowed)}")
        for name in ("epochs", "eval_every", "snapshot_every", "batch_size"):
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
    def measures_grad_norm(self) -> bool:
        """Whether evaluations measure the full-set ‖∇L‖."""
        return self.eval_grad_norm or self.stop_grad_norm is not None


@dataclass
class TrainResult:
    """What :func:`train` measured.

    Attributes:
        history: one row per (run, evaluated epoch): ``run, epoch, train_loss, [train_acc],
            [test_loss, test_acc], [grad_norm]`` (full training set, inference mode; ``grad_norm``,
            when measured, is ‖∇L‖₂ over all trainable parameters).
        steps: one row per (run, step): ``run, step, loss, grad_norm, diverged`` of the mini-batch
            (empty unless ``record_steps``); from a run's first non-finite step on, its values are NaN
            and ``diverged`` is true; after a run's ``stopped`` epoch, its values are NaN.
        weights: final trainable weights of each run (in ``model.trainable_variables`` order).
        diverged: per run, whether its objective became NaN/inf.
        snapshots: ``(run, epoch, weights)`` every ``snapshot_every`` epochs, epoch 0 included.
        stopped: per run, the epoch at which it met ``stop_train_loss`` or ``stop_train_acc`` (its last
            history row), or None.
    """

    history: pd.DataFrame
    steps: pd.DataFrame
    weights: list[Weights]
    diverged: list[bool]
    snapshots: list[tuple[int, int, Weights]] = field(default_factory=list)
    stopped: list[int | None] = field(default_factory=list)

    @property
    def final(self) -> pd.DataFrame:
        """The last history row of each run."""
        return self.history.groupby("run").tail(1).sort_values("run", kind="stable").reset_index(drop=True)


def initial_weights(build: Builder, seed: int) -> Weights:
    """The trainable weights of a fresh model built by ``build`` after seeding with ``seed``."""
    keras.utils.set_random_seed(int(seed))
    return [v.numpy() for v in build().trainable_variables]


def run_seeds(base_seed: int, runs: int) -> list[int]:
    """Seeds of ``runs`` independent runs for an experiment seeded with ``base_seed``.

    Example:
        >>> run_seeds(2, 3)
        [2000, 2001, 2002]
    """
    return [base_seed * 1000 + r for r in range(runs)]


def median_run(result: "TrainResult") -> int:
    """Index of the run whose final training loss is the median of the runs that did not diverge
    (the lower middle one for an even count); run 0 if all diverged."""
    final = result.final.set_index("run")["train_loss"].dropna().sort_values(kind="stable")
    return int(final.index[(len(final) - 1) // 2]) if len(final) else 0


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
    of graph ops per step instead of about a dozen per variable: for small models the step's fixed cost is
    what the training loop spends its time on. A scheduled rate is computed in float64 from the step index
    (:func:`learning_rate_at`) and cast to the variables' dtype; a constant one is a constant of the graph.
    """

    BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-7

    def __init__(self, config: TrainConfig, variables: Sequence[tf.Variable], steps_per_epoch: int) -> None:
        self.config, self.steps_per_epoch = config, steps_per_epoch
        self.kind, self.learning_rate = config.optimizer, config.learning_rate
        self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False)
        if self.kind == "adam":
            self.m = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
            self.v = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
        elif config.momentum:
            self.m = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]

    def _rate(self, step: tf.Tensor, dtype: tf.DType) -> tf.Tensor:
        """η of the step with index ``step`` − 1 (the graph twin of :func:`learning_rate_at`)."""
        c = self.config
        if c.schedule == "constant":
            return tf.constant(self.learning_rate, dtype)
        k = tf.cast(step - 1, tf.float64)
        lr, f = tf.constant(c.learning_rate, tf.float64), tf.constant(c.decay_factor, tf.float64)
        if c.schedule == "step":
            passed = tf.add_n([tf.cast(k >= float(e * self.steps_per_epoch), tf.float64) for e in c.decay_epochs])
            rate = lr * tf.pow(f, passed)
        else:
            total = tf.constant(float(max(1, c.epochs * self.steps_per_epoch)), tf.float64)
            rate = lr * ((1 - f) * 0.5 * (1 + tf.cos(np.pi * tf.minimum(k, total) / total)) + f)
        return tf.cast(rate, dtype)

    def apply(self, grads: Sequence[tf.Tensor], variables: Sequence[tf.Variable]) -> None:
        step = self.iterations.assign_add(1)
        dtype = variables[0].dtype
        lr = self._rate(step, dtype)
        if self.kind == "sgd":
            if self.config.momentum:
                momentum = tf.constant(self.config.momentum, dtype)
                for var, m, grad in zip(variables, self.m, grads):
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
        for var, m, v, grad in zip(variables, self.m, self.v, grads):
            tf.raw_ops.ResourceApplyAdam(var=var.handle, m=m.handle, v=v.handle, beta1_power=beta_1_power,
                                         beta2_power=beta_2_power, lr=lr, beta1=beta_1, beta2=beta_2,
                                         epsilon=epsilon, grad=grad)


def train(build: Builder, data: Dataset, config: TrainConfig, seeds: Sequence[int],
          init: Sequence[Weights] | None = None, progress: Callable[[str], None] | None = None,
          label: str = "") -> TrainResult:
    """Train one independent model per seed, all at once, and measure them.

    Args:
        build: returns a fresh Keras model (the architecture; called once per seed to initialize).
        data: the training (and test) set; the test set may be empty.
        config: how to train.
        seeds: one seed per run; it fixes the run's initial weights and its mini-batch order.
        init: start from these weights (one list per run) instead of fresh initial weights.
        progress: called with a short status line (with the time left) at the end of the training and,
            while it lasts, at an evaluation about every :data:`REPORT_SECONDS` seconds.
        label: prefix of the progress lines.

    Returns:
        A :class:`TrainResult`.

    Example:
        >>> result = train(lambda: fc_net([20, 20]), function_data("np.sinc(5*x)", 256),
        ...                TrainConfig(epochs=2000, loss="mse"), seeds=[0, 1])   # doctest: +SKIP
    """
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must name at least one run")
    start_weights = list(init) if init is not None else [initial_weights(build, s) for s in seeds]
    if len(start_weights) != len(seeds):
        raise ValueError(f"init has {len(start_weights)} runs but seeds has {len(seeds)}")
    model = build()
    check_stateless(model)
    return _Trainer(model, data, config, seeds, start_weights).run(progress, label)


class _Trainer:
    def __init__(self, model: keras.Model, data: Dataset, config: TrainConfig, seeds: list[int],
                 weights: Sequence[Weights]) -> None:
        self.model, self.data, self.config, self.seeds = model, data, config, seeds
        self.runs = len(seeds)
        self.dtype = model.trainable_variables[0].dtype
        self.variables = [tf.Variable(w, dtype=self.dtype) for w in stack(weights)]
        self.x = tf.constant(data.x_train, self.dtype)
        self.y = labels_as(data.y_train, config.loss, self.dtype)
        self.n = int(data.x_train.shape[0])
        self.batch = min(config.batch_size or self.n, self.n)
        self.steps_per_epoch = -(-self.n // self.batch)
        self.optimizer = _Optimizer(config, self.variables, self.steps_per_epoch)
        self.diverged = tf.Variable(tf.zeros([self.runs], tf.bool))
        self.done = tf.Variable(tf.zeros([self.runs], tf.bool))  # met its stopping rule: frozen, not trained on
        self.stopped: list[int | None] = [None] * self.runs
        self.frozen: dict[int, list[np.ndarray]] = {}
        self.evaluator = Evaluator(model, config.loss)
        # full batch: `count` is a Python int (one trace per distinct chunk length, static shapes).
        # XLA (jit_compile) was measured 8x SLOWER here for 100-step chunks: not used
        self._run_epochs = tf.function(self._full_batch_epochs if self.batch == self.n else self._epochs)

    # -- one step, inside the graph
    def _objective(self, weights: list[tf.Tensor], x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """(objective, loss) of one run on one batch."""
        def batch_loss(w: list[tf.Tensor]) -> tf.Tensor:
            logits = forward(self.model, w, x)
            return tf.reduce_mean(per_sample_loss(logits, y, self.config.loss))

        if self.config.objective == "loss":
            value = batch_loss(weights)
            return value, value
        with tf.GradientTape() as inner:
            inner.watch(weights)
            value = batch_loss(weights)
        grads = inner.gradient(value, weights)
        return tf.add_n([tf.reduce_sum(tf.square(g)) for g in grads]), value

    def _step(self, x: tf.Tensor | None, y: tf.Tensor | None) -> tuple[tf.Tensor, tf.Tensor] | None:
        """One optimizer step of every run; (batch loss, ‖∇‖ of the objective) per run if steps are recorded."""
        with tf.GradientTape() as tape:
            if x is None:  # full batch: the data is shared by every run
                objective, loss = map_runs(lambda w: self._objective(w, self.x, self.y), self.variables)
            else:
                objective, loss = map_runs(self._objective, self.variables, x, y)
            finite = tf.math.is_finite(objective) & ~self.diverged & ~self.done
            total = tf.reduce_sum(tf.where(finite, objective, tf.zeros_like(objective)))
        grads = tape.gradient(total, self.variables)
        self.optimizer.apply(grads, self.variables)
        self.diverged.assign(self.diverged | (~tf.math.is_finite(objective) & ~self.done))
        if not self.config.record_steps:
            return None
        if self.config.objective == "grad_norm_sq":
            grad_norm = tf.sqrt(tf.maximum(objective, 0.0))
        else:
            grad_norm = tf.sqrt(tf.add_n([tf.reduce_sum(tf.square(g), axis=list(range(1, len(g.shape))))
                                          for g in grads]))
        return loss, grad_norm

    def _full_batch_epochs(self, first_epoch: tf.Tensor, count: int) -> tuple[tf.Tensor, tf.Tensor]:
        record = self.config.record_steps
        losses = tf.TensorArray(self.dtype, size=count if record else 0, element_shape=[self.runs])
        norms = tf.TensorArray(self.dtype, size=count if record else 0, element_shape=[self.runs])
        for e in tf.range(count):
            out = self._step(None, None)
            if record:
                losses, norms = losses.write(e, out[0]), norms.write(e, out[1])
        return losses.stack(), norms.stack()

    def _epochs(self, first_epoch: tf.Tensor, count: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        record = self.config.record_steps
        losses = tf.TensorArray(self.dtype, size=0, dynamic_size=True, element_shape=[self.runs])
        norms = tf.TensorArray(self.dtype, size=0, dynamic_size=True, element_shape=[self.runs])
        i = tf.constant(0)
        for e in tf.range(count):
            epoch = tf.cast(first_epoch + e, tf.int64)
            order = tf.stack([tf.argsort(tf.random.stateless_uniform([self.n], tf.stack([tf.constant(s, tf.int64),
                                                                                         epoch])))
                              for s in self.seeds])
            for s in tf.range(self.steps_per_epoch):
                idx = order[:, s * self.batch:tf.minimum((s + 1) * self.batch, self.n)]
                out = self._step(tf.gather(self.x, idx), tf.gather(self.y, idx))
                if record:
                    losses, norms, i = losses.write(i, out[0]), norms.write(i, out[1]), i + 1
        return losses.stack(), norms.stack()

    # -- the Python side: evaluation, snapshots, stopping
    def _evaluate(self, epoch: int) -> list[dict[str, float]]:
        weights = [v.value() for v in self.variables]
        train_loss, train_acc = self.evaluator(weights, self.x, self.y)
        if self.config.measures_grad_norm:
            grad_norm = self.evaluator.grad_norm(weights, self.x, self.y)
        has_test = len(self.data.x_test) > 0
        if has_test:
            test_loss, test_acc = self.evaluator(weights, self.data.x_test, self.data.y_test)
        diverged = self.diverged.numpy() | ~np.isfinite(train_loss)
        self.diverged.assign(diverged)
        rows = []
        for r in range(self.runs):
            if r in self.frozen:  # stopped earlier: its history ended at its stopping epoch
                continue
            row = {"run": r, "epoch": epoch, "train_loss": train_loss[r]}
            if self.config.loss != "mse":
                row["train_acc"] = train_acc[r]
            if has_test:
                row["test_loss"] = test_loss[r]
                if self.config.loss != "mse":
                    row["test_acc"] = test_acc[r]
            if self.config.measures_grad_norm:
                row["grad_norm"] = grad_norm[r]
            if diverged[r]:
                row = {k: (v if k in ("run", "epoch") else np.nan) for k, v in row.items()}
            rows.append(row)
        return rows

    def _should_stop(self, rows: list[dict[str, float]]) -> bool:
        c = self.config
        dead = self.diverged.numpy()
        live = [row for row in rows if not dead[row["run"]]]
        if c.stop_train_loss is not None or c.stop_train_acc is not None:
            for row in live:
                if ((c.stop_train_loss is not None and row["train_loss"] <= c.stop_train_loss)
                        or (c.stop_train_acc is not None and row["train_acc"] >= c.stop_train_acc)):
                    r = row["run"]
                    self.stopped[r], self.frozen[r] = row["epoch"], [v[r].numpy() for v in self.variables]
            self.done.assign([r in self.frozen for r in range(self.runs)])
            live = [row for row in live if row["run"] not in self.frozen]
        if not live:
            return True
        return c.stop_grad_norm is not None and all(row["grad_norm"] <= c.stop_grad_norm for row in live)

    def _restore_frozen(self) -> None:
        """Put the stopped runs back at their stopping point (their masked steps still move them: momentum)."""
        for r, weights in self.frozen.items():
            for v, w in zip(self.variables, weights):
                v[r].assign(w)

    def _snapshot(self, epoch: int, snapshots: list[tuple[int, int, Weights]]) -> None:
        for r, weights in enumerate(unstack([v.numpy() for v in self.variables])):
            snapshots.append((r, epoch, weights))

    def run(self, progress: Callable[[str], None] | None, label: str) -> TrainResult:
        c = self.config
        history, snapshots = self._evaluate(0), []
        step_losses, step_norms = [], []
        if c.snapshot_every:
            self._snapshot(0, snapshots)
        epoch, start = 0, time.perf_counter()
        reported = start
        stop = self._should_stop(history)
        while epoch < c.epochs and not stop:
            events = [c.epochs, (epoch // c.eval_every + 1) * c.eval_every]
            if c.snapshot_every:
                events.append((epoch // c.snapshot_every + 1) * c.snapshot_every)
            count = min(events) - epoch
            losses, norms = self._run_epochs(tf.constant(epoch), count if self.batch == self.n else tf.constant(count))
            epoch += count
            self._restore_frozen()
            if c.record_steps:
                step_losses.append(losses.numpy())
                step_norms.append(norms.numpy())
            if c.snapshot_every and epoch % c.snapshot_every == 0:
                self._snapshot(epoch, snapshots)
            if epoch % c.eval_every == 0 or epoch == c.epochs:
                rows = self._evaluate(epoch)
                history += rows
                stop = self._should_stop(rows)
                now = time.perf_counter()
                if progress and (epoch == c.epochs or stop or now - reported >= REPORT_SECONDS):
                    reported = now
                    left = 0.0 if stop else (now - start) / epoch * (c.epochs - epoch)
                    capped = left > 0 and (c.stop_train_loss, c.stop_train_acc, c.stop_grad_norm) != (None,) * 3
                    progress(_status(label, epoch, c.epochs, rows) + f", {'at most ' if capped else ''}"
                             f"{duration(left)} left")
        diverged = [bool(d) for d in self.diverged.numpy()]
        steps = pd.DataFrame(columns=["run", "step", "loss", "grad_norm", "diverged"])
        if step_losses:
            loss_arr, norm_arr = np.concatenate(step_losses), np.concatenate(step_norms)
            # a run is diverged from its first non-finite step on; its later (frozen) values mean nothing
            dead = np.logical_or.accumulate(~np.isfinite(loss_arr) | ~np.isfinite(norm_arr), axis=0)
            loss_arr, norm_arr = np.where(dead, np.nan, loss_arr), np.where(dead, np.nan, norm_arr)
            n_steps = loss_arr.shape[0]
            for r, epoch_stopped in enumerate(self.stopped):  # a stopped run's later steps were not taken
                if epoch_stopped is not None:
                    loss_arr[epoch_stopped * self.steps_per_epoch:, r] = np.nan
                    norm_arr[epoch_stopped * self.steps_per_epoch:, r] = np.nan
            steps = pd.DataFrame({"run": np.repeat(np.arange(self.runs), n_steps),
                                  "step": np.tile(np.arange(1, n_steps + 1), self.runs),
                                  "loss": loss_arr.T.reshape(-1), "grad_norm": norm_arr.T.reshape(-1),
                                  "diverged": dead.T.reshape(-1)})
        final = unstack([v.numpy() for v in self.variables])
        return TrainResult(pd.DataFrame(history), steps, final, diverged, snapshots, list(self.stopped))


def _status(label: str, epoch: int, epochs: int, rows: list[dict[str, float]]) -> str:
    loss = np.nanmean([r["train_loss"] for r in rows]) if any(np.isfinite(r["train_loss"]) for r in rows) else np.nan
    text = f"{label + ': ' if label else ''}epoch {epoch}/{epochs} train loss {loss:.4g}"
    accs = [r["train_acc"] for r in rows if "train_acc" in r and np.isfinite(r["train_acc"])]
    if accs:
        text += f" acc {np.mean(accs):.3f}"
    if len(rows) > 1:
        text += f" (mean of {len(rows)} runs)"
    return text
