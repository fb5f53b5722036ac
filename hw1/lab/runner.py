"""Run experiment scripts one after another in ONE Python process: what ``bash run_all.sh`` does.

Each script's ``main(argv)`` runs as if started alone: the same arguments, its own progress lines
and error messages (named after the script), its own wall time and peak memory in its
outcome.json (the process's high-water mark is reset before each one, where Linux allows it).
TensorFlow is imported and initialized once; between two experiments the Keras session is
cleared (layer-name counters and graphs of the last one released), so no state carries over
and every CSV is byte-identical to the script's run alone (tested). A failing experiment is
reported and the next one runs; the exit code is then 1.

    python -m hw1.lab.runner --profile default --out results --seed 0 [--fresh] [--dataset NAME]
                         [--data-dir DIR] [--max-memory SIZE] -- part1_simulate_function part3_sensitivity ...
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import Sequence

from hw1.lab.cli import memory_size  # no TensorFlow

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = ROOT / "experiments"


def load_script(name: str) -> ModuleType:
    """The module ``experiments/<name>.py``, imported without running it."""
    path = EXPERIMENTS / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"experiments_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def takes_dataset(module: ModuleType) -> bool:
    """Whether a script reads an image dataset (its profiles name one), so ``--dataset``/``--data-dir`` go to it."""
    return all("dataset" in profile for profile in module.PROFILES.values())


def reset_peak_memory() -> None:
    """Start a new peak-memory window for :func:`hw1.lab.experiment.peak_memory_mb` (Linux ≥ 4.0; elsewhere a no-op)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def run_one(name: str, module: ModuleType, argv: list[str]) -> tuple[int, float]:
    """Run the loaded script ``name``'s ``main(argv)`` in this process; (exit code, seconds)."""
    saved, sys.argv = sys.argv, [str(EXPERIMENTS / f"{name}.py"), *argv]
    reset_peak_memory()
    start = time.perf_counter()
    try:
        module.main(argv)
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except Exception:  # a bug in one experiment must not stop the others
        traceback.print_exc()
        code = 1
    finally:
        sys.argv = saved
    seconds = time.perf_counter() - start
    import keras

    from hw1.lab import train_step

    train_step.release_compiled()  # the loops one experiment's trainings shared go with it
    keras.backend.clear_session()
    gc.collect()
    return code, seconds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hw1.lab.runner", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="default")
    parser.add_argument("--out", default="results")
    parser.add_argument("--seed", default="0")
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("--dataset")
    parser.add_argument("--data-dir", dest="data_dir")
    parser.add_argument("--max-memory", dest="max_memory", type=memory_size, help="passed to every script")
    parser.add_argument("names", nargs="+", help="experiments to run, in order")
    args = parser.parse_args(argv)
    known = sorted(p.stem for p in EXPERIMENTS.glob("part*.py"))
    for name in args.names:
        if name not in known:
            parser.error(f"unknown experiment {name!r}; choose from: {', '.join(known)}")
    from hw1.lab import cli

    cli.quiet_tensorflow()  # one TensorFlow start for all of them
    common = ["--profile", args.profile, "--out", args.out, "--seed", args.seed, *(["--fresh"] if args.fresh else []),
              *(["--max-memory", str(args.max_memory)] if args.max_memory else [])]
    data = [*(["--dataset", args.dataset] if args.dataset else []), *(["--data-dir", args.data_dir]
                                                                      if args.data_dir else [])]
    start, own, failed = time.perf_counter(), 0.0, []
    for name in args.names:
        print(f"[run_all] {name} (profile {args.profile})", file=sys.stderr, flush=True)
        module = load_script(name)
        code, seconds = run_one(name, module, [*common, *(data if takes_dataset(module) else [])])
        own += seconds
        if code:
            failed.append(name)
            print(f"[run_all] {name} failed (exit code {code}); going on with the next experiment", file=sys.stderr)
    total = time.perf_counter() - start
    print(f"[run_all] {len(args.names)} experiments in {total:.1f} s ({own:.1f} s inside the experiments, "
          f"{total - own:.1f} s of start-up and clean-up)" + (f"; failed: {', '.join(failed)}" if failed else ""),
          file=sys.stderr, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
