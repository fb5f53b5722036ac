"""``python -m hw1.report [DIR]``: rebuild REPORT.md and report.html from a results folder (:mod:`hw1.report.build`)."""

from __future__ import annotations

from hw1.report.build import main

if __name__ == "__main__":
    raise SystemExit(main())
