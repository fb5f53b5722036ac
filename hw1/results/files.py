"""The files of a results folder, one at a time: tidy CSVs and JSON written atomically, read back with limits,
fingerprinted; names checked before they become paths. Part of :mod:`hw1.results` (which re-exports the names).

Files are written to a temporary name in the same folder and renamed, so a killed run
leaves either the old file or the new one, never half a file. This module imports
neither TensorFlow nor matplotlib.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import Any, Iterator, Sequence

import pandas as pd

__all__ = ["ResultsError", "DiskFullError", "atomic_path", "write_text", "write_csv", "read_csv", "write_json",
           "read_json", "read_regular", "file_digest", "safe_name", "inside", "check_grid", "stale_temporary",
           "MAX_GRID_CELLS"]

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
