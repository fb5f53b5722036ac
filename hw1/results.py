"""Results I/O: tidy CSVs and JSON, written atomically, and the reader of a results folder.

Every experiment writes into ``<out>/<experiment>/``:

- ``settings.json``: what was asked: every setting, the seed, the profile, versions, machine;
- one or more tidy CSVs (one row per observation, one named column per variable; the
  vocabulary is in README "Results files");
- ``outcome.json``: what came out (wall time, peak memory, summary numbers) and the
  fingerprint of every CSV written. It is written LAST: a folder without it holds an
  unfinished run, and one whose CSVs do not match it mixes two runs;
- its figures (PNG), drawn from the CSVs by :mod:`hw1.report.plots`.

Files are written to a temporary name in the same folder and renamed, so a killed run
leaves either the old file or the new one, never half a file. This module imports
neither TensorFlow nor matplotlib.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import math
import os
import re
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["ResultsError", "DiskFullError", "ResultsFolder", "atomic_path", "write_text", "write_csv", "read_csv",
           "write_json", "read_json", "file_digest", "safe_name", "inside", "check_grid", "stale_temporary",
           "MAX_GRID_CELLS", "Csv"]

MAX_GRID_CELLS = 4_000_000  # a pivot of more cells than this (30 MiB of floats) is not a grid hw1 wrote
SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,150}")
_TEMPORARY = re.compile(r"\.(?P<name>.+)\.(?P<pid>\d+)\.[a-z0-9_]+\.tmp")


class ResultsError(Exception):
    """A results folder that cannot be read as one finished run; reported as one line."""


class DiskFullError(Exception):
    """A write that failed for lack of space (ENOSPC, EDQUOT); reported as one line naming the folder."""


def safe_name(name: object, what: str = "a file name", where: object = "") -> str:
    """``name`` if it can be a file name inside a results folder (ASCII letters, digits, ``_ . -``; no path
    separator, no ``..``, not starting with a dot), else :class:`ResultsError`.

    Every path hw1 builds from a name found in data (a function, a plane, a pair) goes through this.

    Args:
        name: the name read from the files.
        what: what it names, for the message.
        where: the folder or file it was read from, for the message.

    Returns:
        ``name``, unchanged.
    """
    if not (isinstance(name, str) and SAFE_NAME.fullmatch(name) and ".." not in name):
        text = repr(name) if len(repr(name)) <= 80 else repr(name)[:77] + "..."
        raise ResultsError(f"{str(where) + ': ' if where else ''}{what} {text} is not a safe file name (accepted: "
                           "ASCII letters, digits, _ . - and no '..'); not written by hw1")
    return name


def inside(folder: str | os.PathLike, name: str) -> Path:
    """``folder / name`` after checking that ``name`` is a :func:`safe_name` and that the path resolves inside
    ``folder`` (no symlink leads out of it); else :class:`ResultsError`."""
    folder = Path(folder)
    path = folder / safe_name(name, where=folder)
    if path.is_symlink() or path.resolve().parent != folder.resolve():
        raise ResultsError(f"{path} is a symbolic link or leads outside {folder}; not written by hw1")
    return path


def check_grid(frame: pd.DataFrame, index: str | Sequence[str], columns: str, where: object,
               complete: bool = False) -> None:
    """Refuse a pivot of ``frame`` (``index`` × ``columns``) that would allocate more cells than a grid hw1
    writes (:data:`MAX_GRID_CELLS`), or, with ``complete``, than ``frame`` has rows: checked BEFORE pivoting.

    Raises:
        ResultsError: one line naming ``where``, the counts of distinct values and the cells they need.
    """
    keys = [index] if isinstance(index, str) else list(index)
    rows = int(frame[keys].drop_duplicates().shape[0]) if len(keys) > 1 else int(frame[keys[0]].nunique())
    cols = int(frame[columns].nunique())
    cells = rows * cols
    if cells > MAX_GRID_CELLS or (complete and cells != len(frame)):
        raise ResultsError(f"{where}: {rows:,} distinct {'/'.join(keys)} by {cols:,} distinct {columns} make "
                           f"{cells:,} cells ({cells * 8 / 2**30:.3g} GiB) for {len(frame):,} rows; accepted: "
                           f"{'a complete grid, one row per cell' if complete else 'a grid'} of at most "
                           f"{MAX_GRID_CELLS:,} cells")


def stale_temporary(path: Path) -> bool:
    """Whether ``path`` is a temporary file of :func:`atomic_path` whose writer is no longer running (or one of
    an older naming): safe to remove. A live writer's temporary files are never stale."""
    match = _TEMPORARY.fullmatch(path.name)
    if match is None:
        return path.name.endswith(".tmp")
    pid = int(match["pid"])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False
    return False


def _no_space(err: OSError) -> bool:
    return err.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def _disk_full(path: Path, needed: int | None) -> DiskFullError:
    free = ""
    with contextlib.suppress(OSError):
        st = os.statvfs(path.parent)
        free = f", {st.f_bavail * st.f_frsize / 2**20:,.1f} MiB free"
    need = f"; about {needed / 2**20:,.2f} MiB needed for it" if needed else ""
    return DiskFullError(f"no space left on the device of {path.parent} while writing {path.name}{need}{free}; "
                         "free some space and run again (the folder keeps its finished files or says it is "
                         "unfinished)")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, needed: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The temporary name ``.<name>.<pid>.<random>.tmp`` carries the writer's process id, so that a run that
    starts removes only what a dead writer left (:func:`stale_temporary`), never a live writer's file.
    Renaming replaces a symbolic link at ``path`` itself, never the file it points to.

    Args:
        path: the file to write.
        needed: its size in bytes where known, for the message of a full disk.

    Raises:
        DiskFullError: the device is full (ENOSPC/EDQUOT); ``path`` is left as it was.

    Example:
        >>> with atomic_path("out/a.png") as tmp:   # doctest: +SKIP
        ...     fig.savefig(tmp, format="png")
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are ordinary readable files
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        if isinstance(err, OSError) and _no_space(err):
            raise _disk_full(path, needed) from None
        raise


def _umask() -> int:
    """The process umask, read without changing it where Linux allows."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)  # elsewhere: read it by setting it, and put it back at once
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    data = text.encode("utf-8")
    with atomic_path(path, needed=len(data)) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_csv(path: str | os.PathLike, frame: pd.DataFrame) -> Path:
    """Write a tidy table atomically (no index column; floats with full precision)."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.9g")
    return Path(path)


def read_csv(path: str | os.PathLike) -> pd.DataFrame:
    """Read a CSV written by :func:`write_csv`."""
    return pd.read_csv(path)


def write_json(path: str | os.PathLike, data: dict[str, Any]) -> Path:
    """Write ``data`` as indented JSON atomically; NaN and ±inf become null (JSON has no such numbers)."""
    text = json.dumps(_finite(data), indent=2, sort_keys=True, default=_json_default, allow_nan=False)
    return write_text(path, text + "\n")


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float (numpy's included) replaced by None, containers walked."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy scalars and arrays
        return _finite(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def read_json(path: str | os.PathLike, limit: int = 64 * 2**20) -> dict[str, Any]:
    """The JSON in ``path``, read only from a regular file of at most ``limit`` bytes (a FIFO or device is
    refused with :class:`OSError`, not waited on)."""
    return json.loads(read_regular(path, limit).decode("utf-8"))


def read_regular(path: str | os.PathLike, limit: int | None = None) -> bytes:
    """The bytes of ``path`` if it is a regular file (of at most ``limit`` bytes); else :class:`OSError`.

    Opened without blocking, so a FIFO is refused instead of waited on."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        if limit is not None and st.st_size > limit:
            raise OSError(errno.EFBIG, f"{st.st_size:,} bytes, more than {limit:,}", str(path))
        return fh.read() if limit is None else fh.read(limit + 1)


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (hex), to tie a CSV to the run that wrote it."""
    import hashlib

    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------- the schema of settings.json and outcome.json

NUMERIC_COLUMNS = ("train_loss", "train_acc", "test_loss", "test_acc", "grad_norm", "seed", "run", "epoch", "step",
                   "alpha", "beta", "batch_size", "learning_rate", "params")  # README "Results files"


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _schema_errors(meta: Mapping[str, Any], outcome: Mapping[str, Any]) -> list[str]:
    """What in settings.json (``meta``) and outcome.json does not have the type hw1 writes; empty if all do."""
    bad: list[str] = []
    for key in ("experiment", "profile"):
        if not isinstance(meta.get(key), str):
            bad.append(f"settings.json '{key}' is {meta.get(key)!r}, not text")
    if not _is_count(meta.get("seed")):
        bad.append(f"settings.json 'seed' is {meta.get('seed')!r}, not a non-negative integer")
    if not isinstance(meta.get("settings"), dict):
        bad.append(f"settings.json 'settings' is a {type(meta.get('settings')).__name__}, not an object")
    versions = meta.get("versions")
    if not (isinstance(versions, dict) and all(isinstance(v, str) for v in versions.values())):
        bad.append("settings.json 'versions' is not an object of texts")
    machine = meta.get("machine")
    plain = lambda v: v is None or isinstance(v, str) or _is_count(v) or (  # noqa: E731
        isinstance(v, list) and all(isinstance(x, str) for x in v))
    if not (isinstance(machine, dict) and all(plain(v) for v in machine.values())):
        bad.append("settings.json 'machine' is not an object of texts, counts and lists of texts")
    data = meta["settings"].get("dataset") if isinstance(meta.get("settings"), dict) else None
    if data is not None:
        if not (isinstance(data, dict) and isinstance(data.get("name"), str) and _is_count(data.get("train_size"))
                and _is_count(data.get("test_size"))):
            bad.append("settings.json 'settings.dataset' lacks a text 'name' and counts 'train_size', 'test_size'")
        elif not (isinstance(shape := data.get("input_shape", []), list) and all(_is_count(d) for d in shape)
                  and (data.get("num_classes") is None or _is_count(data.get("num_classes")))):
            bad.append("settings.json 'settings.dataset' has an 'input_shape' or 'num_classes' that are not counts")
    for key in ("seconds", "peak_memory_mb"):
        if not (_is_number(outcome.get(key)) and outcome.get(key) >= 0):
            bad.append(f"outcome.json '{key}' is {outcome.get(key)!r}, not a non-negative number")
    files = outcome.get("files")
    if not (isinstance(files, dict) and all(isinstance(v, str) for v in files.values())):
        bad.append("outcome.json 'files' is not an object of file names and digests")
    if not isinstance(outcome.get("settings_digest"), str):
        bad.append("outcome.json 'settings_digest' is not text")
    return bad


@dataclass(frozen=True)
class Csv:
    """The declared columns of one CSV an experiment writes (the declarations are in :mod:`hw1.report.views.schema`).

    Attributes:
        name: its file name in the experiment's folder.
        columns: every column, in the order written.
        text: the columns that hold text; ``flags``: those that hold True/False; every other one holds numbers
            (empty where not measured, e.g. for a diverged run).
    """

    name: str
    columns: tuple[str, ...]
    text: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = sorted({*self.text, *self.flags} - set(self.columns))
        if len(set(self.columns)) != len(self.columns) or unknown or set(self.text) & set(self.flags):
            raise ValueError(f"{self.name}: a column is declared twice, or a text/flag column {unknown} is not one")

    def select(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame``'s declared columns in the declared order, for writing; a missing one is a bug of the script."""
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise ValueError(f"{self.name}: the table to write lacks the declared columns {missing}")
        return frame[list(self.columns)]

    def check(self, frame: pd.DataFrame, path: Path) -> None:
        """:class:`ResultsError` if ``frame`` (read from ``path``) does not have this schema (another version of
        the experiment, or files hw1 did not write): a column missing, numbers or flags that are not."""
        for c in (c for c in self.columns if c in frame.columns and c not in self.text):
            values = frame[c].dropna()
            if c in self.flags and not all(isinstance(v, (bool, np.bool_)) for v in values):
                raise ResultsError(f"{path}: the column {c!r} holds values that are not True/False; not written "
                                   "by hw1")
            if c not in self.flags and not pd.api.types.is_numeric_dtype(values):
                raise ResultsError(f"{path}: the column {c!r} holds values that are not numbers; not written by hw1")
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise ResultsError(f"{path} lacks the columns {missing}; has {list(frame.columns)}")


class ResultsFolder:
    """One experiment's results: ``settings.json``, ``outcome.json`` and the CSVs beside them.

    Opening checks that the folder holds ONE finished run: ``outcome.json`` exists (the run
    finished) and every CSV it lists has the digest it recorded (no file of another run); and, given the
    experiment's schema (:meth:`hw1.report.views.View.open`), that ``settings`` and ``outcome_keys`` (dotted keys
    of the "settings" block and of outcome.json) are there: a folder of another version is a
    :class:`ResultsError`. A key the schema does not declare is read as a plain
    dict's, so a view's own typo is a ``KeyError``, never "files from another version". CSVs are read once,
    on first use, and checked against their :class:`Csv` (else for the ``columns`` asked for).

    Example:
        >>> run = ResultsFolder("results/part2_gradient_norm")    # doctest: +SKIP
        >>> run.csv("history.csv", ["step", "train_loss"])       # doctest: +SKIP
    """

    def __init__(self, folder: str | os.PathLike, tables: Mapping[str, Csv] | None = None,
                 settings: Sequence[str] = (), outcome_keys: Sequence[str] = ()) -> None:
        self.folder = Path(folder)
        self.tables = dict(tables) if tables is not None else None
        self.experiment = self.folder.name
        meta = _read_json_or_fail(self.folder / "settings.json")
        if not isinstance(meta.get("settings"), dict):
            raise ResultsError(f"{self.folder / 'settings.json'} has no 'settings' block; not written by hw1")
        outcome_path = self.folder / "outcome.json"
        if not outcome_path.is_file():
            raise ResultsError(f"{self.folder} holds an unfinished run (no outcome.json); run "
                               f"experiments/{self.experiment}.py again to finish it")
        outcome = _read_json_or_fail(outcome_path)
        files = outcome.get("files")
        if not isinstance(files, dict):
            raise ResultsError(f"{outcome_path} lists no files; not written by hw1")
        bad = _schema_errors(meta, outcome)
        if bad:
            raise ResultsError(f"{self.folder}: {bad[0]}{f' (and {len(bad) - 1} more)' if len(bad) > 1 else ''}; "
                               "not written by hw1")
        for file, data, keys in (("settings.json", meta["settings"], settings), ("outcome.json", outcome, outcome_keys)):
            lacking = next((k for k in keys if not _has(data, k)), None)
            if lacking is not None:
                raise ResultsError(f"{self.folder / file} has no {'settings.' * (file == 'settings.json') + lacking!r} "
                                   f"(files from another version of {self.experiment}? running it again rewrites them)")
        self.meta: dict[str, Any] = meta
        self.settings: dict[str, Any] = meta["settings"]
        self.outcome: dict[str, Any] = outcome
        if outcome.get("settings_digest") != _digest_or_fail(self.folder / "settings.json"):
            raise ResultsError(f"{self.folder}: settings.json is not the one this run's outcome.json was written "
                               "with (files of two runs); run the experiment again")
        for name, digest in files.items():
            path = inside(self.folder, name)
            if not path.is_file():
                raise ResultsError(f"{path} is missing; run the experiment again")
            if _digest_or_fail(path) != digest:
                raise ResultsError(f"{path} was changed after the run wrote it (or comes from another run); "
                                   "run the experiment again")
        self._tables: dict[str, pd.DataFrame] = {}

    @property
    def seed(self) -> int:
        return int(self.meta.get("seed", 0))

    @property
    def profile(self) -> str:
        return str(self.meta.get("profile"))

    def csv(self, name: str, columns: Sequence[str] = ()) -> pd.DataFrame:
        """The table ``name`` (read once), checked against its declared schema (:class:`Csv`) when the folder
        was opened with ``tables``, else for ``columns`` that must be present. A name the schema does not declare
        is a bug of the caller (``KeyError``), not a damaged folder."""
        if self.tables is not None and name not in self.tables:
            raise KeyError(f"{name} is not a table of {self.experiment} (declared: {sorted(self.tables)})")
        if name not in self._tables:
            path = inside(self.folder, name)
            try:
                frame = pd.read_csv(io.BytesIO(read_regular(path)))
            except (OSError, ValueError, pd.errors.ParserError) as err:
                raise ResultsError(f"{path} cannot be read as a CSV ({type(err).__name__}: "
                                   f"{str(err).splitlines()[0] if str(err) else ''})") from None
            if frame.empty:
                raise ResultsError(f"{path} has no rows")
            text = [c for c in NUMERIC_COLUMNS if c in frame.columns and not pd.api.types.is_numeric_dtype(frame[c])]
            if text:
                raise ResultsError(f"{path}: the column {text[0]!r} holds values that are not numbers; not written "
                                   "by hw1")
            if self.tables is not None:
                self.tables[name].check(frame, self.folder / name)
            self._tables[name] = frame
        frame = self._tables[name]
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ResultsError(f"{self.folder / name} lacks the columns {missing}; has {list(frame.columns)}")
        return frame


def _has(data: Mapping[str, Any], key: str) -> bool:
    """Whether ``data`` has ``key``, a dotted path (``depth_family.widths``) through nested objects."""
    for part in key.split("."):
        if not isinstance(data, Mapping) or part not in data:
            return False
        data = data[part]
    return True


def _read_json_or_fail(path: Path) -> dict[str, Any]:
    try:
        data = read_json(path)
    except FileNotFoundError:
        raise ResultsError(f"{path} does not exist") from None
    except OSError as err:
        raise ResultsError(f"{path} cannot be read ({err.strerror or type(err).__name__}); not written by hw1") \
            from None
    except ValueError as err:
        raise ResultsError(f"{path} is not valid JSON ({type(err).__name__})") from None
    if not isinstance(data, dict):
        raise ResultsError(f"{path} does not hold a JSON object")
    return data


def _digest_or_fail(path: Path) -> str:
    try:
        return file_digest(path)
    except OSError as err:
        raise ResultsError(f"{path} cannot be read ({err.strerror or type(err).__name__}); not written by hw1") \
            from None
