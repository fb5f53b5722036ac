"""Results folders and output paths from elsewhere (issue 24): nothing is written, deleted or read outside the
folder, and every hostile folder, file or flag is one line and a non-zero exit, or a correct result.

One table, one case per class: a malicious folder (names with ``../``, a grid too large to pivot, settings.json
and outcome.json that are not hw1's schema; digests recomputed so that each passes the integrity check),
symbolic links and files where a run cleans or writes, a FIFO and a gzip bomb as data, a full disk, two
writers, and HTML from the data in the report. Most folders are copies of the committed default run (no
training); the cases that run an experiment stop before TensorFlow trains anything, except the full disk and
the two writers, which run the 200-step smoke run of the gradient-norm experiment."""

from __future__ import annotations

import errno
import gzip
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, run_main
from hw1.lab import cli
from hw1.report import build as report
from hw1.lab.experiment import FolderLock
from hw1.report.plots.__main__ import main as plots_main
from hw1.results import file_digest

COMMITTED = ROOT / "results"
PAYLOADS = ("<script>alert(1)</script>", "<img src=x onerror=alert(2)>", "[x](javascript:alert(3))")
RAW = {"REPORT.md": ("<script", "<img", "](javascript:"),  # what would be HTML or a link, in each format
       "report.html": ("<script", "<img src=x", "href=\"javascript:")}


# ---------------------------------------------------------------- building hostile folders

def committed(out: Path, experiment: str) -> Path:
    """A copy of the committed default run of ``experiment`` in ``out``: a finished folder, without training."""
    folder = out / experiment
    shutil.copytree(COMMITTED / experiment, folder)
    return folder


def rehash(folder: Path) -> None:
    """Recompute outcome.json's digests, so that a folder edited by hand passes the integrity check."""
    outcome = json.loads((folder / "outcome.json").read_text())
    outcome["settings_digest"] = file_digest(folder / "settings.json")
    outcome["files"] = {name: file_digest(folder / name) for name in outcome["files"]}
    (folder / "outcome.json").write_text(json.dumps(outcome, indent=2))


def edit_json(folder: Path, name: str, change: Callable[[dict], None]) -> None:
    data = json.loads((folder / name).read_text())
    change(data)
    (folder / name).write_text(json.dumps(data, indent=2))


def rename_function(out: Path, new: str) -> None:
    """part1_simulate_function with the function 'sign' renamed ``new`` in settings.json and every CSV."""
    folder = committed(out, "part1_simulate_function")

    def change(meta: dict) -> None:
        s = meta["settings"]
        s["functions"][new] = s["functions"].pop("sign")
        s["function_labels"][new] = s["function_labels"].pop("sign")
    edit_json(folder, "settings.json", change)
    for name in ("models.csv", "history.csv", "predictions.csv"):
        table = pd.read_csv(folder / name)
        table["function"] = table["function"].replace("sign", new)
        table.to_csv(folder / name, index=False)
    rehash(folder)


def rename_plane(out: Path, new: str) -> None:
    folder = committed(out, "part2_error_surface")
    grid = pd.read_csv(folder / "grid.csv")
    grid["directions"] = grid["directions"].replace("filter_normalized", new)
    grid.to_csv(folder / "grid.csv", index=False)
    rehash(folder)


def grid_bomb(out: Path) -> None:
    """grid.csv with 40,000 distinct α and β: a pivot of 1.6e9 cells (12 GiB), from a 2 MB file."""
    folder = committed(out, "part2_error_surface")
    n = 40_000
    values = np.linspace(-1, 1, n)
    pd.DataFrame({"directions": "pca", "alpha": values, "beta": values[::-1], "train_loss": 1.0,
                  "train_acc": 0.5}).to_csv(folder / "grid.csv", index=False)
    rehash(folder)


SCHEMA = {  # hand-edited but self-consistent: each is refused in one line, never a traceback
    "seconds as text": ("outcome.json", lambda o: o.update(seconds="12")),
    "memory as text": ("outcome.json", lambda o: o.update(peak_memory_mb="a lot")),
    "seed as text": ("settings.json", lambda m: m.update(seed="0")),
    "machine as a list": ("settings.json", lambda m: m.update(machine=["x86_64"])),
    "versions as a list": ("settings.json", lambda m: m.update(versions=["keras 3"])),
    "dataset without sizes": ("settings.json", lambda m: m["settings"]["dataset"].pop("train_size")),
    "settings as a list": ("settings.json", lambda m: m.update(settings=[1, 2])),
}


def bad_schema(out: Path, case: str) -> None:
    folder = committed(out, "part3_random_labels")
    edit_json(folder, *SCHEMA[case])
    rehash(folder)


def missing_setting(out: Path) -> None:
    folder = committed(out, "part3_random_labels")
    edit_json(folder, "settings.json", lambda m: m["settings"].pop("target_train_acc"))
    rehash(folder)


def link_outside(out: Path, experiment: str, name: str, outside: Path) -> None:
    """``out/experiment/name`` as a symbolic link to the folder ``outside`` (which holds a victim file)."""
    folder = committed(out, experiment)
    target = outside / name.strip(".")
    target.mkdir()
    (target / "victim.npz").write_bytes(b"not hw1's")
    (target / ".victim.npz.1.abc.tmp").write_bytes(b"not hw1's either")
    (folder / name).symlink_to(target, target_is_directory=True)


def link_folder(out: Path, outside: Path) -> None:
    """``out/part2_gradient_norm`` as a link to a folder of someone's figures, which a start would clean."""
    (outside / "figures").mkdir()
    (outside / "figures" / "holiday.png").write_bytes(b"someone's picture")
    (out / "part2_gradient_norm").symlink_to(outside / "figures", target_is_directory=True)


def file_where_folder(out: Path, experiment: str, name: str) -> None:
    (committed(out, experiment) / name).write_text("a file where hw1 keeps a folder")


def fifo_data(out: Path, data_dir: Path) -> None:
    committed(out, "part3_random_labels")  # a finished run that the refused one must leave as it is
    data_dir.mkdir()
    os.mkfifo(data_dir / "mnist.npz")


def gzip_bomb(out: Path, data_dir: Path) -> None:
    """The four IDX files; the training images' header declares 64 images but its 60 kB gzip expands to 64 MB."""
    committed(out, "part3_random_labels")
    data_dir.mkdir()
    images, labels = np.zeros((64, 28, 28), np.uint8), (np.arange(64) % 10).astype(np.uint8)
    header = bytes([0, 0, 0x08, 3]) + struct.pack(">3I", *images.shape)
    with gzip.open(data_dir / "train-images-idx3-ubyte.gz", "wb") as fh:
        fh.write(header)
        for _ in range(64):
            fh.write(bytes(1 << 20))
    from hw1.lab.data import write_idx
    write_idx(data_dir / "train-labels-idx1-ubyte.gz", labels)
    write_idx(data_dir / "t10k-images-idx3-ubyte.gz", images[:16])
    write_idx(data_dir / "t10k-labels-idx1-ubyte.gz", labels[:16])


# ---------------------------------------------------------------- the table

@dataclass(frozen=True)
class Case:
    build: Callable[[Path, Path], None]  # (out, outside) -> None: the hostile folder
    command: str                         # "plots", "report", or an experiment script's name
    args: tuple[str, ...]                # more arguments of the script
    code: int                            # the exit code expected
    message: str                         # in the one line on stderr


def _data_args(kind: str) -> tuple[str, ...]:
    return ("--dataset", "mnist", "--data-dir", kind)


CASES = {
    "function key ../ (plots)": Case(lambda out, o: rename_function(out, "../../../outside/x"), "plots", (), 2,
                                     "is not a safe file name"),
    "function key ../ (report)": Case(lambda out, o: rename_function(out, "../../../outside/x"), "report", (), 1,
                                      "is not a safe file name"),
    "directions ../ in grid.csv (plots)": Case(lambda out, o: rename_plane(out, "../../../outside/x"), "plots", (),
                                               2, "is not a safe file name"),
    "directions ../ in grid.csv (report)": Case(lambda out, o: rename_plane(out, "../../../outside/x"), "report",
                                                (), 1, "is not a safe file name"),
    "grid of 40,000 α by 40,000 β (plots)": Case(lambda out, o: grid_bomb(out), "plots", (), 2,
                                                 "accepted: a complete grid"),
    "grid of 40,000 α by 40,000 β (report)": Case(lambda out, o: grid_bomb(out), "report", (), 1,
                                                  "accepted: a complete grid"),
    **{f"{case} (report)": Case(lambda out, o, case=case: bad_schema(out, case), "report", (), 1,
                                "not written by hw1") for case in SCHEMA},
    **{f"{case} (plots)": Case(lambda out, o, case=case: bad_schema(out, case), "plots", (), 2,
                               "not written by hw1") for case in SCHEMA},
    "a setting the view reads is missing (report)": Case(lambda out, o: missing_setting(out), "report", (), 1,
                                                         "has no 'settings.target_train_acc'"),
    "models is a symbolic link": Case(lambda out, o: link_outside(out, "part2_gradient_norm", "models", o),
                                      "part2_gradient_norm", (), 2, "is a symbolic link"),
    ".cache is a symbolic link, with --fresh": Case(
        lambda out, o: link_outside(out, "part2_gradient_norm", ".cache", o), "part2_gradient_norm", ("--fresh",),
        2, "is a symbolic link"),
    "the experiment folder is a symbolic link": Case(lambda out, o: link_folder(out, o), "part2_gradient_norm", (),
                                                     2, "is a symbolic link"),
    ".cache is a file": Case(lambda out, o: file_where_folder(out, "part2_gradient_norm", ".cache"),
                             "part2_gradient_norm", (), 2, "is not a folder"),
    "models is a file, with --save-weights": Case(
        lambda out, o: file_where_folder(out, "part3_params_vs_generalization", "models"),
        "part3_params_vs_generalization", ("--save-weights",), 2, "is not a folder"),
    "a FIFO named mnist.npz": Case(lambda out, o: fifo_data(out, o / "data"), "part3_random_labels",
                                   _data_args("data"), 2, "is a FIFO, not a regular file"),
    "a gzip bomb as IDX images": Case(lambda out, o: gzip_bomb(out, o / "data"), "part3_random_labels",
                                      _data_args("data"), 2, "header declares shape (64, 28, 28)"),
    "another live writer on the folder": Case(lambda out, o: committed(out, "part2_gradient_norm") and None,
                                              "part2_gradient_norm", (), 2, "another run is writing to"),
}


def snapshot(root: Path) -> dict[str, bytes | str]:
    """Every file and link under ``root``: its bytes (or a link's target)."""
    return {str(p.relative_to(root)): (os.readlink(p) if p.is_symlink() else p.read_bytes() if p.is_file() else "/")
            for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("name", list(CASES))
def test_a_hostile_folder_is_one_line_a_non_zero_exit_and_touches_nothing(name, tmp_path, capsys, monkeypatch):
    case = CASES[name]
    out, outside = tmp_path / "out", tmp_path / "outside"
    out.mkdir()
    outside.mkdir()
    (outside / "x.png").write_bytes(b"a file outside the results folder, to be left alone")
    case.build(out, outside)
    monkeypatch.chdir(outside)  # relative --data-dir
    before = snapshot(tmp_path)
    lock = FolderLock(out / "part2_gradient_norm") if "live writer" in name else None  # held as another run
    signal.alarm(120)  # a hang (a FIFO read) fails the test instead of the session
    try:
        if case.command == "plots":
            code = plots_main([str(out)])
        elif case.command == "report":
            code = report.main([str(out)])
        else:
            code = run_main(case.command, "--profile", "smoke", "--out", str(out), *case.args)
    finally:
        signal.alarm(0)
        if lock is not None:
            lock.release()
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and (case.command != "report" or "ERROR" in line)]
    assert code == case.code, err
    assert len(lines) == 1 and case.message in lines[0], err
    assert "Traceback" not in err
    after = snapshot(tmp_path)
    if case.command == "report":  # the report is written (with the section's reason), nothing else
        for written in RAW:
            text = (out / written).read_text()
            assert not any(raw in text for raw in RAW[written])
            assert "a file outside" not in text
            after.pop(f"out/{written}")
    assert after == before


def test_html_from_the_data_reaches_neither_report_md_nor_report_html_as_html(tmp_path, capsys):
    """A function label, dataset name, machine and version fields, a layer name and a pair name that carry HTML
    and a javascript: link: the report is built, and shows each as text."""
    out = tmp_path / "out"
    script, image, link = PAYLOADS
    folder = committed(out, "part1_simulate_function")
    edit_json(folder, "settings.json", lambda m: m["settings"]["function_labels"].update(sign=script + link))
    rehash(folder)
    folder = committed(out, "part3_random_labels")

    def poison(meta: dict) -> None:
        meta["settings"]["dataset"]["name"] = image
        meta["machine"]["platform"] = script
        meta["versions"]["keras"] = link
    edit_json(folder, "settings.json", poison)
    rehash(folder)
    folder = committed(out, "part2_visualize_optimization")
    edit_json(folder, "settings.json", lambda m: m["settings"].update(layer=image + link))
    for name in ("pca.csv", "snapshots.csv"):
        table = pd.read_csv(folder / name)
        table["scope"] = table["scope"].replace("dense_2", image + link)
        table.to_csv(folder / name, index=False)
    rehash(folder)
    folder = committed(out, "part3_interpolation")  # a pair name is a file name too: refused, and named as text
    for name in ("endpoints.csv", "interpolation.csv"):
        table = pd.read_csv(folder / name)
        table["pair"] = table["pair"].replace("learning_rate", script)
        if name == "endpoints.csv":  # the column of what a pair varies is named after it
            table[script] = table["learning_rate"]
        table.to_csv(folder / name, index=False)
    rehash(folder)
    assert report.main([str(out)]) == 1  # the pair's section cannot be built; the others are
    errors = [line for line in capsys.readouterr().err.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "1-3c" in errors[0] and "not a safe file name" in errors[0], errors
    md, page = (out / "REPORT.md").read_text(), (out / "report.html").read_text()
    for name, text in (("REPORT.md", md), ("report.html", page)):
        assert not any(raw in text for raw in RAW[name]), [raw for raw in RAW[name] if raw in text]
    assert "&lt;script>alert(1)&lt;/script>" in md and "&lt;img src=x onerror=alert(2)>" in md
    assert "[x]\\(javascript:alert(3))" in md  # a link text that cannot take its target
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_bug_in_a_view_is_not_passed_off_as_files_from_another_version(tmp_path, monkeypatch):
    import dataclasses
    import importlib
    module = importlib.import_module("hw1.report.views.part3_random_labels")
    committed(tmp_path, "part3_random_labels")

    def plots(run):
        return {}["a key the view's own code lacks"]
    monkeypatch.setattr(module, "VIEW", dataclasses.replace(module.VIEW, plots=plots))
    with pytest.raises(KeyError, match="a key the view's own code lacks"):
        report.document(tmp_path)


def test_negative_numbers_in_e_notation_are_values_and_booleans_are_not_counts(capsys):
    parser = cli.parser("doc", {p: {} for p in cli.PROFILE_NAMES})
    parser.add_argument("--alpha-min", type=cli.finite_float)
    parser.add_argument("--epochs", type=cli.positive_int)
    assert parser.parse_args(["--alpha-min", "-1e-1"]).alpha_min == -0.1
    assert parser.parse_args(["--alpha-min", "-2.5E+0"]).alpha_min == -2.5
    assert parser.parse_args(["--alpha-min", "-.5"]).alpha_min == -0.5
    for value in ("True", "true", "False"):
        with pytest.raises(SystemExit) as stop:
            parser.parse_args(["--epochs", value])
        assert stop.value.code == 2 and "is not a positive integer" in capsys.readouterr().err
    # in a script: -1e-1 is read as the value of --alpha-min (the error is the seed's, not "expected one argument")
    assert run_main("part3_interpolation", "--alpha-min", "-1e-1", "--seed", "-1") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--seed: '-1' is not an integer" in err[0], err


# ---------------------------------------------------------------- a full disk, two writers (smoke runs)

def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_is_one_line_naming_the_folder_and_leaves_it_marked_unfinished(tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    folder = committed(out, "part2_gradient_norm")
    with monkeypatch.context() as patch:  # the first cached step of the run cannot be written
        patch.setattr(np, "savez", _no_space)
        assert run_main("part2_gradient_norm", "--profile", "smoke", "--out", str(out)) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(err) == 1 and f"no space left on the device of {folder / '.cache'}" in err[0], err
    assert "MiB needed" in err[0]
    assert not (folder / "outcome.json").exists() and not list(folder.rglob("*.tmp"))  # unfinished, says so
    assert "unfinished run" in [s for s in report.document(out).sections if s.experiment == folder.name][0].error

    shutil.rmtree(folder)  # a finished folder: the report, then the figures, on a full disk
    committed(out, "part2_gradient_norm")
    assert report.main([str(out)]) == 0
    capsys.readouterr()
    before = snapshot(out)
    with monkeypatch.context() as patch:
        patch.setattr(Path, "write_bytes", _no_space)
        assert report.main([str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"no space left on the device of {out} while writing REPORT.md" in err[0], err
    from matplotlib.figure import Figure
    with monkeypatch.context() as patch:
        patch.setattr(Figure, "savefig", _no_space)
        assert plots_main([str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"no space left on the device of {out / 'part2_gradient_norm'}" in err[0], err
    assert snapshot(out) == before  # the finished folder and the old report stay as they were


def test_a_start_removes_a_dead_writers_temporary_files_but_never_a_live_writers(tmp_path):
    out = tmp_path / "out"
    folder = committed(out, "part2_gradient_norm")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        (folder / f".gradient_norm.png.{live.pid}.abc123.tmp").write_bytes(b"being written")
        (folder / f".history.csv.{dead.pid}.abc123.tmp").write_bytes(b"left by a killed write")
        assert run_main("part2_gradient_norm", "--profile", "smoke", "--out", str(out)) == 0
        assert (folder / f".gradient_norm.png.{live.pid}.abc123.tmp").read_bytes() == b"being written"
        assert not (folder / f".history.csv.{dead.pid}.abc123.tmp").exists()
    finally:
        live.kill()
        live.wait()
    FolderLock(folder).release()  # the run released the folder's lock when it finished


def test_a_gzip_whose_header_declares_more_than_the_memory_is_refused_before_reading(tmp_path):
    from hw1.lab.data import DataError, read_idx
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(bytes([0, 0, 0x08, 3]) + struct.pack(">3I", 2**32 - 1, 2**32 - 1, 28)))
    with pytest.raises(DataError, match=r"header declares shape \(4294967295, 4294967295, 28\), .* GiB of memory"):
        read_idx(path)
