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

A run whose objective becomes NaN/inf is marked diverged and frozen (its
gradient is masked); the other runs go on.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Sequence

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from hw1.data import Dataset

LOSSES = ("mse", "sparse_ce")
OPTIMIZERS = ("adam", "sgd")
OBJECTIVES = ("loss", "grad_norm_sq")
EVAL_CHUNK = 8192  # samples per forward pass when evaluating full sets

# every train() call compiles its own graph (a fresh model and optimizer per condition, by design),
# which TensorFlow's retracing warning would otherwise report as a mistake
tf.get_logger().setLevel("ERROR")

Weights = list[np.ndarray]
Builder = Callable[[], keras.Model]


@dataclass(frozen=True)
class TrainConfig:
    """How to train.

    Args:
        epochs: passes over the training set (full-batch: optimizer steps).
        learning_rate: the optimizer's step size.
        batch_size: samples per step; ``None`` or ≥ the training-set size means full batch.
        optimizer: ``"adam"`` or ``"sgd"``.
        loss: ``"mse"`` (regression) or ``"sparse_ce"`` (logits vs integer labels).
        objective: ``"loss"`` or ``"grad_norm_sq"`` (minimize ‖∇L‖² of the batch loss).
        eval_every: epochs between full-set evaluations (history rows).
        snapshot_every: epochs between weight snapshots (epoch 0 included); ``None`` for none.
        record_steps: keep the per-step batch loss and gradient norm.
        eval_grad_norm: measure the full-set ‖∇L‖ at each evaluation (a ``grad_norm`` history
            column). It costs a backward pass over the training set, about as much as one epoch
            of training, so it is off unless asked for or needed by ``stop_grad_norm``.
        stop_train_acc: stop once every live run's training accuracy is ≥ this.
        stop_grad_norm: stop once every live run's full-data ‖∇L‖ is ≤ this (implies ``eval_grad_norm``).
    """

    epochs: int
    learning_rate: float = 1e-3
    batch_size: int | None = None
    optimizer: str = "adam"
    loss: str = "sparse_ce"
    objective: str = "loss"
    eval_every: int = 1
    snapshot_every: int | None = None
    record_steps: bool = False
    eval_grad_norm: bool = False
    stop_train_acc: float | None = None
    stop_grad_norm: float | None = None

    def __post_init__(self) -> None:
        for name, allowed in (("loss", LOSSES), ("optimizer", OPTIMIZERS), ("objective", OBJECTIVES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r}; choose one of {', '.join(allowed)}")
        for name in ("epochs", "eval_every", "snapshot_every", "batch_size"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, (int, np.integer)) or value < (0 if name == "epochs" else 1)):
                raise ValueError(f"{name}={value!r} must be a {'non-negative' if name == 'epochs' else 'positive'} "
                                 "integer")
        if not (np.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError(f"learning_rate={self.learning_rate!r} must be a positive number")

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
        steps: one row per (run, step): ``run, step, loss, grad_norm`` of the mini-batch
            (empty unless ``record_steps``).
        weights: final trainable weights of each run (in ``model.trainable_variables`` order).
        diverged: per run, whether its objective became NaN/inf.
        snapshots: ``(run, epoch, weights)`` every ``snapshot_every`` epochs, epoch 0 included.
    """

    history: pd.DataFrame
    steps: pd.DataFrame
    weights: list[Weights]
    diverged: list[bool]
    snapshots: list[tuple[int, int, Weights]] = field(default_factory=list)

    @property
    def final(self) -> pd.DataFrame:
        """The last history row of each run."""
        return self.history.groupby("run", sort=True).tail(1).reset_index(drop=True)


def set_seed(seed: int) -> None:
    """Seed Python, numpy and TensorFlow, and make TensorFlow ops deterministic."""
    keras.utils.set_random_seed(int(seed))
    tf.config.experimental.enable_op_determinism()


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


def stack(runs: Sequence[Weights]) -> list[np.ndarray]:
    """Stack per-run weight lists along a new leading run axis."""
    return [np.stack([w[i] for w in runs]) for i in range(len(runs[0]))]


def unstack(stacked: Sequence[np.ndarray | tf.Tensor]) -> list[Weights]:
    """Inverse of :func:`stack`."""
    arrays = [np.asarray(s) for s in stacked]
    return [[a[r] for a in arrays] for r in range(arrays[0].shape[0])]


def per_sample_loss(logits: tf.Tensor, y: tf.Tensor, loss: str) -> tf.Tensor:
    """Loss of each sample: squared error averaged over outputs, or softmax cross-entropy."""
    if loss == "mse":
        return tf.reduce_mean(tf.square(logits - y), axis=-1)
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(y, tf.int32), logits=logits)


def loss_fn(model: keras.Model, loss: str) -> Callable[[Sequence[tf.Tensor], tf.Tensor, tf.Tensor], tf.Tensor]:
    """``f(weights, x, y)`` = mean loss of ``model`` with ``weights`` on ``(x, y)``, in inference mode.

    This is the function whose gradient, Hessian and sharpness hw1 measures.
    """
    _check_stateless(model)

    def f(weights: Sequence[tf.Tensor], x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        logits = forward(model, weights, x)
        return tf.reduce_mean(per_sample_loss(logits, y, loss))

    return f


def _check_stateless(model: keras.Model) -> None:
    stateful = [layer.name for layer in model.layers
                if isinstance(layer, (keras.layers.BatchNormalization, keras.layers.Dropout))]
    if stateful:
        raise ValueError(f"model {model.name!r} has layers {stateful}; hw1 models must compute the same "
                         "function in training and inference (no batch normalization, no dropout)")


def forward(model: keras.Model, weights: Sequence[tf.Tensor], x: tf.Tensor) -> tf.Tensor:
    """``model(x)`` with the given trainable weights (non-trainable state, e.g. an RNN's seed, held fixed)."""
    outputs, _ = model.stateless_call(list(weights), [v.value for v in model.non_trainable_variables], x)
    return outputs


def map_runs(fn: Callable[..., object], stacked: Sequence[tf.Tensor], *per_run: tf.Tensor) -> object:
    """Apply ``fn(weights, *args)`` to each run of stacked weights (and per-run args).

    With one run this is a plain call (no ``vectorized_map`` overhead); outputs gain the run axis.
    """
    if stacked[0].shape[0] == 1:
        out = fn([w[0] for w in stacked], *[a[0] for a in per_run])
        return tf.nest.map_structure(lambda t: tf.expand_dims(t, 0), out)
    return tf.vectorized_map(lambda e: fn(list(e[0]), *e[1]), (list(stacked), tuple(per_run)))


class Evaluator:
    """Full-set loss, accuracy and gradient norm of many parameter vectors of one model.

    One compiled graph, reused for any number of runs: interpolation points, grid points
    of a loss surface and perturbed copies are all "runs" here.

    Example:
        >>> ev = Evaluator(model, "sparse_ce")                     # doctest: +SKIP
        >>> losses, accs = ev(stack([w1, w2]), x_test, y_test)    # doctest: +SKIP
    """

    def __init__(self, model: keras.Model, loss: str) -> None:
        _check_stateless(model)
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

    def _tensors(self, stacked: Sequence[np.ndarray | tf.Tensor], x: np.ndarray | tf.Tensor,
                 y: np.ndarray | tf.Tensor) -> tuple[list[tf.Tensor], tf.Tensor, tf.Tensor]:
        stacked = [tf.cast(w, self.dtype) for w in stacked]
        x = tf.cast(x, self.dtype)
        y = tf.cast(y, self.dtype) if self.loss == "mse" else tf.cast(y, tf.int32)
        return stacked, x, y

    def __call__(self, stacked: Sequence[np.ndarray | tf.Tensor], x: np.ndarray | tf.Tensor,
                 y: np.ndarray | tf.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Mean loss and accuracy (NaN for regression) of each run on the full set ``(x, y)``."""
        stacked, x, y = self._tensors(stacked, x, y)
        n = int(x.shape[0])
        loss_sum = np.zeros(stacked[0].shape[0])
        correct = np.zeros(stacked[0].shape[0])
        for start in range(0, n, EVAL_CHUNK):
            chunk_loss, chunk_correct = self._sums(stacked, x[start:start + EVAL_CHUNK], y[start:start + EVAL_CHUNK])
            loss_sum += chunk_loss.numpy()
            correct += chunk_correct.numpy()
        acc = correct / n if self.loss != "mse" else np.full_like(correct, np.nan)
        return loss_sum / n, acc

    def grad_norm(self, stacked: Sequence[np.ndarray | tf.Tensor], x: np.ndarray | tf.Tensor,
                  y: np.ndarray | tf.Tensor) -> np.ndarray:
        """‖∇θ L‖₂ of each run, L the mean loss over the full set, over all trainable parameters."""
        stacked, x, y = self._tensors(stacked, x, y)
        n = int(x.shape[0])
        total = None
        for start in range(0, n, EVAL_CHUNK):
            g = self._grads(stacked, x[start:start + EVAL_CHUNK], y[start:start + EVAL_CHUNK])
            g = [t.numpy().astype(np.float64) for t in g]
            total = g if total is None else [a + b for a, b in zip(total, g)]
        return np.sqrt(sum(np.sum((t / n) ** 2, axis=tuple(range(1, t.ndim))) for t in total))


class _Optimizer:
    """Adam or plain SGD as one fused kernel per variable (``ResourceApplyAdam``,
    ``ResourceApplyGradientDescent``).

    The same update as ``keras.optimizers.Adam`` / ``SGD`` with their defaults (β₁ = 0.9,
    β₂ = 0.999, ε = 1e-7, bias correction folded into the step size), but a handful of graph
    ops per step instead of about a dozen per variable: for small models the step's fixed cost
    is what the training loop spends its time on.
    """

    BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-7

    def __init__(self, kind: str, learning_rate: float, variables: Sequence[tf.Variable]) -> None:
        self.kind, self.learning_rate = kind, learning_rate
        self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False)
        if kind == "adam":
            self.m = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
            self.v = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]

    def apply(self, grads: Sequence[tf.Tensor], variables: Sequence[tf.Variable]) -> None:
        step = self.iterations.assign_add(1)
        dtype = variables[0].dtype
        lr = tf.constant(self.learning_rate, dtype)
        if self.kind == "sgd":
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
        progress: called with a short status line a few times per training.
        label: prefix of the progress lines.

    Returns:
        A :class:`TrainResult`.

    Example:
        >>> result = train(lambda: fc_net([20, 20]), function_data("np.sinc(5*x)", 256),
        ...                TrainConfig(epochs=2000, loss="mse"), seeds=[0, 1])   # doctest: +SKIP
    """
    tf.config.experimental.enable_op_determinism()  # same seed, same numbers
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must name at least one run")
    start_weights = list(init) if init is not None else [initial_weights(build, s) for s in seeds]
    if len(start_weights) != len(seeds):
        raise ValueError(f"init has {len(start_weights)} runs but seeds has {len(seeds)}")
    model = build()
    _check_stateless(model)
    return _Trainer(model, data, config, seeds, start_weights).run(progress, label)


class _Trainer:
    def __init__(self, model: keras.Model, data: Dataset, config: TrainConfig, seeds: list[int],
                 weights: Sequence[Weights]) -> None:
        self.model, self.data, self.config, self.seeds = model, data, config, seeds
        self.runs = len(seeds)
        self.dtype = model.trainable_variables[0].dtype
        self.variables = [tf.Variable(w, dtype=self.dtype) for w in stack(weights)]
        self.optimizer = _Optimizer(config.optimizer, config.learning_rate, self.variables)
        self.x = tf.constant(data.x_train, self.dtype)
        self.y = tf.constant(data.y_train, self.dtype if config.loss == "mse" else tf.int32)
        self.n = int(data.x_train.shape[0])
        self.batch = min(config.batch_size or self.n, self.n)
        self.steps_per_epoch = -(-self.n // self.batch)
        self.diverged = tf.Variable(tf.zeros([self.runs], tf.bool))
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
            finite = tf.math.is_finite(objective) & ~self.diverged
            total = tf.reduce_sum(tf.where(finite, objective, tf.zeros_like(objective)))
        grads = tape.gradient(total, self.variables)
        self.optimizer.apply(grads, self.variables)
        self.diverged.assign(self.diverged | ~tf.math.is_finite(objective))
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
        live = [row for row, dead in zip(rows, self.diverged.numpy()) if not dead]
        if not live:
            return True
        c = self.config
        if c.stop_train_acc is not None and all(row["train_acc"] >= c.stop_train_acc for row in live):
            return True
        return c.stop_grad_norm is not None and all(row["grad_norm"] <= c.stop_grad_norm for row in live)

    def _snapshot(self, epoch: int, snapshots: list[tuple[int, int, Weights]]) -> None:
        for r, weights in enumerate(unstack([v.numpy() for v in self.variables])):
            snapshots.append((r, epoch, weights))

    def run(self, progress: Callable[[str], None] | None, label: str) -> TrainResult:
        c = self.config
        history, snapshots = self._evaluate(0), []
        step_losses, step_norms = [], []
        if c.snapshot_every:
            self._snapshot(0, snapshots)
        report_every = max(1, c.epochs // 5)
        epoch = 0
        stop = self._should_stop(history)
        while epoch < c.epochs and not stop:
            events = [c.epochs, (epoch // c.eval_every + 1) * c.eval_every]
            if c.snapshot_every:
                events.append((epoch // c.snapshot_every + 1) * c.snapshot_every)
            count = min(events) - epoch
            losses, norms = self._run_epochs(tf.constant(epoch), count if self.batch == self.n else tf.constant(count))
            epoch += count
            if c.record_steps:
                step_losses.append(losses.numpy())
                step_norms.append(norms.numpy())
            if c.snapshot_every and epoch % c.snapshot_every == 0:
                self._snapshot(epoch, snapshots)
            if epoch % c.eval_every == 0 or epoch == c.epochs:
                rows = self._evaluate(epoch)
                history += rows
                stop = self._should_stop(rows)
                if progress and (epoch // report_every != (epoch - count) // report_every or epoch == c.epochs
                                 or stop):
                    progress(_status(label, epoch, c.epochs, rows))
        diverged = [bool(d) for d in self.diverged.numpy()]
        steps = pd.DataFrame(columns=["run", "step", "loss", "grad_norm"])
        if step_losses:
            loss_arr, norm_arr = np.concatenate(step_losses), np.concatenate(step_norms)
            n_steps = loss_arr.shape[0]
            steps = pd.DataFrame({"run": np.repeat(np.arange(self.runs), n_steps),
                                  "step": np.tile(np.arange(1, n_steps + 1), self.runs),
                                  "loss": loss_arr.T.reshape(-1), "grad_norm": norm_arr.T.reshape(-1)})
        final = unstack([v.numpy() for v in self.variables])
        return TrainResult(pd.DataFrame(history), steps, final, diverged, snapshots)


def _status(label: str, epoch: int, epochs: int, rows: list[dict[str, float]]) -> str:
    loss = np.nanmean([r["train_loss"] for r in rows]) if any(np.isfinite(r["train_loss"]) for r in rows) else np.nan
    text = f"{label + ': ' if label else ''}epoch {epoch}/{epochs} train loss {loss:.4g}"
    accs = [r["train_acc"] for r in rows if "train_acc" in r and np.isfinite(r["train_acc"])]
    if accs:
        text += f" acc {np.mean(accs):.3f}"
    if len(rows) > 1:
        text += f" (mean of {len(rows)} runs)"
    return text
