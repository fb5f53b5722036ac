"""Trustworthy runs and hostile input (issue 15): same seed → byte-identical CSVs, a killed run resumes
byte-identical, a folder is one finished run or says it is not, and every bad value is one line and exit 2
with existing results untouched. Bad-input cases run in-process (``main(argv)``: no TensorFlow start-up)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, run_main, run_script
from hw1.report import build as report

SCRIPTS = sorted(p.stem for p in (ROOT / "experiments").glob("part*.py"))


def csv_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.csv"))}


def all_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def start_and_kill_after_first_step(script: str, out: Path, *args: str) -> bool:
    """Start a smoke run, SIGKILL it once its first step is cached; whether it was killed (not already done)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", HW1_NO_NETWORK="1",
               PYTHONPATH=os.pathsep.join([str(ROOT / "tests" / "offline"), str(ROOT)]))
    cache = out / script / ".cache"
    proc = subprocess.Popen([sys.executable, str(ROOT / "experiments" / f"{script}.py"), "--profile", "smoke",
                             "--out", str(out), *args], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not list(cache.rglob("*.npz")):
        time.sleep(0.02)
    killed = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return killed


@pytest.fixture(scope="module")
def one_process(tmp_path_factory) -> Path:
    """Every script's smoke run (seed 3) by ``python -m hw1.lab.runner``: all in one Python process, as run_all.sh."""
    out = tmp_path_factory.mktemp("one_process")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", HW1_NO_NETWORK="1",
               PYTHONPATH=os.pathsep.join([str(ROOT / "tests" / "offline"), str(ROOT)]))
    proc = subprocess.run([sys.executable, "-m", "hw1.lab.runner", "--profile", "smoke", "--out", str(out), "--seed", "3",
                           "--", *SCRIPTS], env=env, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"[run_all] {len(SCRIPTS)} experiments in" in proc.stderr
    return out


@pytest.mark.parametrize("script", SCRIPTS)
def test_same_seed_and_a_killed_then_resumed_run_give_identical_csvs(script, tmp_path, one_process):
    whole = run_script(script, "--profile", "smoke", "--out", str(tmp_path / "whole"), "--seed", "3")
    assert whole.returncode == 0, whole.stderr[-2000:]
    alone = csv_bytes(tmp_path / "whole" / script)
    assert alone and alone == csv_bytes(one_process / script), "one process for all gives each script's own CSVs"
    start_and_kill_after_first_step(script, tmp_path / "killed", "--seed", "3")
    resumed = run_script(script, "--profile", "smoke", "--out", str(tmp_path / "killed"), "--seed", "3")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    first, second = csv_bytes(tmp_path / "whole"), csv_bytes(tmp_path / "killed")
    assert first and first == second
    assert not list((tmp_path / "whole").rglob(".cache")), "the resume cache is removed once a run finishes"


def test_a_run_killed_over_older_results_leaves_a_folder_that_says_so(tmp_path):
    assert run_main("part2_minimal_ratio", "--profile", "smoke", "--out", str(tmp_path)) == 0
    assert start_and_kill_after_first_step("part2_minimal_ratio", tmp_path, "--seed", "1")
    section = next(s for s in report.document(tmp_path).sections if s.experiment == "part2_minimal_ratio")
    assert "unfinished run" in section.error
    assert report.main([str(tmp_path)]) == 1


def test_ctrl_c_is_one_line_and_exit_130(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.Popen([sys.executable, str(ROOT / "experiments" / "part3_random_labels.py"), "--profile",
                             "smoke", "--out", str(tmp_path)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)  # inside the TensorFlow import or the training: either way one line
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the smoke run finished before the interrupt")
    assert proc.returncode == 130, err
    assert len([line for line in err.splitlines() if line.strip()]) == 1, err


# ---------------------------------------------------------------- hostile input: one line, exit 2, nothing touched

EVERY_SCRIPT = [
    (["--profile", "huge"], "invalid choice: 'huge'"),
    (["--seed", "-1"], "is not an integer from 0 to 4,000,000"),
    (["--seed", "abc"], "is not an integer from 0 to 4,000,000"),
    (["--seed", "1e3"], "is not an integer from 0 to 4,000,000"),
    (["--seed", "4294968"], "is not an integer from 0 to 4,000,000"),
    (["--seed", "\u0663"], "is not an integer from 0 to 4,000,000"),
    (["--bogus"], "unrecognized arguments: --bogus"),
]
ATTACKS = [
    'f=np.savetxt("pwned.txt", x) or x',
    "f=().__class__.__base__.__subclasses__()",
    "f=__import__('os').system('touch pwned.txt')",
    "f=9**9**9*0+x",
    "f=x+1j",
    "pole=1/(x-0.5)",
    "big=1e200*x",
    "f=np.ones(64)",
    "f" * 300 + "=x",
]
SCRIPT_CASES = [
    *[("part1_simulate_function", ["--function", attack], "--function") for attack in ATTACKS],
    ("part1_simulate_function", ["--target-params", "1"], "--target-params"),
    ("part1_simulate_function", ["--epochs", "0"], "is not a positive integer"),
    ("part1_simulate_function", ["--epochs", "1.5"], "is not a positive integer"),
    ("part2_gradient_norm", ["--learning-rate", "0"], "is not a positive number"),
    ("part2_gradient_norm", ["--learning-rate", "1e30"], "is not a positive number"),
    ("part3_interpolation", ["--learning-rates", "1e30,1e30"], "--learning-rates"),
    ("part3_sensitivity", ["--epsilon", "1e30"], "--epsilon"),
    ("part3_sensitivity", ["--batch-sizes", "100000,200000"], "larger than the training set"),
]


def _bad_cases():
    for script in SCRIPTS:
        for args, message in EVERY_SCRIPT:
            yield pytest.param(script, args, message, id=f"{script}{' '.join(args)[:30]}")
    for script, args, message in SCRIPT_CASES:
        yield pytest.param(script, args, message, id=f"{script}{' '.join(args)[:30]}")


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A results folder holding one finished smoke run of the gradient-norm experiment, to be left untouched."""
    out = tmp_path_factory.mktemp("kept")
    assert run_main("part2_gradient_norm", "--profile", "smoke", "--out", str(out)) == 0
    return out


@pytest.mark.parametrize("script, args, message", list(_bad_cases()))
def test_bad_input_is_one_line_exit_2_and_touches_nothing(script, args, message, finished, capsys, monkeypatch):
    monkeypatch.chdir(finished)  # an escaped expression would write here
    before = all_bytes(finished)
    assert run_main(script, *args, "--out", str(finished)) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    assert message in err[0] and "Traceback" not in err[0]
    assert all_bytes(finished) == before
    assert not list(finished.rglob("pwned.txt"))


def test_an_unwritable_out_and_an_unreplaceable_result_are_refused_before_any_work(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert run_main("part2_gradient_norm", "--profile", "smoke", "--out", str(blocker)) == 2
    assert "cannot write to --out" in capsys.readouterr().err
    (tmp_path / "out" / "part2_gradient_norm" / "history.csv").mkdir(parents=True)
    assert run_main("part2_gradient_norm", "--profile", "smoke", "--out", str(tmp_path / "out")) == 2
    assert "cannot replace" in capsys.readouterr().err


def test_a_damaged_resume_cache_says_how_to_recover(tmp_path, capsys):
    out = tmp_path / "out"
    assert start_and_kill_after_first_step("part2_minimal_ratio", out)
    for cached in (out / "part2_minimal_ratio" / ".cache").rglob("*.npz"):
        cached.write_bytes(b"PK\x03\x04 not a zip")
    assert run_main("part2_minimal_ratio", "--profile", "smoke", "--out", str(out)) == 2
    assert "--fresh" in capsys.readouterr().err
    assert run_main("part2_minimal_ratio", "--profile", "smoke", "--out", str(out), "--fresh") == 0


BAD_DATA = {
    "nan_images": lambda x, y: (np.full_like(x, np.nan), y),
    "inf_pixels": lambda x, y: (np.where(x > 0.5, np.inf, x), y),
    "fractional_labels": lambda x, y: (x, y + 0.7),
    "string_labels": lambda x, y: (x, y.astype(str)),
    "empty": lambda x, y: (x[:0], y[:0]),
}


@pytest.mark.parametrize("case", sorted(BAD_DATA))
def test_bad_image_data_is_refused_in_one_line(case, tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (64, 28, 28)).astype(np.float64)
    y = np.arange(64) % 10
    x_bad, y_bad = BAD_DATA[case](x, y)
    np.savez(tmp_path / "mnist.npz", x_train=x_bad, y_train=y_bad, x_test=x[:16], y_test=y[:16])
    assert run_main("part3_random_labels", "--profile", "smoke", "--dataset", "mnist", "--data-dir",
                    str(tmp_path), "--out", str(tmp_path / "out")) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "mnist.npz" in err[0], err


def test_errors_come_before_tensorflow_is_imported():
    code = ("import sys\nsys.path.insert(0, 'tests')\nfrom conftest import load_script\n"
            "for name in sys.argv[1:]:\n"
            "    try:\n        load_script(name).main(['--bogus'])\n    except SystemExit:\n        pass\n"
            "print('tensorflow' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code, *SCRIPTS], capture_output=True, text=True, cwd=ROOT)
    assert proc.stdout.strip() == "False", proc.stderr[-2000:]


def test_run_all_rejects_bad_flags_and_lists_every_experiment(tmp_path):
    for args, message in [(["--profile", "x"], "unknown --profile"), (["--seed", "99999999"], "--seed"),
                          (["--only", "nope"], "unknown experiment 'nope'"), (["--frob"], "unknown argument"),
                          (["--compare", "nowhere"], "--compare 'nowhere' is not a folder")]:
        proc = subprocess.run(["bash", str(ROOT / "run_all.sh"), *args], capture_output=True, text=True,
                              cwd=tmp_path)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    help_text = subprocess.run(["bash", str(ROOT / "run_all.sh"), "--help"], capture_output=True, text=True)
    assert all(name in help_text.stdout for name in SCRIPTS)


def test_the_runner_reports_a_failing_experiment_and_runs_the_next(tmp_path, capsys):
    from hw1.lab import runner

    code = runner.main(["--profile", "smoke", "--out", str(tmp_path), "--seed", "notanumber", "--",
                        "part2_gradient_norm", "part2_gradient_norm"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("[run_all] part2_gradient_norm failed (exit code 2)") == 2
    assert "failed: part2_gradient_norm, part2_gradient_norm" in err
