"""Results I/O: tidy CSVs and JSON, written atomically, and the reader of a results folder.

Every experiment writes into ``<out>/<experiment>/``:

- ``settings.json``: what was asked: every setting, the seed, the profile, versions, machine;
- one or more tidy CSVs (one row per observation, one named column per variable; the
  vocabulary is in README "Results files");
- ``outcome.json``: what came out (wall time, peak memory, summary numbers) and the
  fingerprint of every CSV written. It is written LAST: a folder without it holds an
  unfinished run, and one whose CSVs do not match it mixes two runs;
- its figures (PNG), drawn from the CSVs by :mod:`hw1.plots`.

Files are written to a temporary name in the same folder and renamed, so a killed run
leaves either the old file or the new one, never half a file. This module imports
neither TensorFlow nor matplotlib.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator, Sequence

import pandas as pd



@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    Example:
        >>> with atomic_path("out/a.png") as tmp:   # doctest: +SKIP
        ...     fig.savefig(tmp, format="png")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are ordinary readable files
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
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
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
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


def read_json(path: str | os.PathLike) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


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

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class ResultsError(Exception):
    """A results folder that cannot be read as one finished run; reported as one line."""


class ResultsFolder:
    """One experiment's results: ``settings.json``, ``outcome.json`` and the CSVs beside them.

    Opening checks that the folder holds ONE finished run: ``outcome.json`` exists (the run
    finished) and every CSV it lists has the digest it recorded (no file of another run).
    CSVs are read once, on first use, and checked: no duplicated rows, the columns asked for.

    Example:
        >>> run = ResultsFolder("results/part2_gradient_norm")    # doctest: +SKIP
        >>> run.csv("history.csv", ["step", "train_loss"])       # doctest: +SKIP
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.experiment = self.folder.name
        self.meta = _read_json_or_fail(self.folder / "settings.json")
        if not isinstance(self.meta.get("settings"), dict):
            raise ResultsError(f"{self.folder / 'settings.json'} has no 'settings' block; not written by hw1")
        self.settings: dict[str, Any] = self.meta["settings"]
        outcome_path = self.folder / "outcome.json"
        if not outcome_path.is_file():
            raise ResultsError(f"{self.folder} holds an unfinished run (no outcome.json); run "
                               f"experiments/{self.experiment}.py again to finish it")
        self.outcome = _read_json_or_fail(outcome_path)
        files = self.outcome.get("files")
        if not isinstance(files, dict):
            raise ResultsError(f"{outcome_path} lists no files; not written by hw1")
        if self.outcome.get("settings_digest") != file_digest(self.folder / "settings.json"):
            raise ResultsError(f"{self.folder}: settings.json is not the one this run's outcome.json was written "
                               "with (files of two runs); run the experiment again")
        for name, digest in files.items():
            path = self.folder / name
            if not path.is_file():
                raise ResultsError(f"{path} is missing; run the experiment again")
            if file_digest(path) != digest:
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
        """The table ``name`` (read once); ``columns`` that must be present."""
        if name not in self._tables:
            path = self.folder / name
            try:
                frame = pd.read_csv(path)
            except (OSError, ValueError, pd.errors.ParserError) as err:
                raise ResultsError(f"{path} cannot be read as a CSV ({type(err).__name__}: "
                                   f"{str(err).splitlines()[0] if str(err) else ''})") from None
            if frame.empty:
                raise ResultsError(f"{path} has no rows")
            self._tables[name] = frame
        frame = self._tables[name]
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ResultsError(f"{self.folder / name} lacks the columns {missing}; has {list(frame.columns)}")
        return frame


def _read_json_or_fail(path: Path) -> dict[str, Any]:
    try:
        data = read_json(path)
    except FileNotFoundError:
        raise ResultsError(f"{path} does not exist") from None
    except (OSError, ValueError) as err:
        raise ResultsError(f"{path} is not valid JSON ({type(err).__name__})") from None
    if not isinstance(data, dict):
        raise ResultsError(f"{path} does not hold a JSON object")
    return data
