"""``python -m hw1 measure MODEL.keras --data NAME_OR_DIR``: hw1's measurements of a saved Keras model."""

from __future__ import annotations

import sys

from hw1.lab.cli_measure import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
