"""Shared test fixtures: no network, quiet TensorFlow, a helper to run experiment scripts."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never reach the network: any socket connection fails."""
    def refuse(*args, **kwargs):
        raise OSError("network access is disabled in tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def load_script(name: str):
    """The module ``experiments/<name>.py``, imported without running it (its ``main(argv)`` is callable)."""
    from hw1.lab.runner import load_script as load

    return load(name)


def run_main(name: str, *args: str) -> int:
    """Run ``experiments/<name>.py``'s ``main`` in this process (no new TensorFlow start-up); its exit code."""
    try:
        load_script(name).main(list(args))
    except SystemExit as stop:
        return int(stop.code or 0)
    return 0


def smoke_run(tmp_path_factory: pytest.TempPathFactory, name: str, *args: str) -> Path:
    """Run ``experiments/<name>.py --profile smoke`` (plus ``args``) into a fresh folder; its results folder."""
    out = tmp_path_factory.mktemp("results")
    assert run_main(name, "--profile", "smoke", "--out", str(out), *args) == 0
    return out / name


def report_section(folder: Path, name: str):
    """The report built from the results under ``folder``: experiment ``name``'s section, checked to be whole (no
    error, no missing file), and the conclusion that cites it (None if there is none)."""
    from hw1.report import build

    sections, conclusions, _ = build.build(folder)
    section = next(s for s in sections if s.experiment == name)
    assert not section.error and not section.missing
    return section, next((c for c in conclusions if c.section is section), None)


def fc_model_and_data(s: dict):
    """The MLP and the (subset of the) dataset a run's settings describe, rebuilt for an independent check."""
    from hw1.lab import data, models

    dataset = data.load(s["dataset"]["name"], limit=s["train_limit"], seed=0)
    return models.fc_net(s["widths"], dataset.input_shape, dataset.num_classes), dataset


def run_script(name: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``experiments/<name>.py`` in a fresh Python with ``args``; capture its output.

    The child process gets the same offline guarantee: ``HW1_NO_NETWORK=1`` makes
    ``tests/sitecustomize.py`` refuse socket connections there too.
    """
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", HW1_NO_NETWORK="1",
               PYTHONPATH=os.pathsep.join([str(ROOT / "tests" / "offline"), str(ROOT)]))
    return subprocess.run([sys.executable, str(ROOT / "experiments" / f"{name}.py"), *args],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)


# the fields a hand-built results folder needs to pass ResultsFolder's schema (settings.json / outcome.json)
FOLDER_META = {"versions": {"python": "3.11"}, "machine": {"platform": "test", "cpu_count": 2}}
OUTCOME_META = {"peak_memory_mb": 0}


@pytest.fixture(scope="module")
def smoke_data():
    """The smoke profiles' MNIST: 256 training images of the bundled set (and 64 test images), subset seed 0."""
    from hw1.lab import data

    return data.subset(data.load("mnist_bundled"), 256, seed=0)


@pytest.fixture(scope="module")
def tiny():
    """A 1-D regression set: 32 training and 8 test points of sin(5πx)/(5πx)."""
    from hw1.lab import data

    return data.function_data(data.FUNCTIONS["sinc"], 32, n_test=8, name="sinc")


def build_tiny():
    """The float64 MLP 1-5-4-1 that trains on :func:`tiny` in the trainer's tests."""
    from hw1.lab import models

    return models.fc_net([5, 4], dtype="float64")
