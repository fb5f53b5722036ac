"""HW1-3a random labels: the script's CSV against an independent computation, and the view's findings."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest

from conftest import load_script, smoke_run
from hw1.results import ResultsFolder, file_digest, read_json
from hw1.report.views import part3_random_labels as view
from hw1.results.schema import tables

NAME = "part3_random_labels"
COLUMNS = {name: list(t.columns) for name, t in tables(NAME).items()}  # the declared schema


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    return smoke_run(tmp_path_factory, NAME)


def keras_metrics(model, x, y):
    """Full-set loss and accuracy by Keras' own evaluate (from logits)."""
    import keras

    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model.evaluate(x, y, batch_size=len(x), verbose=0)


def random_rows(folder):
    history = pd.read_csv(folder / "history.csv")
    return history[history["labels"] == "random"].reset_index(drop=True)


def test_the_network_memorizes_until_the_target_and_the_test_set_stays_near_chance(smoke):
    assert list(pd.read_csv(smoke / "history.csv").columns) == COLUMNS["history.csv"]
    history = random_rows(smoke)
    s, outcome = read_json(smoke / "settings.json")["settings"], read_json(smoke / "outcome.json")
    assert history["epoch"].tolist() == list(range(len(history))) and not history["diverged"].any()
    last = history.iloc[-1]
    assert last["train_acc"] >= s["target_train_acc"] >= 0.99
    assert (history["train_acc"].iloc[:-1] < s["target_train_acc"]).all()  # training stops at the first epoch there
    assert outcome["epochs_to_target"] == last["epoch"] < s["epochs"]
    assert last["test_acc"] < 0.35  # 64 test images with their TRUE labels: chance, not memory
    assert last["test_loss"] > history["test_loss"].iloc[0] > last["train_loss"]
    assert (smoke / "random_labels.png").stat().st_size > 10_000


def test_random_labels_replace_the_training_labels_only(smoke):
    """Epoch 0 (the initial weights) recomputed with plain Keras: the training loss is that of uniformly random
    labels drawn with the run's seed, the test loss that of the TRUE test labels."""
    import keras

    from hw1.lab import data, models

    s = read_json(smoke / "settings.json")["settings"]
    ds = data.subset(data.load("mnist_bundled"), 256, seed=0)
    noisy = np.random.default_rng(0).integers(0, 10, size=len(ds.y_train))  # drawn here, not by hw1
    assert s["labels_changed"] == pytest.approx(np.mean(noisy != ds.y_train), abs=1e-4)
    keras.utils.set_random_seed(0)
    model = models.fc_net(s["widths"], (28, 28, 1), 10)
    full = pd.read_csv(smoke / "history.csv")
    row = full.iloc[0]
    assert row["labels"] == "random"
    twin = full[full["labels"] == "original"].iloc[0]  # the twin starts from the same weights, on the true labels
    assert twin["train_loss"] == pytest.approx(keras_metrics(model, ds.x_train, ds.y_train)[0], rel=1e-5)
    random_loss, random_acc = keras_metrics(model, ds.x_train, noisy)
    true_loss, _ = keras_metrics(model, ds.x_train, ds.y_train)
    test_loss, test_acc = keras_metrics(model, ds.x_test, ds.y_test)
    fake_test_loss, _ = keras_metrics(model, ds.x_test, np.random.default_rng(0).integers(0, 10, len(ds.y_test)))
    assert row["train_loss"] == pytest.approx(random_loss, rel=1e-5) and row["train_acc"] == pytest.approx(random_acc)
    assert row["train_loss"] != pytest.approx(true_loss, rel=1e-4)
    assert row["test_loss"] == pytest.approx(test_loss, rel=1e-5) and row["test_acc"] == pytest.approx(test_acc)
    assert row["test_loss"] != pytest.approx(fake_test_loss, rel=1e-4)


def test_the_true_label_twin_and_the_epochs_ratio_come_from_the_csv(smoke):
    """The twin trains the same net with the same protocol on the true labels; the ratio of the epochs to the
    target is recomputed from history.csv; the twin's first row at the target is its last (it stopped there)."""
    full = pd.read_csv(smoke / "history.csv")
    s, outcome = read_json(smoke / "settings.json")["settings"], read_json(smoke / "outcome.json")
    first = {labels: int(part.loc[part["train_acc"] >= s["target_train_acc"], "epoch"].iloc[0])
             for labels, part in full.groupby("labels")}
    assert set(first) == {"random", "original"}
    assert first["original"] == full.loc[full["labels"] == "original", "epoch"].max() == outcome["true_epochs_to_target"]
    assert outcome["epochs_ratio"] == pytest.approx(first["random"] / first["original"])
    assert outcome["epochs_ratio"] > 1  # noise takes longer to memorize than real digits take to fit
    notes = view.comment(ResultsFolder(smoke))
    ratio = next(n for n in notes if "small factor\"" in n.text)
    assert f"{outcome['epochs_ratio']:.1f} times as many epochs" in ratio.text
    assert not ratio.verdict and "one run per label set" in ratio.text  # a measurement, not a verdict


def test_the_findings_cite_the_csv_and_the_chance_test(smoke):
    run = ResultsFolder(smoke)
    history = random_rows(smoke)
    notes = view.comment(run)
    text = " ".join(n.text for n in notes)
    first = int(history.loc[history["train_acc"] >= 0.99, "epoch"].iloc[0])
    assert f"training accuracy passes 99% at epoch {first}" in text
    last = history["test_acc"].to_numpy()[-math.ceil(len(history) / 10):]  # the last 10% of the evaluations
    z = (last.mean() - 0.1) / max(math.sqrt(0.1 * 0.9 / 64), last.std(ddof=1))
    assert f"z = {z:+.1f} standard errors" in text
    se = max(math.sqrt(0.1 * 0.9 / 64), last.std(ddof=1))  # 64 test images in the smoke run
    chance = "contradicts" if z > 2 else "agrees" if abs(last.mean() - 0.1) + 2 * se <= 0.05 else "unresolved"
    assert [n.verdict for n in notes if n.verdict] == ["agrees", chance]
    paragraph, figure = view.conclusion(run)
    assert figure.file == "random_labels.png" and f"at epoch {first}" in paragraph


def test_a_run_that_stops_at_the_cap_says_so_and_gives_no_verdict(smoke, tmp_path):
    folder = tmp_path / NAME
    shutil.copytree(smoke, folder)
    history = pd.read_csv(folder / "history.csv")
    history.loc[history["labels"] == "random", "train_acc"] = np.minimum(history["train_acc"], 0.9)
    history.to_csv(folder / "history.csv", index=False)
    outcome = read_json(folder / "outcome.json")
    outcome.update(epochs_to_target=None, final_train_acc=0.9, epochs_ratio=None,
                   files={"history.csv": file_digest(folder / "history.csv")})
    (folder / "outcome.json").write_text(json.dumps(outcome))
    notes = view.comment(ResultsFolder(folder))
    assert notes[0].verdict == "unresolved" and "does NOT reach 99%" in notes[0].text
    assert f"cap of {int(history.loc[history['labels'] == 'random', 'epoch'].iloc[-1])} epochs" in notes[0].text
    bound = int(history.loc[history["labels"] == "random", "epoch"].iloc[-1]) / outcome["true_epochs_to_target"]
    assert not notes[1].verdict and f"the ratio of epochs is more than {bound:.1f}" in notes[1].text
    paragraph, _ = view.conclusion(ResultsFolder(folder))
    assert paragraph.startswith("Not within the epoch cap") and "memorizes" not in paragraph


def test_a_diverged_run_is_read_up_to_its_divergence_only(smoke, tmp_path):
    from hw1.report import plots

    folder = tmp_path / NAME
    shutil.copytree(smoke, folder)
    history = pd.read_csv(folder / "history.csv")
    dead = (history["epoch"] >= 5) & (history["labels"] == "random")
    history.loc[dead, ["train_loss", "train_acc", "test_loss", "test_acc"]] = np.nan
    history["diverged"] = dead
    history.to_csv(folder / "history.csv", index=False)
    outcome = read_json(folder / "outcome.json")
    outcome.update(epochs_to_target=None, diverged=True, epochs_ratio=None, files={"history.csv": file_digest(folder / "history.csv")})
    (folder / "outcome.json").write_text(json.dumps(outcome))
    run = ResultsFolder(folder)
    notes = view.comment(run)
    assert notes[0].verdict == "warning" and "diverged" in notes[0].text and "after epoch 4" in notes[0].text
    assert notes[1].verdict == "unresolved" and "diverged before training accuracy reached 99%" in notes[1].text
    assert plots.render(view.plots(run)[0], folder).stat().st_size > 10_000


def test_the_default_profile_asks_for_what_the_homework_asks():
    default = load_script(NAME).PROFILES["default"]
    assert default["target_train_acc"] >= 0.99 and default["train_limit"] is None


@pytest.mark.parametrize("accs, verdict", [([0.3] + [0.05, 0.15] * 10, "unresolved"),  # jumps ±5 points: too noisy
                                           ([0.3] + [0.099, 0.101] * 10, "agrees"),    # steady at chance
                                           ([0.3] + [0.2] * 20, "contradicts"),        # steadily above: learned
                                           ([0.1, 0.104], "agrees"),                   # one evaluation: binomial SE
                                           ([0.1, 0.05], "unresolved")])               # 5 points below, ± 0.6
def test_chance_test_uses_the_larger_of_the_binomial_se_and_the_spread_of_the_last_epochs(accs, verdict):
    test = view.chance_test(accs, 10, 10_000)
    last = np.array(accs[-max(1, min(20, math.ceil(len(accs) / 10))):])
    assert test.epochs == len(last) and test.mean == pytest.approx(last.mean())
    spread = last.std(ddof=1) if len(last) > 1 else 0.0
    se = max(math.sqrt(0.09 / 10_000), spread)
    assert test.se == pytest.approx(se)
    assert test.above == (last.mean() - 0.1 > 2 * se)
    assert test.at_chance == (abs(last.mean() - 0.1) + 2 * se <= 0.05)  # the interval inside chance ± 5 points
    assert test.verdict == verdict


def test_a_capped_random_run_beside_a_twin_at_the_target_gives_a_lower_bound(smoke, tmp_path):
    folder = tmp_path / NAME
    shutil.copytree(smoke, folder)
    outcome = read_json(folder / "outcome.json")
    for run_epochs, true_epochs in ((150, 10), (150, 40)):
        outcome.update(epochs_to_target=None, epochs_run=run_epochs, true_epochs_to_target=true_epochs,
                       epochs_ratio=None)
        (folder / "outcome.json").write_text(json.dumps(outcome))
        note = next(n for n in view.comment(ResultsFolder(folder)) if "small factor\"" in n.text)
        assert f"the ratio of epochs is more than {run_epochs / true_epochs:.1f}" in note.text
        assert not note.verdict  # one run per label set: the bound is reported, not judged
