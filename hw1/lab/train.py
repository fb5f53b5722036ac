"""The one training loop of hw1, shaped like Keras's: a compiled step, a loop, callbacks.

:func:`train` trains R independent copies ("runs") of one Keras ``Sequential`` architecture at once: every
trainable variable is stacked along a leading run axis, each run initialized from its own seed, and the
model's ``stateless_call`` is mapped over that axis (``tf.vectorized_map``). Per-run losses are summed for
one ``GradientTape``, which gives each run exactly its own gradient; Adam and SGD update element-wise, so one
optimizer over the stacked variables equals one optimizer per run. With R = 1 it is plain single-model
training. Mini-batch order depends only on (run seed, epoch), so a run computes the same numbers whether it
is trained alone or beside others. A full-batch training whose stacked activations would not stay in the
cache, and a model with convolutions or a recurrence (which do not vectorize), train their runs one at a
time instead (:func:`run_groups`, the rule; one result either way).

The pieces: the step and the compiled chunk of epochs (:mod:`hw1.lab.train_step`, with
:class:`~hw1.lab.train_step.TrainConfig`, what the step needs, and one compiled loop shared by the models of one
shape); this loop, which runs the epochs between two boundaries in one graph call (no Python per step) and
evaluates the full sets in inference mode at epoch 0 and every ``eval_every`` epochs; and the callbacks at
the boundaries (:mod:`hw1.lab.train_callbacks`): stopping rules, snapshots, step records, progress.

Objectives: ``"loss"`` (the training loss) or ``"grad_norm_sq"`` (‖∇L‖², by double back-propagation: used to
walk to a point where the gradient vanishes). Optimizers: Adam, or SGD with optional (heavy-ball) momentum,
with a constant learning rate or a step / cosine schedule (:func:`learning_rate_at`), the same updates as
``keras.optimizers.Adam`` / ``SGD`` with a ``keras.optimizers.schedules`` schedule.

A run whose objective becomes NaN/inf is marked diverged and frozen (its gradient is masked); the other runs
go on.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import keras
import numpy as np
import pandas as pd

from hw1.measure.core import Weights, check_stateless, stack, unstack
from hw1.lab.data import Dataset
from hw1.lab.train_callbacks import (Callback, ReportProgress, Snapshots, StepRecords, StopAt, StopAtGradNorm,
                                 TrainProgress)
from hw1.lab.train_step import (OBJECTIVES, OPTIMIZERS, SCHEDULES, TrainConfig, compiled_loop, learning_rate_at,
                            release_compiled)

__all__ = ["TrainConfig", "TrainResult", "train", "initial_weights", "run_seeds", "median_run", "learning_rate_at",
           "Loop", "Callback", "StopAt", "StopAtGradNorm", "Snapshots", "StepRecords", "TrainProgress",
           "ReportProgress", "release_compiled", "stack", "run_groups", "activation_units", "unstackable",
           "GROUP_BYTES", "OPTIMIZERS", "OBJECTIVES", "SCHEDULES"]

Builder = Callable[[], keras.Model]
TEST_ROWS = ("each", "end")  # train(test=...): which history rows score the test set
GROUP_BYTES = 6 * 2**20  # a full-batch step's activations up to which the runs are stacked (:func:`run_groups`)


@dataclass
class TrainResult:
    """What :func:`train` measured.

    Attributes:
        history: one row per (run, evaluated epoch): ``run, epoch, train_loss, [train_acc],
            [test_loss, test_acc], [grad_norm]`` (full training set, inference mode; ``grad_norm``,
            when measured, is ‖∇L‖₂ over all trainable parameters).
        steps: one row per (run, step) with a :class:`StepRecords` callback (else empty).
        weights: final trainable weights of each run (in ``model.trainable_variables`` order).
        diverged: per run, whether its objective became NaN/inf.
        snapshots: ``(run, epoch, weights)`` with a :class:`Snapshots` callback (else empty).
        stopped: per run, the epoch at which a stopping callback froze it (its last history row), or None.
    """

    history: pd.DataFrame
    weights: list[Weights]
    diverged: list[bool]
    stopped: list[int | None]
    steps: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["run", "step", "loss", "grad_norm", "diverged"]))
    snapshots: list[tuple[int, int, Weights]] = field(default_factory=list)

    @property
    def final(self) -> pd.DataFrame:
        """The last history row of each run."""
        return self.history.groupby("run").tail(1).sort_values("run", kind="stable").reset_index(drop=True)


@contextlib.contextmanager
def _local_default_seeds(seed: int) -> Iterator[None]:
    """Keras draws the seed of each initializer (and seed generator) made without one from Python's global
    ``random`` (``keras.src.random.seed_generator.make_default_seed``). Inside this block those draws come
    from a local ``random.Random(seed)`` instead: the same seeds that ``keras.utils.set_random_seed(seed)``
    would have drawn, in build order, with no global generator (Python's, numpy's, TensorFlow's) touched."""
    from keras.src.random import seed_generator

    if not hasattr(seed_generator, "python_random"):
        raise RuntimeError(f"keras {keras.__version__} no longer draws default seeds from "
                           "seed_generator.python_random: hw1.lab.train.initial_weights needs updating")
    saved, seed_generator.python_random = seed_generator.python_random, random.Random(int(seed))
    try:
        yield
    finally:
        seed_generator.python_random = saved


def initial_weights(build: Builder, seed: int) -> Weights:
    """The trainable weights of a fresh model built by ``build``, its initializers seeded from ``seed``
    (in build order, as after ``keras.utils.set_random_seed(seed)``, without reseeding any global generator)."""
    with _local_default_seeds(seed):
        model = build()
    return [v.numpy() for v in model.trainable_variables]


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


def train(build: Builder, data: Dataset, config: TrainConfig, seeds: Sequence[int],
          init: Sequence[Weights] | None = None, callbacks: Sequence[Callback] = (), eval_every: int = 1,
          eval_grad_norm: bool = False, progress: Callable[[TrainProgress], None] | None = None,
          label: str = "", test: str = "each") -> TrainResult:
    """Train one independent model per seed, all at once (or, past :func:`run_groups`'s budget, one after
    another), and measure them.

    Args:
        build: returns a fresh Keras model (the architecture; called once per seed to initialize).
        data: the training (and test) set; the test set may be empty.
        config: how to step (:class:`TrainConfig`).
        seeds: one seed per run; it fixes the run's initial weights and its mini-batch order.
        init: start from these weights (one list per run) instead of fresh initial weights.
        callbacks: called at the boundaries (:class:`Callback`: stopping rules, snapshots, step records, …).
        eval_every: epochs between full-set evaluations (history rows); the last epoch is evaluated too.
        eval_grad_norm: measure the full-set ‖∇L‖ at each evaluation (a ``grad_norm`` history column; about
            one epoch's cost; also on when a callback needs it, e.g. :class:`StopAtGradNorm`).
        progress: with ``label``, a :class:`ReportProgress` callback (called with :class:`TrainProgress` data).
        test: ``"each"``: the test set is scored at every evaluation; ``"end"``: only in each run's last history
            row (where a stopping rule froze it, or where the training ended), the test columns of its earlier
            rows NaN: for a caller that reads only :attr:`TrainResult.final`, the same numbers for a fraction of
            the evaluation time (a callback that ends the training between evaluations leaves no such row).

    Returns:
        A :class:`TrainResult`.

    Example:
        >>> result = train(lambda: fc_net([20, 20]), function_data("np.sinc(5*x)", 256),
        ...                TrainConfig(epochs=2000, loss="mse"), seeds=[0, 1],
        ...                callbacks=[StopAt(train_loss=1e-4)])   # doctest: +SKIP
    """
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must name at least one run")
    if not isinstance(eval_every, (int, np.integer)) or eval_every < 1:
        raise ValueError(f"eval_every={eval_every!r} must be a positive integer")
    if test not in TEST_ROWS:
        raise ValueError(f"test={test!r} is not one of {', '.join(map(repr, TEST_ROWS))}")
    start_weights = list(init) if init is not None else [initial_weights(build, s) for s in seeds]
    if len(start_weights) != len(seeds):
        raise ValueError(f"init has {len(start_weights)} runs but seeds has {len(seeds)}")
    with _local_default_seeds(seeds[0]):
        model = build()
    check_stateless(model)
    sizes = run_groups(model, data, config, len(seeds), callbacks)
    parts, first = [], 0
    for size in sizes:  # one group: all runs stacked; else group by group through one compiled loop per size
        group = slice(first, first + size)
        named = label if len(sizes) == 1 else f"{label}, runs {first + 1}-{first + size} of {len(seeds)}"
        group_callbacks = list(callbacks) + ([ReportProgress(progress, named)] if progress else [])
        parts.append(Loop(model, data, config, seeds[group], start_weights[group], group_callbacks, int(eval_every),
                          eval_grad_norm, test_at_end=test == "end").run())
        first += size
    return parts[0] if len(parts) == 1 else _joined(parts)


def activation_units(model: keras.Model) -> int | None:
    """The activations one sample makes in a forward pass of ``model``: the sizes of its layers' outputs (None
    when they are not known: a subclassed model, whose layers were never called on a symbolic input)."""
    try:
        return int(sum(np.prod(layer.output.shape[1:]) for layer in model.layers))
    except (AttributeError, ValueError):
        return None


def run_groups(model: keras.Model, data: Dataset, config: TrainConfig, runs: int,
               callbacks: Sequence[Callback] = ()) -> list[int]:
    """How :func:`train` splits ``runs`` runs into groups trained one after another: the group sizes, in order.

    The rule: a FULL-BATCH step of R stacked runs holds ``R × n × activation_units(model)`` activations (``n``
    the training samples) in the model's dtype. Up to :data:`GROUP_BYTES` of them, the stacked step (one
    ``vectorized_map``) is about as fast as the runs one after another, or faster; beyond, it is slower (the
    stacked activations leave the cache) and the runs train one at a time (which also skips
    ``vectorized_map``); groups of 2 or 5 runs measured no better than single runs, within the noise
    (``benchmarks/bench_full_batch.py``; ``results_full_batch_widths.csv``: 10 runs of a 1-W-1 net on 1,000
    samples, time one at a time ÷ time stacked: W = 100, 4 MB, 1.1×; W = 200, 8 MB, 0.8×; W = 500, 20 MB, 0.5×).
    A model with a convolution or a recurrent layer (:func:`unstackable`) trains its runs one at a time at any
    batch size: ``vectorized_map`` does not turn per-run kernels of those layers into one kernel, and one run
    after another is faster (1-1b's CNN at batch 128: 7.4 ms per run and step stacked, 3.9 one at a time; its
    LSTM 8.6 and 7.4; ``benchmarks/bench_image_step.py``). Other mini-batch steps, and a training with a callback
    that is not :attr:`~hw1.lab.train_callbacks.Callback.per_run` (its effect on one run depends on the others),
    are not split, nor a model whose activations are not known (:func:`activation_units`). ``GROUP_BYTES`` is
    read at the call.
    """
    n = int(data.x_train.shape[0])
    if runs <= 1 or not all(cb.per_run for cb in callbacks):
        return [runs]
    if unstackable(model):
        return [1] * runs
    if min(config.batch_size or n, n) < n:
        return [runs]
    units, itemsize = activation_units(model), np.dtype(str(model.trainable_variables[0].dtype)).itemsize
    return [runs] if units is None or runs * n * units * itemsize <= GROUP_BYTES else [1] * runs


def unstackable(model: keras.Model) -> bool:
    """Whether ``model`` has a layer whose stacked runs do not vectorize into one kernel: a convolution or a
    recurrent layer (:func:`run_groups` trains such a model's runs one at a time)."""
    kinds = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D, keras.layers.RNN)
    return any(isinstance(layer, kinds) for layer in model.layers)


def _joined(parts: Sequence[TrainResult]) -> TrainResult:
    """One result of the groups' results, the runs numbered on, the history as one stacked training's.

    A stacked training evaluates every run at the same epochs until no run is left training; a diverged run
    gets NaN rows until then. Trained alone, its training ends sooner: its NaN rows are carried on to the
    last epoch any group evaluated, at the epochs the groups evaluated, as the stacked training would have.
    (A diverged run's final weights are what its masked steps left, NaN or not: they depend on how long the
    others trained, grouped or stacked, and mean nothing.)
    """
    offsets = np.cumsum([0] + [len(p.weights) for p in parts[:-1]])
    history = pd.concat([p.history.assign(run=p.history["run"] + o) for p, o in zip(parts, offsets)],
                        ignore_index=True)
    epochs = np.unique(history["epoch"])
    diverged = [d for p in parts for d in p.diverged]
    pads = []
    for run in np.flatnonzero(diverged):
        rows = history[history["run"] == run]
        later = epochs[epochs > rows["epoch"].max()]
        pads.append(rows.iloc[[-1] * len(later)].assign(epoch=later))
    history = pd.concat([history, *pads], ignore_index=True).sort_values(["epoch", "run"], kind="stable")
    return TrainResult(history.reset_index(drop=True), [w for p in parts for w in p.weights], diverged,
                       [s for p in parts for s in p.stopped])


class Loop:
    """A training in progress: what a callback sees (Keras's ``model`` in its callbacks) and the loop itself.

    Attributes:
        runs, epochs, steps_per_epoch: the shape of the training.
        stopped: per run, the epoch a stopping rule froze it at, or None.
        stop_training: set by a callback to end the training at this boundary.
    """

    def __init__(self, model: keras.Model, data: Dataset, config: TrainConfig, seeds: list[int],
                 weights: Sequence[Weights], callbacks: list[Callback], eval_every: int, grad_norm: bool,
                 test_at_end: bool = False) -> None:
        self.data, self.config, self.callbacks, self.eval_every = data, config, callbacks, eval_every
        self.test_at_end = test_at_end
        self.runs, self.epochs = len(seeds), config.epochs
        self.grad_norm = grad_norm or any(cb.needs_grad_norm for cb in callbacks)
        self.has_stopping_rule = any(cb.stops for cb in callbacks)
        n = int(data.x_train.shape[0])
        full_batch = min(config.batch_size or n, n) == n
        self.compiled = compiled_loop(model, config, self.runs, full_batch, any(cb.needs_steps for cb in callbacks))
        self.compiled.start(config, weights, seeds, data.x_train, data.y_train,
                            [v.numpy() for v in model.non_trainable_variables])
        self.steps_per_epoch = self.compiled.steps_per_epoch
        self.stopped: list[int | None] = [None] * self.runs
        self.frozen: dict[int, list[np.ndarray]] = {}
        self.stop_training = False
        self._diverged = np.zeros(self.runs, bool)

    # -- for callbacks
    def weights(self) -> list[Weights]:
        """The current trainable weights of every run."""
        return unstack([v.numpy() for v in self.compiled.variables])

    def training(self, run: int) -> bool:
        """Whether ``run`` is still trained: neither diverged nor stopped."""
        return run not in self.frozen and not self._diverged[run]

    def stop_runs(self, runs: Sequence[int], epoch: int) -> None:
        """Freeze ``runs`` at ``epoch``: their weights and history end here; the others go on."""
        for r in runs:
            if r not in self.frozen:
                self.stopped[r], self.frozen[r] = epoch, [v[r].numpy() for v in self.compiled.variables]
        self.compiled.done.assign([r in self.frozen for r in range(self.runs)])

    def ends_here(self, epoch: int) -> bool:
        """Whether the training ends at this boundary (the cap, a callback's stop, or no run left)."""
        return epoch >= self.epochs or self.stop_training or not any(self.training(r) for r in range(self.runs))

    # -- the loop
    def _evaluate(self, epoch: int) -> list[dict[str, float]]:
        """History rows of the runs not stopped before (a diverged run's metrics NaN)."""
        c, ev, x, y = self.compiled, self.compiled.evaluator, self.compiled.x, self.compiled.y
        weights = [v.value() for v in c.variables]
        train_loss, train_acc = ev(weights, x, y)
        grad_norm = ev.grad_norm(weights, x, y) if self.grad_norm else None
        has_test = len(self.data.x_test) > 0
        if has_test and not self.test_at_end:
            test_loss, test_acc = ev(weights, self.data.x_test, self.data.y_test)
        elif has_test:  # placeholders of the same type (the columns' dtype), scored by _score_test if last
            test_loss = test_acc = np.full(self.runs, np.nan, np.asarray(train_loss).dtype)
        diverged = c.diverged.numpy() | ~np.isfinite(train_loss)
        c.diverged.assign(diverged)
        classify = self.config.loss != "mse"
        rows = []
        for r in range(self.runs):
            if r in self.frozen:
                continue
            row = {"run": r, "epoch": epoch, "train_loss": train_loss[r]}
            if classify:
                row["train_acc"] = train_acc[r]
            if has_test:
                row["test_loss"] = test_loss[r]
                if classify:
                    row["test_acc"] = test_acc[r]
            if grad_norm is not None:
                row["grad_norm"] = grad_norm[r]
            if diverged[r]:
                row = {k: (v if k in ("run", "epoch") else np.nan) for k, v in row.items()}
            rows.append(row)
        return rows

    def _boundary(self, epoch: int, history: list[dict[str, float]]) -> bool:
        """Evaluate if due, call the callbacks; whether the training ends here."""
        evaluated = epoch % self.eval_every == 0 or epoch == self.epochs
        logs = self._evaluate(epoch) if evaluated else None
        self._diverged = self.compiled.diverged.numpy()
        history += logs or []
        for cb in self.callbacks:
            cb.on_epoch_end(self, epoch, logs)
        ends = self.stop_training or (evaluated and self.ends_here(epoch))
        if self.test_at_end and logs:
            self._score_test([row for row in logs if ends or self.stopped[row["run"]] == epoch])
        return ends

    def _score_test(self, rows: list[dict[str, float]]) -> None:
        """Fill in the test columns of these rows (each a run's last) with the current weights."""
        if not rows or len(self.data.x_test) == 0:
            return
        weights = [v.value() for v in self.compiled.variables]
        test_loss, test_acc = self.compiled.evaluator(weights, self.data.x_test, self.data.y_test)
        for row in rows:
            if np.isfinite(row["train_loss"]):  # a diverged run's row stays NaN
                row["test_loss"] = test_loss[row["run"]]
                if "test_acc" in row:
                    row["test_acc"] = test_acc[row["run"]]

    def _next_boundary(self, epoch: int) -> int:
        every = [self.eval_every] + [cb.every for cb in self.callbacks if cb.every]
        return min([self.epochs] + [(epoch // k + 1) * k for k in every])

    def run(self) -> TrainResult:
        self.compiled.in_use = True
        try:
            return self._run()
        finally:
            self.compiled.in_use = False

    def _run(self) -> TrainResult:
        for cb in self.callbacks:
            cb.on_train_begin(self)
        history: list[dict[str, float]] = []
        epoch, stop = 0, self._boundary(0, history)
        while epoch < self.epochs and not stop:
            count = self._next_boundary(epoch) - epoch
            losses, norms = self.compiled.epochs(epoch, count)
            epoch += count
            for r, weights in self.frozen.items():  # masked steps still move a stopped run (momentum): undo
                for v, w in zip(self.compiled.variables, weights):
                    v[r].assign(w)
            if self.compiled.record:
                for cb in self.callbacks:
                    cb.on_steps(self, losses, norms)
            stop = self._boundary(epoch, history)
        result = TrainResult(pd.DataFrame(history), self.weights(), [bool(d) for d in self.compiled.diverged.numpy()],
                             list(self.stopped))
        for cb in self.callbacks:
            cb.on_train_end(self, result)
        return result
