"""What the reference ("usual way") implementations in ``benchmarks/reference_part*.py`` share.

A protocol is split into jobs (one model's training, one sweep, one measurement), each made
of units of equal cost (an epoch, an α point, a step). :class:`Jobs` runs every job for at
least one unit and, within its share of the time budget, more; the units left are
extrapolated from the measured ones (the first unit, which pays for tracing, is not used
to extrapolate when later ones exist), and the note says what was extrapolated.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

Unit = Callable[[], bool | None]  # one unit of work; returns True when the protocol's stopping rule fires


class Jobs:
    """Runs jobs of equal-cost units within a shared budget and extrapolates what it did not run."""

    def __init__(self, budget: float, jobs: int) -> None:
        self.deadline, self.jobs_left = time.perf_counter() + budget, jobs
        self.estimated = self.measured = 0.0
        self.notes: list[str] = []

    def run(self, name: str, total: int, unit: Unit, setup: Callable[[], None] = lambda: None,
            left: Callable[[int], int] | None = None) -> None:
        """Run ``setup`` then up to ``total`` units of job ``name`` within its budget share.

        At least two units run (when there are two), so that the extrapolation uses a unit that did not
        pay for tracing. ``left(done)`` estimates the units still needed when a stopping rule has not
        fired yet (default: all ``total``).
        """
        share = max(0.0, self.deadline - time.perf_counter()) / self.jobs_left
        self.jobs_left -= 1
        start = time.perf_counter()
        setup()
        times, stopped = [], False
        while len(times) < total and not stopped:
            if len(times) >= 2 and time.perf_counter() - start + np.mean(times[1:]) > share:
                break
            t = time.perf_counter()
            stopped = bool(unit())
            times.append(time.perf_counter() - t)
        spent = time.perf_counter() - start
        steady = float(np.mean(times[1:])) if len(times) > 1 else times[0]
        remaining = 0 if stopped or len(times) == total else (left or (lambda done: total - done))(len(times))
        self.measured += spent
        self.estimated += spent + remaining * steady
        if remaining:
            self.notes.append(f"{name}: ran {len(times)} of {len(times) + remaining} units")

    def result(self, what: str) -> dict[str, object]:
        note = what + ("; extrapolated: " + "; ".join(self.notes) if self.notes else "; ran in full")
        return {"seconds": round(self.estimated, 2), "measured_seconds": round(self.measured, 2),
                "fraction": round(self.measured / self.estimated, 4) if self.estimated else 1.0, "note": note}
