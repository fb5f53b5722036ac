"""Put the repository root on ``sys.path`` so ``python experiments/<name>.py`` works from anywhere."""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parent.parent)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
