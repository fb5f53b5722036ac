"""HW1-3c interpolation: endpoints against Keras, the α grid, divergence, resume, and the tolerance rules."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from conftest import load_script, run_main, smoke_run
from hw1.results import ResultsFolder, file_digest, read_json
from hw1.report.views import part3_interpolation as view
from hw1.results.schema import tables

NAME = "part3_interpolation"
COLUMNS = {name: list(t.columns) for name, t in tables(NAME).items()}  # the declared schema
METRICS = ["train_loss", "train_acc", "test_loss", "test_acc"]
SMOKE = ["--profile", "smoke", "--save-weights"]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    return smoke_run(tmp_path_factory, NAME, "--save-weights")


def keras_metrics(weights, data):
    """Loss and accuracy of the smoke architecture at ``weights`` on both full sets, by Keras' own evaluate."""
    import keras

    from hw1.lab import models

    model = models.fc_net([32], (28, 28, 1), 10)
    model.set_weights(weights)
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    out = {}
    for split, x, y in (("train", data.x_train, data.y_train), ("test", data.x_test, data.y_test)):
        out[f"{split}_loss"], out[f"{split}_acc"] = model.evaluate(x, y, batch_size=len(x), verbose=0)
    return out


def endpoint_weights(folder, pair, alpha):
    with np.load(folder / "models" / "endpoints.npz") as saved:
        return [saved[f"{pair}_a{alpha:g}_{i}"] for i in range(4)]


def test_both_pairs_on_the_full_alpha_grid(smoke):
    curves, ends = pd.read_csv(smoke / "interpolation.csv"), pd.read_csv(smoke / "endpoints.csv")
    assert list(curves.columns) == COLUMNS["interpolation.csv"] and list(ends.columns) == COLUMNS["endpoints.csv"]
    assert set(curves["pair"]) == {"batch_size", "learning_rate"} and not curves["diverged"].any()
    for _, curve in curves.groupby("pair"):
        assert len(curve) >= 31 and curve["alpha"].min() == -1 and curve["alpha"].max() == 2
        assert {0.0, 1.0, 2.0} <= set(curve["alpha"])
    e = ends.set_index(["pair", "alpha"])
    assert (e.loc[("batch_size", 1.0), "batch_size"], e.loc[("learning_rate", 1.0), "learning_rate"]) == (128, 1e-2)
    assert e.loc[("batch_size", 0.0), METRICS].equals(e.loc[("learning_rate", 0.0), METRICS])  # one shared θ1
    assert {p.name for p in smoke.glob("*.png")} == {"interpolation_batch_size.png", "interpolation_learning_rate.png"}


def test_the_curve_at_0_and_1_is_the_trained_models_by_keras(smoke, smoke_data):
    curves, ends = pd.read_csv(smoke / "interpolation.csv"), pd.read_csv(smoke / "endpoints.csv")
    for end in ends.itertuples():
        own = keras_metrics(endpoint_weights(smoke, end.pair, end.alpha), smoke_data)
        row = curves[(curves["pair"] == end.pair) & (curves["alpha"] == end.alpha)].iloc[0]
        for metric in METRICS:
            assert getattr(end, metric) == pytest.approx(own[metric], rel=1e-5)  # the training's own record
            assert row[metric] == pytest.approx(own[metric], rel=1e-5)  # the interpolation at α = 0 or 1
    pair = curves[curves["pair"] == "batch_size"]
    assert pair.loc[pair["alpha"] == 0, "train_loss"].item() != pytest.approx(
        pair.loc[pair["alpha"] == 1, "train_loss"].item(), rel=1e-3)


@pytest.mark.parametrize("alpha", [-1.0, 0.5, 2.0])
def test_a_point_of_the_line_is_the_mixed_parameter_vector(smoke, smoke_data, alpha):
    w1, w2 = endpoint_weights(smoke, "batch_size", 0), endpoint_weights(smoke, "batch_size", 1)
    mixed = [((1 - alpha) * a.astype(np.float64) + alpha * b.astype(np.float64)).astype(np.float32)
             for a, b in zip(w1, w2)]
    own = keras_metrics(mixed, smoke_data)
    curves = pd.read_csv(smoke / "interpolation.csv")
    row = curves[(curves["pair"] == "batch_size") & np.isclose(curves["alpha"], alpha)].iloc[0]
    for metric in METRICS:
        assert row[metric] == pytest.approx(own[metric], rel=1e-5)


def test_a_diverged_endpoint_is_a_diverged_row_not_a_crash(tmp_path, monkeypatch):
    """Adam with a capped step does not blow up this net, so the learning-rate 1e-2 endpoint is made to diverge
    the way :func:`hw1.lab.train.train` reports it: metrics NaN, ``diverged`` true."""
    from hw1.lab import train

    real = train.train

    def diverging(build, data, config, seeds, **kwargs):
        result = real(build, data, config, seeds, **kwargs)
        if config.learning_rate == 1e-2:
            result.history.loc[result.history["epoch"] > 0, METRICS] = np.nan
            result.diverged = [True] * len(seeds)
        return result

    monkeypatch.setattr(train, "train", diverging)
    assert run_main(NAME, "--profile", "smoke", "--out", str(tmp_path)) == 0
    folder = tmp_path / NAME
    curves, ends = pd.read_csv(folder / "interpolation.csv"), pd.read_csv(folder / "endpoints.csv")
    assert ends.loc[ends["diverged"], ["pair", "alpha"]].values.tolist() == [["learning_rate", 1.0]]
    dead = curves[curves["pair"] == "learning_rate"]
    assert len(dead) >= 31 and dead["diverged"].all() and dead[METRICS].isna().all().all()
    assert not curves.loc[curves["pair"] == "batch_size", "diverged"].any()
    assert read_json(folder / "outcome.json")["diverged"] == [{"pair": "learning_rate", "alpha": 1.0}]
    notes = view.comment(ResultsFolder(folder))
    assert any(n.verdict == "warning" and "θ2 diverged" in n.text for n in notes)
    assert "an endpoint diverged" in view.conclusion(ResultsFolder(folder))[0]
    assert (folder / "interpolation_learning_rate.png").is_file()


def test_a_killed_run_resumes_to_the_same_bytes(smoke, tmp_path, monkeypatch):
    from hw1.measure import generalization  # the home of hw1.interpolate, which the script calls

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(generalization, "interpolate", killed)
        assert run_main(NAME, *SMOKE, "--out", str(tmp_path)) == 130  # killed after training, before the curves
    folder = tmp_path / NAME
    # the batch-size pair's two endpoints were trained and kept; nothing was written
    assert len(list((folder / ".cache").rglob("endpoint_*.npz"))) == 2 and not list(folder.glob("*.csv"))
    assert run_main(NAME, *SMOKE, "--out", str(tmp_path)) == 0
    for name in ("interpolation.csv", "endpoints.csv"):
        assert (folder / name).read_bytes() == (smoke / name).read_bytes()


def fabricated(smoke, folder, edit):
    """The smoke run with interpolation.csv changed by ``edit(curves, ends)``; digests rewritten."""
    shutil.copytree(smoke, folder)
    curves, ends = pd.read_csv(folder / "interpolation.csv"), pd.read_csv(folder / "endpoints.csv")
    edit(curves, ends)
    curves.to_csv(folder / "interpolation.csv", index=False)
    outcome = read_json(folder / "outcome.json")
    outcome["files"]["interpolation.csv"] = file_digest(folder / "interpolation.csv")
    (folder / "outcome.json").write_text(json.dumps(outcome))
    return ResultsFolder(folder)


def pair_notes(run, pair):
    first = {"batch_size": "θ1 (batch size", "learning_rate": "θ1 (learning rate"}[pair]
    return " ".join(n.text for n in view.comment(run) if n.text.startswith(first))


def test_a_minimum_within_float32_noise_of_a_trained_model_is_at_that_model(smoke, tmp_path):
    """The old report read an 8th-digit float32 difference at α = 0 as "lower than both trained models"."""
    def edit(curves, ends):
        rows = curves["pair"] == "learning_rate"
        at0 = rows & (curves["alpha"] == 0)
        curves.loc[rows & (curves["alpha"] != 0), "test_loss"] += 1.0  # α = 0 is the lowest point
        curves.loc[at0, "test_loss"] *= 1 - 3e-8  # and a hair below the trained model's own value

    text = pair_notes(fabricated(smoke, tmp_path / NAME, edit), "learning_rate")
    assert "the test loss is lowest at the trained model θ1 (α = 0)" in text and "below the better" not in text


@pytest.mark.parametrize("height, words", [(0.033, "a low loss barrier"), (0.25, "a high loss barrier"),
                                           (0.0, "no loss barrier")])
def test_a_barrier_is_high_or_low_by_an_absolute_threshold_in_nats(smoke, tmp_path, height, words):
    def edit(curves, ends):
        rows = curves["pair"] == "learning_rate"
        e = ends[ends["pair"] == "learning_rate"]
        higher = e["train_loss"].max()
        curves.loc[rows & curves["alpha"].between(0, 1), "train_loss"] = higher  # flat at the higher endpoint
        curves.loc[rows & (curves["alpha"] == 0), "train_loss"] = e.loc[e["alpha"] == 0, "train_loss"].item()
        curves.loc[rows & (curves["alpha"] == 1), "train_loss"] = e.loc[e["alpha"] == 1, "train_loss"].item()
        curves.loc[rows & (curves["alpha"] == 0.5), ["train_loss", "train_acc"]] = [higher + height, 0.5]

    text = pair_notes(fabricated(smoke, tmp_path / NAME, edit), "learning_rate")
    assert words in text
    if height:
        assert f"+{height:.3g} nats above the higher endpoint's" in text and "training accuracy falls to 50.0%" in text


def test_the_keskar_comparison_is_never_a_verdict_from_one_seed(smoke):
    notes = view.comment(ResultsFolder(smoke))
    verdicts = [n for n in notes if n.verdict]
    assert [n.verdict for n in verdicts] == ["unresolved"] and "Keskar" in verdicts[0].text
    assert "one seed" in verdicts[0].text


def test_a_bad_alpha_range_is_one_line_and_exit_2(tmp_path, capsys):
    assert run_main(NAME, "--profile", "smoke", "--out", str(tmp_path), "--alpha-min", "2", "--alpha-max", "1") == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "α range [2, 1]" in lines[0]


def test_the_default_profile_asks_for_what_the_homework_asks():
    default = load_script(NAME).PROFILES["default"]
    assert (default["alpha_min"], default["alpha_max"]) == (-1.0, 2.0) and default["alpha_points"] >= 31
    assert default["batch_sizes"] == [64, 1024] and default["learning_rates"] == [1e-3, 1e-2]


def test_the_figures_are_redrawn_from_the_files_alone_without_tensorflow(smoke):
    import subprocess
    import sys

    from conftest import ROOT

    code = ("import sys; from hw1.report import views\n"
            f"paths = views.draw({NAME!r}, {str(smoke)!r})\n"
            "assert len(paths) == 2 and all(p.stat().st_size > 10_000 for p in paths), paths\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
