"""Benchmark: every experiment's run against the usual way of running the same protocol.

For each experiment: run ``python experiments/<name>.py --profile PROFILE --fresh`` and take
its own wall time (outcome.json ``seconds``: TensorFlow import excluded, as for the reference),
read its settings.json, then time a reference implementation of the SAME protocol written the
usual way (``benchmarks/reference_part*.py``: ``model.fit`` per epoch, one model at a time,
eager loops), within a time budget per experiment; what the budget did not allow is
extrapolated from measured units and labelled as such. Where the protocol's length depends on
the data (epochs to a target, steps to a loss), the reference replays the length of hw1's run,
read from its CSVs.

For the experiments dominated by mini-batch training on MNIST it also gives the compute floor
(``benchmarks/floor.py``): the protocol's matrix-product FLOPs at the best GEMM rate measured
here, a time no implementation can beat, and ``reference / floor``, the largest speed-up
possible at all.

    python benchmarks/run.py [--profile default|full] [--dataset NAME] [--data-dir DIR]
                             [--only NAME...] [--budget SECONDS] [--hw1-results DIR] [--out CSV]

``hw1_over_floor`` (hw1's seconds ÷ the floor) says how much of hw1's time is useful arithmetic:
2 means half of it. Prints a table and writes it to ``--out`` (default
``benchmarks/results.csv``, or ``benchmarks/results_full.csv`` with ``--profile full``, for a run
of every experiment; a run with ``--only`` writes nothing unless ``--out`` is given, so that
checking one experiment does not replace the full table). ``--hw1-results DIR`` reuses an
existing run of the same profile (e.g. ``results/`` or ``results/full/``: each outcome.json's
``seconds``, and its CSVs) instead of running hw1 again; ``--dataset``/``--data-dir`` go to the
experiments that take a dataset when hw1 is run (``--profile full --dataset fashion_mnist``
is the committed full-size table). An experiment without a reference (``REFERENCES`` in ``benchmarks/reference_part*.py``)
is named and skipped.
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
from hw1.lab import experiment  # noqa: E402
from hw1 import results  # noqa: E402


def references() -> dict:
    found = {}
    for path in sorted((ROOT / "benchmarks").glob("reference_part*.py")):
        found.update(importlib.import_module(path.stem).REFERENCES)
    return found


def run_hw1(name: str, out: Path, profile: str, data_args: list[str]) -> float:
    """Run the experiment's ``profile`` into ``out``; returns the process's wall time (import included)."""
    script = ROOT / "experiments" / f"{name}.py"
    takes_data = data_args if "dataset=True" in script.read_text() else []  # as run_all.sh decides
    start = time.perf_counter()
    subprocess.run([sys.executable, str(script), "--profile", profile, "--fresh", "--out", str(out), *takes_data],
                   check=True, cwd=ROOT)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=["default", "full"], default="default", help="hw1's profile to time")
    parser.add_argument("--dataset", default=None, help="dataset of the experiments that take one (hw1's run)")
    parser.add_argument("--data-dir", default=None, help="folder of that dataset's files (hw1's run)")
    parser.add_argument("--only", nargs="+", default=None, help="experiments to benchmark (default: all)")
    parser.add_argument("--budget", type=float, default=120.0, help="seconds of reference work per experiment")
    parser.add_argument("--hw1-results", default=None, help="reuse this run's timings instead of running hw1")
    parser.add_argument("--out", default=None,
                        help="CSV to write (default: benchmarks/results[_full].csv, or nothing with --only)")
    args = parser.parse_args()
    table_name = "results.csv" if args.profile == "default" else f"results_{args.profile}.csv"
    out = Path(args.out) if args.out else None if args.only else ROOT / "benchmarks" / table_name
    data_args = [*(["--dataset", args.dataset] if args.dataset else []),
                 *(["--data-dir", str(Path(args.data_dir).resolve())] if args.data_dir else [])]
    unknown = [n for n in args.only or [] if not (ROOT / "experiments" / f"{n}.py").exists()]
    if unknown:
        parser.error(f"--only {' '.join(unknown)}: no such experiment in experiments/")
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
            else:
                folder = Path(tmp)
                process = run_hw1(name, folder, args.profile, data_args)
                print(f"[bench] {name}: hw1 process {process:.1f} s (TensorFlow import included)", file=sys.stderr)
            info = {**results.read_json(folder / name / "settings.json"),
                    **results.read_json(folder / name / "outcome.json")}
            if info["profile"] != args.profile:
                sys.exit(f"[bench] {folder / name} is a run of profile {info['profile']!r}, not --profile "
                         f"{args.profile!r}; point --hw1-results at a run of that profile")
            seconds = info["seconds"]
            print(f"[bench] {name}: hw1 {seconds:.1f} s; timing the reference ...", file=sys.stderr, flush=True)
            ref = available[name](info["settings"], args.budget, folder / name)
            row = {"experiment": name, "hw1_seconds": round(seconds, 1),
                   "reference_seconds": ref["seconds"], "ratio": round(ref["seconds"] / seconds, 1),
                   "reference_measured_seconds": ref["measured_seconds"],
                   "reference_fraction_run": ref["fraction"],
                   "hw1_peak_memory_mb": info.get("peak_memory_mb"), "note": ref["note"]}
            if name in FLOORS:
                flops, what = FLOORS[name](info["settings"], folder / name)
                floor = flops / (gflops * 1e9)
                row.update(floor_seconds=round(floor, 2), best_possible_ratio=round(ref["seconds"] / floor, 1),
                           hw1_over_floor=round(seconds / floor, 2),
                           note=f"{ref['note']}; floor: {flops / 1e9:.0f} GFLOP ({what}) at {gflops:.0f} GFLOP/s")
            rows.append(row)
            if out:  # each finished experiment's row is kept: a crash or kill later loses no finished work
                results.write_csv(out, pd.DataFrame(rows))
    if not rows:
        sys.exit("[bench] nothing to benchmark")
    table = pd.DataFrame(rows)
    total = {"experiment": "total", "hw1_seconds": table["hw1_seconds"].sum(),
             "reference_seconds": table["reference_seconds"].sum()}
    total["ratio"] = round(total["reference_seconds"] / total["hw1_seconds"], 1)
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    print(f"machine: {experiment.machine()}; versions: {experiment.package_versions()}")
    print(table.drop(columns="note").to_string(index=False, na_rep=""))
    if out:
        results.write_csv(out, table)
        print(f"[bench] wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
