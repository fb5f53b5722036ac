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


def test_readme_table_is_the_committed_csv():
    """README's peers table quotes benchmarks/results_peers.csv: every eigenvalue cell's error and time."""
    import pandas as pd

    table = pd.read_csv(ROOT / "benchmarks" / "results_peers.csv")
    readme = (ROOT / "README.md").read_text()
    rows = table[table.quantity.isin(["top1", "top5"]) & (table.value != "not run")
                 & table.tool.isin(["hw1", "pyhessian", "eigenthings"])]
    assert len(rows) >= 14
    for row in rows.itertuples():
        assert f"{row.error_vs_arpack:.1e}, {row.seconds:.2f} s" in readme, row
    for row in table[table.quantity == "trace"].itertuples():
        assert f"{row.seconds:.1f} s" in readme, row
