"""Benchmark: every experiment's default run against the usual way of running the same protocol.

For each experiment: time ``python experiments/<name>.py --profile default --fresh`` (wall
clock of the whole process, TensorFlow import included), read its settings.json, then time a
reference implementation of the SAME protocol written the usual way
(``benchmarks/reference_part*.py``: ``model.fit`` per epoch, one model at a time, eager
loops), within a time budget per experiment; what the budget did not allow is
extrapolated from measured units and labelled as such.

For the experiments dominated by mini-batch training on MNIST it also gives the compute floor
(``benchmarks/floor.py``): the protocol's matrix-product FLOPs at the best GEMM rate measured
here, a time no implementation can beat, and ``reference / floor``, the largest speed-up
possible at all.

    python benchmarks/run.py [--only NAME...] [--budget SECONDS] [--hw1-results DIR]

Prints a table and writes ``benchmarks/results.csv``. ``--hw1-results DIR`` reuses the
``seconds`` of an existing default run (e.g. ``results/``, from each outcome.json) instead of running hw1
again. An experiment without a reference (``REFERENCES`` in ``benchmarks/reference_part*.py``) is named
and skipped.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pandas as pd  # noqa: E402

from floor import FLOORS, gemm_gflops  # noqa: E402
from hw1 import experiment, results  # noqa: E402


def references() -> dict:
    found = {}
    for path in sorted((ROOT / "benchmarks").glob("reference_part*.py")):
        found.update(importlib.import_module(path.stem).REFERENCES)
    return found


def time_hw1(name: str, out: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "experiments" / f"{name}.py"), "--profile", "default", "--fresh",
                    "--out", str(out)], check=True, cwd=ROOT)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", default=None, help="experiments to benchmark (default: all)")
    parser.add_argument("--budget", type=float, default=120.0, help="seconds of reference work per experiment")
    parser.add_argument("--hw1-results", default=None, help="reuse this default run's timings instead of running")
    args = parser.parse_args()
    available = references()
    names = args.only or [p.stem for p in sorted((ROOT / "experiments").glob("part*.py"))]
    missing = [n for n in names if n not in available]
    for name in missing:
        print(f"[bench] {name}: no reference implementation (add one to benchmarks/reference_part*.py "
              "REFERENCES); skipped", file=sys.stderr)
    names = [n for n in names if n in available]
    rows = []
    gflops = gemm_gflops() if any(n in FLOORS for n in names) else None
    if gflops:
        print(f"[bench] best float32 GEMM rate here: {gflops:.0f} GFLOP/s", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            if args.hw1_results:
                folder = Path(args.hw1_results)
                seconds = results.read_json(folder / name / "outcome.json")["seconds"]
            else:
                folder = Path(tmp)
                seconds = time_hw1(name, folder)
            info = {**results.read_json(folder / name / "settings.json"),
                    **results.read_json(folder / name / "outcome.json")}
            print(f"[bench] {name}: hw1 {seconds:.1f} s; timing the reference ...", file=sys.stderr, flush=True)
            ref = available[name](info["settings"], args.budget)
            row = {"experiment": name, "hw1_seconds": round(seconds, 1),
                   "reference_seconds": ref["seconds"], "ratio": round(ref["seconds"] / seconds, 1),
                   "reference_measured_seconds": ref["measured_seconds"],
                   "reference_fraction_run": ref["fraction"],
                   "hw1_peak_memory_mb": info.get("peak_memory_mb"), "note": ref["note"]}
            if name in FLOORS:
                flops, what = FLOORS[name](info["settings"], folder / name)
                floor = flops / (gflops * 1e9)
                row.update(floor_seconds=round(floor, 2), best_possible_ratio=round(ref["seconds"] / floor, 1),
                           note=f"{ref['note']}; floor: {flops / 1e9:.0f} GFLOP ({what}) at {gflops:.0f} GFLOP/s")
            rows.append(row)
    table = pd.DataFrame(rows)
    total = {"experiment": "total", "hw1_seconds": table["hw1_seconds"].sum(),
             "reference_seconds": table["reference_seconds"].sum()}
    total["ratio"] = round(total["reference_seconds"] / total["hw1_seconds"], 1)
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    print(f"machine: {experiment.machine()}; versions: {experiment.package_versions()}")
    print(table.drop(columns="note").to_string(index=False, na_rep=""))
    results.write_csv(ROOT / "benchmarks" / "results.csv", table)


if __name__ == "__main__":
    main()
