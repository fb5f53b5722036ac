"""hw1.CurvatureCallback: what it logs during model.fit equals hw1's own measurements at the same weights."""

from __future__ import annotations

import subprocess
import sys

import keras
import numpy as np
import pytest

import hw1
from conftest import ROOT

RNG = np.random.default_rng(0)
X = RNG.standard_normal((60, 4)).astype("float32")
Y = np.argmax(X[:, :3] + 0.5 * X[:, 3:], axis=1).astype(np.int32)


class Snapshot(keras.callbacks.Callback):
    """The weights at the end of every epoch (after the curvature callback has measured them)."""

    def __init__(self) -> None:
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append([v.numpy().copy() for v in self.model.trainable_variables])


def test_logged_top_eigenvalue_and_trace_equal_hw1_at_the_same_epoch(tmp_path, capsys):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(6, activation="tanh"),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
    callback = hw1.CurvatureCallback((X, Y), every=2, measures=("top_eigenvalue", "trace", "sharpness"),
                                     log_dir=str(tmp_path / "tb"), probes=12)
    snapshot = Snapshot()
    history = model.fit(X, Y, epochs=4, batch_size=16, verbose=0, callbacks=[callback, snapshot])
    assert len(history.history["top_eigenvalue"]) == 2  # epochs 2 and 4 only
    assert capsys.readouterr().out.count("CurvatureCallback:") == 1  # the cost, printed once
    for logged, epoch in zip(range(2), (1, 3)):
        weights = snapshot.weights[epoch]
        top = hw1.hessian_eigenvalues(model, (X, Y), weights=weights, dtype="float32")[0]
        assert history.history["top_eigenvalue"][logged] == pytest.approx(top, rel=1e-5)
        trace = hw1.hessian_trace(model, (X, Y), weights=weights, probes=12, method="hutch++", dtype="float32")
        assert history.history["trace"][logged] == pytest.approx(trace.trace, rel=1e-5)
        sharp = hw1.sharpness(model, (X, Y), weights=weights)
        assert history.history["sharpness"][logged] == pytest.approx(sharp, rel=1e-5)
    events = list((tmp_path / "tb").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0
    import tensorflow as tf
    logged_top = [float(tf.make_ndarray(value.tensor)) for event in tf.compat.v1.train.summary_iterator(str(events[0]))
                  for value in event.summary.value if value.tag == "curvature/top_eigenvalue"]
    assert logged_top == pytest.approx(history.history["top_eigenvalue"], rel=1e-6)

def test_bad_arguments_are_one_line():
    for kwargs, message in [({"every": 0}, "every=0"), ({"measures": ("lambda",)}, "measures=('lambda',)"),
                            ({"probes": 2}, "probes=2")]:
        with pytest.raises(ValueError) as error:
            hw1.CurvatureCallback((X, Y), **kwargs)
        assert message in str(error.value) and "\n" not in str(error.value)


def test_the_callback_example_runs_and_draws_its_figure(tmp_path):
    figure = tmp_path / "lambda.png"
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "curvature_callback.py"), "--quick",
                           "--figure", str(figure)], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 3 and all("λmax" in line for line in lines)
    assert figure.stat().st_size > 10_000
