#!/usr/bin/env bash
# One-command setup for SlicerRadTriage on Debian/Ubuntu with Python 3.11:
#   system libraries for headless Slicer/VTK (EGL/Mesa), a virtual environment at .venv/,
#   the core package with every extra and the test tools, at the exact versions of constraints/ci.txt
#   (Slicer 5.12.3's own versions for every package it ships), and - when a Python 3.12 is found - a replica of
#   Slicer 5.12.3's Python at .venv-slicer-5.12/ (exactly its bundled packages; tests/test_slicer_replica.py).
# Usage: ./setup.sh            (re-running is safe; it only adds what is missing)
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

# EGL/Mesa and X client libraries for headless VTK/Slicer; PostgreSQL server binaries for the team-store tests.
APT_PACKAGES=(libegl1 libegl-mesa0 libgl1-mesa-dri libgl1 libglu1-mesa libxrender1 libxt6 libgomp1 postgresql chromium fonts-liberation orthanc orthanc-dicomweb)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "[setup] installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch first: constraints/ci.txt holds it at 2.13.0, the CPU wheel on this project's machines (a bare "torch"
# would pull a CUDA build).
.venv/bin/python -m pip install -q -c constraints/ci.txt torch
.venv/bin/python -m pip install -q -c constraints/ci.txt -e ".[test]"
.venv/bin/python -c "import radtriage, monai, SimpleITK, pydicom, slicer; print('[setup] ok: radtriage', radtriage.__version__, '| monai', monai.__version__, '| SimpleITK', SimpleITK.__version__, '| slicer-core MRML available')"

# Slicer 5.12.3 replica: a Python 3.12 venv holding exactly the packages Slicer 5.12.3 ships (no radtriage, no
# torch). Built once; rebuilt when constraints/slicer-5.12.3.txt changes. Skipped when no Python 3.12 is found.
REPLICA=.venv-slicer-5.12
python312() {
  local candidate
  for candidate in "${PYTHON312:-}" python3.12 "$HOME"/.pyenv/versions/3.12*/bin/python3.12; do
    [ -n "$candidate" ] || continue
    if "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}
if PY312="$(python312)"; then
  want="$(sha256sum constraints/slicer-5.12.3.txt | cut -d' ' -f1)"
  if [ "$(cat "$REPLICA/.slicer-constraints-sha256" 2>/dev/null)" != "$want" ]; then
    echo "[setup] building the Slicer 5.12.3 replica $REPLICA with $("$PY312" --version)"
    rm -rf "$REPLICA"
    "$PY312" -m venv "$REPLICA"
    "$REPLICA/bin/python" -m pip install -q --no-deps -r constraints/slicer-5.12.3.txt
    echo "$want" >"$REPLICA/.slicer-constraints-sha256"
  fi
fi
