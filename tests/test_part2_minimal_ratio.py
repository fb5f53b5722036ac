"""HW1-2c minimal ratio: the spectrum statistics on hand-made spectra, the script's CSVs against an independent
Hessian (finite differences of a plain Keras model's gradient), resume, and the view's numbers."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pandas as pd
import pytest

from conftest import report_section, run_main, smoke_run
from hw1.measure import critical_points as cp
from hw1.report import spectra as spectrum_tables
from hw1.results import ResultsFolder, read_json
from hw1.report.views import part2_minimal_ratio as view
from hw1.report import evidence
from hw1.results.schema import tables

NAME = "part2_minimal_ratio"
COLUMNS = {name: list(t.columns) for name, t in tables(NAME).items()}  # the declared schema
CSVS = ("runs.csv", "spectra.csv", "stages.csv")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    return smoke_run(tmp_path_factory, NAME)


# ---------------------------------------------------------------- the library, on spectra made by hand

SPECTRA = pd.DataFrame({
    "activation": ["a"] * 12 + ["b"] * 3, "run": [0] * 6 + [1] * 6 + [0] * 3,
    "eigenvalue": [-1e-3, -1e-7, 0.0, 1e-9, 1e-5, 2.0,     # run a/0
                   -5e-5, 1e-11, 3e-6, 1e-3, 4.0, 5.0,     # run a/1
                   -1.0, 1e-4, 1.0]})                       # run b/0: λ = tol exactly counts as flat


def test_spectrum_counts_of_a_hand_made_spectrum():
    counts = cp.spectrum_counts([-1e-3, -1e-7, 0.0, 1e-9, 1e-5, 2.0], tol=1e-6)
    assert counts == {"n_positive": 2, "n_negative": 1, "n_flat": 3, "minimal_ratio": 2 / 6,
                      "positive_share": 2 / 3}
    assert cp.spectrum_counts([1e-4, -1e-4, 0.0], tol=1e-4)["n_flat"] == 3  # |λ| = tol is zero
    assert math.isnan(cp.spectrum_counts([1e-9, -1e-9], tol=1e-6)["positive_share"])  # nothing clear of zero
    assert cp.spectrum_counts([3.0, 1.0, 1e-12], tol=1e-9)["positive_share"] == 1.0
    with pytest.raises(ValueError, match="finite"):
        cp.spectrum_counts([1.0, np.nan], tol=1e-6)


def test_tolerance_sweep_recomputed_by_hand():
    sweep = spectrum_tables.tolerance_sweep(SPECTRA, [1e-10, 1e-6, 1e-4], by=["activation"]).set_index(["activation", "tol"])
    # by hand, per run of "a": (n_positive, n_negative) at each tolerance
    by_hand = {1e-10: [(3, 2), (4, 1)], 1e-6: [(2, 1), (4, 1)], 1e-4: [(1, 1), (3, 0)]}
    for tol, (r0, r1) in by_hand.items():
        row = sweep.loc[("a", tol)]
        ratios = sorted([r0[0] / 6, r1[0] / 6])
        assert row["runs"] == 2
        assert row["ratio_median"] == pytest.approx(np.mean(ratios))
        assert row["ratio_q1"] == pytest.approx(ratios[0] + 0.25 * (ratios[1] - ratios[0]))
        assert row["ratio_q3"] == pytest.approx(ratios[0] + 0.75 * (ratios[1] - ratios[0]))
        assert row["runs_negative"] == (r0[1] > 0) + (r1[1] > 0)
        assert row["nonflat_median"] == pytest.approx((sum(r0) + sum(r1)) / 2)
        assert row["share_median"] == pytest.approx((r0[0] / sum(r0) + r1[0] / sum(r1)) / 2)
    b = sweep.loc[("b", 1e-4)]
    assert (b["ratio_median"], b["runs_negative"], b["share_median"]) == (pytest.approx(1 / 3), 1, 0.5)


def test_run_counts_give_the_positive_non_flat_share_per_run():
    counts = spectrum_tables.run_counts(SPECTRA, 1e-4, by=["activation", "run"]).set_index(["activation", "run"])
    assert counts.loc[("a", 0), "positive_share"] == 0.5 and counts.loc[("a", 1), "positive_share"] == 1.0
    assert counts.loc[("a", 1), "minimal_ratio"] == 0.5 and counts.loc[("b", 0), "n_flat"] == 1


def test_vectorized_counts_equal_the_single_spectrum_counts():
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.normal(size=(3, 40)) * 10.0 ** rng.integers(-12, 1, size=(3, 40)),
                             np.tile([1e-6, -1e-6, 0.0], (3, 1))], axis=1)  # |λ| = tol exactly, and zeros
    spectra = pd.DataFrame({"run": np.repeat(range(3), values.shape[1]), "eigenvalue": values.ravel()})
    tols = [0.0, 1e-9, 1e-6, 1e-3]
    counts = spectrum_tables.tolerance_counts(spectra, tols).set_index(["run", "tol"])
    for run in range(3):
        for tol in tols:
            expected = cp.spectrum_counts(values[run], tol)
            got = counts.loc[(run, tol)]
            assert {k: got[k] for k in expected} == pytest.approx(expected, nan_ok=True), (run, tol)


def test_stopping_epoch_is_the_first_check_below_tolerance_else_the_lowest():
    history = pd.DataFrame({"run": [0, 0, 0, 1, 1, 1], "epoch": [0, 10, 20] * 2,
                            "grad_norm": [1e-2, 5e-5, 1e-6, 1e-3, 2e-4, 3e-4]})
    assert cp.stopping_epochs(history, 1e-4).tolist() == [10, 10]


def test_dead_switching_units_and_affine_residual_of_a_hand_made_relu_net():
    import keras

    x = np.linspace(0.01, 1, 50).reshape(-1, 1)
    # layer 1: dead on (0, 1] (pre-activation x - 2), switching at x = 0.5, always on; layer 2 reads unit 3 only
    weights = [np.array([[1.0, 1.0, 1.0]]), np.array([-2.0, -0.5, 0.5]), np.array([[0.0], [0.0], [2.0]]),
               np.array([0.0]), np.array([[3.0]]), np.array([1.0])]
    assert cp.dead_units(weights, x, "relu") == 1 and cp.switching_units(weights, x, "relu") == 1
    assert np.allclose(cp.predict(weights, x, "relu"), 6 * (x + 0.5) + 1)
    assert cp.affine_residual(cp.predict(weights, x, "relu"), x) < 1e-12  # the kink at 0.5 is not read out
    assert cp.affine_residual(x ** 2, x) == pytest.approx(np.std(x ** 2 - np.polyval(np.polyfit(x[:, 0], x[:, 0] ** 2,
                                                                                               1), x)), rel=1e-9)
    rng = np.random.default_rng(0)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(5, activation="tanh"), keras.layers.Dense(1)])
    model.set_weights([rng.normal(size=w.shape) for w in model.get_weights()])
    assert np.allclose(cp.predict(model.get_weights(), x, "tanh"), model(x.astype(np.float32)), atol=1e-5)
    assert cp.dead_units(model.get_weights(), x, "tanh") == 0


# ---------------------------------------------------------------- the script (smoke profile)

def _weights(folder, activation: str, run: int) -> list[np.ndarray]:
    saved = np.load(folder / "models" / f"{activation}.npz")
    names = ["dense_1.kernel", "dense_1.bias", "dense_2.kernel", "dense_2.bias", "output.kernel", "output.bias"]
    assert sorted(saved.files) == sorted(names)
    return [saved[n][run].astype(np.float64) for n in names]


def test_runs_csv_agrees_with_spectra_csv(smoke):
    s = read_json(smoke / "settings.json")["settings"]
    runs, spectra = pd.read_csv(smoke / "runs.csv"), pd.read_csv(smoke / "spectra.csv")
    assert list(runs.columns) == COLUMNS["runs.csv"] and list(spectra.columns) == COLUMNS["spectra.csv"]
    assert runs.groupby("activation").size().to_dict() == {a: s["runs"] for a in s["activations"]}
    assert not runs["diverged"].any() and len(spectra) == len(runs) * s["params"]
    tol = s["eig_tol"]
    for (activation, run), eig in spectra.groupby(["activation", "run"])["eigenvalue"]:
        row = runs.set_index(["activation", "run"]).loc[(activation, run)]
        eig = eig.to_numpy()
        assert np.all(np.diff(eig) >= 0)
        assert row["minimal_ratio"] == pytest.approx(np.mean(eig > tol), rel=1e-8)  # CSVs hold 9 digits
        assert (row["n_positive"], row["n_negative"], row["n_flat"]) == \
            (np.sum(eig > tol), np.sum(eig < -tol), np.sum(np.abs(eig) <= tol))
        nonflat = np.sum(np.abs(eig) > tol)
        assert row["positive_share"] == pytest.approx(np.sum(eig > tol) / nonflat)
        assert row["min_eig"] == pytest.approx(eig.min()) and row["max_eig"] == pytest.approx(eig.max())
    assert (runs["converged"] == (runs["grad_norm"] < s["grad_tol"])).all()
    stages = pd.read_csv(smoke / "stages.csv").pivot_table(index=["activation", "run"], columns="stage",
                                                           values="grad_norm")
    assert (stages["grad_norm"] <= stages["loss"] * (1 + 1e-6)).all()  # ‖∇L‖² minimization never made it worse


def test_spectrum_equals_eigvalsh_of_a_finite_difference_hessian(smoke):
    """The saved weights of one run per activation; the Hessian by central differences of the gradient of a plain
    float64 Keras model (built here, not by hw1), then numpy eigvalsh: the same spectrum as spectra.csv."""
    import keras
    import tensorflow as tf

    from hw1.lab import data

    s = read_json(smoke / "settings.json")["settings"]
    spectra, runs = pd.read_csv(smoke / "spectra.csv"), pd.read_csv(smoke / "runs.csv")
    d = data.function_data(s["function"], s["samples"])
    x, y = tf.constant(d.x_train, tf.float64), tf.constant(d.y_train, tf.float64)
    for activation, run in (("tanh", 0), ("relu", 1)):
        model = keras.Sequential([keras.Input((1,), dtype="float64")]
                                 + [keras.layers.Dense(w, activation=activation, dtype="float64") for w in s["widths"]]
                                 + [keras.layers.Dense(1, dtype="float64")])
        weights = _weights(smoke, activation, run)
        model.set_weights(weights)
        theta = np.concatenate([w.ravel() for w in weights])

        def gradient(vector: np.ndarray) -> np.ndarray:
            parts = np.split(vector, np.cumsum([w.size for w in weights])[:-1])
            for variable, part, w in zip(model.trainable_variables, parts, weights):
                variable.assign(part.reshape(w.shape))
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(model(x) - y))
            return np.concatenate([g.numpy().ravel() for g in tape.gradient(loss, model.trainable_variables)])

        h = 1e-6
        columns = [(gradient(theta + h * e) - gradient(theta - h * e)) / (2 * h) for e in np.eye(theta.size)]
        hessian = np.array(columns)
        expected = np.linalg.eigvalsh(0.5 * (hessian + hessian.T))
        saved = spectra[(spectra["activation"] == activation) & (spectra["run"] == run)]["eigenvalue"].to_numpy()
        assert np.allclose(saved, expected, atol=1e-7), (activation, np.abs(saved - expected).max())
        row = runs[(runs["activation"] == activation) & (runs["run"] == run)].iloc[0]
        assert row["grad_norm"] == pytest.approx(np.linalg.norm(gradient(theta)), rel=1e-8)
        assert row["train_loss"] == pytest.approx(float(np.mean((cp.predict(weights, d.x_train, activation)
                                                                 - d.y_train) ** 2)), rel=1e-8)


def test_function_summaries_recomputed_from_the_saved_weights(smoke):
    from hw1.lab import data

    s = read_json(smoke / "settings.json")["settings"]
    x = data.function_data(s["function"], s["samples"]).x_train
    for _, row in pd.read_csv(smoke / "runs.csv").iterrows():
        weights = _weights(smoke, row["activation"], int(row["run"]))
        pre = cp.hidden_preactivations(weights, x, row["activation"])
        if row["activation"] == "relu":
            assert row["dead_units"] == sum(int(np.sum(np.all(z <= 0, axis=0))) for z in pre)
        assert row["switching_units"] == sum(int(np.sum((z > 0).any(0) & (z <= 0).any(0))) for z in pre)
        prediction = cp.predict(weights, x, row["activation"]).ravel()
        line = np.polyval(np.polyfit(x.ravel(), prediction, 1), x.ravel())
        assert row["affine_residual"] == pytest.approx(np.sqrt(np.mean((prediction - line) ** 2)), rel=1e-8, abs=1e-12)


def test_a_killed_run_resumes_to_identical_files(smoke, tmp_path, monkeypatch):
    from hw1.measure import api

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(api, "exact_hessian", killed)  # hw1.exact_hessian, in the first Hessian step
        assert run_main(NAME, "--profile", "smoke", "--out", str(tmp_path)) == 130
    folder = tmp_path / NAME
    assert not (folder / "outcome.json").exists() and list((folder / ".cache").rglob("train_*.npz"))
    assert run_main(NAME, "--profile", "smoke", "--out", str(tmp_path)) == 0
    for name in CSVS:
        assert (folder / name).read_bytes() == (smoke / name).read_bytes(), name


def test_bad_flags_are_one_line_and_write_nothing(tmp_path, capsys):
    assert run_main(NAME, "--runs", "0", "--out", str(tmp_path)) == 2
    assert run_main(NAME, "--activations", "relu", "relu", "--out", str(tmp_path)) == 2
    assert run_main(NAME, "--activations", "sigmoid", "--out", str(tmp_path)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and "--runs" in err[0] and "twice" in err[1] and "sigmoid" in err[2]
    assert not list((tmp_path / NAME).glob("*.csv"))


# ---------------------------------------------------------------- the view

def test_view_sweep_and_report_cite_the_csvs(smoke, tmp_path):
    shutil.copytree(smoke, tmp_path / NAME)
    run = ResultsFolder(tmp_path / NAME)
    s, spectra = run.settings, pd.read_csv(smoke / "spectra.csv")
    sweep = view.sweep(run).set_index(["activation", "tol"])
    for (activation, tol), row in sweep.iterrows():  # the view's table, recounted with numpy from spectra.csv
        part = spectra[spectra["activation"] == activation]
        ratios = part.groupby("run")["eigenvalue"].apply(lambda v: np.mean(v > tol))
        negative = part.groupby("run")["eigenvalue"].apply(lambda v: np.any(v < -tol))
        assert row["ratio_median"] == pytest.approx(ratios.median()) and row["runs_negative"] == negative.sum()
    assert set(view.SWEEP) | {s["eig_tol"]} == set(sweep.index.get_level_values("tol"))

    section, conclusion = report_section(tmp_path, NAME)
    table = next(n for n in section.comment if hasattr(n, "rows"))
    relu = sweep.loc[("relu", s["eig_tol"])]
    assert [f"{s['eig_tol']:g}", "ReLU", f"{relu['ratio_median']:.3f} ({relu['ratio_q1']:.3f}–{relu['ratio_q3']:.3f})",
            f"{int(relu['runs_negative'])} of {s['runs']}"] == next(r for r in table.rows if r[:2] == [
                f"{s['eig_tol']:g}", "ReLU"])[:4]
    runs = pd.read_csv(smoke / "runs.csv")
    text = " ".join(n.text for n in section.comment if hasattr(n, "text"))
    tanh = runs[runs["activation"] == "tanh"]
    assert f"{int((tanh['n_negative'] == 0).sum())} of {len(tanh)} runs have no eigenvalue below" in text
    assert "capacity" in text and "not whether the point is a minimum or a saddle" in text
    verdicts = [n.verdict for n in section.comment if getattr(n, "verdict", "")]
    assert set(verdicts) <= {"agrees", "contradicts", "unresolved"} and len(verdicts) == 2
    assert conclusion.figure.path == f"{NAME}/minimal_ratio.png"
    for png in ("minimal_ratio.png", "tolerance_sweep.png", "spectra.png"):
        assert (smoke / png).stat().st_size > 10_000


def test_a_verdict_needs_the_converged_runs_too():
    """Significant over all runs but not over the runs that reached the gradient tolerance: not resolved."""
    rng = np.random.default_rng(0)
    loss = np.sort(rng.uniform(1e-5, 1e-3, 40))
    frame = pd.DataFrame({"train_loss": loss, "n_negative": np.arange(40) // 4, "grad_norm": loss,
                          "min_eig": -loss, "converged": np.arange(40) < 12})
    stats = {"part": frame, "index": evidence.rank_correlation(frame["train_loss"], frame["n_negative"]),
             "grad": evidence.rank_correlation(frame["train_loss"], frame["grad_norm"])}
    done = frame[frame["converged"]].assign(n_negative=rng.permutation(12) % 2)
    stats["index_done"] = evidence.rank_correlation(done["train_loss"], done["n_negative"])
    assert stats["index"].resolved and stats["index_done"].p > 0.05
    assert view._index_note("tanh", stats, 1e-4, 1e-4).verdict == "unresolved"
    done = frame[frame["converged"]]
    stats["index_done"] = evidence.rank_correlation(done["train_loss"], done["n_negative"])
    assert view._index_note("tanh", stats, 1e-4, 1e-4).verdict == "agrees"
