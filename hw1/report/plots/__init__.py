"""Figures, drawn from the CSVs (and settings.json) of a results folder alone.

Nothing here imports TensorFlow, and importing it changes no global state: figures are
``matplotlib.figure.Figure`` objects (no pyplot, no backend switch), drawn inside
``matplotlib.rc_context(STYLE)``. Every figure can be regenerated from stored results with
``python -m hw1.report.plots [DIR]``. What each experiment draws is in its view (:mod:`hw1.report.views`, which
imports this module; this module never imports the views): here are the one figure style, :func:`render`,
and the drawing helpers views share.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from hw1.results import atomic_path, inside

if TYPE_CHECKING:
    from hw1.report.views import Plot

STYLE = {"figure.dpi": 110, "savefig.dpi": 130, "axes.grid": True, "grid.alpha": 0.3,
         "axes.spines.top": False, "axes.spines.right": False, "legend.fontsize": 8.5, "axes.titlesize": 11.5,
         "axes.labelsize": 10, "xtick.labelsize": 9, "ytick.labelsize": 9, "legend.framealpha": 0.85}
CAPTION_FONT = 8.0
TRAIN_STYLE = {"linestyle": "-"}
TEST_STYLE = {"linestyle": "--"}


def render(plot: Plot, folder: str | Path) -> Path:
    """Draw ``plot`` with the house style, put its caption under it, save it atomically as PNG."""
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=plot.size)
        plot.draw(fig)
        width = int(plot.size[0] * 15.5)  # characters per caption line at CAPTION_FONT
        wrapped = textwrap.fill(plot.caption, width)
        lines = wrapped.count("\n") + 1
        fig.text(0.5, 0.01, wrapped, ha="center", va="bottom", fontsize=CAPTION_FONT, color="0.3")
        bottom = (0.1 + 0.16 * lines) / plot.size[1]
        fig.tight_layout(rect=(0, bottom, 1, 1))
        path = inside(folder, plot.file)  # a name from the data cannot lead out of the folder
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    return path


# ---------------------------------------------------------------- helpers the views share

def lines(ax: Axes, frame: pd.DataFrame, x: str, y: str, by: str, labels: dict | None = None,
          order: Iterable | None = None, colors: dict | None = None, **style) -> dict:
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


def mean_band(ax: Axes, frame: pd.DataFrame, x: str, y: str, color: str, label: str | None = None,
              seed: str = "seed", log: bool = False, **style) -> None:
    """The mean of ``y`` over seeds against ``x`` as a line, each seed's value as a dot (the spread,
    drawn so that it cannot hide another series). With ``log``, the mean is geometric."""
    values = frame[[x, y, seed]].dropna()
    if values.empty:
        return
    grouped = values.groupby(x)[y]
    center = grouped.apply(lambda v: float(np.exp(np.log(v).mean())) if log else float(v.mean()))
    ax.plot(center.index, center.to_numpy(), color=color, label=label, marker="o", ms=3.5, **style)
    ax.scatter(values[x], values[y], s=9, color=color, alpha=0.45, linewidths=0)


def twin(ax: Axes, color: str, label: str) -> Axes:
    """A second y axis on the right, coloured like the series it carries."""
    other = ax.twinx()
    other.set_ylabel(label, color=color)
    other.tick_params(axis="y", colors=color)
    other.spines["right"].set_visible(True)
    other.spines["right"].set_color(color)
    other.grid(False)
    return other


def legend_under(ax: Axes, *args: object, ncol: int = 2, below: float = 0.14, **style: object) -> None:
    """The axes' legend under them, outside the data, without a frame; ``tight_layout`` (in :func:`render`)
    makes room for it above the caption. ``args`` are passed on (e.g. handles and labels)."""
    ax.legend(*args, loc="upper center", bbox_to_anchor=(0.5, -below), ncol=ncol, frameon=False, **style)
