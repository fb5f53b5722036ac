"""``python -m hw1 measure``: its table and JSON equal Keras's own loss and the exact Hessian; mistakes are one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import hw1
from conftest import ROOT
from hw1.lab import cli_measure

RNG = np.random.default_rng(0)
X = RNG.standard_normal((50, 4)).astype("float32")
Y = np.argmax(X[:, :3] + 0.5 * X[:, 3:], axis=1).astype(np.int32)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, activation="tanh"),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
    model.fit(X, Y, epochs=3, batch_size=10, verbose=0)
    model.save(folder / "model.keras")
    np.savez(folder / "data.npz", x=X, y=Y)
    np.savez(folder / "nolabels.npz", x=X)
    return folder, model


def test_the_table_and_json_equal_keras_and_the_exact_hessian(saved):
    folder, model = saved
    out = folder / "values.json"
    done = subprocess.run([sys.executable, "-m", "hw1", "measure", str(folder / "model.keras"), "--data",
                           str(folder / "data.npz"), "--measures", "loss", "accuracy", "top_eigenvalue", "trace",
                           "--dtype", "float64", "--rtol", "1e-8", "--probes", "43", "--json", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=600,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads(out.read_text())
    values = record["values"]
    assert list(values) == ["loss", "accuracy", "top_eigenvalue", "trace"] and record["samples"] == 50
    assert values["loss"] == pytest.approx(model.evaluate(X, Y, verbose=0), rel=1e-5)
    assert values["accuracy"] == pytest.approx(np.mean(np.argmax(model.predict(X, verbose=0), 1) == Y))
    columns = np.eye(43)
    c = hw1.curvature(model, (X, Y), dtype="float64")
    H = np.array([c.hvp(e) for e in columns])  # the exact Hessian, column by column
    assert values["top_eigenvalue"] == pytest.approx(np.linalg.eigvalsh(0.5 * (H + H.T))[-1], rel=1e-7)
    assert values["trace"] == pytest.approx(np.trace(H), rel=0.2)
    for name in values:
        assert any(line.startswith(name) for line in done.stdout.splitlines())


def test_every_mistake_is_one_line_and_exit_code_2(saved, capsys, tmp_path):
    folder, _ = saved
    model, data = str(folder / "model.keras"), str(folder / "data.npz")
    (tmp_path / "broken.keras").write_text("not a model")
    cases = [
        (["measure", str(tmp_path / "missing.keras"), "--data", data], "does not exist"),
        (["measure", str(tmp_path / "broken.keras"), "--data", data], "cannot be loaded"),
        (["measure", model, "--data", "imagenet"], "'imagenet' is neither"),
        (["measure", model, "--data", str(folder / "nolabels.npz")], "needs 'x' and 'y'"),
        (["measure", model, "--data", data, "--measures", "loss", "curvyness"], "unknown ['curvyness']"),
        (["measure", model, "--data", data, "--probes", "0"], "'0' is not a positive integer"),
        (["measure", model, "--data", data, "--json", str(tmp_path)], "is a folder"),
        (["measure", model, "--data", data, "--probes", "10000000", "--max-memory", "100M"],  # 1.7 GB of sketch
         "--probes 10000000: the Hutch++ sketch of 3,333,333 vectors of 43 parameters would need about 1.6 GiB"),
        (["measure", model, "--data", data, "--max-memory", "4X"], "'4X' is not a memory size"),
        (["measure", model, "--data", "mnist_bundled"], "x has shape (4000, 28, 28, 1)"),
        (["summarize"], "command 'summarize' unknown"),
    ]
    for argv, message in cases:
        assert exit_code(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, (argv, err)


def exit_code(argv: list[str]) -> int:
    """``main``'s exit code, whether returned or raised by argparse."""
    try:
        return cli_measure.main(argv)
    except SystemExit as stop:
        return int(stop.code)
