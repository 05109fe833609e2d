#!/usr/bin/env bash
#===- scripts/setup.sh - install what moec needs on a fresh machine --------===#
#
# Debian bookworm packages (LLVM/MLIR 22 from bookworm-security, Ninja, MPI,
# the runtime's header-only JSON/CLI libraries, GoogleTest, OpenBLAS) and the
# Python packages (NumPy, pytest). Installs only what is missing, so a second
# run takes about a second.
#
#===------------------------------------------------------------------------===#
set -euo pipefail

APT_PACKAGES=(
  llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools clang-22
  ninja-build cmake
  openmpi-bin libopenmpi-dev
  nlohmann-json3-dev libcli11-dev
  libgtest-dev libgmock-dev
  libomp-22-dev libopenblas0-pthread
)
PYTHON=${PYTHON:-python3}

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! "$PYTHON" -c "import numpy, pytest" 2>/dev/null; then
  echo "setup: installing Python packages for $("$PYTHON" -c 'import sys; print(sys.executable)'): numpy pytest"
  # A Debian-managed interpreter refuses pip (PEP 668): use its packages.
  "$PYTHON" -m pip install -q numpy pytest 2>/dev/null ||
    DEBIAN_FRONTEND=noninteractive ${SUDO:-} apt-get install -y -qq python3-numpy python3-pytest >/dev/null
fi
# The tests run exactly this interpreter (CMake resolves it): fail here, with
# the reason, rather than in the middle of the test suite.
if ! "$PYTHON" -c "import numpy, pytest"; then
  echo "setup: error: $PYTHON still cannot import numpy and pytest" >&2
  exit 1
fi

# cuobjdump and nvdisasm, for the tests that read the SASS of the embedded
# kernels (tensor-core instructions): Debian's CUDA install has neither, the
# PyPI wheels carry both. Without them those tests report UNSUPPORTED.
has_nvdisasm='
import glob, importlib.util, sys
spec = importlib.util.find_spec("nvidia")
roots = spec.submodule_search_locations if spec else []
sys.exit(0 if any(glob.glob(r + "/cu*/bin/nvdisasm") for r in roots) else 1)'
if ! "$PYTHON" -c "$has_nvdisasm" 2>/dev/null; then
  echo "setup: installing nvidia-cuda-cuobjdump and nvidia-cuda-nvdisasm (SASS checks)"
  "$PYTHON" -m pip install -q nvidia-cuda-cuobjdump nvidia-cuda-nvdisasm 2>/dev/null ||
    echo "setup: note: could not pip-install cuobjdump/nvdisasm; the SASS tests will be skipped"
fi
