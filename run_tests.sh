#!/usr/bin/env bash
# Set up .venv (created or reused) and run the test suite on 2 workers. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/ensure_venv.sh
exec .venv/bin/python -m pytest -n 2 "$@"
