#!/usr/bin/env bash
#===- examples/demo.sh - compile and run a Mixtral-shaped MoE layer --------===#
#
# The path a user takes: import a Hugging Face config, make checkpoint-named
# weights, compile the layer to a shared library, run it on CPU, and compare
# with the independent NumPy reference. Outputs go to demo-out/.
#
#===------------------------------------------------------------------------===#
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
PYTHON=${PYTHON:-python3}
BIN=$BUILD_DIR/bin
OUT=${DEMO_OUT:-demo-out}
CONFIG=examples/configs/mixtral-tiny.json
TOKENS=${TOKENS:-256}
export PYTHONPATH=$PWD/python

mkdir -p $OUT
echo "== import: $CONFIG (layer 0) -> $OUT/mixtral.mlir"
"$PYTHON" -m moec import $CONFIG --layer 0 -o $OUT/mixtral.mlir
echo "== random checkpoint-named weights -> $OUT/weights.safetensors"
"$PYTHON" -m moec random-weights $CONFIG --layer 0 --seed 1 -o $OUT/weights.safetensors
"$PYTHON" -c "import numpy as np, sys; np.save(sys.argv[1], np.random.default_rng(0).standard_normal((int(sys.argv[2]), 64)).astype(np.float32))" \
  $OUT/input.npy "$TOKENS"
echo "== moe-compile (dropless, sorted segments) -> $OUT/mixtral.so"
"$BIN/moe-compile" $OUT/mixtral.mlir -o $OUT/mixtral.so --lowering=dynamic
echo "== moe-run on $TOKENS tokens"
"$BIN/moe-run" $OUT/mixtral.so --weights $OUT/weights.safetensors \
  --input hidden_states=$OUT/input.npy --output output=$OUT/output.npy \
  --warmup 3 --iters 20 --stats
echo "== NumPy reference"
"$PYTHON" -m moec reference $CONFIG --layer 0 --weights $OUT/weights.safetensors \
  --input $OUT/input.npy -o $OUT/reference.npy
"$PYTHON" - $OUT/output.npy $OUT/reference.npy <<'PY'
import sys
import numpy as np
y, ref = np.load(sys.argv[1]), np.load(sys.argv[2]).astype(np.float64)
err = float(np.max(np.abs(y - ref)) / np.max(np.abs(ref)))
print(f"output {y.shape} {y.dtype}: checksum (sum) {float(y.astype(np.float64).sum()):.6f}")
print(f"max relative error vs reference (max|y-ref|/max|ref|): {err:.2e}",
      "OK" if err <= 1e-5 else "MISMATCH")
sys.exit(0 if err <= 1e-5 else 1)
PY
