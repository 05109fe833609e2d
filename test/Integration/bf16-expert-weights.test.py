"""Helpers of bf16-expert-weights.test.

compare Y REF: max |y - ref| / max |ref| <= 1e-5. Both compute in f32 from the same bf16
  weight values (widening is exact), so only the summation order differs.
round-experts IN OUT: IN's expert tensors (names with 'experts.') rounded to bf16 values
  with NumPy, stored as f32; the router and biases as they are.
"""
import sys

import numpy as np
from moec.safetensors_io import (
    bf16_bits_to_float32,
    float32_to_bf16_bits,
    load_file,
    save_file,
)


def compare(y_path: str, ref_path: str) -> None:
    y, ref = np.load(y_path), np.load(ref_path).astype(np.float64)
    if y.shape != ref.shape:
        sys.exit(f"shape {y.shape} != reference {ref.shape}")
    err = float(np.max(np.abs(y - ref))) / max(float(np.max(np.abs(ref))), 1e-30)
    print(f"rel err {err:.2e}")
    if err > 1e-5:
        sys.exit(f"rel err {err:.2e} > 1e-5")


def round_experts(src: str, dst: str) -> None:
    tensors = load_file(src)
    rounded = 0
    for name, a in tensors.items():
        if "experts." in name and not name.endswith("bias"):
            tensors[name] = bf16_bits_to_float32(float32_to_bf16_bits(a))
            rounded += 1
    if not rounded:
        sys.exit(f"{src}: no expert tensors")
    save_file(dst, tensors, dtype="f32")


if __name__ == "__main__":
    {"compare": compare, "round-experts": round_experts}[sys.argv[1]](*sys.argv[2:])
