#!/usr/bin/env bash
# Install SEM Depth Studio into .venv and run the main job: the desktop app with the
# bundled default model and sample images, or, without a display, the same prediction
# headless (writes depth TIFF/CSV/PNG for the samples into ./semdepth-output). Run again,
# the headless run resumes: complete outputs are kept (nothing predicted twice) and the
# same summary.csv is rewritten; a changed model or settings is refused (exit 2) and names
# --overwrite.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install -q --disable-pip-version-check torch==2.13.0 -e '.[fast]'
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] || [ "$(uname)" = "Darwin" ]; then
  exec semdepth-gui --samples "$@"
else
  echo "No display found: running the headless equivalent (semdepth predict on the samples)."
  exec semdepth predict --samples --out semdepth-output --format tiff,csv,png --resume "$@"
fi
