"""What a dataset is, and the checks every loaded dataset passes before hw1 uses it.

:class:`Dataset` holds a train/test split as numpy arrays; :func:`as_dataset` turns four arrays
from any source into one, or raises :class:`DataError` with one line naming the array (and its
file) and what is accepted. :mod:`hw1.lab.data` re-exports all three; this module imports only numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


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


MIN_IMAGE_SIDE = 4  # the CNN halves height and width twice; smaller images cannot pass through it
_LAYOUTS = {1: "(n, h, w) or (n, h, w, 1)", 3: "(n, h, w, 3) (channels last)"}


def as_dataset(name: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
                channels: int, classes: int, source: str, origins: dict[str, str] | None = None) -> Dataset:
    """Validate and convert four arrays into a :class:`Dataset` (float32 images in [0, 1], int32 labels).

    Args:
        origins: where each of ``x_train, y_train, x_test, y_test`` came from (a file, an .npz member), for
            the messages; ``source`` by default.

    Raises:
        DataError: one line naming the array (and its file) and what is accepted, when an array is not
            numeric, is empty, has the wrong layout, holds NaN/inf (also after conversion to float32) or
            pixels outside [0, 255], when train and test images differ in shape, or when labels are not
            integers in 0..classes-1, one per image.
    """
    origins = origins or {}

    def where(which: str) -> str:
        return f"{origins.get(which, source)} ({which})"

    def numeric(a: object, which: str) -> np.ndarray:
        a = np.asarray(a)
        if a.dtype.kind not in "iuf":
            raise DataError(f"{where(which)}: holds values of dtype {a.dtype}; accepted: integer or floating-point "
                            "numbers")
        if a.size == 0:
            raise DataError(f"{where(which)}: is empty (shape {a.shape}); accepted: at least one sample")
        return a

    def images(x: object, which: str) -> np.ndarray:
        x = numeric(x, which)
        if x.ndim == 3 and channels == 1:
            x = x[..., None]
        if x.ndim != 4 or x.shape[-1] != channels:
            raise DataError(f"{where(which)}: images of shape {x.shape}; accepted: {_LAYOUTS[channels]}")
        if min(x.shape[1:3]) < MIN_IMAGE_SIDE:
            raise DataError(f"{where(which)}: images of {x.shape[1]}x{x.shape[2]} pixels; accepted: at least "
                            f"{MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE}")
        _check_finite(x, where(which), "pixel")
        low, high = x.min(), x.max()
        if low < 0 or high > 255:
            raise DataError(f"{where(which)}: pixel values from {low.item()!r} to {high.item()!r}; accepted: "
                            "pixels in [0, 1] or [0, 255]")
        scale = 255.0 if x.dtype == np.uint8 or high > 1.0 else 1.0
        return (x / scale).astype(np.float32)

    def labels(y: object, n: int, which: str) -> np.ndarray:
        y = numeric(y, which)
        if not (y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1)):
            raise DataError(f"{where(which)}: labels of shape {y.shape}; accepted: class indices of shape (n,) "
                            "or (n, 1), not one-hot")
        y = y.reshape(-1)
        if len(y) != n:
            raise DataError(f"{where(which)}: {len(y)} labels for {n} images; accepted: one label per image")
        _check_finite(y, where(which), "label")
        fractional = np.flatnonzero(y != np.round(y)) if y.dtype.kind == "f" else np.array([], int)
        if len(fractional):
            i = int(fractional[0])
            raise DataError(f"{where(which)}: label {y[i].item()!r} at index {i} is not a whole number; accepted: "
                            f"integer class indices 0..{classes - 1}")
        outside = np.flatnonzero((y < 0) | (y > classes - 1))
        if len(outside):
            i = int(outside[0])
            raise DataError(f"{where(which)}: label {y[i].item()!r} at index {i} is not a class index; accepted: "
                            f"0..{classes - 1} ({len(outside)} of {len(y)} labels are outside)")
        return y.astype(np.int32)

    xt, xs = images(x_train, "x_train"), images(x_test, "x_test")
    if xt.shape[1:] != xs.shape[1:]:
        raise DataError(f"{where('x_test')}: test images of shape {xs.shape[1:]} but training images of shape "
                        f"{xt.shape[1:]}; accepted: the same shape for both")
    return Dataset(name, xt, labels(y_train, len(xt), "y_train"), xs, labels(y_test, len(xs), "y_test"),
                   classes, source=source)


def _check_finite(a: np.ndarray, where: str, what: str) -> None:
    """Refuse NaN and inf, and values that become inf in float32 (e.g. 1e300)."""
    if a.dtype.kind != "f":
        return
    with np.errstate(over="ignore"):
        bad = ~np.isfinite(a.astype(np.float32))
    if bad.any():
        i = int(np.flatnonzero(bad.reshape(-1))[0])
        index = np.unravel_index(i, a.shape)
        at = f"sample {index[0]}" if a.ndim > 1 else f"index {index[0]}"
        raise DataError(f"{where}: {int(bad.sum())} {what} value(s) are NaN, infinite or beyond float32 (first: "
                        f"{a.reshape(-1)[i].item()!r} at {at}); accepted: finite numbers")


def check_batch_sizes(batch_sizes: int | Sequence[int], n_train: int, flag: str = "--batch-size") -> list[int]:
    """Check batch sizes against the training-set size; return them as a list of ints.

    Raises:
        DataError: a batch size is not a positive integer, or is larger than ``n_train`` (it would silently
            become full batch); the message names the value and the dataset size.
    """
    sizes = [batch_sizes] if isinstance(batch_sizes, (int, np.integer, str, float)) else list(batch_sizes)
    for size in sizes:
        if isinstance(size, (bool, np.bool_)) or not isinstance(size, (int, np.integer)) or size < 1:
            raise DataError(f"{flag} {size!r} is not accepted; accepted: whole numbers from 1 to {n_train}")
        if size > n_train:
            raise DataError(f"{flag} {int(size)} is larger than the training set ({n_train} samples); accepted: "
                            f"1 to {n_train}")
    return [int(size) for size in sizes]
