"""Command-line conventions shared by every experiment script.

Every script takes ``--profile smoke|default|full``, ``--out DIR`` (default
``results``), ``--seed N`` and ``--fresh``; a profile is a plain dict of numbers
at the top of the script, and any flag of the same name overrides it.

A user mistake (bad flag, bad value, missing dataset) is ONE line on stderr
naming the bad value and what is accepted, exit code 2, and no traceback.
So is a run that would not fit in memory: each script estimates its largest
allocations from its settings (:class:`Need`, :func:`training_need` …) and
:func:`check_memory` compares them with the machine's available memory, or
``--max-memory``, before TensorFlow is imported. This module does not import TensorFlow.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

from hw1.measure import constants  # TensorFlow-free: the chunk sizes the measurements use

PROFILE_NAMES = ("smoke", "default", "full")
NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
DATASETS = ("mnist_bundled", "mnist", "fashion_mnist", "cifar10")


class UsageError(Exception):
    """A mistake in what the user asked for; reported as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # argparse reads "-1e-1" as an option (its pattern knows "-1" and "-.5" only): a number is a value
        self._negative_number_matcher = NEGATIVE_NUMBER

    def error(self, message: str) -> None:  # one line, not usage + traceback
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


MAX_SEED = 4_000_000  # per-run seeds are seed·1000 + run, and Keras seeds must stay below 2³²
MAX_COUNT = 10_000_000  # epochs, steps, runs, widths: anything larger cannot finish on one machine


def _number(kind: Callable[[str], Any], test: Callable[[Any], bool], accepted: str) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            if not text.isascii():
                raise ValueError(text)
            value = kind(text)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"{text!r} is not {accepted}") from None
        if not test(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {accepted}")
        return value
    parse.__name__ = accepted
    return parse


def bounded_float(low: float, high: float) -> Callable[[str], float]:
    """A parser of numbers in the open-closed range (low, high]."""
    return _number(float, lambda v: math.isfinite(v) and low < v <= high, f"a number in ({low:g}, {high:g}]")


positive_int = _number(int, lambda v: 0 < v <= MAX_COUNT, f"a positive integer up to {MAX_COUNT:,}")
nonnegative_int = _number(int, lambda v: 0 <= v <= MAX_COUNT, f"a non-negative integer up to {MAX_COUNT:,}")
seed_int = _number(int, lambda v: 0 <= v <= MAX_SEED, f"an integer from 0 to {MAX_SEED:,}")
positive_float = _number(float, lambda v: math.isfinite(v) and 0 < v <= 1e6, "a positive number up to 1e6")
learning_rate = positive_float  # up to 1e6: a rate that diverges is a result (recorded as diverged), not a mistake
finite_float = _number(float, lambda v: math.isfinite(v) and abs(v) <= 1e6, "a finite number within ±1e6")


def int_list(text: str) -> list[int]:
    """Comma-separated positive integers, e.g. ``16,64,256``."""
    return [positive_int(part.strip()) for part in text.split(",")]


def rate_list(text: str) -> list[float]:
    """Comma-separated learning rates, e.g. ``1e-3,1e-2`` (each as :data:`learning_rate` accepts it)."""
    return [learning_rate(part.strip()) for part in text.split(",")]


# ---------------------------------------------------------------- memory known before work

FLOAT32 = 4  # bytes of one number: hw1 trains and evaluates in float32
WEIGHT_COPIES = 18  # a training's copies of every run's weights: the models built to initialize, to describe and to
#                    trace it (each with its initializer's temporary), the starting arrays, their stack, the variables,
#                    Adam's two moments, the gradients, the final arrays (measured: 11.3 copies for 15.9 M parameters
#                    on one build, 16.1 for 7.95 M on another: the allocator's share varies, so the bound is generous)
ROW_BYTES = 700  # one history row: the dict of up to 8 numbers hw1.lab.train builds per run and evaluation, its frame row
SNAPSHOT_COPIES = 40  # bytes per parameter of a kept weight snapshot: float32 as trained and as read back from the
#                       resume cache, float64 as the matrix PCA reads, centres and decomposes (4 + 4 + 3 × 8 + 8)
DATASET_SIZES = {  # training samples, test samples, inputs per sample, classes: what each data set holds
    "mnist_bundled": (4000, 1000, 784, 10), "mnist": (60000, 10000, 784, 10),
    "fashion_mnist": (60000, 10000, 784, 10), "cifar10": (50000, 10000, 3072, 10)}
UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


@dataclasses.dataclass(frozen=True)
class Need:
    """One allocation a run will make, estimated from its settings before any work.

    Attributes:
        setting: what drives it, as the user gives it, e.g. ``"--widths 10000000"``.
        what: what is held, e.g. ``"the 61 interpolated weight vectors of 101,770 parameters"``.
        nbytes: the estimated peak, in bytes.
    """

    setting: str
    what: str
    nbytes: float


def memory_available() -> int:
    """The bytes a new allocation can have now: Linux's MemAvailable, else the physical memory (0: unknown)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def memory_size(text: str) -> int:
    """A size in bytes from ``4G``, ``512M``, ``1.5GiB``, ``800k`` or a plain number of bytes (binary units)."""
    match = re.fullmatch(r"\s*(\d{1,20}(?:\.\d*)?|\.\d+)\s*([kmgtp]?)(?:i?b)?\s*", text.lower())
    size = float(match[1]) * 1024 ** " kmgtp".index(match[2] or " ") if match and text.isascii() else 0.0
    if size < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a memory size such as 4G, 512M or 1.5GiB")
    return int(size)


def format_bytes(nbytes: float) -> str:
    """``1536`` → ``"1.5 KiB"``."""
    for unit in UNITS:
        if abs(nbytes) < 1024 or unit == UNITS[-1]:
            return f"{nbytes:,.1f} {unit}" if unit != "B" else f"{nbytes:,.0f} B"
        nbytes /= 1024
    raise AssertionError("unreachable")


def check_memory(needs: Sequence[Need | None], limit: int | None = None) -> None:
    """Refuse, before any work, settings whose largest estimated allocation exceeds ``limit`` (``--max-memory``)
    or, if none is given, the memory available now (:func:`memory_available`).

    Raises:
        UsageError: one line naming the setting, the estimate, the limit and what is accepted.
    """
    needs = [need for need in needs if need is not None]
    source = "of --max-memory"
    if limit is None:
        limit, source = memory_available(), "available (MemAvailable)"
    if not needs or not limit:
        return
    worst = max(needs, key=lambda need: need.nbytes)
    if worst.nbytes > limit:
        raise UsageError(f"{worst.setting}: {worst.what} would need about {format_bytes(worst.nbytes)}, more than "
                         f"the {format_bytes(limit)} {source}; accepted: settings whose estimate fits (a smaller "
                         "value, or --max-memory SIZE where more memory can be had)")


def dataset_shape(s: dict[str, Any]) -> tuple[int, int, int, int]:
    """``(training samples, test samples, inputs, classes)`` that a run's settings load: the data set's own counts
    (:data:`DATASET_SIZES`; a ``--data-dir`` with other counts is checked as it is read), cut by ``train_limit``
    (a quarter as many test samples, as :func:`hw1.lab.data.subset`) or ``test_limit``."""
    n_train, n_test, inputs, classes = DATASET_SIZES[s["dataset"]]
    limit = s.get("train_limit")
    if s.get("test_limit"):
        n_test = min(s["test_limit"], n_test)
    elif limit and "test_limit" not in s:
        n_test = min(max(1, limit // 4), n_test)
    return (min(limit, n_train) if limit else n_train), n_test, inputs, classes


def training_need(setting: str, runs: int, params: int, units: int, batch: int, inputs: int, n_eval: int,
                  backward: int = 4) -> Need:
    """What :func:`hw1.lab.train.train` holds at its peak for ``runs`` runs of ``params`` float32 parameters.

    :data:`WEIGHT_COPIES` copies of every run's weights, and the larger of one step's activations (every run's
    ``batch`` samples through ``units`` activations each, kept with their gradients for the backward pass:
    ``backward`` numbers per unit; and the gathered ``inputs``) and one evaluation call's (up to
    :data:`hw1.measure.constants.RUN_CHUNK` runs × :data:`hw1.measure.constants.EVAL_CHUNK` of the ``n_eval``
    samples), and the samples themselves.
    """
    step = runs * batch * (backward * units + inputs)
    evaluation = min(runs, constants.RUN_CHUNK) * min(n_eval, constants.EVAL_CHUNK) * (2 * units + inputs)
    data = 2 * n_eval * inputs  # the samples as loaded and as the trainer's constant
    return Need(setting, f"training {runs:,} run(s) of {params:,} parameters (weights, Adam moments, gradients, "
                f"activations of {batch:,} samples)",
                FLOAT32 * (WEIGHT_COPIES * runs * params + max(step, evaluation) + data))


def history_need(setting: str, rows: int) -> Need:
    """The rows of a training history (or step record), :data:`ROW_BYTES` each."""
    return Need(setting, f"{rows:,} history rows", rows * ROW_BYTES)


def snapshot_need(setting: str, count: int, params: int) -> Need:
    """``count`` weight snapshots of ``params`` parameters (:data:`SNAPSHOT_COPIES` bytes per parameter) and the
    float64 ``U`` factor (``count × min(count, params)``) of their PCA."""
    return Need(setting, f"{count:,} weight snapshots of {params:,} parameters",
                count * (params * SNAPSHOT_COPIES + 8 * min(count, params)))


class AppendUnique(argparse.Action):
    """``action=cli.AppendUnique``: collect a repeatable flag's ``(name, value)`` pairs (as its ``type`` returns
    them), refusing a name given twice (one line, exit code 2) instead of letting the last one win silently."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        given = list(getattr(namespace, self.dest) or [])
        if any(name == values[0] for name, _ in given):
            parser.error(f"{option_string} names {values[0]!r} twice; give each name once")
        setattr(namespace, self.dest, [*given, values])


def parser(doc: str | None, profiles: dict[str, dict[str, Any]], *, dataset: bool = False) -> argparse.ArgumentParser:
    """The common parser of an experiment script.

    Args:
        doc: the script's docstring; its first line becomes the description.
        profiles: ``{"smoke": {...}, "default": {...}, "full": {...}}``.
        dataset: add ``--dataset`` and ``--data-dir``.
    """
    assert set(profiles) == set(PROFILE_NAMES), sorted(profiles)
    p = _Parser(description=(doc or "").strip().splitlines()[0] if doc else None)
    p.add_argument("--profile", choices=PROFILE_NAMES, default="default",
                   help="sizes and counts to run (default: default)")
    p.add_argument("--out", default="results", help="results folder (default: results)")
    p.add_argument("--seed", type=seed_int, default=0, help=f"base random seed, 0 to {MAX_SEED:,} (default: 0)")
    p.add_argument("--fresh", action="store_true", help="recompute everything instead of resuming")
    p.add_argument("--max-memory", dest="max_memory", type=memory_size, default=None, metavar="SIZE",
                   help="refuse settings whose estimated peak allocation is larger than SIZE, e.g. 4G or 512M "
                        "(default: the memory available now, MemAvailable)")
    if dataset:
        p.add_argument("--dataset", choices=DATASETS, default=None,
                       help="dataset (default: the profile's, mnist_bundled for smoke/default)")
        p.add_argument("--data-dir", default=None,
                       help="folder with the dataset's four IDX files (gzipped or not) or an .npz")
    return p


OVERRIDES = {  # flag name -> (parser, help): the settings most scripts let a user override
    "epochs": (positive_int, "override the profile's epochs"),
    "learning_rate": (learning_rate, "override the profile's Adam learning rate"),
    "batch_size": (positive_int, "override the profile's batch size"),
    "runs": (positive_int, "override the profile's number of runs (seeds)"),
}


def add_overrides(parser: argparse.ArgumentParser, *names: str) -> None:
    """Declare the standard override flags ``--epochs``, ``--learning-rate``, ``--batch-size``, ``--runs``."""
    for name in names:
        kind, text = OVERRIDES[name]
        parser.add_argument("--" + name.replace("_", "-"), dest=name, type=kind, help=text)


def add_save_weights(parser: argparse.ArgumentParser, what: str) -> None:
    """Declare ``--save-weights`` (setting ``save_weights``): also write ``what`` (e.g. "every model's final weights
    to models/weights.npz")."""
    parser.add_argument("--save-weights", dest="save_weights", action="store_true", default=None,
                        help=f"also write {what}")


def settings(profiles: dict[str, dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """The profile's settings, overridden by every flag of the same name that was given."""
    chosen = dict(profiles[args.profile])
    for key, value in vars(args).items():
        if key in chosen and value is not None:
            chosen[key] = value
    return chosen


def output_dir(out: str, experiment: str) -> Path:
    """Create and return ``out/experiment``; an unwritable ``--out``, and an experiment folder that is a symbolic
    link (a run would clean and write where it points), are a :class:`UsageError`."""
    folder = Path(out) / experiment
    if folder.is_symlink():
        raise UsageError(f"{str(folder)!r} is a symbolic link; hw1 never follows one where it cleans or writes: "
                         "give --out a folder whose experiment folders are real folders")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as err:
        raise UsageError(f"cannot write to --out {out!r} ({err.strerror or err}); "
                         "give a folder you can write to") from None
    for existing in sorted(folder.iterdir()):  # what a run replaces must be replaceable: check before any work
        if existing.suffix not in (".csv", ".json", ".png", ".keras", ".npz"):
            continue
        probe = folder / f".replace-test-{os.getpid()}"
        try:
            if existing.is_dir():
                raise IsADirectoryError(21, "a folder stands where a results file goes")
            os.link(existing, probe)  # refused for an immutable or append-only file, which rename cannot replace
            os.unlink(probe)
        except (PermissionError, IsADirectoryError) as err:
            raise UsageError(f"cannot replace {str(existing)!r} in --out ({err.strerror or err}); remove it or "
                             "give another --out") from None
        except OSError:  # hard links not supported here: nothing to learn from the probe
            pass
    return folder


def main_guard(main: Callable[..., Any]) -> Callable[..., None]:
    """Decorate a script's ``main(argv=None)``: user mistakes become one line on stderr and exit code 2, a full
    disk one line and exit code 1, Ctrl-C one line and exit code 130."""
    from hw1.lab.data import DataError  # no TensorFlow import
    from hw1.results import DiskFullError

    @functools.wraps(main)
    def wrapper(argv: Sequence[str] | None = None) -> None:
        prog = Path(sys.argv[0]).name
        try:
            main(argv)
        except (UsageError, DataError) as err:
            print(f"{prog}: error: {err}", file=sys.stderr)
            raise SystemExit(2) from None
        except DiskFullError as err:  # not a mistake of the user's: exit code 1
            print(f"{prog}: error: {err}", file=sys.stderr)
            raise SystemExit(1) from None
        except KeyboardInterrupt:
            print(f"{prog}: interrupted; finished work is kept, run again to resume", file=sys.stderr)
            raise SystemExit(130) from None
        finally:  # however main ended, its folder is free for the next run (also in the same process)
            harness = sys.modules.get("hw1.lab.experiment")
            if harness is not None:
                harness.release_locks()

    return wrapper


def quiet_tensorflow() -> None:
    """Import TensorFlow and Keras with their start-up chatter silenced.

    TensorFlow's C++ side prints absl/oneDNN notices to file descriptor 2 while it loads,
    whatever TF_CPP_MIN_LOG_LEVEL says; they would bury a one-line error message. Call this
    before anything imports TensorFlow. Import errors still surface (as Python exceptions).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import keras  # noqa: F401
        import tensorflow as tf

        tf.constant(0.0)  # the device is initialized (and logs) on first use
        # a fresh model per condition, by design: TensorFlow's retracing warning would call that a mistake
        tf.get_logger().setLevel("ERROR")
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
