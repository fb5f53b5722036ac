"""Regenerate every figure from the CSVs of a results folder: ``python -m hw1.plots [DIR]``."""

import sys

from hw1.plots import draw_all


def main() -> None:
    root = sys.argv[1] if len(sys.argv) > 1 else "results"
    drawn = draw_all(root)
    if not drawn:
        print(f"no experiment results (settings.json) found under {root!r}", file=sys.stderr)
        raise SystemExit(2)
    for experiment, paths in drawn.items():
        print(f"{experiment}: {len(paths)} figure(s)")
        for path in paths:
            print(f"  {path}")


if __name__ == "__main__":
    main()
