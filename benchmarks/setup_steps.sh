#!/usr/bin/env bash
# Optional: build STEPS 5.1 from its PyPI source package into .bench-env, so the spatial
# benchmarks can run it side by side. Not part of CI or the tests.
#
# Measured on this machine kind (2 cores): about 40 minutes, and one translation unit needs
# about 15 GB of memory. Run it when nothing else is running:
#     bash benchmarks/setup_steps.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then
  apt-get update
  apt-get install -y libeigen3-dev libsundials-dev petsc-dev libopenmpi-dev libboost-dev libmetis-dev \
    libopenblas-dev
else
  echo "not root: install libeigen3-dev libsundials-dev petsc-dev libopenmpi-dev libboost-dev libmetis-dev libopenblas-dev yourself" >&2
fi
[ -x .bench-env/bin/python ] || python3 -m venv .bench-env
.bench-env/bin/pip install --upgrade pip
.bench-env/bin/pip install -e . scikit-build-core cython mpi4py
STEPS_NO_BUNDLE=True .bench-env/bin/pip install --no-build-isolation -v steps==5.1.0
.bench-env/bin/python -c "import steps; print('STEPS', steps.__version__)"
echo "now run the benchmarks with .bench-env/bin/python benchmarks/<name>.py"
