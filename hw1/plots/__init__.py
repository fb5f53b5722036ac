"""Figures, drawn from the CSVs (and settings.json) of a results folder alone.

Nothing here imports TensorFlow: every figure can be regenerated from stored
results with ``python -m hw1.plots [DIR]``.

Each ``hw1/plots/partN.py`` module defines ``FIGURES = {experiment: draw}``
where ``draw(folder) -> list[Path]`` reads ``folder/*.csv`` and writes PNGs
into ``folder``. The helpers below are the figure kinds they share.
"""

from __future__ import annotations

import importlib
import pkgutil
import textwrap
from pathlib import Path
from typing import Callable, Iterable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from hw1.results import atomic_path, read_json  # noqa: E402

Draw = Callable[[Path], list[Path]]
TRAIN_STYLE = {"linestyle": "-"}
TEST_STYLE = {"linestyle": "--"}

plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 130, "axes.grid": True, "grid.alpha": 0.3,
                     "axes.spines.top": False, "axes.spines.right": False, "legend.fontsize": 8,
                     "axes.titlesize": 11, "figure.autolayout": False})


def registry() -> dict[str, Draw]:
    """``{experiment name: draw function}`` gathered from every ``hw1.plots.part*`` module."""
    figures: dict[str, Draw] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("part"):
            figures.update(importlib.import_module(f"{__name__}.{info.name}").FIGURES)
    return figures


def draw(experiment: str, folder: str | Path) -> list[Path]:
    """Draw every figure of one experiment from the CSVs in ``folder``."""
    return registry()[experiment](Path(folder))


def draw_all(root: str | Path) -> dict[str, list[Path]]:
    """Draw the figures of every experiment folder found under ``root``."""
    root = Path(root)
    drawn = {}
    for experiment, fn in sorted(registry().items()):
        folder = root / experiment
        if (folder / "settings.json").exists():
            drawn[experiment] = fn(folder)
    return drawn


def save(fig: plt.Figure, path: Path) -> Path:
    """Lay out (leaving room for a caption), save as PNG atomically, and close."""
    lines_of_caption = getattr(fig, "_hw1_caption_lines", 0)
    bottom = (0.08 + 0.15 * lines_of_caption) / fig.get_figheight() if lines_of_caption else 0
    fig.tight_layout(rect=(0, bottom, 1, 1))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def settings(folder: Path) -> dict:
    """The ``settings`` block of an experiment's settings.json."""
    return read_json(folder / "settings.json")["settings"]


def caption(fig: plt.Figure, text: str) -> None:
    """A small caption under the axes: the settings a reader needs to interpret the figure."""
    width = int(fig.get_figwidth() * 17)  # characters per line at this font size
    wrapped = textwrap.fill(text, width)
    fig.text(0.5, 0.01, wrapped, ha="center", va="bottom", fontsize=7.5, color="0.3")
    fig._hw1_caption_lines = wrapped.count("\n") + 1


def lines(ax: plt.Axes, frame: pd.DataFrame, x: str, y: str, by: str, labels: dict[str, str] | None = None,
          order: Iterable[str] | None = None, colors: dict[str, str] | None = None, **style) -> dict[str, str]:
    """One line of ``y`` against ``x`` per value of column ``by``; returns the colour used per group."""
    used = {}
    groups = list(order) if order is not None else list(dict.fromkeys(frame[by]))
    for i, key in enumerate(groups):
        part = frame[frame[by] == key]
        if part.empty:
            continue
        color = (colors or {}).get(key, f"C{i % 10}")
        ax.plot(part[x], part[y], color=color, label=(labels or {}).get(key, str(key)), **style)
        used[key] = color
    return used
