"""Trustworthy runs: same seed → byte-identical CSVs; a killed run resumes; bad input is one clear line."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, run_script

SCRIPTS = sorted(p.stem for p in (ROOT / "experiments").glob("part*.py"))


def csv_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.csv"))}


@pytest.mark.parametrize("script", SCRIPTS)
def test_same_seed_gives_identical_csvs(script, tmp_path):
    for name in ("a", "b"):
        proc = run_script(script, "--profile", "smoke", "--out", str(tmp_path / name), "--seed", "3")
        assert proc.returncode == 0, proc.stderr[-2000:]
    first, second = csv_bytes(tmp_path / "a"), csv_bytes(tmp_path / "b")
    assert first and first == second
    assert not list((tmp_path / "a").rglob(".cache")), "the resume cache is removed once a run finishes"


def test_killed_run_resumes_and_matches_an_uninterrupted_one(tmp_path):
    args = ["--profile", "smoke", "--function", "cube=x**3", "--function", "sq=x**2"]
    whole = run_script("part1_simulate_function", *args, "--out", str(tmp_path / "whole"))
    assert whole.returncode == 0, whole.stderr
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    cache = tmp_path / "killed" / "part1_simulate_function" / ".cache"
    proc = subprocess.Popen([sys.executable, str(ROOT / "experiments" / "part1_simulate_function.py"), *args,
                             "--out", str(tmp_path / "killed")], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and len(list(cache.rglob("*.npz"))) < 2 and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = len(list(cache.rglob("*.npz")))
    assert finished >= 2 and not list((tmp_path / "killed").rglob("*.csv"))
    resumed = run_script("part1_simulate_function", *args, "--out", str(tmp_path / "killed"))
    assert resumed.returncode == 0, resumed.stderr
    trained = resumed.stderr.count("epoch 60/60")
    assert trained == 4 * 3 - finished, "finished conditions are loaded, not trained again"
    assert csv_bytes(tmp_path / "whole") == csv_bytes(tmp_path / "killed")


BAD_INPUT = [
    (["--profile", "huge"], "invalid choice: 'huge'"),
    (["--seed", "abc"], "'abc' is not a non-negative integer"),
    (["--epochs", "0"], "'0' is not a positive integer"),
    (["--function", "f=np.log(x-2)"], "NaN/inf"),
    (["--function", "f=nosuch(x)"], "fails on x"),
    (["--bogus"], "unrecognized arguments: --bogus"),
]


def assert_one_line_error(proc: subprocess.CompletedProcess, message: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert message in lines[0] and "Traceback" not in proc.stderr


@pytest.mark.parametrize("args, message", BAD_INPUT)
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path):
    proc = run_script("part1_simulate_function", *args, "--out", str(tmp_path))
    assert_one_line_error(proc, message)
    assert not list(tmp_path.rglob("*.csv"))


def test_unwritable_out_and_bad_data_dir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    proc = run_script("part1_actual_task", "--profile", "smoke", "--out", str(blocker / "sub"))
    assert_one_line_error(proc, f"cannot write to --out '{blocker / 'sub'}'")
    proc = run_script("part1_actual_task", "--dataset", "mnist", "--data-dir", str(tmp_path / "nothing"),
                      "--out", str(tmp_path / "out"))
    assert_one_line_error(proc, "is not a folder")
    (tmp_path / "empty").mkdir()
    proc = run_script("part1_actual_task", "--dataset", "mnist", "--data-dir", str(tmp_path / "empty"),
                      "--out", str(tmp_path / "out"))
    assert_one_line_error(proc, "neither an .npz nor the four IDX files")


def test_existing_results_survive_a_bad_invocation(tmp_path):
    folder = tmp_path / "part1_simulate_function"
    folder.mkdir()
    (folder / "models.csv").write_text("kept\n")
    proc = run_script("part1_simulate_function", "--function", "bad", "--out", str(tmp_path))
    assert_one_line_error(proc, "not NAME=EXPR")
    assert (folder / "models.csv").read_text() == "kept\n"


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_script_rejects_an_unknown_profile(script, tmp_path):
    assert_one_line_error(run_script(script, "--profile", "nope", "--out", str(tmp_path)), "invalid choice: 'nope'")


def test_run_all_rejects_bad_flags():
    for args, message in ((["--bogus"], "unknown argument '--bogus'"), (["--only", "nope"], "unknown experiment 'nope'"),
                          (["--profile", "x"], "unknown --profile 'x'")):
        proc = subprocess.run(["bash", str(ROOT / "run_all.sh"), *args], capture_output=True, text=True, cwd=ROOT)
        assert_one_line_error(proc, message)


def test_a_diverging_run_is_recorded_and_the_experiment_completes(tmp_path):
    proc = run_script("part1_simulate_function", "--profile", "smoke", "--learning-rate", "1e30",
                      "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    models = pd.read_csv(tmp_path / "part1_simulate_function" / "models.csv")
    assert (models["diverged_runs"] == models["runs"]).all()
    assert models["final_loss"].isna().all()
    assert len(list((tmp_path / "part1_simulate_function").glob("*.png"))) == 4


def test_bad_dataset_inputs_through_the_command_line(tmp_path):
    from hw1 import data

    proc = run_script("part3_sensitivity", "--dataset", "svhn", "--out", str(tmp_path / "out"))
    assert_one_line_error(proc, "invalid choice: 'svhn'")
    proc = run_script("part3_sensitivity", "--batch-sizes", "16,0", "--out", str(tmp_path / "out"))
    assert_one_line_error(proc, "'0' is not a positive integer")
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    for split in ("train", "test"):
        images, labels = data.IDX_NAMES[split]
        data.write_idx(corrupt / images, np.zeros((4, 28, 28), np.uint8))
        data.write_idx(corrupt / labels, np.zeros(4, np.uint8))
    (corrupt / data.IDX_NAMES["train"][0]).write_bytes((corrupt / data.IDX_NAMES["train"][0]).read_bytes()[:-10])
    proc = run_script("part3_random_labels", "--dataset", "mnist", "--data-dir", str(corrupt),
                      "--out", str(tmp_path / "out"))
    assert_one_line_error(proc, "truncated or corrupt IDX file")
    assert not list((tmp_path / "out").rglob("*.csv"))
