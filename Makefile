# moec: the two commands a newcomer needs, plus the steps they are built from.
#   make demo   set up, build, compile the bundled Mixtral-shaped layer and run it on CPU
#   make test   set up, build, run every test (ctest summary at the end)

BUILD_DIR ?= build
PYTHON ?= $(shell command -v python3)
JOBS ?= $(shell nproc)

.PHONY: all setup configure build demo test clean

all: build

setup:
	@PYTHON=$(PYTHON) scripts/setup.sh

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja \
	  -DCMAKE_BUILD_TYPE=Release \
	  -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir \
	  -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
	  -DLLVM_EXTERNAL_LIT=/usr/lib/llvm-22/bin/lit \
	  -DPython3_EXECUTABLE=$(PYTHON)

configure: setup $(BUILD_DIR)/build.ninja

build: configure
	ninja -C $(BUILD_DIR) -j $(JOBS)

demo: build
	@PYTHON=$(PYTHON) BUILD_DIR=$(BUILD_DIR) examples/demo.sh

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

clean:
	rm -rf $(BUILD_DIR) demo-out
