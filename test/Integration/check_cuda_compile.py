#!/usr/bin/env python3
"""Compile-only check of the CUDA target on generated layer specs.

  check_cuda_compile.py --bin BUILD/bin --cuobjdump PATH [--jobs N]

For every hand-written spec of check_layers.py (odd D and F, E from 1 to 64,
every family's routing, shared experts, biases, capacity limits) plus a
DeepSeek-V3-shaped one with E = 256, with bf16 expert weights, in one lowering
each (alternating; both for E = 256; the f32 and the other layout's kernels
are checked on the examples by test/tools/moe-compile), and every other pair
of specs with the tensor-core operands staged in shared memory
(--mma-stages=2; a K that is not a multiple of 8 keeps the global-memory
fragments): `moec gen-layer
--expert-dtype bf16`, `moe-compile --target=cuda` (the kernels pass ptxas for
sm_90a on the way), then kernel_sass.py counts the kernels with tensor-core
instructions: exactly one per expert FFN's first projection (gate and up
fused with the activation, or in with its activation) and one per second
(down, or out), the same again for a shared expert. Nothing runs: CI has no
GPU. Ends with `N passed, N failed`.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from check_layers import HAND_WRITTEN
from moec_cli import moec

HERE = Path(__file__).resolve().parent
SPECS = {
    **{name: spec for name, (spec, _tokens) in HAND_WRITTEN.items()},
    "deepseek-v3-e256": {
        "D": 71, "F": 24, "E": 256, "k": 8, "scoring": "sigmoid",
        "selection": "group_sum_top2", "n_group": 8, "topk_group": 4,
        "normalize": True, "routed_scaling_factor": 2.5, "router_bias": True,
        "shared_F": 24,
    },
}


def expected_mma_kernels(spec: dict) -> int:
    # moe-fuse-gated-activation: [gate and up, activation] then down.
    return 2 + (2 if spec.get("shared_F", spec.get("F_s")) else 0)


def check(name: str, spec: dict, lowering: str, stages: int,
          args) -> tuple[str, bool, str]:
    label = f"{name} [{lowering}{f', {stages} stages' if stages else ''}]"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "spec.json").write_text(json.dumps(spec))
        try:
            moec("gen-layer", "--spec", tmp / "spec.json", "-o", tmp / "m.mlir",
                 "--weights", tmp / "w.safetensors", "--input", tmp / "x.npy",
                 "--expert-dtype", "bf16")
        except Exception as exc:  # noqa: BLE001 - report, keep going
            return label, False, str(exc).strip()
        so = tmp / "m.so"
        proc = subprocess.run(
            [str(args.bin / "moe-compile"), str(tmp / "m.mlir"), "--target=cuda",
             f"--lowering={lowering}", f"--mma-stages={stages}", "-o", str(so)],
            capture_output=True, text=True)
        if proc.returncode != 0:
            return label, False, proc.stderr.strip()[-600:]
        proc = subprocess.run(
            [sys.executable, str(HERE / "kernel_sass.py"), "--cuobjdump", args.cuobjdump,
             str(so)], capture_output=True, text=True)
        found = re.search(r"tensor-core kernels: (\d+) of (\d+)", proc.stdout)
        if proc.returncode != 0 or not found:
            return label, False, (proc.stderr or proc.stdout).strip()[-600:]
        got, total = int(found.group(1)), int(found.group(2))
        want = expected_mma_kernels(spec)
        return label, got == want, f"{got} of {total} kernels on tensor cores, expected {want}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", type=Path, required=True)
    parser.add_argument("--cuobjdump", required=True)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--filter", default="", help="only specs whose name contains this")
    args = parser.parse_args()
    lowerings = ("dynamic", "static")
    jobs = []
    for i, (name, spec) in enumerate(SPECS.items()):
        if args.filter in name:
            both = name == "deepseek-v3-e256"
            stages = 0 if both else 2 * (i // 2 % 2)
            jobs += [(name, spec, low, stages)
                     for low in (lowerings if both else lowerings[i % 2:][:1])]
    passed = failed = 0
    # Processes, not threads: moec_cli redirects this process's stdout.
    with concurrent.futures.ProcessPoolExecutor(args.jobs) as pool:
        for label, ok, msg in pool.map(check, *zip(*jobs), [args] * len(jobs)):
            print(f"{'PASS' if ok else 'FAIL'} {label}: {msg}", flush=True)
            passed += ok
            failed += not ok
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
