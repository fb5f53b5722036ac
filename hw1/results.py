"""Results I/O: tidy CSVs, settings.json, progress lines, all written atomically.

Every experiment writes into ``<out>/<experiment>/``:

- one or more tidy CSVs (one row per observation, one named column per variable),
- ``settings.json``: every setting used, the seed, the profile and package versions,
- its figures (PNG), drawn from the CSVs by :mod:`hw1.plots`.

Files are written to a temporary name in the same folder and renamed, so a
killed run leaves either the old file or the new one, never half a file.
This module does not import TensorFlow.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

_UMASK = os.umask(0)
os.umask(_UMASK)
PACKAGES = ("tensorflow-cpu", "tensorflow", "keras", "numpy", "pandas", "matplotlib", "scikit-learn", "mlxtend")


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
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are ordinary readable files
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


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
    """Write ``data`` as indented JSON atomically."""
    return write_text(path, json.dumps(data, indent=2, sort_keys=True, default=_json_default) + "\n")


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


def write_settings(folder: str | os.PathLike, experiment: str, profile: str, seed: int,
                   settings: dict[str, Any], **extra: Any) -> Path:
    """Write ``settings.json``: every setting used, the seed, versions and machine."""
    data = {"experiment": experiment, "profile": profile, "seed": seed, "settings": settings,
            "versions": package_versions(), "machine": machine(), **extra}
    return write_json(Path(folder) / "settings.json", data)


def finish(folder: Path, experiment: str, args: Any, settings: dict[str, Any], progress: "Progress",
           cache: "RunCache", **extra: Any) -> list[Path]:
    """End an experiment whose CSVs are written: settings.json (with wall time and peak memory),
    the figures drawn from the CSVs, and the resume cache forgotten. Returns the figure paths."""
    from hw1 import plots

    write_settings(folder, experiment, args.profile, args.seed, settings, **extra,
                   seconds=round(progress.elapsed, 1), peak_memory_mb=round(peak_memory_mb()))
    figures = plots.draw(experiment, folder)
    cache.clear()
    return figures


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux: ru_maxrss is KiB)."""
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Progress:
    """Prints ``[experiment] message (elapsed)`` lines to stderr so long work is visible."""

    def __init__(self, experiment: str, quiet: bool = False) -> None:
        self.experiment = experiment
        self.quiet = quiet
        self.start = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(f"[{self.experiment} {self.elapsed:7.1f}s] {message}", file=sys.stderr, flush=True)


class RunCache:
    """Finished conditions of an experiment, kept so that a killed run resumes where it stopped.

    Each finished condition (a model, a batch of runs) is one ``.npz`` file under
    ``folder/.cache/<fingerprint>/``, written atomically; the fingerprint hashes the
    settings, profile and seed, so a run with other settings never reads it. The cache
    is removed when the experiment finishes (:meth:`clear`), and by ``--fresh``.

    Example:
        >>> cache = RunCache(folder, {"epochs": 3}, fresh=False)       # doctest: +SKIP
        >>> found = cache.get("bs_64")                                 # doctest: +SKIP
        >>> if found is None: cache.put("bs_64", {"history": frame}, {"weights_0": w0})  # doctest: +SKIP
    """

    def __init__(self, folder: str | os.PathLike, fingerprint: dict[str, Any], fresh: bool = False) -> None:
        import hashlib
        import shutil

        root = Path(folder) / ".cache"
        if fresh and root.exists():
            shutil.rmtree(root)
        digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=_json_default).encode()).hexdigest()
        self.root = root
        self.folder = root / digest[:16]

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.npz"

    def get(self, key: str) -> tuple[dict[str, pd.DataFrame], dict[str, Any]] | None:
        """The tables and arrays stored for ``key``, or None if that condition has not finished."""
        import io

        import numpy as np

        path = self._path(key)
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as z:
            tables = {k[6:]: pd.read_csv(io.StringIO(str(z[k]))) for k in z.files if k.startswith("table:")}
            arrays = {k[6:]: z[k] for k in z.files if k.startswith("array:")}
        return tables, arrays

    def put(self, key: str, tables: dict[str, pd.DataFrame], arrays: dict[str, Any] | None = None) -> None:
        """Store a finished condition atomically."""
        import numpy as np

        payload = {f"table:{k}": np.array(v.to_csv(index=False, float_format="%.9g")) for k, v in tables.items()}
        payload.update({f"array:{k}": np.asarray(v) for k, v in (arrays or {}).items()})
        with atomic_path(self._path(key)) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **payload)

    def fetch(self, key: str, compute: Any) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
        """The stored result for ``key``, computing and storing it first if needed.

        ``compute()`` returns ``(tables, arrays)``. The result is always read back from the
        file, so a resumed run and an uninterrupted one see the same (rounded) numbers.
        """
        if self.get(key) is None:
            self.put(key, *compute())
        found = self.get(key)
        assert found is not None
        return found

    def clear(self) -> None:
        """Forget every cached condition (called once the experiment's outputs are written)."""
        import shutil

        shutil.rmtree(self.root, ignore_errors=True)
