"""``python -m hw1 measure MODEL.keras --data NAME_OR_DIR [--measures ...] [--json OUT]``.

Loads a saved Keras model (``model.save("m.keras")``) and a data set, prints a table of hw1's
measurements of the full-data mean loss (see :mod:`hw1.measure`) and writes them as JSON.

Data: one of hw1's loaders (``mnist_bundled``, ``mnist``, ``fashion_mnist``, ``cifar10``), a
folder with MNIST-format IDX files (or an ``.npz`` of ``x_train, y_train, x_test, y_test``), or an
``.npz`` file holding ``x`` and ``y``. Every mistake is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from hw1.lab.cli import (DATASETS, Need, UsageError, _Parser, bounded_float, check_memory, memory_size, nonnegative_int,
                     positive_int)
from hw1.results import atomic_path

__all__ = ["MEASURES", "main", "measure"]

MEASURES = ("loss", "accuracy", "gradient_norm", "top_eigenvalue", "trace", "sharpness")
DEFAULT_MEASURES = ("loss", "accuracy", "top_eigenvalue", "trace")
UNITS = {"loss": "nats (CE) or squared units (MSE)", "accuracy": "fraction", "gradient_norm": "loss/θ",
         "top_eigenvalue": "loss/θ²", "trace": "loss/θ²", "sharpness": "% of 1 + L"}


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m hw1 measure", description=__doc__.strip().splitlines()[0])
    p.add_argument("model", help="a saved Keras model (.keras)")
    p.add_argument("--data", required=True, help=f"{', '.join(DATASETS)}, a folder of IDX files, or an .npz of x, y")
    p.add_argument("--split", choices=("train", "test"), default="train", help="for hw1's data sets (default: train)")
    p.add_argument("--limit", type=nonnegative_int, default=0, help="use only the first N samples (0: all)")
    p.add_argument("--measures", nargs="+", default=list(DEFAULT_MEASURES),
                   help=f"some of {', '.join(MEASURES)} (default: {' '.join(DEFAULT_MEASURES)})")
    p.add_argument("--curvature", choices=("hessian", "ggn", "fisher"), default="hessian",
                   help="the matrix of top_eigenvalue and trace (default: hessian)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="compute in (default: float32)")
    p.add_argument("--probes", type=positive_int, default=100, help="products for the Hutch++ trace (default: 100)")
    p.add_argument("--rtol", type=bounded_float(0.0, 0.5), default=1e-3, help="λmax tolerance (default: 1e-3)")
    p.add_argument("--json", default=None, help="write the values here as JSON")
    p.add_argument("--max-memory", dest="max_memory", type=memory_size, default=None, metavar="SIZE",
                   help="refuse a measurement whose estimated peak allocation is larger than SIZE, e.g. 4G "
                        "(default: the memory available now, MemAvailable)")
    return p


def load_data(text: str, split: str, limit: int) -> tuple[Any, Any]:
    """``(x, y)`` of a data-set name, an IDX/npz folder or an .npz file of x and y."""
    import numpy as np

    from hw1.lab import data

    path = Path(text)
    if text in DATASETS or path.is_dir():
        try:
            dataset = data.load(text) if text in DATASETS else data.load("mnist", data_dir=str(path))
        except data.DataError as error:
            raise UsageError(f"--data {text}: {str(error).splitlines()[0]}") from None
        x, y = (dataset.x_train, dataset.y_train) if split == "train" else (dataset.x_test, dataset.y_test)
    elif path.suffix == ".npz" and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as saved:
                missing = [k for k in ("x", "y") if k not in saved.files]
                if missing:
                    raise UsageError(f"--data {text} has arrays {saved.files}; it needs 'x' and 'y'")
                x, y = saved["x"], saved["y"]
        except (OSError, ValueError) as error:
            raise UsageError(f"--data {text} is not a readable .npz ({str(error).splitlines()[0]})") from None
    else:
        raise UsageError(f"--data {text!r} is neither a data set ({', '.join(DATASETS)}), a folder, nor an .npz file")
    return (x[:limit], y[:limit]) if limit else (x, y)


def load_model(text: str) -> Any:
    path = Path(text)
    if not path.is_file():
        raise UsageError(f"model {text!r} does not exist")
    if path.suffix not in (".keras", ".h5"):
        raise UsageError(f"model {text!r} is not a .keras (or .h5) file; save it with model.save('model.keras')")
    import keras
    try:
        return keras.models.load_model(path, compile=True)
    except Exception as error:  # a broken or foreign file: one line
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        raise UsageError(f"model {text!r} cannot be loaded ({lines[0] if lines else type(error).__name__})") from None


def trace_need(params: int, probes: int, dtype: str) -> Need:
    """Hutch++'s sketch: ``probes // 3`` products of ``params`` numbers, held as columns, stacked and factored (QR)."""
    sketch = max(int(probes), 4) // 3
    return Need(f"--probes {probes}", f"the Hutch++ sketch of {sketch:,} vectors of {params:,} parameters",
                3 * sketch * params * (8 if dtype == "float64" else 4))


def measure(model: Any, data: tuple[Any, Any], measures: Sequence[str], *, curvature: str = "hessian",
            dtype: str = "float32", probes: int = 100, rtol: float = 1e-3) -> dict[str, float]:
    """The chosen measures of ``model`` on ``data`` (units in :data:`UNITS`), via hw1's public functions."""
    import numpy as np

    import hw1

    values: dict[str, float] = {}
    if {"loss", "accuracy"} & set(measures):
        evaluated = hw1.evaluate(model, data, dtype=dtype)
        values.update({k: v for k, v in evaluated.items() if k in measures})
    if {"gradient_norm", "top_eigenvalue", "trace"} & set(measures):
        c = hw1.curvature(model, data, curvature=curvature, dtype=dtype)
        if "gradient_norm" in measures:
            values["gradient_norm"] = float(np.linalg.norm(c.value_and_gradient()[1]))
        if "top_eigenvalue" in measures:
            values["top_eigenvalue"] = float(c.eigenvalues(1, rtol=rtol)[0])
        if "trace" in measures:
            values["trace"] = float(c.trace(max(int(probes), 4)).trace)
    if "sharpness" in measures:
        values["sharpness"] = float(hw1.sharpness(model, data, dtype=dtype))
    return {name: values[name] for name in measures if name in values}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] != "measure":
        print(f"python -m hw1: error: command {argv[0] if argv else ''!r} unknown; usage: python -m hw1 measure "
              "MODEL.keras --data NAME_OR_DIR [--measures ...] [--json OUT]", file=sys.stderr)
        return 2
    args = _parser().parse_args(argv[1:])
    try:
        measures = tuple(dict.fromkeys(m.strip() for text in args.measures for m in text.split(",") if m.strip()))
        unknown = [m for m in measures if m not in MEASURES]
        if unknown or not measures:
            raise UsageError(f"--measures {' '.join(args.measures)!r}: unknown {unknown or 'none given'}; choose "
                             f"from {', '.join(MEASURES)}")
        if args.json is not None and Path(args.json).is_dir():
            raise UsageError(f"--json {args.json!r} is a folder; give a file name")
        model = load_model(args.model)
        check_memory([trace_need(model.count_params(), args.probes, args.dtype) if "trace" in measures else None],
                     args.max_memory)  # before the data are read or any product is computed
        data = load_data(args.data, args.split, args.limit)
        start = time.perf_counter()
        try:
            values = measure(model, data, measures, curvature=args.curvature, dtype=args.dtype, probes=args.probes,
                             rtol=args.rtol)
        except (ValueError, TypeError) as error:  # hw1 refuses the model or the data: its one line
            raise UsageError(str(error).splitlines()[0]) from None
        seconds = time.perf_counter() - start
    except UsageError as error:
        print(f"python -m hw1 measure: error: {error}", file=sys.stderr)
        return 2
    print(f"{'measure':16s} {'value':>14s}  unit")
    for name, value in values.items():
        print(f"{name:16s} {value:14.6g}  {UNITS[name]}")
    print(f"({len(data[0])} samples of {args.data}, {args.split}; {seconds:.1f} s)")
    if args.json is not None:
        record = {"model": str(args.model), "data": args.data, "split": args.split, "samples": int(len(data[0])),
                  "curvature": args.curvature, "dtype": args.dtype, "seconds": round(seconds, 3),
                  "values": {k: (v if math.isfinite(v) else None) for k, v in values.items()}}
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps(record, indent=2) + "\n")
        print("wrote", args.json)
    return 0
