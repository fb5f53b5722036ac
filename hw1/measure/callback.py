"""Curvature during ``model.fit``: a Keras callback that logs λmax, tr(H) and sharpness every few epochs.

Example:
    >>> history = model.fit(x, y, epochs=20, callbacks=[hw1.CurvatureCallback((x, y), every=2)])  # doctest: +SKIP
    >>> history.history["top_eigenvalue"]                                                       # doctest: +SKIP
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import keras
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from hw1.measure.checks import check_argument, check_backend
from hw1.measure.operator import Curvature

__all__ = ["CurvatureCallback", "MEASURES"]

_SCALAR = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"),
                                      data_class=summary_pb2.DATA_CLASS_SCALAR)

MEASURES = ("top_eigenvalue", "trace", "sharpness", "gradient_norm")


class CurvatureCallback(keras.callbacks.Callback):
    """At the end of every ``every`` epochs, measures the curvature of the mean loss on ``data``.

    The measures are taken at the model's weights of that epoch's end, in inference mode (as
    :func:`hw1.hessian_eigenvalues` and the other measurements), and added to ``logs`` under their
    names, so to the ``History`` that ``model.fit`` returns (epochs without a measurement have
    none). With ``log_dir`` they are also TensorBoard scalars ``curvature/<name>``. The first
    measurement prints its cost once, so that ``every`` can be chosen.

    Args:
        data: ``(x, y)`` arrays or a finite tf.data.Dataset of ``(x, y)`` batches.
        every: measure every this many epochs (the last of each group: epochs every, 2·every, …).
        measures: any of "top_eigenvalue" (λmax, Lanczos to ``rtol``), "trace" (tr H,
            Hutch++ with ``probes`` products), "sharpness" (Keskar ε-sharpness in %, ``epsilon``),
            "gradient_norm" (‖∇L‖₂).
        log_dir: a folder for TensorBoard event files, or None.
        loss, curvature, variables, batch_size, dtype: as in :func:`hw1.curvature` (None: the compiled loss).
        rtol: tolerance of λmax. probes: products for the trace. epsilon: the sharpness box. seed: seeds them.
    """

    def __init__(self, data: Any, every: int = 1, measures: Sequence[str] = ("top_eigenvalue", "trace", "sharpness"),
                 log_dir: str | None = None, *, loss: Any = None, curvature: str = "hessian",
                 variables: Sequence[Any] | None = None, batch_size: int | None = None, dtype: str | None = "float32",
                 rtol: float = 1e-3, probes: int = 30, epsilon: float = 1e-3, seed: int = 0,
                 verbose: bool = True) -> None:
        super().__init__()
        check_backend()
        check_argument("every", every, isinstance(every, (int, np.integer)) and every >= 1,
                       "every must be a positive integer (epochs)")
        measures = (measures,) if isinstance(measures, str) else tuple(measures)
        unknown = [m for m in measures if m not in MEASURES]
        check_argument("measures", measures, bool(measures) and not unknown, f"choose some of {MEASURES}")
        check_argument("rtol", rtol, isinstance(rtol, (int, float)) and 0 < rtol < 1, "rtol must be in (0, 1)")
        check_argument("probes", probes, isinstance(probes, (int, np.integer)) and probes >= 4,
                       "probes must be an integer >= 4")
        check_argument("epsilon", epsilon, isinstance(epsilon, (int, float)) and np.isfinite(epsilon) and epsilon >= 0,
                       "epsilon must be a non-negative number")
        self.data, self.every, self.measures, self.log_dir = data, int(every), measures, log_dir
        self.options = dict(loss=loss, curvature=curvature, variables=variables, batch_size=batch_size, dtype=dtype)
        self.rtol, self.probes, self.epsilon, self.seed, self.verbose = rtol, int(probes), epsilon, seed, verbose
        self._operator: Curvature | None = None
        self._writer = None
        self.seconds: float | None = None  # cost of one measurement (the second call, or the first if only one)

    def _curvature(self) -> Curvature:
        if self._operator is None or self._operator.model is not self.model:
            self._operator = Curvature(self.model, self.data, **self.options)  # validates and compiles once
        else:
            self._operator.set_weights()
        return self._operator

    def measure(self) -> dict[str, float]:
        """The measures at the model's current weights (what :meth:`on_epoch_end` logs)."""
        c = self._curvature()
        values: dict[str, float] = {}
        if "top_eigenvalue" in self.measures:
            values["top_eigenvalue"] = float(c.eigenvalues(1, rtol=self.rtol, seed=self.seed)[0])
        if "trace" in self.measures:
            values["trace"] = float(c.trace(self.probes, seed=self.seed).trace)
        if "sharpness" in self.measures:
            from hw1.measure import analysis
            problem = c.problem
            weights = [v.numpy() for v in self.model.trainable_variables]
            values["sharpness"] = float(analysis.sharpness_on_batches(
                problem.view, weights, problem.batches, problem.loss, epsilon=self.epsilon, seed=self.seed))
        if "gradient_norm" in self.measures:
            values["gradient_norm"] = float(np.linalg.norm(c.value_and_gradient()[1]))
        return values

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if (epoch + 1) % self.every:
            return
        start = time.perf_counter()
        values = self.measure()
        seconds = time.perf_counter() - start
        if logs is not None:
            logs.update(values)
        if self.log_dir is not None:
            if self._writer is None:
                self._writer = tf.summary.create_file_writer(str(self.log_dir))
            with self._writer.as_default():
                for name, value in values.items():  # TensorBoard's scalar summary, without importing tensorboard
                    tf.summary.write(f"curvature/{name}", tf.constant(value, tf.float32), step=epoch,
                                     metadata=_SCALAR.SerializeToString())
            self._writer.flush()
        if self.seconds is None:
            self.seconds = seconds
            if self.verbose:
                print(f"CurvatureCallback: {', '.join(self.measures)} took {seconds:.2f} s at epoch {epoch + 1} "
                      f"(graphs traced once, later calls are cheaper); measured every {self.every} epoch(s)")

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
