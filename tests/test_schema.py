"""Every CSV declared once (hw1/results/schema.py): the committed runs have exactly the declared columns, a
folder of another version is recognized by them, and a view's own bug is raised, not reported as such a folder.
Figures are cited as objects; plots does not import the views."""

import dataclasses
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from conftest import ROOT
from hw1.report import build as report
from hw1.report.document import Heading, Numbered, blocks
from hw1.results import Csv, ResultsError, file_digest, read_json, write_json
from hw1.report.views import Plot, view, views
from hw1.results.schema import TABLES, tables

RESULTS = ROOT / "results"


@pytest.mark.parametrize("experiment", sorted(TABLES))
def test_the_committed_default_run_writes_exactly_the_declared_columns(experiment):
    run = view(experiment).open(RESULTS / experiment)
    assert set(run.outcome["files"]) == set(tables(experiment))  # every table written is declared, and only those
    for name, declared in tables(experiment).items():
        header = (RESULTS / experiment / name).read_text().splitlines()[0].split(",")
        assert header == list(declared.columns)  # read independently of pandas: the first line of the file
        frame = run.csv(name)
        for column in declared.columns:
            values = frame[column].dropna()
            if column in declared.flags:
                assert set(values) <= {True, False}, column
            elif column not in declared.text:
                assert pd.api.types.is_numeric_dtype(values), column


def test_every_view_has_a_schema_and_every_schema_a_view():
    assert {v.experiment for v in views()} == set(TABLES)


def test_a_folder_of_an_older_version_is_recognized_by_its_schema(tmp_path):
    # a 1-3b folder written before its stopping criterion was a setting: consistent in itself (digests match)
    stale = tmp_path / "part3_params_vs_generalization"
    shutil.copytree(RESULTS / stale.name, stale)
    meta = read_json(stale / "settings.json")
    del meta["settings"]["target_loss"]
    write_json(stale / "settings.json", meta)
    outcome = read_json(stale / "outcome.json")
    outcome["settings_digest"] = file_digest(stale / "settings.json")
    write_json(stale / "outcome.json", outcome)
    with pytest.raises(ResultsError, match=r"settings.json has no 'settings.target_loss' \(files from another "):
        view(stale.name).open(stale)
    sections, _, runs = report.build(tmp_path)
    assert "has no 'settings.target_loss'" in [s.error for s in sections if s.key == "1-3b"][0] and not runs
    # a run whose settings are current but whose CSV lacks a declared column: refused when the table is read
    shutil.rmtree(stale)
    shutil.copytree(RESULTS / stale.name, stale)
    frame = pd.read_csv(stale / "models.csv").drop(columns="reached")
    frame.to_csv(stale / "models.csv", index=False)
    outcome = read_json(stale / "outcome.json")
    outcome["files"]["models.csv"] = file_digest(stale / "models.csv")
    write_json(stale / "outcome.json", outcome)
    run = view(stale.name).open(stale)
    with pytest.raises(ResultsError, match=r"models.csv lacks the columns \['reached'\]; has \['model', "):
        run.csv("models.csv")


def test_a_settings_key_the_schema_does_not_declare_is_a_bug_of_the_view_not_a_folder_of_another_version():
    run = view("part2_gradient_norm").open(RESULTS / "part2_gradient_norm")
    with pytest.raises(KeyError):
        run.settings["learning_rat"]  # a plain dict: no "files from another version" for a typo


def test_a_table_the_schema_does_not_declare_is_a_bug_of_the_view(tmp_path):
    run = view("part2_gradient_norm").open(RESULTS / "part2_gradient_norm")
    with pytest.raises(KeyError, match="not a table of part2_gradient_norm"):
        run.csv("histroy.csv")


def test_a_declared_table_missing_from_the_folder_is_one_line_when_read(tmp_path):
    folder = tmp_path / "part2_gradient_norm"
    shutil.copytree(RESULTS / folder.name, folder)
    declared = {**tables(folder.name), "extra.csv": Csv("extra.csv", ("step",))}
    from hw1.results import ResultsFolder

    with pytest.raises(ResultsError, match="extra.csv cannot be read as a CSV"):
        ResultsFolder(folder, declared).csv("extra.csv")


def test_text_in_a_number_column_or_a_flag_that_is_not_true_or_false_is_not_hws(tmp_path):
    table = Csv("t.csv", ("name", "value", "ok"), text=("name",), flags=("ok",))
    good = pd.DataFrame({"name": ["a", "b"], "value": [1.0, float("nan")], "ok": [True, False]})
    table.check(good, tmp_path / "t.csv")
    with pytest.raises(ResultsError, match="'value' holds values that are not numbers"):
        table.check(good.assign(value=["1", "x"]), tmp_path / "t.csv")
    with pytest.raises(ResultsError, match="'ok' holds values that are not True/False"):
        table.check(good.assign(ok=[1.5, 0.0]), tmp_path / "t.csv")
    with pytest.raises(ResultsError, match=r"lacks the columns \['ok'\]"):
        table.check(good.drop(columns="ok"), tmp_path / "t.csv")


def test_the_writer_keeps_exactly_the_declared_columns_in_their_order():
    table = Csv("t.csv", ("b", "a"))
    written = table.select(pd.DataFrame({"a": [1], "extra": [2], "b": [3]}))
    assert list(written.columns) == ["b", "a"] and written.iloc[0].tolist() == [3, 1]
    with pytest.raises(ValueError, match=r"lacks the declared columns \['b'\]"):
        table.select(pd.DataFrame({"a": [1]}))
    for bad in (dict(columns=("a", "a")), dict(columns=("a",), text=("z",)), dict(columns=("a",), text=("a",),
                                                                                  flags=("a",))):
        with pytest.raises(ValueError):
            Csv("t.csv", **bad)


def test_a_conclusion_cites_its_figure_as_a_plot_object(tmp_path):
    sections, conclusions, _ = report.build(RESULTS)
    cited = {c.section.key: c.figure.path for c in conclusions if c.figure}
    assert cited["1-3d"] == "part3_sensitivity/batch_size.png" and cited["1-3 bonus"] == "part3_sensitivity/flatness.png"
    assert cited["1-1b"] == "part1_actual_task/acc.png" and cited["1-2 bonus"] == "part2_error_surface/surface_pca.png"
    assert len(cited) == len(sections)  # every section cites one of its own figures
    a = Plot("a.png", "t", "c", draw=lambda fig: None)
    assert a == dataclasses.replace(a, draw=print) and a != dataclasses.replace(a, caption="other")


def test_a_conclusion_citing_something_else_than_a_plot_is_a_bug(tmp_path, monkeypatch):
    import importlib

    module = importlib.import_module("hw1.report.views.part2_gradient_norm")
    task = module.VIEW.tasks[0]
    bad = dataclasses.replace(task, conclusion=lambda run: ("text", "gradient_norm.png"))
    monkeypatch.setattr(module, "VIEW", dataclasses.replace(module.VIEW, tasks=(bad,)))
    shutil.copytree(RESULTS / "part2_gradient_norm", tmp_path / "part2_gradient_norm")
    with pytest.raises(TypeError, match="cites a str, not a Plot"):
        report.build(tmp_path)


def test_document_blocks_are_named():
    doc = report.document(RESULTS)
    found = blocks(doc)
    assert not any(isinstance(b, tuple) for b in found)
    assert sum(isinstance(b, Heading) and b.level == 2 and b.anchor == s.anchor for b in found for s in doc.sections) \
        == len(doc.sections)
    assert [b.number for b in found if isinstance(b, Numbered)] == list(range(1, 1 + sum(
        len(s.figures) for s in doc.sections if not (s.missing or s.error))))


def test_plots_does_not_import_the_views_and_the_schema_needs_no_matplotlib():
    code = ("import sys, hw1.report.plots\n"
            "assert not [m for m in sys.modules if m.startswith('hw1.report.views')], 'plots imported the views'\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    code = "import sys, hw1.results.schema; assert 'matplotlib' not in sys.modules and 'tensorflow' not in sys.modules"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
