#!/usr/bin/env bash
# Build the one-folder distribution (dist/SPGPresenceConsole/) with PyInstaller and self-test it.
#
#   scripts/build_exe.sh                      CPU build from .venv (requirements-dev.txt)
#   SPG_BUNDLE_PACK=/path/to/pack scripts/build_exe.sh    also bake a model pack into the build
#   SPG_BUILD_VENV=.venv-gpu scripts/build_exe.sh         build from another venv (e.g. made with requirements-gpu.txt)
#   SPG_SELFTEST_PACK=/path/to/pack                        pack the self-test after the build uses (default: none =
#                                                          the configured engine: an installed pack, else dlib)
# Environment: SPG_DIST_DIR (default dist), SPG_WORK_DIR (default build), SPG_DIST_NAME (default SPGPresenceConsole).
# Build on the OS you ship for: PyInstaller does not cross-compile (use build_exe.ps1 on Windows).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${SPG_BUILD_VENV:-.venv}
PY=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
if [ "${SPG_SKIP_INSTALL:-0}" != "1" ]; then
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -r requirements-dev.txt
fi
DIST=${SPG_DIST_DIR:-dist}
WORK=${SPG_WORK_DIR:-build}
NAME=${SPG_DIST_NAME:-SPGPresenceConsole}
start=$(date +%s)
"$VENV/bin/python" -m PyInstaller --noconfirm --distpath "$DIST" --workpath "$WORK" build.spec
echo "built $DIST/$NAME in $(( $(date +%s) - start )) s, $(du -sh "$DIST/$NAME" | cut -f1)"
# verify the build the way support verifies an install
selftest=("$DIST/$NAME/$NAME" --selftest)
if [ -n "${SPG_SELFTEST_PACK:-}" ]; then selftest+=(--pack "$SPG_SELFTEST_PACK"); fi
tmp_data=$(mktemp -d)
trap 'rm -rf "$tmp_data"' EXIT
QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-offscreen} SPG_DATA_DIR="$tmp_data" "${selftest[@]}"
echo "hand over the whole folder $DIST/$NAME (zip it): see README, 'Packaging for outlet PCs'"
