"""hw1.measure: the measurements for any Keras model (the public library; see :mod:`hw1`).

Importing this package imports nothing else (PEP 562): a public name loads its module, and with it
TensorFlow, on first use. Nothing here imports the lab (:mod:`hw1.lab`) or the report (:mod:`hw1.report`).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["evaluate", "gradient_norm", "hessian_eigenvalues", "hessian_trace", "hessian_density", "exact_hessian",
           "minimal_ratio", "sensitivity", "sharpness", "interpolate", "loss_surface", "plot_density",
           "TraceEstimate", "SpectralDensity", "curvature", "Curvature", "CurvatureCallback"]

_HOMES = {"curvature": "hw1.measure.operator", "Curvature": "hw1.measure.operator",
          "CurvatureCallback": "hw1.measure.callback", **dict.fromkeys(
              ("sensitivity", "sharpness", "interpolate", "loss_surface"), "hw1.measure.generalization")}


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module(_HOMES.get(name, "hw1.measure.api")), name)
    raise AttributeError(f"module 'hw1.measure' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
