"""HW1-2: trajectories, loss grids and the four scripts' outputs, checked against independent computations."""

from __future__ import annotations

import importlib.util
import json
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA

from conftest import ROOT, run_script
from hw1 import hessian, models, train, trajectory

SCRIPTS = ("part2_gradient_norm", "part2_visualize_optimization", "part2_minimal_ratio", "part2_error_surface")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> dict:
    """Each script's smoke profile, run once into a temporary results folder."""
    out = tmp_path_factory.mktemp("results")
    for name in SCRIPTS:
        done = run_script(name, "--profile", "smoke", "--out", str(out))
        assert done.returncode == 0, done.stderr[-2000:]
    return {name: out / name for name in SCRIPTS}


def _settings(folder) -> dict:
    return json.loads((folder / "settings.json").read_text())["settings"]


# ---------------------------------------------------------------- hw1.trajectory

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
    build = lambda: models.fc_net([3], activation="tanh")  # noqa: E731
    model, center = build(), train.initial_weights(build, 0)
    x = np.linspace(0, 1, 16, dtype=np.float32).reshape(-1, 1)
    y = np.cos(3 * x)
    d1, d2 = (trajectory.filter_normalized_direction(center, s) for s in (1, 2))
    alphas, betas = np.array([-1.0, 0.0, 0.5]), np.array([-0.5, 0.0, 1.0])
    loss, acc = trajectory.loss_grid(train.Evaluator(model, "mse"), center, d1, d2, alphas, betas, x, y, chunk=4)
    f = train.loss_fn(model, "mse")
    for i, b in enumerate(betas):
        for j, a in enumerate(alphas):
            point = [(c + a * u + b * v).astype(np.float32) for c, u, v in zip(center, d1, d2)]
            assert loss[i, j] == pytest.approx(float(f(point, x, y)), rel=1e-5)
    assert loss[1, 1] == pytest.approx(float(f(center, x, y)), rel=1e-6) and np.isnan(acc).all()


def test_stopping_epoch_is_the_first_check_below_tolerance_else_the_lowest():
    spec = importlib.util.spec_from_file_location("mr", ROOT / "experiments" / "part2_minimal_ratio.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(ROOT / "experiments"))  # for its `import _path`
    spec.loader.exec_module(module)
    history = pd.DataFrame({"run": [0, 0, 0, 1, 1, 1], "epoch": [0, 10, 20] * 2,
                            "grad_norm": [1e-2, 5e-5, 1e-6, 1e-3, 2e-4, 3e-4]})
    assert module.stopping_epochs(history, 1e-4).tolist() == [10, 10]


# ---------------------------------------------------------------- the scripts (smoke profiles)

def test_gradient_norm_history_is_every_step(smoke):
    history = pd.read_csv(smoke["part2_gradient_norm"] / "history.csv")
    assert list(history.columns) == ["step", "loss", "grad_norm"]
    assert history["step"].tolist() == list(range(1, _settings(smoke["part2_gradient_norm"])["steps"] + 1))
    assert np.isfinite(history[["loss", "grad_norm"]]).all().all() and (history["grad_norm"] > 0).all()
    assert history["loss"].iloc[-1] < 0.5 * history["loss"].iloc[0]
    assert (smoke["part2_gradient_norm"] / "gradient_norm.png").stat().st_size > 10_000


def test_visualize_optimization_pca_matches_sklearn_on_the_saved_snapshots(smoke):
    folder = smoke["part2_visualize_optimization"]
    snaps, config = pd.read_csv(folder / "snapshots.csv"), _settings(folder)
    assert list(snaps.columns) == ["run", "epoch", "scope", "pc1", "pc2", "loss", "accuracy"]
    assert set(snaps["scope"]) == {"whole", config["layer"]}
    assert sorted(set(snaps["epoch"])) == list(range(0, config["epochs"] + 1, config["snapshot_every"]))
    saved = np.load(folder / "models" / "snapshots.npz")
    for scope, key in (("whole", "whole"), (config["layer"], "layer")):
        part = snaps[snaps["scope"] == scope]
        assert part["run"].tolist() == saved["run"].tolist() and part["epoch"].tolist() == saved["epoch"].tolist()
        expected = PCA(n_components=2).fit_transform(saved[key].astype(np.float64))
        for k, column in enumerate(("pc1", "pc2")):  # a principal axis is defined up to its sign
            sign = np.sign(expected[:, k] @ part[column].to_numpy())
            assert np.allclose(part[column], sign * expected[:, k], rtol=1e-6, atol=1e-6 * np.abs(expected).max())
    assert saved["layer"].shape[1] == config["layer_params"] < saved["whole"].shape[1] == config["params"]
    ratio = pd.read_csv(folder / "pca.csv")["explained_variance_ratio"].to_numpy()
    assert ((ratio > 0) & (ratio < 1)).all()
    first = snaps[(snaps["scope"] == "whole")].groupby("run")["loss"]
    assert (first.last() < first.first()).all()  # every run trains: cross-entropy falls


def test_minimal_ratio_outputs_are_consistent_and_recomputable(smoke):
    folder = smoke["part2_minimal_ratio"]
    config = _settings(folder)
    runs, spectra = pd.read_csv(folder / "runs.csv"), pd.read_csv(folder / "spectra.csv")
    assert list(runs.columns) == ["run", "loss", "grad_norm", "minimal_ratio", "n_params", "n_near_zero", "min_eig",
                                  "max_eig", "converged", "diverged"]
    assert len(runs) == config["runs"] and not runs["diverged"].any()
    assert len(spectra) == config["runs"] * config["n_params"]
    for run, eig in spectra.groupby("run")["eigenvalue"]:
        row = runs.set_index("run").loc[run]
        assert row["minimal_ratio"] == pytest.approx(np.mean(eig > config["eig_tol"]))
        assert row["n_near_zero"] == np.sum(np.abs(eig) <= config["eig_tol"])
        assert row["min_eig"] == pytest.approx(eig.min()) and row["max_eig"] == pytest.approx(eig.max())
    assert (runs["converged"] == (runs["grad_norm"] < config["grad_tol"])).all()
    stages = pd.read_csv(folder / "stages.csv").pivot(index="run", columns="stage", values="grad_norm")
    assert (stages["grad_norm"] <= stages["loss"] * (1 + 1e-6)).all()  # ‖∇L‖² minimization never made it worse
    # the saved weights reproduce the spectrum (so any number can be recomputed later)
    model = models.fc_net(config["model"]["widths"], activation=config["model"]["activation"], dtype="float64")
    saved = np.load(folder / "models" / "final_weights.npz")
    weights = [saved[path.replace("/", ".")][1].astype(np.float64) for path, _ in config["model"]["variables"]]
    from hw1.data import function_data
    data = function_data(config["function"], config["samples"])
    eig = hessian.hessian_eigenvalues(hessian.exact_hessian(model, weights, data.x_train, data.y_train, "mse"))
    assert np.allclose(eig, spectra[spectra["run"] == 1]["eigenvalue"], atol=1e-9 * np.abs(eig).max())


def test_minimal_ratio_same_seed_gives_identical_csvs(smoke, tmp_path):
    done = run_script("part2_minimal_ratio", "--profile", "smoke", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    for name in ("runs.csv", "spectra.csv", "stages.csv"):
        assert (tmp_path / "part2_minimal_ratio" / name).read_bytes() == \
            (smoke["part2_minimal_ratio"] / name).read_bytes(), name


def test_error_surface_grid_is_centred_on_the_trained_model(smoke):
    folder = smoke["part2_error_surface"]
    config = _settings(folder)
    grid, path = pd.read_csv(folder / "grid.csv"), pd.read_csv(folder / "trajectory.csv")
    assert list(grid.columns) == ["directions", "alpha", "beta", "loss", "accuracy"]
    assert list(path.columns) == ["epoch", "alpha", "beta", "loss", "accuracy"]
    assert grid.groupby("directions").size().to_dict() == {"pca": config["grid_points"] ** 2,
                                                            "filter_normalized": config["grid_points"] ** 2}
    centre = grid[(grid["alpha"].abs() < 1e-12) & (grid["beta"].abs() < 1e-12)]
    assert len(centre) == 2 and np.allclose(centre["loss"], config["final_loss"], rtol=1e-5)
    assert np.allclose(path[["alpha", "beta"]].iloc[-1], 0, atol=1e-9)
    pca = grid[grid["directions"] == "pca"]
    assert pca["alpha"].abs().max() >= path["alpha"].abs().max()  # the trajectory lies inside the grid


def test_bad_flag_is_one_line_and_exit_code_2(tmp_path):
    done = run_script("part2_minimal_ratio", "--runs", "0")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and "--runs" in done.stderr
    done = run_script("part2_visualize_optimization", "--profile", "smoke", "--layer", "nope", "--out", str(tmp_path))
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and "dense_2" in done.stderr
    assert not list(tmp_path.iterdir())  # nothing written
