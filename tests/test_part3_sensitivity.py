"""HW1-3d / 1-3 bonus: stopping criterion, sensitivity, λmax and the view's verdicts vs independent computations."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from conftest import load_script, run_main, smoke_run
from hw1.report import build as report
from hw1.report.document import Note, Table
from hw1.results import ResultsFolder, file_digest, read_json
from hw1.report.views import part3_sensitivity as view
from hw1.results.schema import tables

NAME = "part3_sensitivity"
COLUMNS = {name: list(t.columns) for name, t in tables(NAME).items()}  # the declared schema


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    return smoke_run(tmp_path_factory, NAME, "--save-weights")


def _weights(folder, row) -> list[np.ndarray]:
    with np.load(folder / "models" / "weights.npz") as z:
        prefix = f"b{row.batch_size}_lr{row.learning_rate:g}_s{row.seed}_"
        return [z[f"{prefix}{i}"] for i in range(sum(k.startswith(prefix) for k in z.files))]


def _dataset(settings):
    from hw1.lab import data

    return data.load(settings["dataset"]["name"], limit=settings["train_limit"], seed=0)


def test_every_model_reaches_the_target_or_is_reported_capped(smoke):
    import keras

    from hw1.lab import models

    table = pd.read_csv(smoke / "models.csv")
    s = read_json(smoke / "settings.json")["settings"]
    outcome = read_json(smoke / "outcome.json")
    assert list(table.columns) == COLUMNS["models.csv"]
    n_train = s["dataset"]["train_size"]
    for row in table.itertuples():
        per_epoch = -(-n_train // row.batch_size)
        assert row.steps == row.epochs * per_epoch
        if row.reached_target:
            assert row.train_loss <= s["target_loss"] and row.steps <= s["max_steps"]
        else:  # capped: trained to the last epoch the cap allows, loss still above the target
            assert row.epochs == s["max_steps"] // per_epoch and row.train_loss > s["target_loss"]
    unique = table.drop_duplicates(["batch_size", "learning_rate", "seed"])
    assert 0 < unique["reached_target"].sum() < len(unique)  # the smoke run exercises both outcomes
    assert len(outcome["capped"]) == (~unique["reached_target"]).sum() and outcome["models"] == len(unique)
    shared = table[(table["batch_size"] == s["batch_size"]) & (table["learning_rate"] == s["learning_rate"])]
    assert set(shared["sweep"]) == {"batch_size", "learning_rate"}  # trained once, listed in both sweeps
    assert (shared.groupby("seed")["train_loss"].nunique() == 1).all()
    # the full-set training loss of two trained models (one reached, one capped), recomputed with plain Keras
    ds = _dataset(s)
    for row in (unique[unique["reached_target"]].iloc[0], unique[~unique["reached_target"]].iloc[0]):
        model = models.fc_net(s["widths"], ds.input_shape, ds.num_classes)
        model.set_weights(_weights(smoke, row))
        model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        loss, acc = model.evaluate(ds.x_train, ds.y_train, batch_size=len(ds.x_train), verbose=0)
        assert row.train_loss == pytest.approx(loss, rel=1e-5) and row.train_acc == pytest.approx(acc)
        assert (loss <= s["target_loss"]) == row.reached_target


def test_sensitivity_equals_a_finite_difference_jacobian_norm(smoke):
    table = pd.read_csv(smoke / "models.csv")
    s = read_json(smoke / "settings.json")["settings"]
    row = table.iloc[0]
    w1, b1, w2, b2 = (w.astype(np.float64) for w in _weights(smoke, row))
    x = _dataset(s).x_test.reshape(-1, 784).astype(np.float64)

    def softmax(inputs):
        logits = np.maximum(inputs @ w1 + b1, 0) @ w2 + b2
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    h, eye = 1e-6, np.eye(784)
    norms = [np.linalg.norm((softmax(xi + h * eye) - softmax(xi - h * eye)) / (2 * h)) for xi in x]
    assert row.sensitivity == pytest.approx(np.mean(norms), rel=1e-4)
    assert row.sensitivity_median == pytest.approx(np.median(norms), rel=1e-4)


def test_top_hessian_eigenvalue_equals_eigvalsh_of_the_exact_float64_hessian(smoke):
    from hw1.measure import hessian
    from hw1.lab import models

    table = pd.read_csv(smoke / "models.csv")
    s = read_json(smoke / "settings.json")["settings"]
    ds = _dataset(s)
    row = table.iloc[-1]
    model64 = models.fc_net(s["widths"], ds.input_shape, ds.num_classes, dtype="float64")
    weights = [w.astype(np.float64) for w in _weights(smoke, row)]
    exact = hessian.loss_gradient_hessian(model64, weights, ds.x_train, ds.y_train, "sparse_ce")[2]
    top = np.linalg.eigvalsh(0.5 * (exact + exact.T))[-1]
    assert row.top_hessian_eigenvalue == pytest.approx(top, rel=1e-3)


def _synthetic(tmp_path, smoke, test_acc, edit=lambda frame: frame) -> ResultsFolder:
    """A finished run whose models.csv is made up (5 batch sizes × 3 seeds; ``test_acc(batch index, seed)``)."""
    folder = tmp_path / NAME
    folder.mkdir()
    shutil.copy(smoke / "settings.json", folder / "settings.json")
    sizes, rates = [16, 64, 256, 1024, 4000], [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]
    rows = [dict(sweep=sweep, batch_size=b, learning_rate=lr, seed=seed, epochs=10, steps=100, reached_target=True,
                 train_loss=9e-4, train_acc=1.0, test_loss=0.3 - 0.01 * i + 0.001 * seed, test_acc=test_acc(i, seed),
                 sensitivity=0.4 + 0.05 * i + 0.01 * seed, sensitivity_median=1e-3, sharpness=0.2 + 0.1 * i,
                 top_hessian_eigenvalue=0.1 + 0.02 * i, diverged=False)
            for sweep in view.SWEEPS for i in range(5) for seed in range(3)
            for b, lr in [(sizes[i], 1e-3) if sweep == "batch_size" else (64, rates[i])]]
    edit(pd.DataFrame(rows, columns=COLUMNS["models.csv"])).to_csv(folder / "models.csv", index=False)
    outcome = read_json(smoke / "outcome.json")
    outcome.update(settings_digest=file_digest(folder / "settings.json"),
                   files={"models.csv": file_digest(folder / "models.csv")})
    (folder / "outcome.json").write_text(json.dumps(outcome))
    return ResultsFolder(folder)


def _keskar_accuracy(run: ResultsFolder):
    return next(n for n in view.comment_sensitivity(run)
                if isinstance(n, Note) and n.text.startswith("Keskar et al.: at ~100% training"))


def test_the_verdict_is_unresolved_when_the_seeds_overlap(tmp_path, smoke):
    # accuracy falls by 0.2 points per batch size, but the seeds scatter by ±1.5 points
    noise = {0: 0.015, 1: -0.015, 2: 0.0}
    run = _synthetic(tmp_path, smoke, lambda i, seed: 0.95 - 0.002 * i + noise[(seed + i) % 3])
    note = _keskar_accuracy(run)
    assert note.verdict == "unresolved" and "Not resolved by this run" in note.text


@pytest.mark.parametrize("slope, verdict", [(-0.01, "agrees"), (0.01, "contradicts")])
def test_a_trend_beyond_the_spread_gets_a_verdict(tmp_path, smoke, slope, verdict):
    run = _synthetic(tmp_path, smoke, lambda i, seed: 0.94 + slope * i + 0.001 * seed)
    assert _keskar_accuracy(run).verdict == verdict
    bonus = view.comment_sharpness(run)
    sharp = next(n for n in bonus if isinstance(n, Note) and n.text.startswith("Keskar et al.: larger batches")
                 and "ε-sharpness" in n.text)
    assert sharp.verdict == "agrees"  # sharpness rises by 0.1 % per batch size in every seed


def test_diverged_and_capped_models_are_shown_as_such_and_never_read_as_minimizers(tmp_path, smoke):
    from hw1.report import plots

    def edit(frame):
        dead = (frame["batch_size"] == 256) & (frame["seed"] == 1)
        frame.loc[dead, ["train_loss", "train_acc", "test_loss", "test_acc", *view.MEASURES]] = np.nan
        frame.loc[dead, ["diverged", "reached_target"]] = [True, False]
        capped = (frame["batch_size"] == 4000) & (frame["seed"] == 2)
        frame.loc[capped, ["reached_target", "train_loss"]] = [False, 0.05]
        return frame

    run = _synthetic(tmp_path, smoke, lambda i, seed: 0.94 - 0.01 * i, edit)
    assert len(view.minimizers(view.read_models(run))) == 30 - 2  # 15 rows per sweep; one diverged, one capped
    for plot in view.plots(run):
        assert plots.render(plot, run.folder).stat().st_size > 20_000
    captions = " ".join(p.caption for p in view.plots(run))
    assert "Diverged, left out: batch 256, lr 0.001, seed 1." in captions and "step cap" in captions
    notes = [n for n in view.comment_sensitivity(run) if isinstance(n, Note)]
    assert "batch 256, lr 0.001, seed 1" in notes[0].text  # the diverged note comes first
    capped = next(n for n in notes if n.verdict == "warning")
    assert "batch 4000, lr 0.001, seed 2 (loss 0.05)" in capped.text


def test_view_figures_and_report_sections_cite_the_csv(smoke):
    sections, conclusions, _ = report.build(smoke.parent)
    mine = [s for s in sections if s.experiment == NAME]
    assert [s.key for s in mine] == ["1-3d", "1-3 bonus"] and not any(s.error or s.missing for s in mine)
    table = pd.read_csv(smoke / "models.csv")
    reached = table[table["reached_target"] & (table["sweep"] == "batch_size")]
    tables = [n for n in mine[0].comment if isinstance(n, Table)]
    cells = " ".join(c for t in tables for r in t.rows for c in r)
    assert f"{reached['test_loss'].mean():.3g}" in cells
    warning = next(n for n in mine[0].comment if isinstance(n, Note) and n.verdict == "warning")
    assert "step cap" in warning.text
    assert {c.figure.path for c in conclusions if c.section.experiment == NAME} == {
        f"{NAME}/batch_size.png", f"{NAME}/flatness.png"}
    for file in ("batch_size.png", "learning_rate.png", "flatness.png"):
        assert (smoke / file).stat().st_size > 20_000


def test_bad_arguments_are_one_line_errors(tmp_path, capsys):
    assert run_main(NAME, "--dataset", "svhn", "--out", str(tmp_path)) == 2
    assert "invalid choice: 'svhn'" in capsys.readouterr().err
    assert run_main(NAME, "--batch-sizes", "16,0", "--out", str(tmp_path)) == 2
    assert "'0' is not a positive integer" in capsys.readouterr().err
    assert run_main(NAME, "--batch-sizes", "16,16", "--out", str(tmp_path)) == 2
    assert "repeats a value" in capsys.readouterr().err
    assert run_main(NAME, "--profile", "smoke", "--batch-sizes", "16,9999", "--out", str(tmp_path)) == 2
    assert "larger than the training set" in capsys.readouterr().err
    assert run_main(NAME, "--learning-rates", "1e-3,-1", "--out", str(tmp_path)) == 2
    profiles = load_script(NAME).PROFILES["default"]
    assert len(profiles["batch_sizes"]) >= 5 and np.all(np.diff(np.log(profiles["batch_sizes"])) > 1)
    assert len(profiles["learning_rates"]) >= 5 and profiles["runs"] >= 3


def test_runs_trained_together_stop_on_their_own_and_stay_where_they_stopped():
    from hw1.measure import core
    from hw1.lab import data, models, train

    ds = data.load("mnist_bundled", limit=256, seed=0)
    build = lambda: models.fc_net([16], ds.input_shape, ds.num_classes)  # noqa: E731
    config = train.TrainConfig(epochs=100, batch_size=32)
    ahead = train.train(build, ds, config, seeds=[0], callbacks=[train.StopAt(train_loss=0.5)])
    assert ahead.stopped[0] is not None
    both = train.train(build, ds, config, seeds=[0, 1], init=[ahead.weights[0], train.initial_weights(build, 1)],
                       callbacks=[train.StopAt(train_loss=0.3)])
    first, second = both.stopped
    assert first is not None and second is not None and first < second
    last = both.history.groupby("run")["epoch"].max()
    assert list(last) == [first, second] and list(both.final["epoch"]) == [first, second]
    # the run that stopped first kept the weights it was evaluated with, though its neighbour trained on
    loss, _ = core.Evaluator(build(), "sparse_ce")(core.stack([both.weights[0]]), ds.x_train, ds.y_train)
    assert loss[0] == both.final["train_loss"].iloc[0] <= 0.3
    assert both.final["train_loss"].iloc[1] <= 0.3 and both.diverged == [False, False]
