"""The reader of one finished run (:class:`ResultsFolder`): that the folder holds one run of one version, by the
digests outcome.json recorded, the types hw1 writes to settings.json and outcome.json, and the experiment's
declared schema (:mod:`hw1.results.schema`). Part of :mod:`hw1.results` (which re-exports the names).
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from hw1.results.files import ResultsError, file_digest, inside, read_json, read_regular
from hw1.results.schema import Csv

__all__ = ["ResultsFolder", "NUMERIC_COLUMNS"]

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
        declared = (("settings.json", meta["settings"], settings), ("outcome.json", outcome, outcome_keys))
        for file, data, keys in declared:
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
