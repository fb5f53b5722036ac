"""Regenerate every figure from the CSVs of a results folder: ``python -m hw1.report.plots [DIR]``.

Each experiment is drawn on its own: a folder that cannot be drawn (unfinished run, files of
two runs, damaged CSV) is reported in one line and the others are still drawn. Exit status:
0 when every experiment found was drawn, 1 when some could not be (or the disk is full), 2 when none
could.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from hw1.report.views import draw_all
from hw1.results import DiskFullError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hw1.report.plots", description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", default="results", help="results folder (default: results)")
    args = parser.parse_args(argv)
    try:
        drawn, skipped = draw_all(args.dir)
    except DiskFullError as err:
        print(f"hw1.report.plots: error: {err}", file=sys.stderr)
        return 1
    for experiment, paths in drawn.items():
        print(f"{experiment}: {len(paths)} figure(s)")
        for path in paths:
            print(f"  {path}")
    for experiment, reason in skipped.items():
        print(f"hw1.report.plots: {experiment} not drawn: {reason}", file=sys.stderr)
    if not drawn:
        if not skipped:
            print(f"hw1.report.plots: error: no experiment results found under {args.dir!r}", file=sys.stderr)
        return 2
    return 1 if skipped else 0


if __name__ == "__main__":
    raise SystemExit(main())
