"""HW1-1a simulate a function: parameter counts against Keras, final losses against the fitted curves, and the view."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import run_main, smoke_run
from hw1 import report
from hw1.results import ResultsFolder, file_digest, read_json, write_json
from hw1.views import part1_simulate_function as view

NAME = "part1_simulate_function"
TRUE = {"sinc": lambda x: np.sin(5 * np.pi * x) / (5 * np.pi * x), "sign": lambda x: np.sign(np.sin(5 * np.pi * x)),
        "cube": lambda x: x ** 3}  # written independently of hw1.data


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    return smoke_run(tmp_path_factory, NAME, "--function", "cube=x**3")


def test_depth_models_have_the_target_parameter_count_as_keras_counts_it(smoke):
    import keras

    s = read_json(smoke / "settings.json")["settings"]
    models = pd.read_csv(smoke / "models.csv")
    assert list(models.columns) == view.MODEL_COLUMNS
    assert set(models["function"]) == {"sinc", "sign", "cube"}
    assert sorted(models["hidden_layers"].unique()) == s["depths"] and len(s["depths"]) >= 3
    for row in models.drop_duplicates(["model"]).itertuples():
        widths = [int(w) for w in row.widths.split("-")]
        assert len(widths) == row.hidden_layers and row.model == f"depth{row.hidden_layers}"
        plain = keras.Sequential([keras.Input((1,)), *[keras.layers.Dense(w, activation="relu") for w in widths],
                                  keras.layers.Dense(1)])
        assert row.params == plain.count_params()
        assert abs(row.params - s["target_params"]) <= 0.02 * s["target_params"]
    # every function is fitted by the same architectures
    assert models.groupby("function")["params"].apply(sorted).map(tuple).nunique() == 1


def test_final_loss_equals_the_mse_of_the_saved_curve_against_the_true_function(smoke):
    s = read_json(smoke / "settings.json")["settings"]
    models, predictions = pd.read_csv(smoke / "models.csv"), pd.read_csv(smoke / "predictions.csv")
    assert list(predictions.columns) == view.PREDICTION_COLUMNS
    n = s["samples"]
    for row in models.itertuples():
        curve = predictions[(predictions["function"] == row.function) & (predictions["model"] == row.model)
                            & (predictions["run"] == row.run)]
        assert (curve["seed"] == row.seed).all()
        np.testing.assert_allclose(curve["x"], np.linspace(1 / n, 1, n), rtol=1e-6)  # the training inputs
        mse = np.mean((curve["y_pred"].to_numpy() - TRUE[row.function](curve["x"].to_numpy())) ** 2)
        assert row.train_loss == pytest.approx(mse, rel=1e-4, abs=1e-9)
    # the median flag marks the lower-middle final loss of each model's seeds
    for _, part in models.groupby(["function", "model"]):
        assert part["median"].sum() == 1
        ranked = np.sort(part["train_loss"].to_numpy())
        assert part.loc[part["median"], "train_loss"].iloc[0] == ranked[(len(ranked) - 1) // 2]


def test_history_has_every_seed_and_ends_at_the_final_loss(smoke):
    s = read_json(smoke / "settings.json")["settings"]
    history, models = pd.read_csv(smoke / "history.csv"), pd.read_csv(smoke / "models.csv")
    assert list(history.columns) == view.HISTORY_COLUMNS
    assert s["seeds"] == [0, 1] and not history["diverged"].any()
    epochs = list(range(0, s["epochs"] + 1, s["eval_every"]))
    for (f, m, seed), part in history.groupby(["function", "model", "seed"]):
        assert part["epoch"].tolist() == epochs
        final = models[(models["function"] == f) & (models["model"] == m) & (models["seed"] == seed)]
        assert part["train_loss"].iloc[-1] == final["train_loss"].iloc[0]
    assert (history.groupby(["function", "model"])["seed"].nunique() == len(s["seeds"])).all()


def test_report_section_and_figures(smoke):
    sections, conclusions, _ = report.build(smoke.parent)
    section = next(s for s in sections if s.experiment == NAME)
    assert not section.error and not section.missing
    models = pd.read_csv(smoke / "models.csv")
    table = section.comment[0]
    cube = models[(models["function"] == "cube") & (models["model"] == "depth1")]["train_loss"]
    assert ["y = x**3", "depth1", f"{cube.median():.3g}"] == [table.rows[6][0], table.rows[6][1], table.rows[6][3]]
    conclusion = next(c for c in conclusions if c.section.experiment == NAME)
    assert conclusion.figure.path == f"{NAME}/final_loss.png" and conclusion.figure.exists
    expected = {"final_loss.png"} | {f"{k}_{f}.png" for k in ("loss", "predictions") for f in ("sinc", "sign", "cube")}
    assert {p.name for p in smoke.glob("*.png")} == expected == {f.path.split("/")[1] for f in section.figures}
    assert all(p.stat().st_size > 10_000 for p in smoke.glob("*.png"))


def test_diverged_runs_are_recorded_and_the_experiment_completes(tmp_path):
    assert run_main(NAME, "--profile", "smoke", "--learning-rate", "1e6", "--out", str(tmp_path)) == 0
    folder = tmp_path / NAME
    models, history = pd.read_csv(folder / "models.csv"), pd.read_csv(folder / "history.csv")
    if not models["diverged"].any():
        pytest.skip("learning rate 1e6 did not diverge on this platform")
    assert models.loc[models["diverged"], "train_loss"].isna().all()
    assert np.isfinite(models.loc[~models["diverged"], "train_loss"]).all()
    assert history["diverged"].eq(history["train_loss"].isna()).all()
    outcome = read_json(folder / "outcome.json")
    assert len(outcome["diverged_runs"]) == models["diverged"].sum()
    assert len(list(folder.glob("*.png"))) == 5
    notes = view.comment(ResultsFolder(folder))
    first = models[models["diverged"]].iloc[0]
    assert any(n.text.startswith("Diverged") and f"{first.function} {first.model} seed {first.seed}" in n.text
               for n in notes if hasattr(n, "text"))


# ---------------------------------------------------------------- the verdict rule, on fabricated results

def fabricated(folder, settings: dict, losses: dict[int, list[float]]) -> ResultsFolder:
    """A finished results folder whose models.csv has the given final losses per depth and seed (function sinc)."""
    rows = [dict(function="sinc", model=f"depth{d}", hidden_layers=d, widths="-".join(["9"] * d), params=120, run=r,
                 seed=r, train_loss=loss, median=r == 1, diverged=False)
            for d, values in losses.items() for r, loss in enumerate(values)]
    folder.mkdir(parents=True)
    pd.DataFrame(rows, columns=view.MODEL_COLUMNS).to_csv(folder / "models.csv", index=False)
    settings = {**settings, "seeds": [0, 1, 2], "functions": {"sinc": settings["functions"]["sinc"]}}
    write_json(folder / "settings.json", {"experiment": NAME, "profile": "default", "seed": 0, "settings": settings})
    write_json(folder / "outcome.json", {"seconds": 1.0, "settings_digest": file_digest(folder / "settings.json"),
                                         "files": {"models.csv": file_digest(folder / "models.csv")}})
    return ResultsFolder(folder)


@pytest.mark.parametrize("losses, verdict", [
    ({1: [0.010, 0.004, 0.006], 2: [0.005, 0.003, 0.004], 4: [0.002, 0.005, 0.003]}, "unresolved"),  # ends overlap
    ({1: [0.010, 0.012, 0.011], 2: [0.005, 0.006, 0.004], 4: [0.0101, 0.003, 0.002]}, "unresolved"),  # apart by 1 %
    ({1: [0.010, 0.012, 0.011], 2: [0.005, 0.006, 0.004], 4: [0.002, 0.003, 0.001]}, "agrees"),
    ({1: [0.001, 0.002, 0.001], 2: [0.005, 0.006, 0.004], 4: [0.012, 0.013, 0.011]}, "contradicts"),
])
def test_a_depth_trend_is_a_verdict_only_beyond_the_seed_spread(smoke, tmp_path, losses, verdict):
    run = fabricated(tmp_path / NAME, read_json(smoke / "settings.json")["settings"], losses)
    notes = [n for n in view.comment(run) if getattr(n, "verdict", "")]
    assert [n.verdict for n in notes] == [verdict]
    text, figure = view.conclusion(run)
    assert figure == "final_loss.png"
    assert ("does not resolve an effect of depth" in text) == (verdict == "unresolved")
    if verdict == "unresolved":
        assert "not resolved by this run" in notes[0].text
