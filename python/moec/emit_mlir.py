"""LayerSpec -> MLIR text: one ``func.func @forward`` holding one ``moe.layer``."""

from __future__ import annotations

import math

from .errors import MoecError
from .spec import DEFAULT_SWIGLU_ALPHA, GATED_ROLES, NONGATED_ROLES, LayerSpec, Operand

# Weights that may be stored in bf16 under f32 tokens (the dialect's rule): the routed
# experts' projections and the shared expert's gate, up and down. Router, biases and the
# shared-expert gate row stay f32.
EXPERT_DTYPES = ("f32", "bf16")
_STORED_ROLES = GATED_ROLES + NONGATED_ROLES + ("shared_gate", "shared_up", "shared_down")


def mlir_f64(v: float) -> str:
    """A float literal MLIR lexes as a float (always has a '.'), round-tripping ``v``, then ': f64'."""
    v = float(v)
    if not math.isfinite(v):
        raise MoecError(f"cannot emit non-finite float {v!r}")
    text = repr(v)
    mantissa, sep, exponent = text.partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return f"{mantissa}{sep}{exponent} : f64"


def tensor_type(shape: tuple[int | None, ...], elem: str = "f32") -> str:
    dims = "x".join("?" if d is None else str(d) for d in shape)
    return f"tensor<{dims}x{elem}>"


def layer_attributes(spec: LayerSpec) -> list[str]:
    """Attributes in the dialect's order. top_k, scoring and activation are always written,
    and swiglu_limit with clamped_swiglu; the others only when they differ from their defaults."""
    attrs = [f"top_k = {spec.top_k} : i64", f"scoring = #moe.scoring<{spec.scoring}>"]
    if spec.selection != "plain":
        attrs.append(f"selection = #moe.selection<{spec.selection}>")
        attrs.append(f"n_group = {spec.n_group} : i64")
        attrs.append(f"topk_group = {spec.topk_group} : i64")
        if spec.group_mask != "neg_inf":
            attrs.append(f"group_mask = #moe.group_mask<{spec.group_mask}>")
    if spec.normalize:
        attrs.append("normalize = true")
    if spec.routed_scaling_factor != 1.0:
        attrs.append(f"routed_scaling_factor = {mlir_f64(spec.routed_scaling_factor)}")
    attrs.append(f"activation = #moe.activation<{spec.activation}>")
    if spec.activation == "clamped_swiglu":
        if spec.swiglu_alpha != DEFAULT_SWIGLU_ALPHA:
            attrs.append(f"swiglu_alpha = {mlir_f64(spec.swiglu_alpha)}")
        attrs.append(f"swiglu_limit = {mlir_f64(spec.swiglu_limit)}")
    if spec.capacity_factor is not None:
        attrs.append(f"capacity_factor = {mlir_f64(spec.capacity_factor)}")
    if spec.expert_capacity is not None:
        attrs.append(f"expert_capacity = {spec.expert_capacity} : i64")
    if spec.min_capacity:
        attrs.append(f"min_capacity = {spec.min_capacity} : i64")
    if spec.drop_policy != "zero":
        attrs.append(f"drop_policy = #moe.drop_policy<{spec.drop_policy}>")
    return attrs


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def weight_attributes(op: Operand) -> str:
    """``moe.weight`` (the argument's unique name), then ``moe.weight_sources`` when the
    on-disk forms are anything but that name itself."""
    attrs = f"moe.weight = {_quote(op.name)}"
    if op.sources_differ:
        attrs += f", moe.weight_sources = [{', '.join(s.mlir() for s in op.effective_sources)}]"
    return "{" + attrs + "}"


def emit_module(spec: LayerSpec, expert_dtype: str = "f32") -> str:
    """The module; ``expert_dtype`` bf16 stores the expert projections in bf16 (a checkpoint
    in f32 or f16 is then rounded to bf16 when the model loads it)."""
    spec.validate()
    if expert_dtype not in EXPERT_DTYPES:
        raise MoecError(f"unknown expert dtype {expert_dtype!r} (expected f32 or bf16)")
    x_type = tensor_type((spec.tokens, spec.hidden))
    ops = spec.operands()

    def op_type(op: Operand) -> str:
        return tensor_type(op.shape, expert_dtype if op.role in _STORED_ROLES else "f32")

    args = [f'%x: {x_type} {{moe.input = "hidden_states"}}']
    for op in ops:
        args.append(f"%{op.ssa}: {op_type(op)} {weight_attributes(op)}")
    by_role = {op.role: op for op in ops}

    def group(roles: tuple[str, ...]) -> str:
        return ", ".join(f"%{by_role[r].ssa}" for r in roles if r in by_role)

    operands = f"%x, %{by_role['router'].ssa}"
    if "router_bias" in by_role:
        operands += f" router_bias(%{by_role['router_bias'].ssa})"
    if "score_bias" in by_role:
        operands += f" score_bias(%{by_role['score_bias'].ssa})"
    expert_roles = spec.expert_roles
    operands += f" experts({group(expert_roles)})"
    if spec.expert_bias_names:
        operands += f" expert_biases({group(tuple(f'{r}_bias' for r in expert_roles))})"
    if spec.shared_ffn:
        operands += f" shared({group(('shared_gate', 'shared_up', 'shared_down', 'shared_expert_gate'))})"
    types = ", ".join([x_type] + [op_type(op) for op in ops])
    attrs = ", ".join(layer_attributes(spec))
    header = ",\n    ".join(args)
    return (
        f"func.func @forward({header})\n"
        f'    -> ({x_type} {{moe.output = "output"}}) {{\n'
        f"  %y = moe.layer {operands} {{{attrs}}} : ({types}) -> {x_type}\n"
        f"  return %y : {x_type}\n"
        "}\n"
    )
