"""HW1-2b gradient norm: the script's CSV against an independent computation, divergence, and the view."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import report_section, run_main, smoke_run
from hw1.results import ResultsFolder, read_json
from hw1.report.views import part2_gradient_norm as view
from hw1.results.schema import tables

NAME = "part2_gradient_norm"


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    return smoke_run(tmp_path_factory, NAME)


def test_history_is_every_step_and_equals_a_recomputation(smoke):
    import keras
    import tensorflow as tf

    from hw1.lab import data, models

    history = pd.read_csv(smoke / "history.csv")
    s = read_json(smoke / "settings.json")["settings"]
    assert list(history.columns) == list(tables(NAME)["history.csv"].columns)  # the declared schema
    assert history["step"].tolist() == list(range(1, s["steps"] + 1))
    assert not history["diverged"].any()
    # the first step's loss and gradient norm, recomputed with a plain Keras model at the same initial weights
    keras.utils.set_random_seed(0)
    model = models.fc_net(s["widths"])
    dataset = data.function_data(data.FUNCTIONS["sinc"], s["samples"])
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(dataset.x_train) - dataset.y_train))
    grads = tape.gradient(loss, model.trainable_variables)
    norm = np.sqrt(sum(float(tf.reduce_sum(g ** 2)) for g in grads))
    assert history["train_loss"].iloc[0] == pytest.approx(float(loss), rel=1e-5)
    assert history["grad_norm"].iloc[0] == pytest.approx(norm, rel=1e-4)
    assert (smoke / "gradient_norm.png").stat().st_size > 10_000


def test_a_diverged_run_is_marked_and_never_read_as_a_trend(tmp_path):
    assert run_main(NAME, "--profile", "smoke", "--out", str(tmp_path), "--learning-rate", "1e6") == 0
    folder = tmp_path / NAME
    history = pd.read_csv(folder / "history.csv")
    if not history["diverged"].any():
        pytest.skip("learning rate 1e6 did not diverge on this platform")
    dead = history[history["diverged"]]
    assert dead["train_loss"].isna().all() and dead["grad_norm"].isna().all()
    assert history["diverged"].is_monotonic_increasing  # diverged from its first non-finite step on
    notes = view.comment(ResultsFolder(folder))
    assert notes[0].verdict == "warning" and "diverged" in notes[0].text
    assert read_json(folder / "outcome.json")["diverged"] is True


def test_report_section_cites_the_csv(smoke):
    section, conclusion = report_section(smoke.parent, NAME)
    history = pd.read_csv(smoke / "history.csv")
    text = " ".join(n.text for n in section.comment)
    assert f"{history['train_loss'].iloc[0]:.3g}" in text
    assert conclusion is not None and conclusion.figure.path == f"{NAME}/gradient_norm.png"
