"""Benchmark: hw1's 100-run minimal-ratio protocol (default profile) against the usual way.

hw1: ``python experiments/part2_minimal_ratio.py --profile default --fresh`` (wall clock of
the whole process, TensorFlow import included): 100 runs trained together in one batched
graph (loss phase, then ‖∇L‖² by double backprop), then 100 compiled float64 Hessians.
The usual way (``reference_part2.minimal_ratio``): one run at a time, ``model.fit`` per
epoch, an eager double-backprop loop, an eager Hessian; the first runs are replayed within
the budget and the rest extrapolated (said in the note).

    python benchmarks/bench_minimal_ratio.py [--budget SECONDS]
"""

import argparse
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

from hw1.lab import experiment  # noqa: E402
from hw1 import results  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=120.0, help="seconds of reference work (default 120)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run([sys.executable, str(ROOT / "experiments" / "part2_minimal_ratio.py"), "--profile", "default",
                        "--fresh", "--out", out], check=True, cwd=ROOT)
        hw1_seconds = time.perf_counter() - start
        info = results.read_json(Path(out) / "part2_minimal_ratio" / "settings.json")
    from reference_part2 import minimal_ratio
    print(f"[bench] hw1 {hw1_seconds:.1f} s; timing the usual way ({args.budget:g} s budget) ...", file=sys.stderr)
    ref = minimal_ratio(info["settings"], args.budget)
    print(f"machine: {experiment.machine()}")
    print(f"hw1, {info['settings']['runs']} runs (default profile): {hw1_seconds:8.1f} s")
    print(f"usual way, estimated:              {ref['seconds']:8.1f} s  (measured {ref['measured_seconds']:.1f} s, "
          f"{ref['fraction']:.1%} of it)")
    print(f"ratio: {ref['seconds'] / hw1_seconds:.0f}x")
    print(f"note: {ref['note']}")


if __name__ == "__main__":
    main()
