"""The report and the figure command as wholes: built from every experiment's smoke run, robust to folders
that lie, free of TensorFlow and of global matplotlib state. (Each view's numbers are tested beside its
experiment, in tests/test_<experiment>.py.)"""

from __future__ import annotations

import html.parser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import ROOT, run_main
from hw1.report import evidence, prose, build as report
from hw1.report.plots.__main__ import main as plots_main
from hw1.report.views import views

EXPERIMENTS = sorted(p.stem for p in (ROOT / "experiments").glob("part*.py"))


@pytest.fixture(scope="module")
def smoke_root(tmp_path_factory) -> Path:
    """Every experiment's smoke run, in-process, into one results folder (copied per test that damages it)."""
    root = tmp_path_factory.mktemp("smoke")
    for name in EXPERIMENTS:
        assert run_main(name, "--profile", "smoke", "--out", str(root)) == 0, name
    return root


def copy(root: Path, tmp_path: Path) -> Path:
    target = tmp_path / "results"
    shutil.copytree(root, target)
    return target


class _Html(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids, self.links, self.srcs = set(), [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and "href" in attrs:
            self.links.append(attrs["href"])
        if tag == "img":
            self.srcs.append(attrs["src"])


# ---------------------------------------------------------------- the whole report

def test_every_experiment_has_a_view_and_every_view_a_script():
    assert sorted(v.experiment for v in views()) == EXPERIMENTS
    positions = [v.position for v in views()]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)


def test_report_of_all_smoke_runs_has_every_section_conclusion_and_figure(smoke_root, tmp_path):
    root = copy(smoke_root, tmp_path)
    assert report.main([str(root)]) == 0
    doc = report.document(root)
    assert [s.experiment for s in doc.sections] == [e for v in views() for e in [v.experiment] * len(v.tasks)]
    assert not [s.key for s in doc.sections if s.error or s.missing]
    assert len(doc.conclusions) == len(doc.sections)  # one answer per question, at the top
    assert all(c.figure is not None and c.figure.exists for c in doc.conclusions)
    assert all(f.exists for s in doc.sections for f in s.figures)
    md = (root / "REPORT.md").read_text()
    assert md.index("## Conclusions") < md.index("## 1-1a")
    for s in doc.sections:  # every figure file a section names is drawn, and its caption printed
        for f in s.figures:
            assert (root / f.path).stat().st_size > 5_000
            assert f.caption and f.caption in md


def test_html_is_self_contained_and_its_links_resolve(smoke_root, tmp_path):
    root = copy(smoke_root, tmp_path)
    report.main([str(root)])
    page = (root / "report.html").read_text()
    parser = _Html()
    parser.feed(page)
    assert parser.srcs and all(src.startswith("data:image/png;base64,") for src in parser.srcs)
    assert not re.search(r"(src|href)=\"https?://", page)
    assert all(link[1:] in parser.ids for link in parser.links if link.startswith("#"))
    report.main([str(root), "--link-figures"])
    linked = _Html()
    linked.feed((root / "report.html").read_text())
    assert all((root / src).is_file() for src in linked.srcs)


def test_a_verdict_is_only_given_under_the_stated_rule(smoke_root):
    doc = report.document(smoke_root)
    assert any(evidence.RULE in line for line in doc.meta)
    verdicts = {n.verdict for s in doc.sections for n in s.comment if hasattr(n, "verdict")}
    assert verdicts <= {"", "agrees", "contradicts", "unresolved", "warning", "disagrees"}


# ---------------------------------------------------------------- folders that lie

def _section(root: Path, experiment: str):
    return [s for s in report.document(root).sections if s.experiment == experiment]


def test_missing_unfinished_mixed_and_damaged_folders_are_each_reported(smoke_root, tmp_path):
    root = copy(smoke_root, tmp_path)
    shutil.rmtree(root / "part2_gradient_norm")                                   # never run
    (root / "part1_actual_task" / "outcome.json").unlink()                         # killed before it finished
    other = root / "part2_minimal_ratio"
    runs = pd.read_csv(other / "runs.csv")
    runs.iloc[:1].to_csv(other / "runs.csv", index=False)                          # a CSV of another run
    (root / "part3_random_labels" / "settings.json").write_text("{")               # damaged by hand
    assert report.main([str(root)]) == 1
    assert all(s.missing for s in _section(root, "part2_gradient_norm"))
    assert "unfinished" in _section(root, "part1_actual_task")[0].error
    assert "changed after the run wrote it" in _section(root, "part2_minimal_ratio")[0].error
    assert "not valid JSON" in _section(root, "part3_random_labels")[0].error
    built = [s for s in report.document(root).sections if not s.error and not s.missing]
    assert len(built) >= len(EXPERIMENTS) - 4  # the others are still built


def test_compare_names_the_settings_that_differ_and_the_verdicts_that_changed(smoke_root, tmp_path):
    root, other = copy(smoke_root, tmp_path), tmp_path / "other"
    shutil.copytree(smoke_root, other)
    shutil.rmtree(other / "part2_gradient_norm")
    assert run_main("part3_random_labels", "--profile", "smoke", "--epochs", "1", "--out", str(other)) == 0
    assert report.main([str(root), "--compare", str(other)]) == 0
    table = report.document(root, compare=other).tables[1]
    rows = {row[0]: row for row in table.rows}
    assert rows["1-3a"][1] == "epochs 60 vs 1"
    assert rows["1-2b"][1] == "(no finished run of it there)"
    assert rows["1-1a"][1] == "none" and rows["1-1a"][2].startswith("none (")  # the same files: nothing changed
    assert "This run against the smoke-profile run whose report is ../other/REPORT.md" in (root / "REPORT.md").read_text()
    assert report.main([str(root), "--compare", str(tmp_path / "nowhere")]) == 2


def test_settings_diff_and_verdict_changes():
    from hw1.report.document import Note, Section
    here = {"dataset": {"name": "fashion_mnist", "train_size": 60000, "source": "/a"}, "epochs": 10, "seeds": [1]}
    there = {"dataset": {"name": "mnist_bundled", "train_size": 4000, "source": "/b"}, "epochs": 10, "seeds": [2]}
    assert report.settings_diff(here, there) == ("dataset.name fashion_mnist vs mnist_bundled; "
                                                 "dataset.train_size 60,000 vs 4,000")
    assert report.settings_diff(here, here) == "none"
    a, b = Section("1-x", "t", "q", "e"), Section("1-x", "t", "q", "e")
    a.comment = [Note("rises", "agrees"), Note("plain"), Note("falls", "unresolved")]
    b.comment = [Note("rises", "agrees"), Note("falls", "agrees")]
    assert report.verdict_changes(a, b) == "agrees → unresolved: “falls”"
    b.comment.append(Note("3 models capped", "warning"))  # a failed check is not paired with the findings
    assert report.verdict_changes(a, b) == ("agrees → unresolved: “falls”; "
                                            "check failed there only: “3 models capped”")
    b.comment.append(Note("one more", "agrees"))
    assert report.verdict_changes(a, b).startswith("here: 1 agrees, 1 unresolved; there: 3 agrees;")


def test_plots_command_draws_every_good_folder_and_names_each_bad_one(smoke_root, tmp_path, capsys):
    root = copy(smoke_root, tmp_path)
    (root / "part1_actual_task" / "outcome.json").unlink()
    (root / "part2_gradient_norm" / "history.csv").write_bytes(b"\x00\xff garbage")
    assert plots_main([str(root)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("hw1.report.plots: part") for line in err)
    assert "Traceback" not in "".join(err)
    assert plots_main([str(tmp_path / "nothing-here")]) == 2


def test_a_run_that_starts_clears_the_stale_figures_and_temporary_files(tmp_path):
    out = tmp_path / "r"
    assert run_main("part2_gradient_norm", "--profile", "smoke", "--out", str(out)) == 0
    folder = out / "part2_gradient_norm"
    (folder / "loss_cube.png").write_bytes(b"old figure")
    (folder / ".gradient_norm.png.abc.tmp").write_bytes(b"killed write")
    assert run_main("part2_gradient_norm", "--profile", "smoke", "--out", str(out), "--seed", "1") == 0
    assert sorted(p.name for p in folder.iterdir()) == ["gradient_norm.png", "history.csv", "outcome.json",
                                                        "settings.json"]


# ---------------------------------------------------------------- no TensorFlow, no global state

def _python(code: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd="/",
                          env={**os.environ, **(env or {})})


def test_reading_results_imports_neither_tensorflow_nor_matplotlib():
    proc = _python("import sys, hw1, hw1.results, hw1.report.build, hw1.report.prose, hw1.report.document\n"
                   "print(sorted(m for m in ('tensorflow', 'keras', 'matplotlib') if m in sys.modules))\n"
                   "import hw1.results as r; print('matplotlib' in sys.modules)")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[0] == "[]"


def test_importing_the_plots_changes_no_backend_and_no_rcparams():
    proc = _python("import matplotlib; before = dict(matplotlib.rcParams)\n"
                   "import hw1.report.plots, hw1.report.views; print(matplotlib.get_backend())\n"
                   "print(dict(matplotlib.rcParams) == before)", env={"MPLBACKEND": "svg"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["svg", "True"]


def test_the_commands_draw_and_report_without_tensorflow_from_any_folder(smoke_root, tmp_path):
    root = copy(smoke_root, tmp_path)
    code = ("import sys, runpy\n"
            "for module in ('hw1.report.plots', 'hw1.report'):\n"
            "    sys.argv = [module, sys.argv[1]]\n"
            "    try:\n        runpy.run_module(module, run_name='__main__')\n"
            "    except SystemExit as e:\n        assert e.code == 0, (module, e.code)\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TensorFlow was imported'")
    proc = _python(code, str(root))
    assert proc.returncode == 0, proc.stderr
    help_text = _python("import runpy, sys; sys.argv = ['hw1.report.plots', '--help']; runpy.run_module('hw1.report.plots', "
                        "run_name='__main__')")
    assert help_text.returncode == 0 and "usage:" in help_text.stdout


# ---------------------------------------------------------------- numbers into words

def test_mean_spread_and_spearman():
    assert prose.mean_spread([1.0, 2.0, 3.0]) == "2 ± 1 (n = 3)"
    assert prose.spearman([1, 2, 3, float("nan")], [3, 2, 1, 0]) == pytest.approx(-1.0)
