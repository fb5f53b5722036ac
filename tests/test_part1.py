"""HW1-1 scripts, smoke profile: the CSVs hold what the figures and the report need."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, run_script


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    folder = tmp_path_factory.mktemp("results")
    for name, extra in (("part1_simulate_function", ["--function", "cube=x**3"]), ("part1_actual_task", [])):
        proc = run_script(name, "--profile", "smoke", "--out", str(folder), *extra)
        assert proc.returncode == 0, proc.stderr
    return folder


def test_simulate_function_outputs(out):
    folder = out / "part1_simulate_function"
    models = pd.read_csv(folder / "models.csv")
    settings = json.loads((folder / "settings.json").read_text())
    target = settings["settings"]["target_params"]
    assert set(models["function"]) == {"sinc", "sign", "cube"}
    assert models.groupby("function")["model"].count().min() >= 3
    assert ((models["params"] - target).abs() <= 0.02 * target).all()
    # the widths column describes the parameter count it claims
    for row in models.itertuples():
        widths = [int(w) for w in row.widths.split("-")]
        assert len(widths) == row.hidden_layers
        sizes = [1, *widths, 1]
        assert row.params == sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
    history = pd.read_csv(folder / "history.csv")
    assert list(history.columns) == ["function", "model", "run", "epoch", "loss"]
    last = history.groupby(["function", "model", "run"]).tail(1)
    assert (last.groupby(["function", "model"])["run"].count() == models["runs"].iloc[0]).all()
    for row in models.itertuples():  # the reported run is the median one, and its loss is its last loss
        finals = last[(last["function"] == row.function) & (last["model"] == row.model)].set_index("run")["loss"]
        assert row.final_loss == pytest.approx(finals[row.median_run])
        assert row.final_loss == pytest.approx(np.sort(finals.to_numpy())[(len(finals) - 1) // 2])
        assert row.final_loss_min == pytest.approx(finals.min()) and row.final_loss_max == pytest.approx(finals.max())
    predictions = pd.read_csv(folder / "predictions.csv")
    truth = predictions[(predictions["function"] == "cube") & (predictions["model"] == "ground_truth")]
    np.testing.assert_allclose(truth["y"], truth["x"] ** 3, rtol=1e-5)
    assert {p.name for p in folder.glob("*.png")} >= {f"{k}_{f}.png" for k in ("loss", "predictions")
                                                        for f in ("sinc", "sign", "cube")}
    assert settings["seed"] == 0 and settings["profile"] == "smoke" and "tensorflow-cpu" in settings["versions"]


def test_actual_task_outputs(out):
    folder = out / "part1_actual_task"
    models = pd.read_csv(folder / "models.csv")
    assert models["model"].tolist() == ["dnn", "cnn", "rnn"]
    history = pd.read_csv(folder / "history.csv")
    assert list(history.columns) == ["model", "epoch", "train_loss", "train_acc", "test_loss", "test_acc"]
    assert history["train_acc"].between(0, 1).all() and history["test_acc"].between(0, 1).all()
    # the models learn something even in two smoke epochs: loss falls from its start value (about ln 10)
    first, last = history.groupby("model")["train_loss"].first(), history.groupby("model")["train_loss"].last()
    assert (first > 2.0).all() and (last < first).all()
    settings = json.loads((folder / "settings.json").read_text())
    assert settings["settings"]["dataset"]["name"] == "mnist_bundled"
    assert (folder / "loss.png").exists() and (folder / "acc.png").exists()


def test_figures_regenerate_from_csvs_without_tensorflow(out):
    for png in out.glob("*/*.png"):
        png.unlink()
    code = ("import sys; from hw1.plots import draw_all; drawn = draw_all(sys.argv[1]); "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'; "
            "print(sum(len(v) for v in drawn.values()))")
    proc = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) == len(list(out.glob("*/*.png"))) == 8
