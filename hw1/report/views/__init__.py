"""One view per experiment: its figures and its report section, written once.

A view module ``hw1/report/views/<experiment>.py`` defines ``VIEW = View(...)``:

- ``plots(run)``: the experiment's figures as :class:`Plot` objects: file name, title and
  caption (written once: the PNG shows the caption, the report prints the same one) and
  the function that draws it from the run's CSVs;
- ``tasks``: the report section(s) it answers (:class:`Task`: key, title, question, the
  settings tables, the findings and a one-paragraph conclusion that returns the :class:`Plot` it cites).

The experiment script, its view and its test (and its tables' entry in :mod:`hw1.results.schema`) are all an
experiment needs: the report, ``python -m hw1.report.plots`` and ``run_all.sh`` find it by itself. Views read a
finished run through :meth:`View.open` (a :class:`hw1.results.ResultsFolder` checked against the schema) and never
import TensorFlow; :func:`draw` renders a view's figures with :mod:`hw1.report.plots`, which never imports a view.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from hw1.report.document import Note, Table
from hw1.results import Csv, ResultsError, ResultsFolder, safe_name, schema
from hw1.results.schema import tables

if TYPE_CHECKING:
    from matplotlib.figure import Figure as MplFigure


@dataclass(frozen=True)
class Plot:
    """One figure: where it goes, what it is called, its caption, and how to draw it.

    ``draw(fig)`` fills a fresh matplotlib figure of ``size`` inches (axes, legends); the
    caption is added under it by :func:`hw1.report.plots.render`, with the same text the report prints.
    A conclusion cites the figure by returning the Plot itself; two Plots are the same figure when all but
    ``draw`` (a closure, rebuilt each time) are equal.
    """

    file: str
    title: str
    caption: str
    draw: Callable[["MplFigure"], None] = field(compare=False)
    size: tuple[float, float] = (7.0, 4.6)

    def __post_init__(self) -> None:
        # a file name built from a name in the data (a function, a plane, a pair) must stay in the folder
        if not safe_name(self.file, "the figure file").endswith(".png"):
            raise ResultsError(f"the figure file {self.file!r} does not end in .png; not written by hw1")


@dataclass(frozen=True)
class Task:
    """One section of the report: a question of the assignment and how the run answers it.

    Attributes:
        key, title, question: as the assignment numbers and asks it (``"1-2b"``, ...).
        describe: settings tables of the run.
        comment: the findings (notes, and tables of the numbers they cite).
        conclusion: ``(one short paragraph in plain words, the figure that answers it or None)``; the figure
            is one of the task's plots.
        figures: this task's plots, in order; None: every plot of the view.
    """

    key: str
    title: str
    question: str
    describe: Callable[[ResultsFolder], list[Table]]
    comment: Callable[[ResultsFolder], list[Note | Table]]
    conclusion: Callable[[ResultsFolder], tuple[str, Plot | None]]
    figures: Callable[[ResultsFolder], list[Plot]] | None = None


@dataclass(frozen=True)
class View:
    """An experiment's figures and report sections. ``position``: its place in the assignment's order."""

    experiment: str
    position: int
    plots: Callable[[ResultsFolder], list[Plot]]
    tasks: tuple[Task, ...]

    @property
    def tables(self) -> dict[str, Csv]:
        """The CSVs of the experiment, as declared in :mod:`hw1.results.schema`."""
        return tables(self.experiment)

    def open(self, folder: str | os.PathLike) -> ResultsFolder:
        """The finished run in ``folder``: the settings and outcome it needs checked now, its CSVs against the
        experiment's schema when read."""
        return ResultsFolder(folder, self.tables, schema.SETTINGS.get(self.experiment, ()),
                             schema.OUTCOME.get(self.experiment, ()))

    def task_plots(self, task: Task, run: ResultsFolder) -> list[Plot]:
        return (task.figures or self.plots)(run)


def views() -> list[View]:
    """Every view under ``hw1/report/views``, in the assignment's order."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("part"):  # (common, minimizers: shared modules, not views)
            view = importlib.import_module(f"{__name__}.{info.name}").VIEW
            if view.experiment != info.name:
                raise RuntimeError(f"hw1/report/views/{info.name}.py describes {view.experiment!r}; name it after it")
            found.append(view)
    return sorted(found, key=lambda v: v.position)


def draw(experiment: str, folder: str | os.PathLike) -> list[Path]:
    """Draw every figure of one experiment from the finished run in ``folder``."""
    from hw1.report.plots import render  # matplotlib, only to draw

    v = view(experiment)
    return [render(p, folder) for p in v.plots(v.open(folder))]


def draw_all(root: str | os.PathLike) -> tuple[dict[str, list[Path]], dict[str, str]]:
    """Draw the figures of every experiment found under ``root``, each on its own.

    Returns:
        ``(drawn, skipped)``: the figure paths per experiment, and one reason per experiment
        whose folder exists but could not be drawn (unfinished, mixed or damaged files, or files that do not
        have the schema hw1 writes).

    Raises:
        hw1.results.DiskFullError: the device is full (drawing the others could not succeed either).
    """
    root = Path(root)
    drawn, skipped = {}, {}
    for v in views():
        folder = root / v.experiment
        if not folder.is_dir():
            continue
        try:
            drawn[v.experiment] = draw(v.experiment, folder)
        except ResultsError as err:  # unfinished, mixed, damaged or not hw1's files; a bug of a view is raised
            skipped[v.experiment] = str(err)
    return drawn, skipped


def view(experiment: str) -> View:
    """The view of one experiment (only its own module is imported)."""
    if importlib.util.find_spec(f"{__name__}.{experiment}") is None or not experiment.startswith("part"):
        raise KeyError(f"no view for experiment {experiment!r}; add hw1/report/views/{experiment}.py")
    return importlib.import_module(f"{__name__}.{experiment}").VIEW
