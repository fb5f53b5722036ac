"""HW1-1b actual task: parameter counts against Keras, final metrics against the saved weights, and the view."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import smoke_run
from hw1 import report
from hw1.results import ResultsFolder, file_digest, read_json, write_json
from hw1.views import part1_actual_task as view

NAME = "part1_actual_task"


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
    models = pd.read_csv(smoke / "models.csv")
    for name, layers in plain.items():
        count = keras.Sequential([keras.Input(shape), *layers]).count_params()
        assert set(models.loc[models["model"] == name, "params"]) == {count}
        assert s["models"][name]["params"] == count
    # and by hand, for the default sizes the README quotes
    width, units, f1, f2, dense = 32, 64, 8, 16, 32
    by_hand = {"dnn": 784 * width + width + width * 10 + 10,
               "cnn": (9 * f1 + f1) + (9 * f1 * f2 + f2) + (7 * 7 * f2 * dense + dense) + dense * 10 + 10,
               "rnn": 4 * (units * (28 + units) + units) + units * 10 + 10}
    from hw1 import models as hw1_models

    built = hw1_models.image_classifiers((28, 28, 1), 10, width, [f1, f2], dense, units)
    assert {name: b().count_params() for name, b in built.items()} == by_hand


def test_final_metrics_are_the_last_history_row_of_every_model_and_seed(smoke):
    s = read_json(smoke / "settings.json")["settings"]
    models, history = pd.read_csv(smoke / "models.csv"), pd.read_csv(smoke / "history.csv")
    assert list(models.columns) == view.MODEL_COLUMNS and list(history.columns) == view.HISTORY_COLUMNS
    assert models["model"].tolist() == [m for m in ("dnn", "cnn", "rnn") for _ in s["seeds"]]
    assert models.groupby("model")["seed"].apply(list).map(lambda v: v == s["seeds"]).all() and len(s["seeds"]) >= 2
    last = history.groupby(["model", "seed"], sort=False).tail(1).reset_index(drop=True)
    assert (last["epoch"] == s["epochs"]).all()
    pd.testing.assert_frame_equal(models[view.METRICS], last[view.METRICS])
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

    from hw1 import data, models as hw1_models

    s = read_json(smoke / "settings.json")["settings"]
    dataset = data.load(s["dataset"]["name"], limit=s["train_limit"], seed=0)
    assert len(dataset.x_test) == s["dataset"]["test_size"]
    builders = hw1_models.image_classifiers(dataset.input_shape, dataset.num_classes, s["dnn_width"],
                                            s["cnn_filters"], s["cnn_dense"], s["rnn_units"])
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


def test_report_section_cites_the_csv(smoke):
    sections, conclusions, _ = report.build(smoke.parent)
    section = next(s for s in sections if s.experiment == NAME)
    assert not section.error and not section.missing
    models = pd.read_csv(smoke / "models.csv")
    table = section.comment[0]
    cnn = models[models["model"] == "cnn"]["test_acc"]
    assert table.rows[1][0] == "CNN" and table.rows[1][5].startswith(f"{100 * cnn.mean():.1f}%")
    text = " ".join(n.text for n in section.comment if hasattr(n, "text"))
    n = read_json(smoke / "settings.json")["settings"]["dataset"]["test_size"]
    p = models["test_acc"].mean()
    assert f"{100 * np.sqrt(p * (1 - p) / n):.2g} points" in text
    conclusion = next(c for c in conclusions if c.section.experiment == NAME)
    assert conclusion.figure.path == f"{NAME}/acc.png" and conclusion.figure.exists
    assert {p.name for p in smoke.glob("*.png")} == {"loss.png", "acc.png"}


# ---------------------------------------------------------------- the verdict rule, on fabricated results

def fabricated(folder, settings: dict, test_acc: dict[str, list[float]]) -> ResultsFolder:
    """A finished results folder whose models.csv has the given test accuracies per model and seed."""
    rows = [dict(model=m, run=r, seed=r, params=settings["models"][m]["params"], train_loss=0.1, train_acc=0.97,
                 test_loss=0.2, test_acc=acc, diverged=False)
            for m, accs in test_acc.items() for r, acc in enumerate(accs)]
    models = pd.DataFrame(rows, columns=view.MODEL_COLUMNS)
    history = pd.concat([models.assign(epoch=e) for e in (0, 1)])[view.HISTORY_COLUMNS]
    folder.mkdir(parents=True)
    models.to_csv(folder / "models.csv", index=False)
    history.to_csv(folder / "history.csv", index=False)
    write_json(folder / "settings.json", {"experiment": NAME, "profile": "default", "seed": 0,
                                          "settings": {**settings, "seeds": [0, 1, 2]}})
    write_json(folder / "outcome.json", {"seconds": 1.0, "settings_digest": file_digest(folder / "settings.json"),
                                         "files": {f: file_digest(folder / f) for f in ("models.csv", "history.csv")}})
    return ResultsFolder(folder)


@pytest.mark.parametrize("cnn, verdict, best", [
    ([0.91, 0.96, 0.93], "unresolved", None),            # overlaps the DNN's seeds (and the RNN's)
    ([0.931, 0.932, 0.933], "unresolved", "rnn"),        # apart from the DNN's seeds, but within 2 binomial SEs
    ([0.96, 0.965, 0.97], "agrees", "cnn"),
    ([0.90, 0.905, 0.91], "contradicts", "rnn"),         # below every DNN seed, by more than 2 SEs
])
def test_a_model_is_called_better_only_beyond_the_seed_spread_and_the_test_noise(smoke, tmp_path, cnn, verdict, best):
    settings = read_json(smoke / "settings.json")["settings"]
    settings["dataset"] = {**settings["dataset"], "test_size": 1000}  # binomial SE about 0.8 points
    run = fabricated(tmp_path / NAME, settings, {"dnn": [0.92, 0.925, 0.93], "cnn": cnn, "rnn": [0.945, 0.955, 0.95]})
    notes = [n for n in view.comment(run) if hasattr(n, "verdict")]
    assert [n.verdict for n in notes if n.verdict] == [verdict]
    named = [m for m in ("dnn", "cnn", "rnn") if any(f"The {m.upper()} generalizes best." in n.text for n in notes)]
    assert named == ([best] if best else [])
    text, figure = view.conclusion(run)
    assert figure == "acc.png" and ("does not rank them" in text) == (best is None)
    if verdict == "unresolved":
        assert "not resolved by this run" in next(n.text for n in notes if n.verdict).lower()
