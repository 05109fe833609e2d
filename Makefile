# moec: the two commands a newcomer needs, plus the steps they are built from.
#   make demo   set up, build, compile the bundled Mixtral-shaped layer and run it on CPU
#   make ep-demo  the same layer on 4 MPI ranks (expert parallelism)
#   make test   set up, build, run every test (ctest summary at the end)
#   make gpu-bundle  pack CUDA models, inputs and references for a GPU machine
#                    (docs/cuda-target.md, "Checking on a GPU"), and the GPU
#                    benchmark's models (docs/performance-gpu.md)

BUILD_DIR ?= build
SAN_BUILD_DIR ?= build-sanitize
# The interpreter itself, not a shim (pyenv's resolves per environment, and
# the tests run with a scrubbed one): set-up prepares it, CMake and the tests
# use it.
PYTHON ?= $(shell python3 -c 'import sys; print(sys.executable)' 2>/dev/null || command -v python3)
JOBS ?= $(shell nproc)

.PHONY: all setup configure build sanitize-build demo ep-demo gpu-bundle test clean

all: build

setup:
	@PYTHON=$(PYTHON) scripts/setup.sh

CMAKE_COMMON = -G Ninja \
	  -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir \
	  -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
	  -DLLVM_EXTERNAL_LIT=/usr/lib/llvm-22/bin/lit \
	  -DPython3_EXECUTABLE=$(PYTHON)

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) $(CMAKE_COMMON) -DCMAKE_BUILD_TYPE=Release \
	  -DMOEC_SANITIZER_BUILD_DIR=$(abspath $(SAN_BUILD_DIR))

# ASan + UBSan build of the tools and the runtime tests (-O0: it only runs
# tests, and compiles faster: runtime/src/metadata.cpp takes 19 s of CPU
# instead of 30 s at -O1); `make test` runs its suites through the main
# build's ctest.
$(SAN_BUILD_DIR)/build.ninja:
	cmake -S . -B $(SAN_BUILD_DIR) $(CMAKE_COMMON) -DCMAKE_BUILD_TYPE=Release \
	  -DCMAKE_CXX_FLAGS_RELEASE="-O0" -DCMAKE_C_FLAGS_RELEASE="-O0" \
	  -DMOEC_SANITIZE=ON

sanitize-build: setup $(SAN_BUILD_DIR)/build.ninja
	ninja -C $(SAN_BUILD_DIR) -j $(JOBS) moe-opt moe-compile moe-run moert_shared moert-tests \
	  fake_model fake_model_abi1 fake_model_no_forward fake_model_no_stats \
	  fake_model_bad_metadata moert-npy-replay moert-safetensors-replay \
	  moert-metadata-replay

configure: setup $(BUILD_DIR)/build.ninja

build: configure
	ninja -C $(BUILD_DIR) -j $(JOBS)

demo: build
	@PYTHON=$(PYTHON) BUILD_DIR=$(BUILD_DIR) examples/demo.sh

ep-demo: build
	@PYTHON=$(PYTHON) BUILD_DIR=$(BUILD_DIR) examples/expert-parallel.sh

# What a GPU machine without MLIR needs to check the CUDA target: an MPI-free
# moe-run, the compiled models and the references (test/Integration/check_cuda.py).
GPU_BUILD_DIR ?= build-gpu
gpu-bundle: build
	cmake -S runtime -B $(GPU_BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release \
	  -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 -DMOERT_WITH_MPI=OFF
	cmake --build $(GPU_BUILD_DIR) --target moe-run moert_shared
	rm -rf $(GPU_BUILD_DIR)/bundle
	$(PYTHON) test/Integration/check_cuda.py prepare --bin $(BUILD_DIR)/bin \
	  --moe-run $(GPU_BUILD_DIR)/bin/moe-run --libmoert $(GPU_BUILD_DIR)/lib/libmoert.so \
	  --out $(GPU_BUILD_DIR)/bundle
	rm -rf $(GPU_BUILD_DIR)/bench
	$(PYTHON) bench/gpu/bench.py prepare --bin $(BUILD_DIR)/bin \
	  --moe-run $(GPU_BUILD_DIR)/bin/moe-run --libmoert $(GPU_BUILD_DIR)/lib/libmoert.so \
	  --out $(GPU_BUILD_DIR)/bench

test: build sanitize-build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

clean:
	rm -rf $(BUILD_DIR) $(SAN_BUILD_DIR) $(GPU_BUILD_DIR) demo-out ep-out
