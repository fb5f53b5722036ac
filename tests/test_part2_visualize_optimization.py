"""HW1-2a visualize the optimization: the PCA, the snapshot losses and the view, against independent computations."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA

from conftest import fc_model_and_data, report_section, run_main, smoke_run
from hw1.report.prose import num, pct
from hw1.results import ResultsFolder, read_json
from hw1.report.views import part2_visualize_optimization as view
from hw1.results.schema import tables

NAME = "part2_visualize_optimization"
COLUMNS = {name: list(t.columns) for name, t in tables(NAME).items()}  # the declared schema


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    return smoke_run(tmp_path_factory, NAME)


def _layer_columns(model, layer: str) -> np.ndarray:
    """The positions of one layer's parameters in the flat weight vector (variables in order, each raveled)."""
    sizes = [v.shape.num_elements() for v in model.trainable_variables]
    starts = np.cumsum([0, *sizes])
    wanted = {id(v) for v in model.get_layer(layer).trainable_variables}
    return np.concatenate([np.arange(starts[i], starts[i + 1]) for i, v in enumerate(model.trainable_variables)
                           if id(v) in wanted])


def _assert_same_up_to_sign(found: pd.DataFrame, expected: np.ndarray) -> None:
    for k, column in enumerate(("pc1", "pc2")):  # a principal axis is defined up to its sign
        sign = np.sign(expected[:, k] @ found[column].to_numpy())
        np.testing.assert_allclose(found[column], sign * expected[:, k], rtol=1e-6,
                                   atol=1e-6 * np.abs(expected).max())


def test_pca_coordinates_equal_sklearn_fitted_jointly_on_all_runs(smoke):
    snaps, s = pd.read_csv(smoke / "snapshots.csv"), read_json(smoke / "settings.json")["settings"]
    assert list(snaps.columns) == COLUMNS["snapshots.csv"] and not snaps["diverged"].any()
    epochs = list(range(0, s["epochs"] + 1, s["snapshot_every"]))
    saved = np.load(smoke / "models" / "snapshots.npz")
    model, _ = fc_model_and_data(s)
    weights = saved["weights"].astype(np.float64)
    assert weights.shape == (s["runs"] * len(epochs), s["params"])
    columns = _layer_columns(model, s["layer"])
    assert len(columns) == s["layer_params"] < s["params"]
    pca_csv, outcome = pd.read_csv(smoke / "pca.csv"), read_json(smoke / "outcome.json")
    for scope, matrix in (("whole", weights), (s["layer"], weights[:, columns])):
        part = snaps[snaps["scope"] == scope]
        assert part["run"].tolist() == saved["run"].tolist() and part["epoch"].tolist() == saved["epoch"].tolist()
        assert sorted(set(part["epoch"])) == epochs and sorted(set(part["run"])) == list(range(s["runs"]))
        joint = PCA(n_components=2).fit(matrix)  # ONE fit over every run's snapshots
        _assert_same_up_to_sign(part, joint.transform(matrix))
        ratio = pca_csv[pca_csv["scope"] == scope]["explained_variance_ratio"].to_numpy()
        np.testing.assert_allclose(ratio, joint.explained_variance_ratio_, rtol=1e-6)
        assert outcome["explained_variance"][scope] == pytest.approx(ratio.sum(), rel=1e-6)
        # a fit per run would give other coordinates: the joint fit is what is checked above
        alone = PCA(n_components=2).fit_transform(matrix[part["run"].to_numpy() == 0])
        assert not np.allclose(np.abs(alone[:, 0]), np.abs(part[part["run"] == 0]["pc1"]), rtol=1e-3)


def test_snapshot_losses_equal_a_recomputation_from_the_saved_weights(smoke):
    import keras

    from hw1.measure.core import unflatten
    from hw1.lab.train import run_seeds

    snaps, s = pd.read_csv(smoke / "snapshots.csv"), read_json(smoke / "settings.json")["settings"]
    saved = np.load(smoke / "models" / "snapshots.npz")
    model, dataset = fc_model_and_data(s)
    assert snaps["seed"].tolist() == [run_seeds(0, s["runs"])[r] for r in snaps["run"]]
    whole = snaps[snaps["scope"] == "whole"].reset_index(drop=True)
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    for i, row in whole.iterrows():
        model.set_weights(unflatten(saved["weights"][i], model))
        for split, x, y in (("train", dataset.x_train, dataset.y_train), ("test", dataset.x_test, dataset.y_test)):
            logits = model(x).numpy()
            assert row[f"{split}_loss"] == pytest.approx(float(ce(y, logits)), rel=1e-5)
            assert row[f"{split}_acc"] == pytest.approx(np.mean(logits.argmax(axis=1) == y), abs=1e-9)
    layer = snaps[snaps["scope"] == s["layer"]].reset_index(drop=True)  # the same snapshots, the same numbers
    pd.testing.assert_frame_equal(layer[["run", "epoch", "train_loss", "test_acc"]],
                                  whole[["run", "epoch", "train_loss", "test_acc"]])
    by_run = whole.groupby("run")["train_loss"]
    assert (by_run.last() < by_run.first()).all()  # every run trains: cross-entropy falls


def test_report_section_cites_the_csv_and_both_figures_exist(smoke):
    section, ours = report_section(smoke.parent, NAME)
    assert [f.path for f in section.figures] == [f"{NAME}/trajectory_whole.png", f"{NAME}/trajectory_layer.png"]
    assert all((smoke.parent / f.path).stat().st_size > 20_000 for f in section.figures)
    snaps, pca_csv = pd.read_csv(smoke / "snapshots.csv"), pd.read_csv(smoke / "pca.csv")
    text = " ".join(n.text for n in section.comment)
    explained = pca_csv.groupby("scope", sort=False)["explained_variance_ratio"].sum()
    assert f"explain {pct(explained['whole'])} of the variance" in text
    final = snaps[(snaps["scope"] == "whole") & (snaps["epoch"] == snaps["epoch"].max())]["train_loss"]
    assert f"from {num(final.min())} to {num(final.max())}" in text
    between = view.between_share(snaps[snaps["scope"] == "whole"])
    assert f"{pct(between)} of the snapshots' spread" in text
    assert ours.figure.path == f"{NAME}/trajectory_whole.png"
    assert f"every {read_json(smoke / 'settings.json')['settings']['snapshot_every']} epochs" in ours.text
    assert "Adam" in ours.text and "PCA" in ours.text and pct(explained["whole"]) in ours.text


def test_between_share_is_one_for_separate_points_and_zero_for_shared_centres():
    apart = pd.DataFrame({"run": [0, 0, 1, 1], "pc1": [0.0, 0.0, 5.0, 5.0], "pc2": [1.0, 1.0, 1.0, 1.0]})
    assert view.between_share(apart) == pytest.approx(1.0)
    shared = pd.DataFrame({"run": [0, 0, 1, 1], "pc1": [-1.0, 1.0, -2.0, 2.0], "pc2": 0.0})
    assert view.between_share(shared) == pytest.approx(0.0)


def test_bad_layer_is_one_line_exit_code_2_and_nothing_written(tmp_path, capsys):
    assert run_main(NAME, "--profile", "smoke", "--layer", "nope", "--out", str(tmp_path)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--layer 'nope'" in err[0] and "dense_2" in err[0]
    assert run_main(NAME, "--profile", "smoke", "--epochs", "2", "--out", str(tmp_path)) == 2  # < recording cycle
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("dead", [[1], [0, 1, 2]])
def test_a_diverged_run_is_recorded_and_left_out_of_the_pca(tmp_path, monkeypatch, dead):
    """Adam's step is bounded by its learning rate, so no rate the CLI accepts makes this net's loss NaN
    reliably: the runs ``dead`` get a NaN loss at epoch 3, exactly as train() records a divergence."""
    from hw1.lab import train

    real = train.train

    def diverging(build, data, config, seeds, **kwargs):
        result = real(build, data, config, seeds, **kwargs)
        history = result.history.copy()
        gone = history["run"].isin(dead) & (history["epoch"] >= 3)
        history.loc[gone, history.columns.drop(["run", "epoch"])] = np.nan
        snapshots = [(r, e, [np.full_like(w, np.nan) for w in ws] if r in dead and e >= 3 else ws)
                     for r, e, ws in result.snapshots]
        return dataclasses.replace(result, history=history, snapshots=snapshots,
                                   diverged=[r in dead for r in range(len(seeds))])

    monkeypatch.setattr(train, "train", diverging)
    assert run_main(NAME, "--profile", "smoke", "--out", str(tmp_path)) == 0
    folder = tmp_path / NAME
    snaps = pd.read_csv(folder / "snapshots.csv")
    assert (snaps["diverged"] == snaps["run"].isin(dead)).all()
    assert snaps[snaps["run"].isin(dead)][["pc1", "pc2"]].isna().all().all()
    assert read_json(folder / "outcome.json")["diverged_runs"] == dead
    assert (folder / "trajectory_whole.png").is_file() and (folder / "trajectory_layer.png").is_file()
    run = ResultsFolder(folder)
    assert f"Runs {dead} diverged" in view.comment(run)[0].text
    if len(dead) == 3:
        assert "nothing to compare" in view.conclusion(run)[0]
        return
    assert f"Runs {dead} diverged" in view.conclusion(run)[0]
    saved = np.load(folder / "models" / "snapshots.npz")
    keep = ~np.isin(saved["run"], dead)
    whole = snaps[(snaps["scope"] == "whole") & ~snaps["run"].isin(dead)]
    _assert_same_up_to_sign(whole, PCA(n_components=2).fit_transform(saved["weights"][keep].astype(np.float64)))


def test_a_resumed_run_writes_the_same_bytes(smoke, tmp_path, monkeypatch):
    from hw1.measure import trajectory

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(trajectory, "pca_2d", killed)  # killed after training: the cache holds the trained runs
        assert run_main(NAME, "--profile", "smoke", "--out", str(tmp_path)) == 130
    assert list((tmp_path / NAME / ".cache").rglob("train.npz"))
    assert run_main(NAME, "--profile", "smoke", "--out", str(tmp_path)) == 0
    for name in ("snapshots.csv", "pca.csv"):
        assert (tmp_path / NAME / name).read_bytes() == (smoke / name).read_bytes(), name
