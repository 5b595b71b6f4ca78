#!/usr/bin/env bash
# One-command setup for SlicerRadTriage on Debian/Ubuntu with Python 3.11:
#   system libraries for headless Slicer/VTK (EGL/Mesa), a virtual environment at .venv/,
#   the core package with its MRML layer (slicer-core via trame-slicer) and the test tools.
# Usage: ./setup.sh            (re-running is safe; it only adds what is missing)
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

# EGL/Mesa and X client libraries for headless VTK/Slicer; PostgreSQL server binaries for the team-store tests.
APT_PACKAGES=(libegl1 libegl-mesa0 libgl1-mesa-dri libgl1 libglu1-mesa libxrender1 libxt6 libgomp1 postgresql chromium fonts-liberation)
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
# torch first and pinned: 2.13.0 is the CPU wheel on this project's machines; a bare "torch" would pull a CUDA build.
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[mrml,test]"
.venv/bin/python -c "import radtriage, monai, SimpleITK, pydicom, slicer; print('[setup] ok: radtriage', radtriage.__version__, '| monai', monai.__version__, '| slicer-core MRML available')"
