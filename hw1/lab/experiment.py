"""The harness of an experiment script: command line, folder, progress, resume, outputs.

A script holds the protocol; this module holds the rest::

    def main(argv=None):
        parser = cli.parser(__doc__, PROFILES)
        parser.add_argument("--steps", type=cli.positive_int, help="...")
        run = experiment.start(EXPERIMENT, parser, PROFILES, argv)   # parsed, checked, TensorFlow loaded
        from hw1.lab import data, train                                  # the machinery, after the arguments
        fitted = run.step("fit", lambda: ...)                        # cached: a resumed run skips it
        run.finish({"history.csv": table}, outcome={...})

:func:`start` parses and validates the arguments, and the memory their settings need, BEFORE TensorFlow
is imported (a typo or an impossible size costs no start-up time), then loads TensorFlow quietly and
makes its ops deterministic. Before that it refuses a folder it could not clean or write safely (:func:`check_folder`: symbolic links,
files where folders go) and takes the folder's lock (:class:`FolderLock`: one run per folder). The
first :meth:`Run.step` (or :meth:`Run.finish`) marks the folder as holding an unfinished run:
it removes ``outcome.json``, the figures, the saved arrays (``models/*.npz``) and the temporary
files that dead writers left.
:meth:`Run.finish` writes the CSVs, ``settings.json`` (inputs only) and then ``outcome.json``
(what came out, and the digest of every CSV), so a folder is one finished run or says that
it is not; the figures are drawn last, from those files. This module does not import TensorFlow at import time.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import io
import json
import os
import platform
import shutil
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import pandas as pd

from hw1.lab import cli
from hw1.results import atomic_path, file_digest, schema, stale_temporary, write_csv, write_json

if TYPE_CHECKING:
    from hw1.lab.train_callbacks import TrainProgress

PACKAGES = ("tensorflow-cpu", "tensorflow", "keras", "numpy", "pandas", "matplotlib", "scikit-learn", "scipy",
            "mlxtend")


# ---------------------------------------------------------------- provenance

def package_versions() -> dict[str, str]:
    """Installed versions of the packages whose numbers affect the results."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


def machine() -> dict[str, Any]:
    """A short description of the machine (CPU count, platform, accelerators seen by TF if loaded)."""
    info: dict[str, Any] = {"platform": platform.platform(), "processor": platform.machine(),
                            "cpu_count": os.cpu_count()}
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        info["gpus"] = [d.name for d in tf.config.list_physical_devices("GPU")]
    return info


def peak_memory_mb() -> float:
    """Peak resident memory of this process, in MiB: since the last reset of the high-water mark on Linux
    (``VmHWM``, which :func:`hw1.lab.runner.reset_peak_memory` resets between the experiments of one process), else
    since the start (``ru_maxrss``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except (OSError, ValueError):
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ---------------------------------------------------------------- progress

class Progress:
    """Prints ``[experiment  12.3s] message`` lines to stderr so long work is visible."""

    def __init__(self, experiment: str, quiet: bool = False) -> None:
        self.experiment, self.quiet = experiment, quiet
        self.start = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def __call__(self, message: "str | TrainProgress") -> None:
        """Print ``message``: a line, or a training's progress (:class:`hw1.lab.train.TrainProgress`) in words."""
        if not isinstance(message, str):
            message = describe_training(message)
        if not self.quiet:
            print(f"[{self.experiment} {self.elapsed:7.1f}s] {message}", file=sys.stderr, flush=True)


def describe_training(p: "TrainProgress") -> str:
    """``label: epoch 6/20 train loss 0.1234 acc 0.912 (mean of 3 runs), at most 12.0 s left``."""
    text = f"{p.label + ': ' if p.label else ''}epoch {p.epoch}/{p.epochs} train loss {p.train_loss:.4g}"
    if p.train_acc is not None:
        text += f" acc {p.train_acc:.3f}"
    if p.runs > 1:
        text += f" (mean of {p.runs} runs)"
    from hw1.report.prose import duration  # scipy: not loaded at start-up, where a Ctrl-C must stay one line
    return text + f", {'at most ' if p.capped else ''}{duration(p.seconds_left)} left"


# ---------------------------------------------------------------- resume cache

class RunCache:
    """Finished steps of an experiment, kept so that a killed run resumes where it stopped.

    Each finished step is one ``.npz`` file under ``folder/.cache/<fingerprint>/``, written
    atomically; the fingerprint hashes the settings, profile and seed, so a run with other
    settings never reads it. A step stores what it naturally returns: any nesting of lists,
    tuples (read back as lists), dicts with string keys, numpy arrays, DataFrames and plain
    numbers, strings, booleans or None. The cache is removed when the experiment finishes
    (:meth:`clear`), and by ``--fresh``.
    """

    def __init__(self, folder: str | os.PathLike, fingerprint: dict[str, Any], fresh: bool = False) -> None:
        self.root = Path(folder) / ".cache"
        digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=_json_value).encode()).hexdigest()
        self.folder = self.root / digest[:16]
        for path in (self.root, self.folder):  # checked by start() already; a link made since is refused too
            if path.is_symlink():
                raise cli.UsageError(f"{path} is a symbolic link; hw1 never follows one where it cleans or "
                                     "writes: remove the link or give another --out")
        if fresh and self.root.exists():
            shutil.rmtree(self.root)

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.npz"

    def fetch(self, key: str, compute: Callable[[], Any]) -> Any:
        """The stored result of step ``key``, computing and storing it first if needed.

        The result is always read back from the file, so a resumed run and an uninterrupted
        one continue from the same (stored) values.
        """
        path = self._path(key)
        if not path.exists():
            arrays: dict[str, Any] = {}
            structure = _encode(compute(), arrays)
            needed = len(json.dumps(structure)) + sum(np.asarray(a).nbytes for a in arrays.values())
            with atomic_path(path, needed=needed) as tmp, open(tmp, "wb") as fh:
                np.savez(fh, __structure__=np.array(json.dumps(structure)), **arrays)
        try:
            with np.load(path, allow_pickle=False) as z:
                return _decode(json.loads(str(z["__structure__"])), z)
        except Exception as err:  # a damaged cache file: say how to recover
            raise cli.UsageError(f"the resume cache {path} is damaged ({type(err).__name__}); "
                                 "run again with --fresh to recompute") from None

    def clear(self) -> None:
        """Forget every cached step (called once the experiment's outputs are written)."""
        shutil.rmtree(self.root, ignore_errors=True)


def _json_value(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _encode(value: Any, arrays: dict[str, Any]) -> Any:
    if isinstance(value, pd.DataFrame):
        arrays[f"t{len(arrays)}"] = np.array(value.to_csv(index=False, float_format="%.17g"))
        return {"__table__": f"t{len(arrays) - 1}"}
    if isinstance(value, np.ndarray):
        arrays[f"a{len(arrays)}"] = value
        return {"__array__": f"a{len(arrays) - 1}"}
    if isinstance(value, (list, tuple)):
        return [_encode(v, arrays) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) and not k.startswith("__") for k in value):
            raise TypeError("a cached dict needs string keys not starting with '__'")
        return {k: _encode(v, arrays) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot cache a {type(value).__name__}")


def _decode(value: Any, z: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v, z) for v in value]
    if isinstance(value, dict):
        if "__table__" in value:
            return pd.read_csv(io.StringIO(str(z[value["__table__"]])))
        if "__array__" in value:
            return z[value["__array__"]]
        return {k: _decode(v, z) for k, v in value.items()}
    return value


# ---------------------------------------------------------------- one run of an experiment

class Run:
    """One run of an experiment: its parsed arguments, settings, folder, progress and cache.

    Attributes:
        name: the experiment (the script's name, the results subfolder).
        args: the parsed command line.
        settings: the profile's settings overridden by the flags; the script adds what it
            derives (dataset, architecture). Written to ``settings.json`` by :meth:`finish`.
        folder: ``<out>/<name>``.
        progress: prints a line to stderr.
    """

    def __init__(self, name: str, args: argparse.Namespace, settings: dict[str, Any], folder: Path,
                 lock: FolderLock | None = None) -> None:
        self.name, self.args, self.settings, self.folder = name, args, settings, folder
        self.progress = Progress(name)
        self._cache: RunCache | None = None
        self._lock = lock

    @property
    def seed(self) -> int:
        return int(self.args.seed)

    def _begin(self) -> RunCache:
        """Mark the folder unfinished and clear what an earlier run left; freeze the cache's fingerprint."""
        if self._cache is None:
            with contextlib.suppress(FileNotFoundError):
                (self.folder / "outcome.json").unlink()
            temporary = [*self.folder.glob(".*.tmp"), *self.folder.glob("models/.*.tmp")]
            for stale in [*self.folder.glob("*.png"), *self.folder.glob("models/*.npz"),
                          *filter(stale_temporary, temporary)]:  # never a live writer's temporary file
                with contextlib.suppress(FileNotFoundError):
                    stale.unlink()
            fingerprint = {"settings": self.settings, "seed": self.seed, "profile": self.args.profile}
            self._cache = RunCache(self.folder, fingerprint, fresh=self.args.fresh)
        return self._cache

    def step(self, key: str, compute: Callable[[], Any]) -> Any:
        """The result of ``compute()``, stored under ``key`` so that a resumed run skips it."""
        return self._begin().fetch(key, compute)

    def save_arrays(self, name: str, arrays: dict[str, Any]) -> Path:
        """Write ``arrays`` (e.g. trained weights) atomically to ``models/<name>.npz``, from which the measured
        numbers can be recomputed. (A run that starts removes the ``models/*.npz`` of an earlier run.)"""
        path = self.folder / "models" / f"{name}.npz"
        arrays = {k: np.asarray(v) for k, v in arrays.items()}
        with atomic_path(path, needed=sum(a.nbytes for a in arrays.values())) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        return path

    def finish(self, tables: dict[str, pd.DataFrame], outcome: dict[str, Any] | None = None) -> list[Path]:
        """Write the CSVs (exactly the tables and columns :mod:`hw1.results.schema` declares, in its order),
        settings.json and outcome.json (the run is then finished), forget the cache, and draw the figures.

        Args:
            tables: ``{"history.csv": frame, ...}``, written as tidy CSVs.
            outcome: summary numbers of what came out (not inputs), written to outcome.json.

        Returns:
            The figure paths.
        """
        if set(tables) != set(declared := schema.tables(self.name)):  # a bug of the script, not of the user
            raise ValueError(f"{self.name} writes {sorted(tables)}; its schema declares {sorted(declared)}")
        cache = self._begin()
        for name, frame in tables.items():
            write_csv(self.folder / name, declared[name].select(frame))
        write_json(self.folder / "settings.json", {
            "experiment": self.name, "profile": self.args.profile, "seed": self.seed, "settings": self.settings,
            "versions": package_versions(), "machine": machine()})
        write_json(self.folder / "outcome.json", {
            **(outcome or {}), "seconds": round(self.progress.elapsed, 1), "peak_memory_mb": round(peak_memory_mb()),
            "settings_digest": file_digest(self.folder / "settings.json"),
            "files": {name: file_digest(self.folder / name) for name in tables}})
        cache.clear()
        from hw1.report import views  # matplotlib, only now: figures are drawn from the finished run's files

        figures = views.draw(self.name, self.folder)
        self.progress(f"wrote {', '.join(tables)} and {len(figures)} figure(s) to {self.folder}")
        if self._lock is not None:
            self._lock.release()
        return figures


class FolderLock:
    """An exclusive lock on an experiment's folder (``flock`` on the folder itself: no lock file to leave
    behind), held while a run writes there, so that a second run on the same folder is refused in one line
    instead of removing the first one's files. Released by :meth:`release`, or when the process ends."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._fd: int | None = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.release()
            raise cli.UsageError(f"another run is writing to {folder} (it holds the folder's lock); wait for it "
                                 "to finish or give another --out") from None
        _HELD.append(self)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None
        with contextlib.suppress(ValueError):
            _HELD.remove(self)

    def __del__(self) -> None:
        self.release()


_HELD: list[FolderLock] = []  # the locks this process holds


def release_locks() -> None:
    """Release every folder lock this process holds (a script's ``main`` has ended, however it ended)."""
    for lock in list(_HELD):
        lock.release()


def check_folder(folder: Path, fresh: bool = False) -> None:
    """Refuse, before any work and before anything is deleted, an experiment folder a run could not clean or
    write safely: ``.cache`` or ``models`` that are symbolic links (a run would delete or write files where
    they point) or not folders, and (unless ``fresh`` starts over) a resume cache holding links or files where
    its step folders go.

    Raises:
        hw1.lab.cli.UsageError: one line naming the path and what to do.
    """
    for name, holds in ((".cache", "the resume cache"), ("models", "the saved arrays")):
        path = folder / name
        if path.is_symlink():
            raise cli.UsageError(f"{path} is a symbolic link; hw1 never follows one where it cleans or writes "
                                 f"({holds} go there): remove the link or give another --out")
        if path.exists() and not path.is_dir():
            raise cli.UsageError(f"{path} is not a folder, but {holds} go there: remove it or give another --out")
    blocked = [p for p in (folder / "models").glob("*.npz") if p.is_dir() and not p.is_symlink()]
    if blocked:
        raise cli.UsageError(f"cannot replace {str(blocked[0])!r} (a folder stands where saved arrays go): remove "
                             "it or give another --out")
    cache = folder / ".cache"
    if fresh or not cache.is_dir():
        return
    for entry in [*cache.iterdir(), *(f for d in cache.iterdir() if d.is_dir() and not d.is_symlink()
                                      for f in d.iterdir())]:
        if entry.is_symlink() or (entry.parent == cache and not entry.is_dir()):
            raise cli.UsageError(f"the resume cache holds {entry}, which hw1 did not write (a symbolic link or "
                                 "a file where a folder goes); run again with --fresh to start over")


def start(name: str, parser: argparse.ArgumentParser, profiles: dict[str, dict[str, Any]],
          argv: Sequence[str] | None = None, check: Callable[[dict[str, Any]], None] | None = None) -> Run:
    """Parse and check the command line, create the output folder, then load TensorFlow.

    Args:
        name: the experiment (results subfolder).
        parser: from :func:`hw1.lab.cli.parser`, with the script's own flags added.
        profiles: the script's ``PROFILES``.
        argv: the arguments (default: ``sys.argv[1:]``).
        check: validates the merged settings (raises :class:`hw1.lab.cli.UsageError` for a bad combination) and
            returns the estimates of the run's largest allocations (:class:`hw1.lab.cli.Need`), which are compared
            with the memory available, or ``--max-memory``, before TensorFlow is imported.

    Returns:
        The :class:`Run`. TensorFlow is imported (quietly) and its ops are deterministic. The run holds the
        folder's lock (:class:`FolderLock`) until it finishes.

    Raises:
        hw1.lab.cli.UsageError: bad arguments, settings that would not fit in memory, an output folder that cannot be written or cleaned safely
            (:func:`check_folder`), or another live run writing to the same folder.
    """
    args = parser.parse_args(argv)
    settings = cli.settings(profiles, args)
    needs = check(settings) if check is not None else None
    cli.check_memory(needs or [], args.max_memory)  # a run that cannot fit stops here, before TensorFlow loads
    folder = cli.output_dir(args.out, name)
    check_folder(folder, fresh=args.fresh)  # what would block writing is found before any training
    lock = FolderLock(folder)
    cli.quiet_tensorflow()
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()  # same seed, same numbers
    return Run(name, args, settings, folder, lock)
