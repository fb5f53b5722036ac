"""benchmarks/bench_peers.py without the peers' venv: it says how to make it and exits 0 (torch is never hw1's)."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def test_without_torch_it_says_how_to_get_it_and_exits_0(tmp_path):
    out = tmp_path / "peers.csv"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_peers.py"), "--peers-python",
                           str(tmp_path / "no-such-python"), "--out", str(out)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "pip install torch==2.13.0 pyhessian hessian-eigenthings" in done.stdout
    assert not out.exists()
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_peers.py"), "--peers-python",
                           sys.executable, "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "cannot import torch" in done.stdout  # hw1's own venv has no torch
    assert not out.exists()
