"""What the reference ("usual way") implementations in ``benchmarks/reference_part*.py`` share.

A protocol is split into jobs (one model's training, one sweep, one measurement), each made
of units of equal cost (an epoch, an α point, a step). :class:`Jobs` runs every job for at
least one unit and, within its share of the time budget, more; the units left are
extrapolated from the measured ones (the first unit, which pays for tracing, is not used
to extrapolate when later ones exist), and the note says what was extrapolated.

Every reference is ``fn(settings, budget_seconds, folder) -> dict``: ``settings`` is the
"settings" block of the experiment's settings.json, ``folder`` the folder of hw1's run of it
(for protocols of data-dependent length, the reference replays the length hw1's run had, read
from its CSVs, so that both do the same work).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

Unit = Callable[[], bool | None]  # one unit of work; returns True when the protocol's stopping rule fires


class Jobs:
    """Runs jobs of equal-cost units within a shared budget and extrapolates what it did not run."""

    def __init__(self, budget: float, jobs: int) -> None:
        self.deadline, self.jobs_left = time.perf_counter() + budget, jobs
        self.estimated = self.measured = 0.0
        self.notes: list[str] = []
        self.units_run = self.units_total = self.jobs_cut = self.jobs_run = 0

    def run(self, name: str, total: int, unit: Unit, setup: Callable[[], None] = lambda: None,
            left: Callable[[int], int] | None = None, min_units: int = 2) -> float:
        """Run ``setup`` then up to ``total`` units of job ``name`` within its budget share.

        At least ``min_units`` units run (when there are that many; default two, so that the
        extrapolation uses a unit that did not pay for tracing). ``left(done)`` estimates the units still
        needed when a stopping rule has not fired yet (default: all ``total``). A job of no units is skipped.

        Returns:
            The job's estimated seconds (measured + extrapolated).
        """
        share = max(0.0, self.deadline - time.perf_counter()) / max(1, self.jobs_left)
        self.jobs_left -= 1
        if total <= 0:
            return 0.0
        start = time.perf_counter()
        setup()
        times, stopped = [], False
        while len(times) < total and not stopped:
            if len(times) >= max(2, min_units) and time.perf_counter() - start + np.mean(times[1:]) > share:
                break
            t = time.perf_counter()
            stopped = bool(unit())
            times.append(time.perf_counter() - t)
        spent = time.perf_counter() - start
        steady = float(np.mean(times[1:])) if len(times) > 1 else times[0]
        remaining = 0 if stopped or len(times) == total else (left or (lambda done: total - done))(len(times))
        self.measured += spent
        self.estimated += spent + remaining * steady
        self.jobs_run += 1
        self.units_run += len(times)
        self.units_total += len(times) + remaining
        if remaining:
            self.jobs_cut += 1
            self.notes.append(f"{name}: ran {len(times)} of {len(times) + remaining} units")
        return spent + remaining * steady

    def result(self, what: str) -> dict[str, object]:
        if not self.notes:
            note = what + "; ran in full"
        elif len(self.notes) <= 6:
            note = what + "; extrapolated: " + "; ".join(self.notes)
        else:
            note = (f"{what}; extrapolated {self.jobs_cut} of {self.jobs_run} jobs (ran {self.units_run:,} of "
                    f"{self.units_total:,} units), e.g. " + "; ".join(self.notes[:3]))
        return {"seconds": round(self.estimated, 2), "measured_seconds": round(self.measured, 2),
                "fraction": round(self.measured / self.estimated, 4) if self.estimated else 1.0, "note": note}


def read_csv(folder: Path | None, name: str) -> pd.DataFrame:
    """``folder/name`` of hw1's run, which a reference needs to replay a data-dependent length."""
    path = Path(folder or ".") / name
    if not path.exists():
        raise FileNotFoundError(f"{path}: the reference replays the length of hw1's run from this file; run the "
                                "experiment first (or point --hw1-results at a finished run)")
    return pd.read_csv(path)


def sensitivity_models(settings: dict, folder: Path | None) -> pd.DataFrame:
    """part3_sensitivity's trained models as hw1's run took them: one row per distinct (batch_size,
    learning_rate, seed) of models.csv (the condition both sweeps share is trained once), with ``epochs``
    and ``steps`` as run, ``per_epoch`` (optimizer steps per epoch), ``every`` (epochs between the
    full-set checks of the loss target: every epoch, or every ``check_steps`` steps when an epoch is
    shorter) and ``checks`` (how many checks the training made), in the experiment's order."""
    table = read_csv(folder, "models.csv").drop_duplicates(["batch_size", "learning_rate", "seed"])
    n_train = settings["dataset"]["train_size"]
    per_epoch = -(-n_train // table["batch_size"])
    every = np.maximum(1, -(-settings["check_steps"] // per_epoch))
    table = table.assign(per_epoch=per_epoch, every=every, checks=-(-table["epochs"] // every))
    wrong = table[table["steps"] != table["epochs"] * table["per_epoch"]]
    if len(wrong):
        raise ValueError(f"{folder}/models.csv: steps ≠ epochs × steps per epoch in {len(wrong)} rows; the protocol "
                         "(batches of the training set, every batch a step) is not the one this replays")
    return table.reset_index(drop=True)
