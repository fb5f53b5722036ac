"""One view per experiment: its figures and its report section, written once.

A view module ``hw1/report/views/<experiment>.py`` defines ``VIEW = View(...)``:

- ``plots(run)``: the experiment's figures as :class:`Plot` objects: file name, title and
  caption (written once: the PNG shows the caption, the report prints the same one) and
  the function that draws it from the run's CSVs;
- ``tasks``: the report section(s) it answers (:class:`Task`: key, title, question, the
  settings tables, the findings and a one-paragraph conclusion).

The experiment script, its view and its test are all an experiment needs: the report,
``python -m hw1.report.plots`` and ``run_all.sh`` find it by itself. Views read a finished run
through :class:`hw1.results.ResultsFolder` and never import TensorFlow.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

from hw1.report.document import Note, Table
from hw1.results import ResultsError, ResultsFolder, safe_name

if TYPE_CHECKING:
    from matplotlib.figure import Figure as MplFigure


@dataclass(frozen=True)
class Plot:
    """One figure: where it goes, what it is called, its caption, and how to draw it.

    ``draw(fig)`` fills a fresh matplotlib figure of ``size`` inches (axes, legends); the
    caption is added under it by :func:`hw1.report.plots.render`, with the same text the report prints.
    """

    file: str
    title: str
    caption: str
    draw: Callable[["MplFigure"], None]
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
        conclusion: ``(one short paragraph in plain words, file of the figure that answers it)``.
        figures: the files of this task's plots, in order; empty: every plot of the view.
    """

    key: str
    title: str
    question: str
    describe: Callable[[ResultsFolder], list[Table]]
    comment: Callable[[ResultsFolder], list[Note | Table]]
    conclusion: Callable[[ResultsFolder], tuple[str, str | None]]
    figures: Sequence[str] = ()


@dataclass(frozen=True)
class View:
    """An experiment's figures and report sections. ``position``: its place in the assignment's order."""

    experiment: str
    position: int
    plots: Callable[[ResultsFolder], list[Plot]]
    tasks: tuple[Task, ...]

    def task_plots(self, task: Task, run: ResultsFolder) -> list[Plot]:
        plots = self.plots(run)
        if not task.figures:
            return plots
        by_file = {p.file: p for p in plots}
        return [by_file[f] for f in task.figures if f in by_file]


def views() -> list[View]:
    """Every view under ``hw1/report/views``, in the assignment's order."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("part"):
            view = importlib.import_module(f"{__name__}.{info.name}").VIEW
            if view.experiment != info.name:
                raise RuntimeError(f"hw1/report/views/{info.name}.py describes {view.experiment!r}; name it after it")
            found.append(view)
    return sorted(found, key=lambda v: v.position)


def view(experiment: str) -> View:
    """The view of one experiment (only its own module is imported)."""
    if importlib.util.find_spec(f"{__name__}.{experiment}") is None or not experiment.startswith("part"):
        raise KeyError(f"no view for experiment {experiment!r}; add hw1/report/views/{experiment}.py")
    return importlib.import_module(f"{__name__}.{experiment}").VIEW
