#!/bin/bash
# On a GPU machine, from the repository root, with build-gpu/ (from
# `make gpu-bundle` on a build machine) copied along: the GPU correctness
# check or the GPU benchmark, logs and results under $OUT (the device tool's
# folder of files to bring back) or build-gpu/results.
#   scripts/gpu-run.sh check [--sanitize]            docs/cuda-target.md
#   scripts/gpu-run.sh bench [--layers L..] [--tokens T..]   docs/performance-gpu.md
#   scripts/gpu-run.sh profile [--layers L..] [--tokens T..] (kernel times, ncu)
# The exit status is the check's or the benchmark's. On the device tool, run
# them in separate calls, and the benchmark one layer per call (--layers):
# DeepSeek-V3's weights alone are a 22 GB file moe-run reads per run.
set -u -o pipefail
out=${OUT:-build-gpu/results}
mkdir -p "$out"
what=${1:-}
[ $# -gt 0 ] && shift
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader \
  > "$out/gpu.txt" 2>&1
cat "$out/gpu.txt"
export PYTHONUNBUFFERED=1
case "$what" in
  check)
    python3 build-gpu/bundle/check_cuda.py run --bundle build-gpu/bundle "$@" \
      2>&1 | tee "$out/check.log"
    ;;
  bench)
    python3 build-gpu/bench/bench.py run --bundle build-gpu/bench \
      --json "$out/bench.json" --work /tmp "$@" 2>&1 | tee "$out/bench.log"
    ;;
  profile)
    python3 build-gpu/bench/bench.py profile --bundle build-gpu/bench --work /tmp "$@" \
      2>&1 | tee "$out/profile.log"
    ;;
  *)
    echo "usage: scripts/gpu-run.sh check|bench|profile [options]" >&2
    exit 2
    ;;
esac
