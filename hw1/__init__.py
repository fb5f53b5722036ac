"""hw1: the deep-learning "Homework 1" experiments, and their measurements for any Keras model.

The measurements work on your own model (trained with ``model.fit``, compiled or not) and
your data (``(x, y)`` arrays or a ``tf.data.Dataset``); see :mod:`hw1.measure`:

- :func:`evaluate`, :func:`gradient_norm`: full-data mean loss (and accuracy), ‖∇L‖;
- :func:`hessian_eigenvalues` (Lanczos, top-k), :func:`hessian_trace` (Hutchinson),
  :func:`hessian_density` (stochastic Lanczos quadrature) with :func:`plot_density`,
  :func:`exact_hessian` and :func:`minimal_ratio` (small models);
- :func:`curvature`: a reusable :class:`Curvature` operator (Hessian, Gauss–Newton or Fisher, whole
  or a block of layers) with eigenvalues and eigenvectors, Hutch++ trace and density, traced once;
  :class:`CurvatureCallback` logs its measures during ``model.fit``;
- :func:`sensitivity` (‖∂p/∂x‖_F), :func:`sharpness` (Keskar ε-sharpness),
  :func:`interpolate` (loss along θa → θb), :func:`loss_surface` (1-D / 2-D, filter-normalized).

Example:
    >>> import hw1                                             # doctest: +SKIP
    >>> model.fit(x_train, y_train, epochs=5)                  # doctest: +SKIP
    >>> hw1.hessian_eigenvalues(model, (x_train, y_train), k=2)  # doctest: +SKIP
    >>> hw1.sensitivity(model, x_test)                         # doctest: +SKIP

Importing ``hw1`` (or ``hw1.results``, ``hw1.report.plots``) does not import TensorFlow: the
measurement functions load it on first use (PEP 562).
"""

from __future__ import annotations

import importlib
from typing import Any

from hw1.measure import __all__  # noqa: F401  (the public names; hw1.measure loads each one's module on first use)


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("hw1.measure"), name)
    raise AttributeError(f"module 'hw1' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
