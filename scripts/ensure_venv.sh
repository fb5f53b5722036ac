# Sourced by run_all.sh and run_tests.sh: create or reuse ./.venv with requirements.txt and hw1 itself
# (editable) installed. Re-installs only when requirements.txt or pyproject.toml changed since the last
# install. Set PYTHON to choose the interpreter.
set -euo pipefail
python_bin="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "[setup] creating .venv with $($python_bin --version 2>&1)" >&2
    "$python_bin" -m venv .venv
fi
wanted="$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ "$(cat .venv/.requirements.sha256 2>/dev/null || true)" != "$wanted" ]; then
    echo "[setup] installing requirements.txt and hw1 into .venv (about a minute)" >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e . >&2
    echo "$wanted" > .venv/.requirements.sha256
fi
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
