#!/usr/bin/env bash
# Install everything into .venv (if needed), run the static checks (scripts/lint.sh: ruff, mypy, import-linter;
# any failure stops the run), then the test suite. README's second command; .ci/run calls it.
# Extra arguments go to pytest, e.g. scripts/test.sh -k presence
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements-dev.txt
bash scripts/lint.sh
export QT_QPA_PLATFORM=offscreen
exec .venv/bin/python -m pytest "$@"
