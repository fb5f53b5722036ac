"""Callbacks of hw1's trainer: what happens at the boundaries between compiled chunks of epochs.

The shape of ``keras.callbacks.Callback``: :func:`hw1.lab.train.train` calls ``on_train_begin``, then
``on_epoch_end(loop, epoch, logs)`` at epoch 0 and at the end of every chunk of epochs (``logs``: the
evaluation rows of the runs still training when the epoch is an evaluation, else None), ``on_steps`` with
the per-step records of every chunk when some callback asks for them, and ``on_train_end(loop, result)``.
The loop pauses at each callback's ``every`` epochs besides its evaluations. A callback stops one run with
``loop.stop_runs`` or the whole training with ``loop.stop_training = True`` (Keras's ``model.stop_training``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from hw1.lab.train import Loop, TrainResult

__all__ = ["Callback", "StopAt", "StopAtGradNorm", "Snapshots", "StepRecords", "TrainProgress", "ReportProgress"]

Logs = list  # one dict per run still training: run, epoch, train_loss, [train_acc, test_loss, test_acc, grad_norm]


class Callback:
    """Base class: every hook does nothing.

    Attributes:
        every: epochs between the boundaries this callback needs besides the evaluations (None: none).
        needs_grad_norm: evaluations must measure the full-set ‖∇L‖ (a ``grad_norm`` log entry).
        needs_steps: the compiled loop must record each step's batch loss and gradient norm (``on_steps``).
        stops: it is a stopping rule (the progress then gives the time left as an upper bound).
        per_run: what it does to and records of each run depend on that run alone, so the runs may be
            trained in groups one after another (:func:`hw1.lab.train.run_groups`) with the same outcome.
    """

    every: int | None = None
    needs_grad_norm = False
    needs_steps = False
    stops = False
    per_run = False

    def on_train_begin(self, loop: "Loop") -> None:
        pass

    def on_steps(self, loop: "Loop", losses: np.ndarray, norms: np.ndarray) -> None:
        """``losses``, ``norms``: [steps of the chunk, runs] batch loss and ‖∇ objective‖ of each step."""

    def on_epoch_end(self, loop: "Loop", epoch: int, logs: Logs | None) -> None:
        pass

    def on_train_end(self, loop: "Loop", result: "TrainResult") -> None:
        pass


class StopAt(Callback):
    """Stop EACH run at the first evaluation where its full-set training loss is ≤ ``train_loss`` or its
    training accuracy ≥ ``train_acc`` (whichever is given; with both, the first met): from then on it is
    frozen (its weights and history end there, like a diverged run's) while the others go on; the training
    ends when no run is left. ``TrainResult.stopped`` records the epoch; a run that never gets there trains
    to the cap."""

    stops = per_run = True

    def __init__(self, train_loss: float | None = None, train_acc: float | None = None) -> None:
        if train_loss is None and train_acc is None:
            raise ValueError("StopAt needs train_loss or train_acc")
        self.train_loss, self.train_acc = train_loss, train_acc

    def on_train_begin(self, loop: "Loop") -> None:
        if self.train_acc is not None and loop.config.loss == "mse":
            raise ValueError("StopAt(train_acc=…) needs a classifier; loss='mse' has no accuracy")

    def on_epoch_end(self, loop: "Loop", epoch: int, logs: Logs | None) -> None:
        if logs is None:
            return
        met = [row["run"] for row in logs if loop.training(row["run"]) and (
            (self.train_loss is not None and row["train_loss"] <= self.train_loss)
            or (self.train_acc is not None and row["train_acc"] >= self.train_acc))]
        loop.stop_runs(met, epoch)


class StopAtGradNorm(Callback):
    """Stop the training at the first evaluation where every run still training has full-data ‖∇L‖ ≤ ``tol``."""

    needs_grad_norm = stops = True

    def __init__(self, tol: float) -> None:
        self.tol = tol

    def on_epoch_end(self, loop: "Loop", epoch: int, logs: Logs | None) -> None:
        if logs is not None and all(row["grad_norm"] <= self.tol for row in logs if loop.training(row["run"])):
            loop.stop_training = True


class Snapshots(Callback):
    """The weights of every run at epoch 0 and every ``every`` epochs: ``TrainResult.snapshots`` holds
    ``(run, epoch, weights)`` in the order taken (a stopped run's are those it stopped with)."""

    def __init__(self, every: int) -> None:
        if not isinstance(every, (int, np.integer)) or every < 1:
            raise ValueError(f"every={every!r} must be a positive integer")
        self.every, self.snapshots = int(every), []

    def on_train_begin(self, loop: "Loop") -> None:
        self.snapshots = []

    def on_epoch_end(self, loop: "Loop", epoch: int, logs: Logs | None) -> None:
        if epoch % self.every == 0:
            self.snapshots += [(r, epoch, weights) for r, weights in enumerate(loop.weights())]

    def on_train_end(self, loop: "Loop", result: "TrainResult") -> None:
        result.snapshots = self.snapshots


class StepRecords(Callback):
    """Every optimizer step's batch loss and ‖∇ objective‖: ``TrainResult.steps`` has one row per (run, step):
    ``run, step, loss, grad_norm, diverged``; from a run's first non-finite step on its values are NaN and
    ``diverged`` is true; after a run's stopping epoch its values are NaN (those steps were not taken)."""

    needs_steps = True

    def on_train_begin(self, loop: "Loop") -> None:
        self.losses, self.norms = [], []

    def on_steps(self, loop: "Loop", losses: np.ndarray, norms: np.ndarray) -> None:
        self.losses.append(losses)
        self.norms.append(norms)

    def on_train_end(self, loop: "Loop", result: "TrainResult") -> None:
        if not self.losses:
            return
        loss, norm = np.concatenate(self.losses), np.concatenate(self.norms)
        # a run is diverged from its first non-finite step on; its later (frozen) values mean nothing
        dead = np.logical_or.accumulate(~np.isfinite(loss) | ~np.isfinite(norm), axis=0)
        loss, norm = np.where(dead, np.nan, loss), np.where(dead, np.nan, norm)
        for r, epoch in enumerate(loop.stopped):
            if epoch is not None:
                loss[epoch * loop.steps_per_epoch:, r] = norm[epoch * loop.steps_per_epoch:, r] = np.nan
        n_steps = loss.shape[0]
        result.steps = pd.DataFrame({"run": np.repeat(np.arange(loop.runs), n_steps),
                                     "step": np.tile(np.arange(1, n_steps + 1), loop.runs),
                                     "loss": loss.T.reshape(-1), "grad_norm": norm.T.reshape(-1),
                                     "diverged": dead.T.reshape(-1)})


@dataclass(frozen=True)
class TrainProgress:
    """Where a training is, as data (the caller words it).

    Attributes:
        label: what is trained (the caller's label).
        epoch, epochs: the epoch just evaluated, and the cap.
        train_loss: mean full-set training loss of the runs still training (NaN if none is finite).
        train_acc: their mean training accuracy (None for regression).
        runs: how many runs the means are over.
        seconds_left: estimated time to the cap (0 when the training ends here).
        capped: a stopping rule may end the training sooner (``seconds_left`` is then an upper bound).
    """

    label: str
    epoch: int
    epochs: int
    train_loss: float
    train_acc: float | None
    runs: int
    seconds_left: float
    capped: bool


class ReportProgress(Callback):
    """Call ``report`` with a :class:`TrainProgress` at the end of the training and, while it lasts, at an
    evaluation about every ``every_seconds`` seconds (per group of runs when :func:`hw1.lab.train.train` splits
    them)."""

    per_run = True

    def __init__(self, report: Callable[[TrainProgress], None], label: str = "", every_seconds: float = 20.0) -> None:
        self.report, self.label, self.every_seconds = report, label, every_seconds

    def on_train_begin(self, loop: "Loop") -> None:
        self.start = self.reported = time.perf_counter()

    def on_epoch_end(self, loop: "Loop", epoch: int, logs: Logs | None) -> None:
        if logs is None or epoch == 0:
            return
        now, ends = time.perf_counter(), loop.ends_here(epoch)
        if not (ends or now - self.reported >= self.every_seconds):
            return
        self.reported = now
        left = 0.0 if ends else (now - self.start) / epoch * (loop.epochs - epoch)
        losses = [row["train_loss"] for row in logs]
        accs = [row["train_acc"] for row in logs if "train_acc" in row and np.isfinite(row["train_acc"])]
        self.report(TrainProgress(
            self.label, epoch, loop.epochs, float(np.nanmean(losses)) if np.isfinite(losses).any() else np.nan,
            float(np.mean(accs)) if accs else None, len(logs), left, left > 0 and loop.has_stopping_rule))
