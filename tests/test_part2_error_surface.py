"""HW1-2 bonus error surface: grids, directions and divergence, against independent computations."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from conftest import fc_model_and_data, load_script, report_section, run_main, smoke_run
from hw1.measure import trajectory
from hw1.report.prose import num, pct
from hw1.results import ResultsFolder, read_json
from hw1.report.views import part2_error_surface as view
from hw1.results.schema import tables

NAME = "part2_error_surface"
COLUMNS = {name: list(t.columns) for name, t in tables(NAME).items()}  # the declared schema


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    return smoke_run(tmp_path_factory, NAME)


def _keras_loss(model, weights, x, y) -> float:
    """The mean cross-entropy of a plain Keras model holding ``weights``."""
    import keras

    model.set_weights([np.asarray(w, np.float32) for w in weights])
    return float(keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, model(x)))


# ---------------------------------------------------------------- hw1.measure.trajectory, on known cases

def test_filter_normalized_direction_matches_each_filter_norm():
    weights = [np.random.default_rng(0).standard_normal((5, 3)), np.ones(3), np.full((3, 2), 0.5), np.ones(2)]
    direction = trajectory.filter_normalized_direction(weights, seed=1)
    for w, d in zip(weights, direction):
        if w.ndim == 1:
            assert not d.any()
        else:
            assert np.allclose(np.linalg.norm(d, axis=0), np.linalg.norm(w, axis=0), rtol=1e-12)
            assert not np.allclose(d / np.linalg.norm(d, axis=0), w / np.linalg.norm(w, axis=0))
    assert all(np.array_equal(a, b) for a, b in zip(direction, trajectory.filter_normalized_direction(weights, 1)))


def test_trajectory_directions_recover_a_planar_path():
    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(rng.standard_normal((12, 2)))
    final = rng.standard_normal(12)
    coords = np.column_stack([np.linspace(-3, 0, 8) ** 2, np.sin(np.linspace(0, 3, 8))])
    coords -= coords[-1]
    path = [[(final + basis @ c).reshape(3, 4)] for c in coords]
    d1, d2, found, ratio = trajectory.trajectory_directions(path)
    assert np.allclose(found[-1], 0, atol=1e-12)
    rebuilt = final + found @ np.stack([d1[0].ravel(), d2[0].ravel()])
    assert np.allclose(rebuilt, [p[0].ravel() for p in path], atol=1e-10)  # the path lies in the plane
    assert ratio.sum() == pytest.approx(1.0) and ratio[0] >= ratio[1]


def test_loss_grid_equals_the_loss_of_each_grid_point():
    from hw1.measure import core
    from hw1.lab import models, train

    build = lambda: models.fc_net([3], activation="tanh")  # noqa: E731
    model, center = build(), train.initial_weights(build, 0)
    x = np.linspace(0, 1, 16, dtype=np.float32).reshape(-1, 1)
    y = np.cos(3 * x)
    d1, d2 = (trajectory.filter_normalized_direction(center, s) for s in (1, 2))
    alphas, betas = np.array([-1.0, 0.0, 0.5]), np.array([-0.5, 0.0, 1.0])
    loss, acc = trajectory.loss_grid(core.Evaluator(model, "mse"), center, d1, d2, alphas, betas, x, y, chunk=4)
    f = core.loss_fn(model, "mse")
    for i, b in enumerate(betas):
        for j, a in enumerate(alphas):
            point = [(c + a * u + b * v).astype(np.float32) for c, u, v in zip(center, d1, d2)]
            assert loss[i, j] == pytest.approx(float(f(point, x, y)), rel=1e-5)
    assert loss[1, 1] == pytest.approx(float(f(center, x, y)), rel=1e-6) and np.isnan(acc).all()


# ---------------------------------------------------------------- the script (smoke profile)

def test_grid_centre_is_the_trained_model_and_points_equal_a_keras_recomputation(smoke):
    from hw1.measure.core import unflatten

    s, outcome = read_json(smoke / "settings.json")["settings"], read_json(smoke / "outcome.json")
    grid, path = pd.read_csv(smoke / "grid.csv"), pd.read_csv(smoke / "trajectory.csv")
    assert list(grid.columns) == COLUMNS["grid.csv"] and list(path.columns) == COLUMNS["trajectory.csv"]
    assert path["epoch"].tolist() == list(range(s["epochs"] + 1)) and not path["diverged"].any()
    assert grid.groupby("directions").size().to_dict() == {"pca": s["grid_points"] ** 2,
                                                            "filter_normalized": s["grid_points"] ** 2}
    trained = path["train_loss"].iloc[-1]  # the trained model's training loss, from its training history
    assert outcome["center_train_loss"] == pytest.approx(trained, rel=1e-9) and outcome["diverged"] is False
    centre = grid[(grid["alpha"] == 0) & (grid["beta"] == 0)]
    assert sorted(centre["directions"]) == ["filter_normalized", "pca"]
    np.testing.assert_allclose(centre["train_loss"], trained, rtol=1e-5)
    assert np.allclose(path[["alpha", "beta"]].iloc[-1], 0, atol=1e-9)
    pca = grid[grid["directions"] == "pca"]
    assert (pca["alpha"].abs().max() >= path["alpha"].abs().max()
            and pca["beta"].abs().max() >= path["beta"].abs().max())  # the trajectory lies inside the grid
    # the saved centre is the trained model, and a corner of each grid is centre + α·d1 + β·d2
    model, dataset = fc_model_and_data(s)
    saved = np.load(smoke / "models" / "surface.npz")
    center = unflatten(saved["center"], model)
    assert _keras_loss(model, center, dataset.x_train, dataset.y_train) == pytest.approx(trained, rel=1e-5)
    for name in ("pca", "filter_normalized"):
        corner = grid[grid["directions"] == name].iloc[-1]
        point = saved["center"] + corner["alpha"] * saved[f"{name}_1"] + corner["beta"] * saved[f"{name}_2"]
        assert corner["train_loss"] == pytest.approx(
            _keras_loss(model, unflatten(point, model), dataset.x_train, dataset.y_train), rel=1e-4)


def test_directions_are_filter_normalized_and_pca_directions_orthonormal(smoke):
    from hw1.measure.core import unflatten

    s = read_json(smoke / "settings.json")["settings"]
    model, _ = fc_model_and_data(s)
    saved = np.load(smoke / "models" / "surface.npz")
    center = [w.astype(np.float64) for w in unflatten(saved["center"], model)]
    for k in (1, 2):
        direction = unflatten(saved[f"filter_normalized_{k}"], [np.zeros(w.shape) for w in center])
        for w, d in zip(center, direction):
            if w.ndim == 1:
                assert not d.any()  # biases stay fixed
            else:  # one filter = one output unit = one column of a Dense kernel
                np.testing.assert_allclose(np.linalg.norm(d, axis=0), np.linalg.norm(w, axis=0), rtol=1e-10)
    u, v = saved["filter_normalized_1"], saved["filter_normalized_2"]
    assert abs(u @ v) < 0.5 * np.linalg.norm(u) * np.linalg.norm(v)  # two different random directions
    p1, p2 = saved["pca_1"], saved["pca_2"]
    assert np.linalg.norm(p1) == pytest.approx(1) and np.linalg.norm(p2) == pytest.approx(1)
    assert abs(p1 @ p2) < 1e-9


def test_report_section_cites_the_csv(smoke):
    section, ours = report_section(smoke.parent, NAME)
    assert [f.path for f in section.figures] == [f"{NAME}/surface_pca.png", f"{NAME}/surface_filter_normalized.png"]
    assert all(f.exists and (smoke.parent / f.path).stat().st_size > 20_000 for f in section.figures)
    grid, outcome = pd.read_csv(smoke / "grid.csv"), read_json(smoke / "outcome.json")
    text = " ".join(n.text for n in section.comment)
    for name, part in grid.groupby("directions"):
        assert f"ranges from {num(part['train_loss'].min())} to {num(part['train_loss'].max())}" in text
        if part["train_loss"].min() < outcome["center_train_loss"] * (1 - view.LOWER):
            assert "training had not reached the bottom of this plane" in text
    assert f"explain {pct(outcome['pca_explained_variance'][0])}" in text
    assert ours.figure.path == f"{NAME}/surface_pca.png" and "filter-normalized" in ours.text


def test_even_grid_points_is_a_usage_error(tmp_path, capsys):
    assert run_main(NAME, "--profile", "smoke", "--grid-points", "6", "--out", str(tmp_path)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--grid-points 6" in err[0] and not list(tmp_path.iterdir())
    # hw1.loss_surface evaluates at most 10,000 points a grid: 101² is refused before any work, 99² is not
    assert run_main(NAME, "--profile", "smoke", "--grid-points", "101", "--out", str(tmp_path)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "more than hw1.loss_surface's 10,000 per grid" in err[0] and "3 to 99" in err[0]
    assert not list(tmp_path.iterdir())
    assert load_script(NAME).check({**load_script(NAME).PROFILES["smoke"], "grid_points": 99})


# ---------------------------------------------------------------- divergence is a result

def _diverging_at(real, epoch: int):
    """train() whose run's loss becomes NaN at ``epoch``, recorded as train() records it: NaN metrics from then
    on, ``diverged`` set, training stopped (every run diverged); the weights after it are garbage (NaN here)."""
    def fake(build, data, config, seeds, **kwargs):
        result = real(build, data, config, seeds, **kwargs)
        history = result.history[result.history["epoch"] <= epoch].copy()
        history.loc[history["epoch"] == epoch, history.columns.drop(["run", "epoch"])] = np.nan
        snapshots = [(r, e, ws if e < epoch else [np.full_like(w, np.nan) for w in ws])
                     for r, e, ws in result.snapshots if e <= epoch]
        return dataclasses.replace(result, history=history, snapshots=snapshots, diverged=[True] * len(seeds))
    return fake


@pytest.mark.parametrize("epoch", [3, 1])
def test_a_diverging_learning_rate_is_recorded_and_exits_0(tmp_path, monkeypatch, epoch):
    """Adam's step is bounded by its learning rate, so no rate the CLI accepts makes this small net's loss NaN
    reliably (1e6 gives a finite loss near 1e6): the NaN is injected at ``epoch`` as train() records one."""
    from hw1.lab import train

    monkeypatch.setattr(train, "train", _diverging_at(train.train, epoch))
    assert run_main(NAME, "--profile", "smoke", "--epochs", "5", "--learning-rate", "1e6", "--out",
                    str(tmp_path)) == 0
    folder = tmp_path / NAME
    path, grid, outcome = (pd.read_csv(folder / "trajectory.csv"), pd.read_csv(folder / "grid.csv"),
                           read_json(folder / "outcome.json"))
    assert path["diverged"].tolist() == [False] * epoch + [True]
    assert outcome["diverged"] is True and outcome["diverged_at_epoch"] == epoch
    assert outcome["center_epoch"] == epoch - 1
    centre = grid[(grid["alpha"] == 0) & (grid["beta"] == 0)]  # around the last finite snapshot
    np.testing.assert_allclose(centre["train_loss"], path["train_loss"].iloc[epoch - 1], rtol=1e-5)
    drawn = ["filter_normalized", "pca"] if epoch >= 3 else ["filter_normalized"]  # PCA needs 3 snapshots
    assert sorted(set(grid["directions"])) == drawn
    assert all((folder / f"surface_{name}.png").is_file() for name in drawn)
    assert (folder / "surface_pca.png").is_file() == (epoch >= 3)
    run = ResultsFolder(folder)
    first = view.comment(run)[0].text
    assert f"Training diverged at epoch {epoch}" in first and "learning rate 1e+06" in first
    assert ("PCA plane needs at least three" in first) == (epoch < 3)
    assert view.conclusion(run)[0].startswith(f"Training diverged at epoch {epoch}")


def test_a_learning_rate_that_ruins_training_is_reported_not_refused(tmp_path):
    assert run_main(NAME, "--profile", "smoke", "--learning-rate", "1e6", "--out", str(tmp_path)) == 0
    run = ResultsFolder(tmp_path / NAME)
    first = view.comment(run)[0].text
    if run.outcome["diverged"]:  # the loss became NaN on this platform: recorded as such
        assert "Training diverged" in first
    else:  # a finite loss far above the initial one
        assert "Training did not lower the loss" in first


def test_a_resumed_run_writes_the_same_bytes(smoke, tmp_path, monkeypatch):
    real, calls = trajectory.loss_grid, []

    def killed_on_second_grid(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(trajectory, "loss_grid", killed_on_second_grid)
        assert run_main(NAME, "--profile", "smoke", "--out", str(tmp_path)) == 130
    assert {p.name for p in (tmp_path / NAME / ".cache").rglob("*.npz")} == {"train.npz", "grid_pca.npz"}
    assert run_main(NAME, "--profile", "smoke", "--out", str(tmp_path)) == 0
    for name in ("grid.csv", "trajectory.csv"):
        assert (tmp_path / NAME / name).read_bytes() == (smoke / name).read_bytes(), name
