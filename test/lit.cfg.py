# -*- Python -*-
# lit configuration for moec: FileCheck tests of moe-opt, and compile-and-run
# tests that drive moe-compile, moe-run and the NumPy reference.

import glob
import os
import shutil
import subprocess

import lit.formats
from lit.llvm import llvm_config

config.name = "MOEC"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.moec_obj_root, "test")
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "Inputs"]

# lit scrubs the environment; pass through what the tools need.
for var in [
    "CUDA_HOME",
    "HOME",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "ASAN_OPTIONS",
    "UBSAN_OPTIONS",
    "LSAN_OPTIONS",
]:
    if var in os.environ:
        config.environment[var] = os.environ[var]
config.environment["PYTHONPATH"] = os.path.join(config.moec_src_root, "python")

llvm_config.with_system_environment(["PATH"])
llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.moec_tools_dir, append_path=True)

config.substitutions.append(("%moec_src", config.moec_src_root))
config.substitutions.append(("%moec_obj", config.moec_obj_root))
# lit's default %python is lit's own interpreter, which need not have NumPy:
# replace it with the one set-up prepared (resolved at configure time).
config.substitutions = [s for s in config.substitutions if s[0] != "%python"]
config.substitutions.append(("%python_path", config.python_executable))
config.substitutions.append(("%python", f'"{config.python_executable}"'))
config.environment["MOEC_PYTHON"] = config.python_executable

tools = ["moe-opt", "moe-compile", "moe-run"]
llvm_config.add_tool_substitutions(tools, [config.moec_tools_dir])

for tool in ["moe-compile", "moe-run"]:
    if os.path.exists(os.path.join(config.moec_tools_dir, tool)):
        config.available_features.add(tool)
if shutil.which("nvidia-smi"):
    config.available_features.add("cuda")


# Compile-only GPU tests need the ptxas and libdevice of the CUDA toolkit
# CMake found (CUDAToolkit_ROOT chooses another), not a GPU.
cuda_root = os.path.dirname(config.cuda_bin_dir) if config.cuda_bin_dir else ""
if (
    cuda_root
    and os.path.isfile(os.path.join(cuda_root, "bin", "ptxas"))
    and os.path.isfile(os.path.join(cuda_root, "nvvm", "libdevice", "libdevice.10.bc"))
):
    config.available_features.add("ptxas")
    config.environment["CUDA_HOME"] = cuda_root

# cuobjdump (with nvdisasm, which its -sass needs) checks the SASS of the
# embedded kernels: the toolkit's, else PyPI's nvidia-cuda-cuobjdump and
# nvidia-cuda-nvdisasm wheels in the tests' interpreter (scripts/setup.sh
# installs them; Debian's CUDA install has neither).
def find_cuobjdump():
    dirs = [config.cuda_bin_dir] if config.cuda_bin_dir else []
    try:
        out = subprocess.run(
            [config.python_executable, "-c",
             "import importlib.util as u; s = u.find_spec('nvidia'); "
             "print(*(s.submodule_search_locations if s else []))"],
            capture_output=True, text=True, timeout=60,
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        out = []
    for root in out:
        dirs += sorted(glob.glob(os.path.join(root, "cu*", "bin")))
    for d in dirs:
        if all(os.path.isfile(os.path.join(d, t)) for t in ("cuobjdump", "nvdisasm")):
            return d
    return None


cuobjdump_dir = find_cuobjdump()
if cuobjdump_dir:
    config.available_features.add("cuobjdump")
    config.substitutions.append(
        ("%cuobjdump", os.path.join(cuobjdump_dir, "cuobjdump"))
    )
    config.environment["NVDISASM_PATH"] = cuobjdump_dir

# The stand-in libcuda.so.1 of the runtime's tests (runtime/test/
# fake_cuda_driver.c, built where cuda.h is): it runs a CUDA model's host code
# up to its first kernel, which it refuses to load.
fake_cuda_driver = os.path.join(
    config.moec_obj_root, "runtime", "test", "models", "fake_cuda_driver.so"
)
if os.path.isfile(fake_cuda_driver):
    config.available_features.add("fake-cuda-driver")
    config.substitutions.append(("%fake_cuda_driver", fake_cuda_driver))

# The stand-in libnccl.so.2 (runtime/test/fake_nccl.c, built where nccl.h and
# MPI are): it carries the bytes of NCCL sends and receives over MPI.
fake_nccl = os.path.join(config.moec_obj_root, "runtime", "test", "models", "fake_nccl.so")
if os.path.isfile(fake_nccl) and shutil.which("mpirun"):
    config.available_features.add("fake-nccl")
    config.substitutions.append(("%fake_nccl", fake_nccl))
