"""HW1-3 experiment scripts: smoke runs (in parallel subprocesses) checked for columns AND values.

(Same seed → byte-identical CSVs and the resume cache are checked for every script by test_reliability.py.)"""

import importlib.util
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import keras
import numpy as np
import pandas as pd
import pytest

from hw1 import analysis, data, models
from hw1.results import read_json
from conftest import ROOT, run_script

METRICS = ["train_loss", "train_acc", "test_loss", "test_acc"]
TF_CHATTER = re.compile(r"WARNING: All log messages before absl|[IWE]\d{4} ")  # TensorFlow's start-up lines
SCRIPTS = ["part3_random_labels", "part3_params_vs_generalization", "part3_interpolation", "part3_sensitivity"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every smoke run this module checks, started together: {key: (CompletedProcess, experiment folder)}."""
    root = tmp_path_factory.mktemp("part3")
    jobs = {name: (name, root / "a", []) for name in SCRIPTS}
    jobs["bad_alpha"] = ("part3_interpolation", root / "b", ["--alpha-min", "2", "--alpha-max", "1"])
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {key: pool.submit(run_script, script, "--profile", "smoke", "--out", str(out), *extra)
                   for key, (script, out, extra) in jobs.items()}
        return {key: (futures[key].result(), out / script) for key, (script, out, _) in jobs.items()}


def finished(runs, key):
    proc, folder = runs[key]
    assert proc.returncode == 0, proc.stderr[-2000:]
    return folder


def smoke_data():
    """The data the smoke profiles use (the script's own subset, seed 0)."""
    return data.subset(data.load("mnist_bundled"), 256, seed=0)


def load_profiles(name):
    sys.path.insert(0, str(ROOT / "experiments"))
    try:
        spec = importlib.util.spec_from_file_location(name, ROOT / "experiments" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "experiments"))
    return module.PROFILES


def test_random_labels_are_memorized_while_test_accuracy_stays_near_chance(runs):
    folder = finished(runs, "part3_random_labels")
    history = pd.read_csv(folder / "history.csv")
    assert list(history.columns) == ["epoch", *METRICS]
    assert list(history["epoch"]) == list(range(len(history)))
    stored = read_json(folder / "settings.json")
    assert 0.8 < stored["settings"]["labels_changed"] < 0.97
    last = history.iloc[-1]
    assert last["train_acc"] >= 0.99 and stored["summary"]["epochs_to_target"] == last["epoch"]
    assert last["test_acc"] < 0.35  # 64 test images with their TRUE labels: chance, not memory
    assert last["test_loss"] > history["test_loss"].iloc[0] > last["train_loss"]
    assert (folder / "random_labels.png").stat().st_size > 10_000


def test_params_vs_generalization_counts_and_metrics(runs):
    folder = finished(runs, "part3_params_vs_generalization")
    table = pd.read_csv(folder / "models.csv")
    assert list(table.columns) == ["model", "params", *METRICS, "diverged"]
    for row in table.itertuples():
        width = int(row.model.split("-")[1])
        assert row.params == models.fc_net([width], (28, 28, 1), 10).count_params() == 795 * width + 10
    assert table["params"].is_monotonic_increasing and table["params"].max() / table["params"].min() > 50
    assert table[["train_acc", "test_acc"]].stack().between(0, 1).all() and not table["diverged"].any()
    assert table["train_acc"].iloc[-1] > table["train_acc"].iloc[0]  # capacity helps at equal budget
    assert {p.name for p in folder.glob("*.png")} == {"params_loss.png", "params_accuracy.png"}


def test_interpolation_endpoints_and_alpha_grid(runs):
    folder = finished(runs, "part3_interpolation")
    curves = pd.read_csv(folder / "interpolation.csv")
    ends = pd.read_csv(folder / "endpoints.csv")
    assert list(curves.columns) == ["pair", "alpha", *METRICS]
    assert set(curves["pair"]) == {"batch_size", "learning_rate"}
    for pair, curve in curves.groupby("pair"):
        assert len(curve) >= 31 and curve["alpha"].min() == -1 and curve["alpha"].max() == 2
        assert {0.0, 1.0, 2.0} <= set(curve["alpha"])
        for end in ends[ends["pair"] == pair].itertuples():  # the trained models' own final evaluation
            row = curve[curve["alpha"] == end.alpha].iloc[0]
            for metric in METRICS:
                assert row[metric] == pytest.approx(getattr(end, metric), rel=1e-5, abs=1e-7)
    first = ends[ends["alpha"] == 0]
    assert first[METRICS].nunique().max() == 1  # both pairs start from the same trained model
    assert ends.set_index(["pair", "alpha"]).loc[("batch_size", 1.0), "batch_size"] == 128
    assert ends.set_index(["pair", "alpha"]).loc[("learning_rate", 1.0), "learning_rate"] == 1e-2


def test_sensitivity_rows_match_the_saved_models(runs):
    folder = finished(runs, "part3_sensitivity")
    table = pd.read_csv(folder / "models.csv")
    assert list(table.columns) == ["batch_size", *METRICS, "sensitivity", "sharpness", "top_hessian_eigenvalue",
                                   "diverged"]
    assert (table["sensitivity"] > 0).all() and (table["sharpness"] >= 0).all()
    assert (table["top_hessian_eigenvalue"] > 0).all()
    ds = smoke_data()
    for row in table.itertuples():
        model = keras.saving.load_model(folder / "models" / f"bs_{row.batch_size:04d}.keras")
        model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        loss, acc = model.evaluate(ds.x_test, ds.y_test, batch_size=len(ds.x_test), verbose=0)
        assert row.test_loss == pytest.approx(loss, rel=1e-5) and row.test_acc == pytest.approx(acc)
        weights = [v.numpy() for v in model.trainable_variables]
        assert row.sensitivity == pytest.approx(analysis.input_jacobian_norm(model, weights, ds.x_test), rel=1e-5)
    settings = read_json(folder / "settings.json")["settings"]
    assert settings["same"] == "epochs" and settings["steps_by_batch"] == {"16": 48, "64": 12, "128": 6}
    assert len(list(folder.glob("*.png"))) == 3


def test_bad_alpha_range_is_one_line_and_exit_2(runs):
    proc, _ = runs["bad_alpha"]
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not TF_CHATTER.match(line)]
    assert len(lines) == 1 and "α range [2, 1]" in lines[0] and "Traceback" not in proc.stderr


def test_default_profiles_ask_for_what_the_homework_asks():
    widths = load_profiles("part3_params_vs_generalization")["default"]["widths"]
    counts = [models.fc_param_count([w], 784, 10) for w in widths]
    assert len(widths) >= 10 and max(counts) / min(counts) >= 100
    sizes = load_profiles("part3_sensitivity")["default"]["batch_sizes"]
    assert len(sizes) >= 5 and np.all(np.diff(np.log(sizes)) > 1)
    interp = load_profiles("part3_interpolation")["default"]
    assert (interp["alpha_min"], interp["alpha_max"]) == (-1.0, 2.0) and interp["alpha_points"] >= 31
    assert interp["batch_sizes"] == [64, 1024] and interp["learning_rates"] == [1e-3, 1e-2]
    assert load_profiles("part3_random_labels")["default"]["target_train_acc"] >= 0.99


def test_figures_are_redrawn_from_the_csvs_alone_without_tensorflow(runs):
    folders = [str(finished(runs, name)) for name in SCRIPTS]
    code = ("import sys; from pathlib import Path; from hw1 import plots\n"
            f"for folder in {folders!r}:\n"
            "    for path in plots.draw(Path(folder).name, folder): assert path.stat().st_size > 10_000, path\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_a_diverged_model_is_left_out_of_the_sensitivity_figures(runs, tmp_path):
    from hw1.plots import part3

    source = finished(runs, "part3_sensitivity")
    shutil.copy(source / "settings.json", tmp_path / "settings.json")
    table = pd.read_csv(source / "models.csv")
    table.loc[1, METRICS + ["sensitivity", "sharpness", "top_hessian_eigenvalue"]] = np.nan
    table.loc[1, "diverged"] = True
    table.to_csv(tmp_path / "models.csv", index=False)
    models_shown, note = part3._excluded(table, "batch {batch_size}")
    assert list(models_shown["batch_size"]) == [16, 128] and note == " Left out (diverged): batch 64."
    assert len(part3.sensitivity(tmp_path)) == 3
