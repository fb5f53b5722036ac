"""HW1-1b actual task: parameter counts against Keras, final metrics against the saved weights, and the view."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from conftest import FOLDER_META, OUTCOME_META, report_section, smoke_run
from hw1.results import ResultsFolder, file_digest, read_json, write_json
from hw1.report.views import part1_actual_task as view
from hw1.results.schema import METRICS, tables

NAME = "part1_actual_task"
COLUMNS = {name: list(t.columns) for name, t in tables(NAME).items()}  # the declared schema


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    return smoke_run(tmp_path_factory, NAME)


def test_parameter_counts_equal_plain_keras_models(smoke):
    import keras

    s = read_json(smoke / "settings.json")["settings"]
    shape, classes = tuple(s["dataset"]["input_shape"]), s["dataset"]["num_classes"]
    rows, cols, channels = shape
    plain = {
        "dnn": [keras.layers.Flatten(), keras.layers.Dense(s["dnn_width"], activation="relu"),
                keras.layers.Dense(classes)],
        "cnn": [layer for f in s["cnn_filters"] for layer in (keras.layers.Conv2D(f, 3, padding="same"),
                                                              keras.layers.MaxPooling2D(2))]
        + [keras.layers.Flatten(), keras.layers.Dense(s["cnn_dense"]), keras.layers.Dense(classes)],
        "rnn": [keras.layers.Reshape((rows, cols * channels)), keras.layers.LSTM(s["rnn_units"]),
                keras.layers.Dense(classes)],
    }
    family = s["depth_family"]
    assert family["models"][0] == "dnn" and family["hidden_layers"] == [1, 3] and family["widths"][0] == [s["dnn_width"]]
    for name, widths in zip(family["models"][1:], family["widths"][1:]):
        plain[name] = [keras.layers.Flatten(), *[keras.layers.Dense(w, activation="relu") for w in widths],
                       keras.layers.Dense(classes)]
    models = pd.read_csv(smoke / "models.csv")
    assert set(models["model"]) == set(plain)
    for name, layers in plain.items():
        count = keras.Sequential([keras.Input(shape), *layers]).count_params()
        assert set(models.loc[models["model"] == name, "params"]) == {count}
        assert s["models"][name]["params"] == count
        if name in family["models"]:  # deep vs shallow: the same parameter count within 2 %
            assert abs(count - family["target_params"]) <= 0.02 * family["target_params"]
    assert family["target_params"] == s["models"]["dnn"]["params"]
    # and by hand, for the default sizes the README quotes
    width, units, f1, f2, dense = 32, 64, 8, 16, 32
    by_hand = {"dnn": 784 * width + width + width * 10 + 10,
               "cnn": (9 * f1 + f1) + (9 * f1 * f2 + f2) + (7 * 7 * f2 * dense + dense) + dense * 10 + 10,
               "rnn": 4 * (units * (28 + units) + units) + units * 10 + 10}
    from hw1.lab import models as hw1_models

    built = hw1_models.image_classifiers((28, 28, 1), 10, width, [f1, f2], dense, units)
    assert {name: b().count_params() for name, b in built.items()} == by_hand


@pytest.mark.parametrize("profile", ["default", "full"])
def test_the_deeper_dnns_of_the_real_profiles_match_the_dnn_within_two_percent(profile):
    import keras

    from conftest import load_script
    from hw1.lab import models as hw1_models

    settings = load_script(NAME).PROFILES[profile]
    target = 784 * settings["dnn_width"] + settings["dnn_width"] + (settings["dnn_width"] + 1) * 10
    assert settings["runs"] >= 5 and settings["deeper_dnns"] == [2, 4]
    for depth in settings["deeper_dnns"]:
        widths = hw1_models.widths_for_params(depth, target, 784, 10)
        plain = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                                  *[keras.layers.Dense(w, activation="relu") for w in widths], keras.layers.Dense(10)])
        assert len(widths) == depth and abs(plain.count_params() - target) <= 0.02 * target


def test_final_metrics_are_the_last_history_row_of_every_model_and_seed(smoke):
    s = read_json(smoke / "settings.json")["settings"]
    models, history = pd.read_csv(smoke / "models.csv"), pd.read_csv(smoke / "history.csv")
    assert list(models.columns) == COLUMNS["models.csv"] and list(history.columns) == COLUMNS["history.csv"]
    assert models["model"].tolist() == [m for m in ("dnn", "cnn", "rnn", "dnn3") for _ in s["seeds"]]
    assert models.groupby("model")["seed"].apply(list).map(lambda v: v == s["seeds"]).all() and len(s["seeds"]) >= 2
    last = history.groupby(["model", "seed"], sort=False).tail(1).reset_index(drop=True)
    assert (last["epoch"] == s["epochs"]).all()
    pd.testing.assert_frame_equal(models[METRICS], last[METRICS])
    assert not models["diverged"].any() and not history["diverged"].any()
    for split in ("train", "test"):
        acc = history[f"{split}_acc"]
        assert acc.between(0, 1).all()
        n = s["dataset"][f"{split}_size"]
        np.testing.assert_allclose(acc * n, np.round(acc * n), atol=1e-4)  # a count of correct images
    # every model learns in two smoke epochs: the loss falls from about ln 10
    first = history[history["epoch"] == 0].groupby("model")["train_loss"].mean()
    assert (first > 2.0).all() and (models.groupby("model")["train_loss"].max() < first).all()


def test_saved_weights_reproduce_the_final_test_metrics(smoke):
    import keras

    from hw1.lab import data, models as hw1_models

    s = read_json(smoke / "settings.json")["settings"]
    dataset = data.load(s["dataset"]["name"], limit=s["train_limit"], seed=0)
    assert len(dataset.x_test) == s["dataset"]["test_size"]
    builders = hw1_models.image_classifiers(dataset.input_shape, dataset.num_classes, s["dnn_width"],
                                            s["cnn_filters"], s["cnn_dense"], s["rnn_units"])
    builders["dnn3"] = lambda: hw1_models.fc_net(s["depth_family"]["widths"][1], dataset.input_shape, 10)
    table = pd.read_csv(smoke / "models.csv")
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with np.load(smoke / "models" / "final_weights.npz") as saved:
        for name, build in builders.items():
            model = build()
            stacked = [saved[f"{name}_{i}"] for i in range(len(model.trainable_variables))]
            assert stacked[0].shape[0] == len(s["seeds"])
            for run in range(len(s["seeds"])):
                model.set_weights([w[run] for w in stacked])
                logits = model.predict(dataset.x_test, verbose=0)
                row = table[(table["model"] == name) & (table["run"] == run)].iloc[0]
                assert float(ce(dataset.y_test, logits)) == pytest.approx(row["test_loss"], rel=1e-4)
                assert np.mean(logits.argmax(1) == dataset.y_test) == pytest.approx(row["test_acc"], abs=1e-9)


def test_seeds_trained_in_groups_give_the_numbers_of_seeds_trained_together(smoke, tmp_path):
    from conftest import load_script

    script = load_script(NAME)
    script.SEED_GROUP = 1  # every seed alone (the profiles train at most three at once)
    script.main(["--profile", "smoke", "--out", str(tmp_path)])
    alone, together = pd.read_csv(tmp_path / NAME / "models.csv"), pd.read_csv(smoke / "models.csv")
    pd.testing.assert_frame_equal(alone[["model", "run", "seed", "params"]], together[["model", "run", "seed", "params"]])
    np.testing.assert_allclose(alone[METRICS], together[METRICS], rtol=1e-3, atol=1e-5)  # float order only
    with np.load(tmp_path / NAME / "models" / "final_weights.npz") as a, np.load(smoke / "models" / "final_weights.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-3, atol=1e-4)


def test_report_section_cites_the_csv(smoke):
    section, conclusion = report_section(smoke.parent, NAME)
    models = pd.read_csv(smoke / "models.csv")
    table = section.comment[0]
    cnn = models[models["model"] == "cnn"]["test_acc"]
    assert table.rows[1][0] == "CNN" and table.rows[1][5].startswith(f"{100 * cnn.mean():.1f}%")
    text = " ".join(n.text for n in section.comment if hasattr(n, "text"))
    n = read_json(smoke / "settings.json")["settings"]["dataset"]["test_size"]
    p = models["test_acc"].mean()
    assert f"{100 * np.sqrt(p * (1 - p) / n):.2g} points" in text
    assert conclusion.figure.path == f"{NAME}/acc.png" and conclusion.figure.exists
    assert {p.name for p in smoke.glob("*.png")} == {"loss.png", "acc.png"}


# ---------------------------------------------------------------- the verdict rule, on fabricated results

def fabricated(folder, settings: dict, test_acc: dict[str, list[float]],
               train_loss: dict[str, list[float]] | None = None) -> ResultsFolder:
    """A finished results folder whose models.csv has the given test accuracies (and training losses) per model."""
    rows = [dict(model=m, run=r, seed=r, params=settings["models"][m]["params"],
                 train_loss=(train_loss or {}).get(m, [0.1] * len(accs))[r], train_acc=0.97, test_loss=0.2,
                 test_acc=acc, diverged=False)
            for m, accs in test_acc.items() for r, acc in enumerate(accs)]
    models = pd.DataFrame(rows, columns=COLUMNS["models.csv"])
    history = pd.concat([models.assign(epoch=e) for e in (0, 1)])[COLUMNS["history.csv"]]
    folder.mkdir(parents=True)
    models.to_csv(folder / "models.csv", index=False)
    history.to_csv(folder / "history.csv", index=False)
    seeds = list(range(len(next(iter(test_acc.values())))))
    write_json(folder / "settings.json", {"experiment": NAME, "profile": "default", "seed": 0,
                                          "settings": {**settings, "seeds": seeds}, **FOLDER_META})
    write_json(folder / "outcome.json", {**OUTCOME_META, "seconds": 1.0, "settings_digest": file_digest(folder / "settings.json"),
                                         "files": {f: file_digest(folder / f) for f in ("models.csv", "history.csv")}})
    return ResultsFolder(folder)


def holm_by_hand(p: list[float]) -> list[float]:
    order, adjusted, running = np.argsort(p), [0.0] * len(p), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        adjusted[i] = running
    return adjusted


DNN = [0.920, 0.922, 0.924, 0.926, 0.928]
RNN = [0.945, 0.947, 0.949, 0.951, 0.953]


@pytest.mark.parametrize("cnn, verdict, best", [
    ([0.91, 0.96, 0.93, 0.97, 0.915], "unresolved", None),    # overlaps the DNN's runs
    ([0.933, 0.934, 0.935, 0.936, 0.937], "unresolved", None),  # every run above the DNN's, but within 2 SEs
    ([0.965, 0.967, 0.969, 0.971, 0.973], "agrees", "cnn"),
    ([0.900, 0.902, 0.904, 0.906, 0.908], "contradicts", "rnn"),   # below every DNN run, by more than 2 SEs
])
def test_a_kind_is_called_better_only_by_the_rank_test_after_holm_and_beyond_the_test_noise(smoke, tmp_path, cnn,
                                                                                             verdict, best):
    settings = read_json(smoke / "settings.json")["settings"]
    settings["dataset"] = {**settings["dataset"], "test_size": 1000}  # binomial SE about 0.8 points
    accs = {"dnn": DNN, "cnn": cnn, "rnn": RNN, "dnn3": DNN}
    run = fabricated(tmp_path / NAME, settings, accs)
    notes = [n for n in view.comment(run) if hasattr(n, "verdict")]
    lecun = next(n for n in notes if "LeCun" in n.text and n.verdict)
    assert lecun.verdict == verdict
    # the p-value is scipy's Mann–Whitney U, Holm-adjusted over the section's five comparisons
    raw = [stats.mannwhitneyu(accs[b], accs[a]).pvalue for a, b in (("dnn", "cnn"), ("dnn", "rnn"), ("cnn", "rnn"))]
    raw += [stats.mannwhitneyu(DNN, DNN).pvalue, stats.mannwhitneyu([0.1] * 5, [0.1] * 5).pvalue]
    assert f"Mann–Whitney U p = {holm_by_hand(raw)[0]:.2g}, Holm over 5" in lecun.text
    named = [m for m in ("dnn", "cnn", "rnn") if any(f"The {m.upper()} generalizes best" in n.text for n in notes)]
    assert named == ([best] if best else [])
    text, figure = view.conclusion(run)
    assert figure.file == "acc.png" and ("does not rank the kinds" in text) == (best is None)
    if verdict == "unresolved":
        assert lecun.text.startswith("Not resolved by this run: LeCun et al. (1998)")


@pytest.mark.parametrize("deep, verdict", [
    ([0.945, 0.947, 0.949, 0.951, 0.953], "agrees"),      # the deeper net above every shallow run, beyond 2 SEs
    ([0.921, 0.923, 0.925, 0.927, 0.929], "unresolved"),  # interleaved with the shallow runs
    ([0.890, 0.892, 0.894, 0.896, 0.898], "contradicts"),
])
def test_deep_vs_shallow_at_equal_size_follows_the_same_rule(smoke, tmp_path, deep, verdict):
    settings = read_json(smoke / "settings.json")["settings"]
    settings["dataset"] = {**settings["dataset"], "test_size": 1000}
    losses = {"dnn": [0.30, 0.31, 0.32, 0.33, 0.34], "dnn3": [0.10, 0.11, 0.12, 0.13, 0.14]}
    run = fabricated(tmp_path / NAME, settings, {"dnn": DNN, "cnn": RNN, "rnn": RNN, "dnn3": deep}, losses)
    notes = [n for n in view.comment(run) if hasattr(n, "verdict")]
    seide = next(n for n in notes if "Seide" in n.text and n.verdict)
    assert seide.verdict == verdict
    assert ("Not resolved by this run" in seide.text) == (verdict == "unresolved")
    fit = next(n for n in notes if n.text.startswith("Training loss after"))
    assert "It falls with depth (Mann–Whitney U p = " in fit.text  # every deep run below every shallow one
    text, _ = view.conclusion(run)
    word = {"agrees": "the deeper nets generalize better", "contradicts": "the shallower nets generalize better",
            "unresolved": "an effect of depth on test accuracy is not resolved by this run"}[verdict]
    assert word in text and "The training loss falls with depth (Mann–Whitney U p = " in text
