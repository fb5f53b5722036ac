"""HW1-1a simulate a function: parameter counts against Keras, final losses against the fitted curves, and the view."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from conftest import FOLDER_META, OUTCOME_META, report_section, run_main, smoke_run
from hw1.results import ResultsFolder, file_digest, read_json, write_json
from hw1.report.views import part1_simulate_function as view
from hw1.results.schema import tables

NAME = "part1_simulate_function"
COLUMNS = {name: list(t.columns) for name, t in tables(NAME).items()}  # the declared schema
TRUE = {"sinc": lambda x: np.sin(5 * np.pi * x) / (5 * np.pi * x), "sign": lambda x: np.sign(np.sin(5 * np.pi * x)),
        "cube": lambda x: x ** 3}  # written independently of hw1.lab.data


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    return smoke_run(tmp_path_factory, NAME, "--function", "cube=x**3")


def test_depth_models_have_the_target_parameter_count_as_keras_counts_it(smoke):
    import keras

    s = read_json(smoke / "settings.json")["settings"]
    models = pd.read_csv(smoke / "models.csv")
    assert list(models.columns) == COLUMNS["models.csv"]
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
    assert list(predictions.columns) == COLUMNS["predictions.csv"]
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
    assert list(history.columns) == COLUMNS["history.csv"]
    assert s["seeds"] == [0, 1] and not history["diverged"].any()
    epochs = list(range(0, s["epochs"] + 1, s["eval_every"]))
    for (f, m, seed), part in history.groupby(["function", "model", "seed"]):
        assert part["epoch"].tolist() == epochs
        final = models[(models["function"] == f) & (models["model"] == m) & (models["seed"] == seed)]
        assert part["train_loss"].iloc[-1] == final["train_loss"].iloc[0]
    assert (history.groupby(["function", "model"])["seed"].nunique() == len(s["seeds"])).all()


def test_first_layer_kinks_start_spread_over_the_domain_and_the_run_started_there(smoke):
    import keras

    from hw1.lab import data, models, train

    s = read_json(smoke / "settings.json")["settings"]
    assert s["kink_domain"] == [0.0, 1.0] and "uniform on [0, 1]" in s["initialization"]
    history, table = pd.read_csv(smoke / "history.csv"), pd.read_csv(smoke / "models.csv")
    dataset = data.function_data(s["functions"]["sinc"], s["samples"])
    grid = np.linspace(0, 1, 20001)
    kinks = []
    for row in table[table["function"] == "sinc"].itertuples():
        widths = [int(w) for w in row.widths.split("-")]
        build = lambda: models.fc_net(widths)  # noqa: E731
        init = models.spread_kinks(train.initial_weights(build, row.seed), 0.0, 1.0, seed=row.seed)
        # the kinks, found where each first-layer unit's pre-activation changes sign on a fine grid
        w, b = init[0][0], init[1]
        pre = grid[:, None] * w[None, :] + b[None, :]
        crossings = np.argmax(np.diff(np.sign(pre), axis=0) != 0, axis=0)
        np.testing.assert_allclose(grid[crossings], -b / w, atol=1e-4)
        kinks += list(-b / w)
        # the history's epoch-0 loss is the MSE of a plain Keras net holding exactly these weights
        plain = keras.Sequential([keras.Input((1,)), *[keras.layers.Dense(n, activation="relu") for n in widths],
                                  keras.layers.Dense(1)])
        plain.set_weights(init)
        start = history[(history["function"] == "sinc") & (history["model"] == row.model)
                        & (history["seed"] == row.seed) & (history["epoch"] == 0)]["train_loss"].iloc[0]
        mse = np.mean((plain(dataset.x_train).numpy() - dataset.y_train) ** 2)
        assert start == pytest.approx(mse, rel=1e-5)
    kinks = np.array(kinks)
    assert kinks.min() >= 0 and kinks.max() <= 1
    assert stats.kstest(kinks, "uniform").pvalue > 0.01  # spread uniformly, not piled at x = 0
    assert np.histogram(kinks, bins=4, range=(0, 1))[0].min() >= 0.1 * len(kinks)


def test_with_keras_zero_biases_every_net_starts_as_one_straight_line():
    """The confound the spread removes: zero biases put every kink at x = 0, so on (0, 1] the net is linear."""
    from hw1.lab import models, train

    x = np.linspace(0.01, 1, 50)[:, None].astype("float32")
    for widths in ([40], [9, 9], [5, 5, 5, 5, 3]):
        model = models.fc_net(widths)
        model.set_weights(train.initial_weights(lambda: models.fc_net(widths), 3))
        assert np.abs(np.diff(model(x).numpy()[:, 0], 2)).max() < 1e-6
        model.set_weights(models.spread_kinks(model.get_weights(), 0.0, 1.0, seed=3))
        assert np.abs(np.diff(model(x).numpy()[:, 0], 2)).max() > 1e-4


def test_spread_kinks_rejects_what_it_cannot_spread():
    from hw1.lab import models

    with pytest.raises(ValueError, match="low=1.0, high=0.0"):
        models.spread_kinks(models.fc_net([4]).get_weights(), 1.0, 0.0, seed=0)
    with pytest.raises(ValueError, match="one-input Dense layer"):
        models.spread_kinks(models.fc_net([4], (3,)).get_weights(), 0.0, 1.0, seed=0)


def test_escape_share_is_recomputed_from_the_csv_and_the_constant_fit(smoke):
    s = read_json(smoke / "settings.json")["settings"]
    outcome = read_json(smoke / "outcome.json")
    models, predictions = pd.read_csv(smoke / "models.csv"), pd.read_csv(smoke / "predictions.csv")
    for f, part in models.groupby("function"):
        y = predictions[(predictions["function"] == f) & (predictions["run"] == 0)
                        & (predictions["model"] == part["model"].iloc[0])]["y_true"].to_numpy()
        variance = np.mean((y - y.mean()) ** 2)  # the MSE of the best constant fit
        assert outcome["constant_fit_mse"][f] == pytest.approx(variance, rel=1e-6)
        expected = part["train_loss"] <= s["escape_fraction"] * variance
        assert (part["escaped"] == expected).all()
        for m, runs in part.groupby("model"):
            assert outcome["escape_share"][f][m] == pytest.approx(expected[runs.index].mean())
    assert s["escape_fraction"] == 0.001


def test_report_section_and_figures(smoke):
    section, conclusion = report_section(smoke.parent, NAME)
    models = pd.read_csv(smoke / "models.csv")
    table = section.comment[0]
    cube = models[(models["function"] == "cube") & (models["model"] == "depth1")]["train_loss"]
    assert ["y = x**3", "depth1", f"{cube.median():.3g}"] == [table.rows[6][0], table.rows[6][1], table.rows[6][3]]
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

def fabricated(folder, settings: dict, losses: dict[str, dict[int, list[float]]]) -> ResultsFolder:
    """A finished results folder whose models.csv has the given final losses per function, depth and seed."""
    rows = [dict(function=f, model=f"depth{d}", hidden_layers=d, widths="-".join(["9"] * d), params=120, run=r,
                 seed=r, train_loss=loss, escaped=loss <= 0.001 * 0.1, median=r == (len(values) - 1) // 2,
                 diverged=False)
            for f, by_depth in losses.items() for d, values in by_depth.items() for r, loss in enumerate(values)]
    folder.mkdir(parents=True)
    pd.DataFrame(rows, columns=COLUMNS["models.csv"]).to_csv(folder / "models.csv", index=False)
    runs = len(next(iter(next(iter(losses.values())).values())))
    settings = {**settings, "seeds": list(range(runs)), "functions": {f: settings["functions"][f] for f in losses}}
    write_json(folder / "settings.json", {"experiment": NAME, "profile": "default", "seed": 0, "settings": settings,
                                          **FOLDER_META})
    write_json(folder / "outcome.json", {**OUTCOME_META, "seconds": 1.0, "settings_digest": file_digest(folder / "settings.json"),
                                         "constant_fit_mse": {f: 0.1 for f in losses},
                                         "files": {"models.csv": file_digest(folder / "models.csv")}})
    return ResultsFolder(folder)


RNG = np.random.default_rng(7)
SPREAD = lambda centre: list(centre * np.exp(0.1 * RNG.standard_normal(10)))  # noqa: E731  ten runs around centre
CASES = {
    "overlap": ({1: list(RNG.uniform(0.001, 0.01, 10)), 2: list(RNG.uniform(0.001, 0.01, 10)),
                 4: list(RNG.uniform(0.001, 0.01, 10))}, "unresolved"),
    "inside the margin": ({1: SPREAD(0.010), 2: SPREAD(0.009), 4: SPREAD(0.008)}, "unresolved"),
    "falls": ({1: SPREAD(0.010), 2: SPREAD(0.004), 4: SPREAD(0.001)}, "agrees"),
    "rises": ({1: SPREAD(0.001), 2: SPREAD(0.004), 4: SPREAD(0.010)}, "contradicts"),
    "falls, not at every step": ({1: SPREAD(0.010), 2: SPREAD(0.020), 4: SPREAD(0.001), 7: SPREAD(0.0005)}, "agrees"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_verdict_is_the_pooled_rank_test_with_its_margin(smoke, tmp_path, case):
    losses, verdict = CASES[case]
    run = fabricated(tmp_path / NAME, read_json(smoke / "settings.json")["settings"], {"sinc": losses})
    notes = [n for n in view.comment(run) if getattr(n, "verdict", "")]
    assert [n.verdict for n in notes] == [verdict]
    depth = np.repeat(list(losses), 10)
    p = stats.kendalltau(depth, np.concatenate(list(losses.values()))).pvalue  # Jonckheere–Terpstra, pooled runs
    assert f"Jonckheere–Terpstra p = {p:.2g}," in notes[0].text
    median_change = np.median(losses[max(losses)]) / np.median(losses[1]) - 1
    assert f"median change {100 * median_change:+.3g}% (margin 50%)" in notes[0].text
    assert ("Not monotone: from 1 hidden layer to 2 hidden layers it goes the other way in every run"
            in notes[0].text) == (case == "falls, not at every step")
    text, figure = view.conclusion(run)
    assert figure.file == "final_loss.png"
    assert ("not resolved by this run" in text) == (verdict == "unresolved")
    if verdict == "unresolved":
        assert notes[0].text.startswith("Not resolved by this run: ")
        assert ("within the stated margin" in notes[0].text) == (case == "inside the margin")
    if case == "falls, not at every step":
        assert "though not at every step (the median rises from 1 hidden layer to 2)" in text


def test_holm_runs_over_the_functions_of_the_task(smoke, tmp_path):
    weak = {1: [0.010, 0.012, 0.0093, 0.011, 0.0105, 0.0098, 0.0101, 0.0124, 0.0089, 0.0112],
            4: [0.0011, 0.0009, 0.0012, 0.0008, 0.0010, 0.0013, 0.0007, 0.0011, 0.0131, 0.0140]}  # two stay up
    alone = stats.mannwhitneyu(weak[4], weak[1]).pvalue
    assert 0.025 < alone < 0.05  # resolved alone, not after Holm over two functions
    settings = read_json(smoke / "settings.json")["settings"]
    run = fabricated(tmp_path / "one" / NAME, settings, {"sinc": weak})
    assert [n.verdict for n in view.comment(run) if getattr(n, "verdict", "")] == ["agrees"]
    run = fabricated(tmp_path / "two" / NAME, settings, {"sinc": weak, "sign": weak})
    notes = [n for n in view.comment(run) if getattr(n, "verdict", "")]
    assert [n.verdict for n in notes] == ["unresolved", "unresolved"]
    assert all(f"Mann–Whitney U p = {2 * alone:.2g}, Holm over 2" in n.text for n in notes)
