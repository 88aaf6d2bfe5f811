#!/usr/bin/env bash
# Install SEM Depth Studio with its developer tools into .venv and run every check:
# ruff (lint + format), mypy on core/, the import-linter contract, then pytest (the
# cluster extra too: the Ray engine's tests start a real local Ray with 2 workers).
# Usage: bash scripts/test.sh [extra pytest args]
# The slow tests (-m slow, about 40 s more) run with RUN_SLOW=1, and in CI (CI=true): the
# whole suite stays far under CI's 15-minute budget.
set -euo pipefail
cd "$(dirname "$0")/.."
export QT_QPA_PLATFORM=offscreen PYTHONUNBUFFERED=1
[ -x .venv/bin/python ] || python3 -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install -q --disable-pip-version-check torch==2.13.0 -e '.[dev,fast,cluster]'
echo "== ruff";        ruff check . && ruff format --check .
echo "== mypy core/";  mypy
echo "== import-linter"; lint-imports
echo "== pytest"
if [ "${RUN_SLOW:-0}" = "1" ] || [ "${CI:-}" = "true" ]; then
  python -m pytest -m "slow or not slow" "$@"
else
  python -m pytest "$@"
fi
