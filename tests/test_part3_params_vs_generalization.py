"""HW1-3b parameters vs generalization: counts, metrics from the saved weights, seeds, and the verdict rule."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest

from conftest import load_script, run_main, smoke_run
from hw1.report.prose import pct
from hw1.results import ResultsFolder, file_digest, read_json
from hw1.report.views import part3_params_vs_generalization as view
from hw1.results.schema import tables

NAME = "part3_params_vs_generalization"
COLUMNS = {name: list(t.columns) for name, t in tables(NAME).items()}  # the declared schema
METRICS = ["train_loss", "train_acc", "test_loss", "test_acc"]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    return smoke_run(tmp_path_factory, NAME, "--save-weights")


def test_one_row_per_width_and_seed_with_keras_parameter_counts(smoke):
    from hw1.lab import models

    table = pd.read_csv(smoke / "models.csv")
    s = read_json(smoke / "settings.json")["settings"]
    assert list(table.columns) == COLUMNS["models.csv"]
    assert s["seeds"] == [0, 1, 2] and len(table) == len(s["widths"]) * 3
    # each run stops at its criterion or at the cap, and says which
    assert ((table["train_loss"] <= s["target_loss"]) == table["reached"]).all()
    assert (table.loc[~table["reached"], "epochs"] == s["epochs"]).all()
    assert (table.loc[table["reached"], "epochs"] < s["epochs"]).all() and table["reached"].any()
    outcome = read_json(smoke / "outcome.json")
    assert sorted((c["width"], c["seed"]) for c in outcome["capped"]) == \
        sorted(zip(table.loc[~table["reached"], "width"], table.loc[~table["reached"], "seed"]))
    assert sorted(zip(table["width"], table["seed"])) == sorted((w, r) for w in s["widths"] for r in (0, 1, 2))
    for row in table.itertuples():
        assert row.model == f"784-{row.width}-10"
        assert row.params == models.fc_net([row.width], (28, 28, 1), 10).count_params() == 795 * row.width + 10
    assert not table["diverged"].any() and table[["train_acc", "test_acc"]].stack().between(0, 1).all()
    assert {p.name for p in smoke.glob("*.png")} == {"params_loss.png", "params_accuracy.png"}


def test_every_row_equals_a_keras_evaluation_of_its_saved_weights(smoke, smoke_data):
    import keras

    from hw1.lab import models

    table = pd.read_csv(smoke / "models.csv")
    with np.load(smoke / "models" / "weights.npz") as saved:
        for row in table.itertuples():
            model = models.fc_net([row.width], (28, 28, 1), 10)
            model.set_weights([saved[f"w{row.width}_s{row.seed}_{i}"] for i in range(len(model.weights))])
            model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
            for split, x, y in (("train", smoke_data.x_train, smoke_data.y_train),
                                ("test", smoke_data.x_test, smoke_data.y_test)):
                loss, acc = model.evaluate(x, y, batch_size=len(x), verbose=0)
                assert getattr(row, f"{split}_loss") == pytest.approx(loss, rel=1e-5)
                assert getattr(row, f"{split}_acc") == pytest.approx(acc)
    seeds = table[table["width"] == table["width"].max()]
    assert seeds["test_loss"].nunique() == 3  # the seeds are different trainings


def test_the_seed_column_names_the_run_that_trained_with_it(smoke, smoke_data):
    """A width trained alone from seed 1 gives the row labelled seed 1 (runs trained together are independent)."""
    from hw1.lab import models, train

    s = read_json(smoke / "settings.json")["settings"]
    width = min(s["widths"])
    config = train.TrainConfig(epochs=s["epochs"], batch_size=s["batch_size"], learning_rate=s["learning_rate"])
    alone = train.train(lambda: models.fc_net([width], (28, 28, 1), 10), smoke_data, config, seeds=[1],
                        callbacks=[train.StopAt(train_loss=s["target_loss"])]).final.iloc[0]
    table = pd.read_csv(smoke / "models.csv")
    row = table[(table["width"] == width) & (table["seed"] == 1)].iloc[0]
    for metric in METRICS:
        assert row[metric] == pytest.approx(alone[metric], rel=1e-4)


def fabricate(smoke, folder, test_acc):
    """The smoke run with models.csv replaced: widths 1..16, three seeds, every model at 100% training accuracy
    (all past the fitting size), test accuracy from ``test_acc(width, seed)``; digests rewritten."""
    shutil.copytree(smoke, folder)
    rows = [{"model": f"784-{w}-10", "width": w, "params": 795 * w + 10, "seed": seed, "epochs": 10, "reached": True,
             "train_loss": 0.01 / w,
             "train_acc": 1.0, "test_loss": 1 - test_acc(w, seed), "test_acc": test_acc(w, seed), "diverged": False}
            for w in (1, 2, 4, 8, 16) for seed in (0, 1, 2)]
    pd.DataFrame(rows).to_csv(folder / "models.csv", index=False)
    outcome = read_json(folder / "outcome.json")
    outcome["files"] = {"models.csv": file_digest(folder / "models.csv")}
    (folder / "outcome.json").write_text(json.dumps(outcome))
    return ResultsFolder(folder)


@pytest.mark.parametrize("test_acc, verdict", [
    (lambda w, seed: 0.90 + 0.01 * ((w + seed) % 3), "unresolved"),                 # no ordered trend
    (lambda w, seed: 0.90 + 0.001 * math.log2(w) + 0.003 * seed, "unresolved"),    # ordered, but inside the margin
    (lambda w, seed: 0.90 + 0.01 * math.log2(w) + 0.001 * seed, "agrees"),          # test error falls, ends apart
    (lambda w, seed: 0.95 - 0.01 * math.log2(w) + 0.001 * seed, "contradicts"),     # test error rises past the fit
])
def test_the_verdict_follows_the_evidence_rule(smoke, tmp_path, test_acc, verdict):
    """Past the fitting width, the verdict is hw1.report.evidence's pooled trend of the test error, recomputed here with
    scipy's Kendall τ (Jonckheere–Terpstra), Holm over the task's findings, and the stated margin."""
    from scipy import stats

    run = fabricate(smoke, tmp_path / NAME, test_acc)
    note = view.comment(run)[-1]
    assert note.verdict == verdict and "Neyshabur" in note.text
    frame = pd.read_csv(tmp_path / NAME / "models.csv")
    columns = {"train_loss": frame["train_loss"], "test_loss": frame["test_loss"],
               "test_error": 100 * (1 - frame["test_acc"]), "gap": 100 * (frame["train_acc"] - frame["test_acc"])}
    # every width is past the fit here: the two "past" findings are the overall ones again; six in Holm's family
    raw = [stats.kendalltau(frame["params"], columns[c]).pvalue for c in
           ("train_loss", "test_loss", "test_error", "gap", "test_error", "test_loss")]
    order = np.argsort(raw, kind="stable")
    holm = np.maximum.accumulate([min(1.0, (6 - i) * raw[j]) for i, j in enumerate(order)])
    adjusted = dict(zip(order, holm))
    found = view.findings(view._models(ResultsFolder(tmp_path / NAME)))
    assert found["past_error"].p == pytest.approx(adjusted[4], rel=1e-9)
    error = columns["test_error"]
    medians = error.groupby(frame["width"]).median()
    moved = abs(medians.iloc[-1] - medians.iloc[0]) > view.MARGIN_POINTS
    assert (verdict != "unresolved") == (adjusted[4] < 0.05 and moved)
    if verdict == "unresolved":
        assert "Not resolved by this run" in note.text


def test_a_non_monotone_test_loss_past_the_fit_is_named(smoke, tmp_path):
    """Test loss that falls to w = 4 and rises from there in every seed: the step is named, the minimum given."""
    run = fabricate(smoke, tmp_path / NAME, lambda w, seed: 0.9 + 0.01 * math.log2(w) + 0.001 * seed)
    frame = pd.read_csv(tmp_path / NAME / "models.csv")
    frame["test_loss"] = [{1: 0.50, 2: 0.40, 4: 0.30, 8: 0.35, 16: 0.36}[w] + 0.002 * s
                          for w, s in zip(frame["width"], frame["seed"])]
    frame.to_csv(tmp_path / NAME / "models.csv", index=False)
    outcome = read_json(tmp_path / NAME / "outcome.json")
    outcome["files"] = {"models.csv": file_digest(tmp_path / NAME / "models.csv")}
    (tmp_path / NAME / "outcome.json").write_text(json.dumps(outcome))
    text = " ".join(n.text for n in view.comment(ResultsFolder(tmp_path / NAME))[1:])
    assert "lowest mean 0.302 at w = 4" in text and "Past w = 4 the mean test loss rises again" in text
    assert "(not monotone: from w = 4 to w = 8 it goes the other way in every run; " in text


def test_the_findings_cite_the_csv(smoke):
    run = ResultsFolder(smoke)
    table = pd.read_csv(smoke / "models.csv")
    notes = view.comment(run)
    metrics = notes[0]
    widest = table[table["width"] == table["width"].max()]
    row = next(r for r in metrics.rows if r[0] == str(table["width"].max()))
    assert row[5].startswith(f"{pct(widest['test_acc'].mean())} ± {pct(widest['test_acc'].std(ddof=1))}")
    text = " ".join(n.text for n in notes[1:])
    assert "Only 3 widths" in text  # the smoke run is short of the assignment's 10 widths, and says so
    assert view.conclusion(run)[1].file == "params_accuracy.png"


def test_a_repeated_width_is_one_line_and_exit_2(tmp_path, capsys):
    assert run_main(NAME, "--profile", "smoke", "--out", str(tmp_path), "--widths", "4,4") == 2
    assert "repeats a width" in capsys.readouterr().err


def test_the_default_profile_asks_for_what_the_homework_asks():
    from hw1.lab import models

    default = load_script(NAME).PROFILES["default"]
    counts = [models.fc_param_count([w], 784, 10) for w in default["widths"]]
    assert len(counts) >= 10 and max(counts) / min(counts) >= 100 and default["runs"] >= 3


def test_capped_models_are_listed_and_warn_only_among_the_widest(smoke, tmp_path):
    """Capped runs are named per width with their training loss; only a capped run among the 4 widest widths
    (the regime past the interpolation threshold) makes the note a failed check."""
    s = read_json(smoke / "settings.json")["settings"]
    table = pd.read_csv(smoke / "models.csv")
    note = view.capped_note(view._models(ResultsFolder(smoke)), s)
    for width, group in table[~table["reached"]].groupby("width"):
        assert f"w = {width} ({len(group)} of 3 seeds" in note.text
    assert note.verdict == ("warning" if (~table["reached"]).any() else "")  # smoke: only 3 widths, all "widest"
    run = fabricate(smoke, tmp_path / NAME, lambda w, seed: 0.9 + 0.01 * math.log2(w))
    frame = view._models(run)
    frame.loc[frame["width"] == 1, "reached"] = False
    assert view.capped_note(frame, s).verdict == ""  # the narrowest of 5 widths: expected, not a failure
    frame.loc[frame["width"] == 16, "reached"] = False
    assert view.capped_note(frame, s).verdict == "warning"
