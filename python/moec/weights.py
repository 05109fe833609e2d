"""Checkpoint-named weights for a LayerSpec: random generation, and loading into stacked arrays."""

from __future__ import annotations

import numpy as np

from .errors import MoecError
from .spec import LayerSpec, Operand

BIAS_STD = 0.2  # router / score-correction bias: large enough to change selections


def expert_tensor_names(op: Operand, num_experts: int) -> list[str]:
    """The on-disk names of an operand: one per expert for '{e}' names, else the name itself."""
    if op.stacked:
        return [op.name.replace("{e}", str(e)) for e in range(num_experts)]
    return [op.name]


def _std(op: Operand, scale: float) -> float:
    if op.role in ("router_bias", "score_bias"):
        return BIAS_STD
    fan_in = op.shape[-1]
    return scale / np.sqrt(fan_in)


def random_weights(
    spec: LayerSpec, seed: int, scale: float = 1.0
) -> dict[str, np.ndarray]:
    """float32 tensors named as on disk; N(0, scale/sqrt(fan_in)), biases N(0, 0.2).

    Generation order is the operand order, expert by expert, so a seed always gives the same
    tensors for the same spec."""
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for op in spec.operands():
        std = _std(op, scale)
        if op.stacked:
            for name in expert_tensor_names(op, spec.num_experts):
                out[name] = (rng.standard_normal(op.shape[1:]) * std).astype(np.float32)
        else:
            out[op.name] = (rng.standard_normal(op.shape) * std).astype(np.float32)
    return out


def random_input(tokens: int, hidden: int, seed: int) -> np.ndarray:
    """x ~ N(0, 1), float32 [T, D]; uses a stream separate from the weights'."""
    rng = np.random.default_rng([seed, 1])
    return rng.standard_normal((tokens, hidden)).astype(np.float32)


def load_operands(spec: LayerSpec, checkpoint) -> dict[str, np.ndarray]:
    """role -> float64 array of the operand's full (stacked) shape, from a checkpoint with
    ``get(name)``; shapes are checked."""
    out: dict[str, np.ndarray] = {}
    for op in spec.operands():
        names = expert_tensor_names(op, spec.num_experts)
        want = op.shape[1:] if op.stacked else op.shape
        parts = []
        for name in names:
            a = np.asarray(checkpoint.get(name), dtype=np.float64)
            if a.shape != tuple(want):
                raise MoecError(
                    f"tensor {name!r} has shape {list(a.shape)}, expected {list(want)}"
                )
            parts.append(a)
        out[op.role] = np.stack(parts) if op.stacked else parts[0]
    return out
