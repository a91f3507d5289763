#!/usr/bin/env bash
# The checks CI runs before the tests (scripts/test.sh calls this); each one fails the run.
#   ruff        lint rules in pyproject.toml [tool.ruff]
#   mypy        types of core/, workers/, cli/ ([tool.mypy])
#   lint-imports  the layering contracts of docs/ARCHITECTURE.md ([tool.importlinter])
# Run it alone with: bash scripts/lint.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
echo "== ruff" >&2
"$BIN/ruff" check .
echo "== mypy" >&2
"$BIN/mypy"
echo "== import-linter" >&2
"$BIN/lint-imports"
