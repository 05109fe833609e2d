"""LayerSpec: everything about one MoE block that the emitter, weights and reference need.

Built either from a Hugging Face config (``configs.py``) or from a raw gen-layer SPEC.json
(``spec_from_json`` below). Weight names are checkpoint names; per-expert tensors carry ``{e}``.
An operand may also list several on-disk forms (``Source``), tried in order at load time, because
transformers 4 and 5 store the same expert weights differently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .errors import MoecError

SCORINGS = ("softmax", "sigmoid")
SELECTIONS = ("plain", "group_sum_top2", "group_max")
# Selection score of the experts of dropped groups: -inf (never chosen) or 0.0.
GROUP_MASKS = ("neg_inf", "zero")
ACTIVATIONS = ("silu", "gelu", "relu", "clamped_swiglu")
DROP_POLICIES = ("zero", "passthrough")
LAYOUTS = ("per-expert", "stacked")
DEFAULT_SWIGLU_ALPHA = 1.702  # GPT-OSS's sigmoid gain
# Sizes above this are certainly mistakes; bounding them keeps every later product well inside
# int64 (the compiler's index type) and turns absurd configs into a clear error.
MAX_DIM = 2**31 - 1

GATED_ROLES = ("gate", "up", "down")
NONGATED_ROLES = ("in", "out")
EXPERT_ROLES = (
    GATED_ROLES
    + NONGATED_ROLES
    + tuple(f"{r}_bias" for r in GATED_ROLES + NONGATED_ROLES)
)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v) -> bool:
    """A JSON number that converts to a float (not a bool, not an int beyond float range)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return False
    return isinstance(v, float) or abs(v) <= 2**1023


@dataclass(frozen=True)
class Source:
    """One on-disk form of a weight operand (the IR's ``moe.weight_sources`` entry).

    ``name`` may contain ``{e}`` (one tensor per expert, stacked at load). Starting from the
    on-disk tensor: swap its last two dims when ``transpose``; then axis 1 of the stacked form
    (axis 0 of a per-expert slice) holds ``parts`` times the operand's size and the operand is
    part ``part`` of it: a contiguous block, or every ``parts``-th row from ``part`` when
    ``interleave``. ``layout`` is Python-only: which ``random-weights --layout`` writes it.
    """

    name: str
    transpose: bool = False
    parts: int = 1
    part: int = 0
    interleave: bool = False
    layout: str | None = field(default=None, compare=False)

    @property
    def per_expert(self) -> bool:
        return "{e}" in self.name

    @property
    def is_plain(self) -> bool:
        return not self.transpose and self.parts == 1

    def check(self, shape: tuple[int, ...]) -> None:
        """The same rules as the compiler's metadata parser, for an operand of ``shape``."""
        if not (_is_int(self.parts) and _is_int(self.part)) or not (
            self.parts >= 1 and 0 <= self.part < self.parts
        ):
            raise MoecError(
                f"weight source {self.name!r}: expects parts >= 1 and 0 <= part < parts, "
                f"got parts = {self.parts!r}, part = {self.part!r}"
            )
        need = max(
            2 if self.parts > 1 else 0,
            (3 if self.per_expert else 2) if self.transpose else 0,
        )
        if len(shape) < need:
            raise MoecError(
                f"weight source {self.name!r}: a rank-{len(shape)} operand cannot be "
                + ("transposed" if self.transpose else "split")
            )

    def disk_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The on-disk shape in stacked form ([E, ...slice] for ``{e}`` names)."""
        s = list(shape)
        if self.parts > 1:
            s[1] *= self.parts
        if self.transpose:
            s[-1], s[-2] = s[-2], s[-1]
        return tuple(s)

    def mlir(self) -> str:
        """The IR dictionary; optional fields only when they differ from their defaults."""
        quoted = '"' + self.name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        fields = [f"name = {quoted}"]
        if self.transpose:
            fields.append("transpose = true")
        if self.parts != 1:
            fields.append(f"parts = {self.parts} : i64")
        if self.part != 0:
            fields.append(f"part = {self.part} : i64")
        if self.interleave:
            fields.append("interleave = true")
        return "{" + ", ".join(fields) + "}"


@dataclass(frozen=True)
class Operand:
    """One weight operand of ``moe.layer`` (in operand order)."""

    role: str  # router, router_bias, score_bias, gate, up, down, in, out, *_bias, shared_*, ...
    ssa: str  # SSA name without '%'
    name: (
        str  # unique argument name (moe.weight); contains '{e}' when stored per expert
    )
    shape: tuple[int, ...]  # full (stacked) shape
    sources: tuple[Source, ...] = ()  # on-disk forms; empty = the name itself

    @property
    def stacked(self) -> bool:
        return "{e}" in self.name

    @property
    def has_expert_axis(self) -> bool:
        """Axis 0 is the expert axis (weights are generated one expert slice at a time)."""
        return self.role in EXPERT_ROLES

    @property
    def effective_sources(self) -> tuple[Source, ...]:
        return self.sources or (Source(self.name),)

    @property
    def sources_differ(self) -> bool:
        """Whether the IR needs ``moe.weight_sources`` (anything but the name itself)."""
        return self.effective_sources != (Source(self.name),)


@dataclass
class LayerSpec:
    hidden: int  # D
    ffn: int  # F (per routed expert)
    num_experts: int  # E
    top_k: int  # k
    router_name: str
    # gated: (gate, up, down); non-gated: (in, out); '{e}' templates or stacked names
    expert_names: tuple[str, ...]
    tokens: int | None = None  # static T, None = dynamic
    scoring: str = "softmax"
    selection: str = "plain"
    n_group: int | None = None
    topk_group: int | None = None
    group_mask: str = "neg_inf"  # GROUP_MASKS
    normalize: bool = False
    routed_scaling_factor: float = 1.0
    activation: str = "silu"
    swiglu_alpha: float = DEFAULT_SWIGLU_ALPHA  # clamped_swiglu only
    swiglu_limit: float | None = None  # clamped_swiglu only (required there)
    gated: bool = True
    capacity_factor: float | None = None
    expert_capacity: int | None = None
    min_capacity: int = 0
    drop_policy: str = "zero"
    router_bias_name: str | None = None
    score_bias_name: str | None = None
    # expert biases, same order as expert_names: gated ([E,F], [E,F], [E,D]), non-gated
    # ([E,F], [E,D]); () = none
    expert_bias_names: tuple[str, ...] = ()
    shared_ffn: int = 0  # F_s; 0 = no shared expert
    shared_names: tuple[str, ...] = ()  # (gate, up, down) of the shared expert
    shared_gate_name: str | None = (
        None  # [1, D] sigmoid gate on the shared expert output
    )
    sources: dict[str, tuple[Source, ...]] = field(
        default_factory=dict
    )  # role -> forms
    family: str = "raw"
    extra: dict = field(default_factory=dict)  # descriptive only

    def validate(self) -> LayerSpec:
        def bad(msg: str) -> None:
            raise MoecError(msg)

        for key in ("hidden", "ffn", "num_experts", "top_k"):
            v = getattr(self, key)
            if not _is_int(v) or v <= 0:
                bad(f"{key} must be a positive integer, got {v!r}")
            if v > MAX_DIM:
                bad(f"{key} = {v} is too large (at most {MAX_DIM})")
        if self.top_k > self.num_experts:
            bad(
                f"top_k = {self.top_k} exceeds the number of experts {self.num_experts}"
            )
        if self.tokens is not None and (
            not _is_int(self.tokens) or not 0 < self.tokens <= MAX_DIM
        ):
            bad(f"tokens must be a positive integer, got {self.tokens!r}")
        for key, allowed in (
            ("scoring", SCORINGS),
            ("selection", SELECTIONS),
            ("group_mask", GROUP_MASKS),
            ("activation", ACTIVATIONS),
            ("drop_policy", DROP_POLICIES),
        ):
            v = getattr(self, key)
            if not isinstance(v, str) or v not in allowed:
                bad(f"unsupported {key} {v!r} (supported: {', '.join(allowed)})")
        if not isinstance(self.normalize, bool):
            bad(f"normalize must be true or false, got {self.normalize!r}")
        for key in ("n_group", "topk_group", "expert_capacity"):
            v = getattr(self, key)
            if v is not None and not _is_int(v):
                bad(f"{key} must be an integer, got {v!r}")
        for key in ("min_capacity", "shared_ffn"):
            v = getattr(self, key)
            if not _is_int(v) or v < 0:
                bad(f"{key} must be a non-negative integer, got {v!r}")
            if v > MAX_DIM:
                bad(f"{key} = {v} is too large (at most {MAX_DIM})")
        for key in ("routed_scaling_factor", "capacity_factor", "swiglu_alpha"):
            v = getattr(self, key)
            if v is not None and not is_number(v):
                bad(f"{key} must be a number, got {v!r}")
        if self.selection != "plain":
            if self.n_group is None or self.topk_group is None:
                bad(f"selection {self.selection} needs n_group and topk_group")
            if self.n_group <= 0 or self.num_experts % self.n_group:
                bad(
                    f"n_group = {self.n_group} must be positive and divide the {self.num_experts} experts"
                )
            if not 0 < self.topk_group <= self.n_group:
                bad(
                    f"topk_group = {self.topk_group} must be in 1..n_group ({self.n_group})"
                )
            if (
                self.selection == "group_sum_top2"
                and self.num_experts // self.n_group < 2
            ):
                bad("group_sum_top2 needs at least 2 experts per group")
        elif self.group_mask != "neg_inf":
            bad("group_mask applies to a group-limited selection only")
        if self.capacity_factor is not None and self.expert_capacity is not None:
            bad("give capacity_factor or expert_capacity, not both")
        if self.capacity_factor is not None and not (
            math.isfinite(self.capacity_factor) and self.capacity_factor > 0
        ):
            bad(
                f"capacity_factor must be a positive number, got {self.capacity_factor!r}"
            )
        if self.expert_capacity is not None and self.expert_capacity <= 0:
            bad(f"expert_capacity must be positive, got {self.expert_capacity!r}")
        if not (
            math.isfinite(self.routed_scaling_factor) and self.routed_scaling_factor > 0
        ):
            bad(
                f"routed_scaling_factor must be a finite number > 0, got {self.routed_scaling_factor!r}"
            )
        self._validate_activation(bad)
        if self.drop_policy == "passthrough" and not self.has_capacity:
            bad(
                "drop_policy passthrough needs a capacity limit (capacity_factor or expert_capacity)"
            )
        if len(self.expert_names) != (3 if self.gated else 2):
            bad(
                "expert_names must be (gate, up, down) for gated and (in, out) for non-gated experts"
            )
        if self.expert_bias_names and len(self.expert_bias_names) != len(
            self.expert_names
        ):
            bad("expert_bias_names must match expert_names (one bias per projection)")
        if self.shared_ffn and len(self.shared_names) != 3:
            bad("a shared expert needs (gate, up, down) names")
        if self.shared_gate_name and not self.shared_ffn:
            bad("shared_gate needs a shared expert")
        self._validate_operands(bad)
        return self

    def _validate_activation(self, bad) -> None:
        alpha, limit = self.swiglu_alpha, self.swiglu_limit
        if self.activation != "clamped_swiglu":
            if limit is not None or alpha != DEFAULT_SWIGLU_ALPHA:
                bad(
                    "swiglu_alpha and swiglu_limit apply to activation clamped_swiglu only"
                )
            return
        if not self.gated:
            bad("activation clamped_swiglu needs gated experts")
        if limit is None:
            bad("activation clamped_swiglu needs swiglu_limit")
        if not is_number(limit):
            bad(f"swiglu_limit must be a number, got {limit!r}")
        for key, v in (("swiglu_alpha", alpha), ("swiglu_limit", limit)):
            if not (math.isfinite(v) and v > 0):
                bad(f"{key} must be a finite number > 0, got {v!r}")

    def _validate_operands(self, bad) -> None:
        ops = self.operands()
        roles = {op.role for op in ops}
        unknown = sorted(set(self.sources) - roles)
        if unknown:
            bad(f"weight sources given for unknown operand(s): {', '.join(unknown)}")
        names: dict[str, str] = {}
        for op in ops:
            if op.name in names:
                bad(
                    f"operands {names[op.name]} and {op.role} share the name {op.name!r}"
                )
            names[op.name] = op.role
            for src in op.effective_sources:
                src.check(op.shape)

    @property
    def has_capacity(self) -> bool:
        return self.capacity_factor is not None or self.expert_capacity is not None

    @property
    def expert_roles(self) -> tuple[str, ...]:
        return GATED_ROLES if self.gated else NONGATED_ROLES

    def operands(self) -> list[Operand]:
        """Weight operands in ``moe.layer`` operand order (the input x is not included):
        router, router_bias?, score_bias?, expert weights, expert biases, shared weights."""
        E, D, F = self.num_experts, self.hidden, self.ffn
        src = self.sources
        ops = [
            Operand("router", "router", self.router_name, (E, D), src.get("router", ()))
        ]
        for role, name in (
            ("router_bias", self.router_bias_name),
            ("score_bias", self.score_bias_name),
        ):
            if name:
                ops.append(Operand(role, role, name, (E,), src.get(role, ())))
        if self.gated:
            shapes = ((E, F, D), (E, F, D), (E, D, F))
            bias_shapes = ((E, F), (E, F), (E, D))
        else:
            shapes, bias_shapes = ((E, F, D), (E, D, F)), ((E, F), (E, D))
        for role, shape, name in zip(self.expert_roles, shapes, self.expert_names):
            ops.append(Operand(role, f"w_{role}", name, shape, src.get(role, ())))
        for role, shape, name in zip(
            self.expert_roles, bias_shapes, self.expert_bias_names
        ):
            key = f"{role}_bias"
            ops.append(Operand(key, f"b_{role}", name, shape, src.get(key, ())))
        if self.shared_ffn:
            Fs = self.shared_ffn
            shapes = ((Fs, D), (Fs, D), (D, Fs))
            for role, shape, name in zip(GATED_ROLES, shapes, self.shared_names):
                key = f"shared_{role}"
                ops.append(Operand(key, key, name, shape, src.get(key, ())))
            if self.shared_gate_name:
                key = "shared_expert_gate"
                ops.append(
                    Operand(key, key, self.shared_gate_name, (1, D), src.get(key, ()))
                )
        return ops


# --- gen-layer SPEC.json -------------------------------------------------------------------

GEN_NAMES = {
    "router": "router",
    "router_bias": "router_bias",
    "score_bias": "score_bias",
    "gated": ("experts.{e}.gate", "experts.{e}.up", "experts.{e}.down"),
    "nongated": ("experts.{e}.in", "experts.{e}.out"),
    "gated_bias": (
        "experts.{e}.gate_bias",
        "experts.{e}.up_bias",
        "experts.{e}.down_bias",
    ),
    "nongated_bias": ("experts.{e}.in_bias", "experts.{e}.out_bias"),
    "shared": ("shared.gate", "shared.up", "shared.down"),
    "shared_expert_gate": "shared_expert_gate",
}

# layout "stacked": one tensor per projection, gate and up fused (concatenated, gate first)
GEN_STACKED = {
    "gated": ("experts.gate", "experts.up", "experts.down"),
    "nongated": ("experts.in", "experts.out"),
    "gated_bias": ("experts.gate_bias", "experts.up_bias", "experts.down_bias"),
    "nongated_bias": ("experts.in_bias", "experts.out_bias"),
    "gate_up": "experts.gate_up",
    "gate_up_bias": "experts.gate_up_bias",
}

# key -> JSON type checked before anything else (ints and the shared width are checked by
# LayerSpec.validate, whose messages name the layer parameter)
_SPEC_TYPES = {
    "scoring": "str",
    "selection": "str",
    "group_mask": "str",
    "activation": "str",
    "drop_policy": "str",
    "layout": "str",
    "comment": "str",
    "name": "str",
    "normalize": "bool",
    "gated": "bool",
    "router_bias": "bool",
    "score_bias": "bool",
    "shared_gate": "bool",
    "expert_bias": "bool",
    "routed_scaling_factor": "number",
    "capacity_factor": "number",
    "swiglu_alpha": "number",
    "swiglu_limit": "number",
    "hot_expert": "int",
    "nan_router_row": "int",
}
_SPEC_KEYS = set(_SPEC_TYPES) | {
    "T",
    "T_run",
    "D",
    "F",
    "E",
    "k",
    "n_group",
    "topk_group",
    "expert_capacity",
    "min_capacity",
    "shared_F",
    "F_s",
}
_TYPE_WORDS = {
    "str": "a string",
    "bool": "true or false",
    "number": "a number",
    "int": "an integer",
}


def _type_ok(v, kind: str) -> bool:
    if kind == "str":
        return isinstance(v, str)
    if kind == "bool":
        return isinstance(v, bool)
    if kind == "int":
        return _is_int(v)
    return is_number(v)


def _check_spec_types(d: dict) -> None:
    for key, kind in _SPEC_TYPES.items():
        if key in d and not _type_ok(d[key], kind):
            raise MoecError(
                f"SPEC.json key {key} must be {_TYPE_WORDS[kind]}, got {d[key]!r}"
            )


def _spec_tokens(d: dict) -> tuple[int | None, int]:
    """(static T or None, T of the generated input)."""
    t = d.get("T", "dynamic")
    if t == "dynamic" or t is None:
        tokens, t_run = None, d.get("T_run", 16)
    elif _is_int(t):
        if t <= 0:
            raise MoecError(f'T must be a positive integer or "dynamic", got {t!r}')
        tokens, t_run = t, d.get("T_run", t)
        if t_run != t:
            raise MoecError(f"T_run = {t_run!r} differs from the static T = {t}")
    else:
        raise MoecError(f'T must be an integer or "dynamic", got {t!r}')
    if not _is_int(t_run) or not 0 < t_run <= MAX_DIM:
        raise MoecError(f"T_run must be a positive integer, got {t_run!r}")
    return tokens, t_run


def _gen_expert_names(gated: bool, bias: bool, layout: str) -> dict:
    """expert_names, expert_bias_names and sources for gen-layer's two layouts."""
    kind = "gated" if gated else "nongated"
    if layout == "per-expert":
        return {
            "expert_names": GEN_NAMES[kind],
            "expert_bias_names": GEN_NAMES[f"{kind}_bias"] if bias else (),
            "sources": {},
        }
    names = GEN_STACKED[kind]
    bias_names = GEN_STACKED[f"{kind}_bias"] if bias else ()
    sources = {}
    if gated:
        for role, part in (("gate", 0), ("up", 1)):
            sources[role] = (Source(GEN_STACKED["gate_up"], parts=2, part=part),)
            if bias:
                sources[f"{role}_bias"] = (
                    Source(GEN_STACKED["gate_up_bias"], parts=2, part=part),
                )
    return {"expert_names": names, "expert_bias_names": bias_names, "sources": sources}


def spec_from_json(d: dict) -> tuple[LayerSpec, int]:
    """Parse a gen-layer SPEC.json; returns (spec, run-time T for the generated input)."""
    if not isinstance(d, dict):
        raise MoecError("SPEC.json must be a JSON object")
    unknown = sorted(set(d) - _SPEC_KEYS)
    if unknown:
        raise MoecError(
            f"unknown SPEC.json key(s): {', '.join(unknown)} (known: {', '.join(sorted(_SPEC_KEYS))})"
        )
    missing = [k for k in ("D", "F", "E", "k") if k not in d]
    if missing:
        raise MoecError(f"SPEC.json is missing required key(s): {', '.join(missing)}")
    _check_spec_types(d)
    tokens, t_run = _spec_tokens(d)
    if "hot_expert" in d and not d.get("router_bias"):
        raise MoecError("hot_expert needs router_bias = true (it raises that bias)")
    layout = d.get("layout", "per-expert")
    if layout not in LAYOUTS:
        raise MoecError(
            f"unsupported layout {layout!r} (supported: {', '.join(LAYOUTS)})"
        )
    activation = d.get("activation", "silu")
    if activation != "clamped_swiglu" and ("swiglu_alpha" in d or "swiglu_limit" in d):
        raise MoecError("swiglu_alpha and swiglu_limit need activation clamped_swiglu")
    gated = d.get("gated", True)
    shared_ffn = d.get("shared_F", d.get("F_s", 0))
    shared_ffn = 0 if shared_ffn is None else shared_ffn
    spec = LayerSpec(
        hidden=d["D"],
        ffn=d["F"],
        num_experts=d["E"],
        top_k=d["k"],
        router_name=GEN_NAMES["router"],
        tokens=tokens,
        scoring=d.get("scoring", "softmax"),
        selection=d.get("selection", "plain"),
        n_group=d.get("n_group"),
        topk_group=d.get("topk_group"),
        group_mask=d.get("group_mask", "neg_inf"),
        normalize=d.get("normalize", False),
        routed_scaling_factor=float(d.get("routed_scaling_factor", 1.0)),
        activation=activation,
        swiglu_alpha=float(d.get("swiglu_alpha", DEFAULT_SWIGLU_ALPHA)),
        swiglu_limit=None if "swiglu_limit" not in d else float(d["swiglu_limit"]),
        gated=gated,
        capacity_factor=None
        if d.get("capacity_factor") is None
        else float(d["capacity_factor"]),
        expert_capacity=d.get("expert_capacity"),
        min_capacity=d.get("min_capacity", 0),
        drop_policy=d.get("drop_policy", "zero"),
        router_bias_name=GEN_NAMES["router_bias"] if d.get("router_bias") else None,
        score_bias_name=GEN_NAMES["score_bias"] if d.get("score_bias") else None,
        shared_ffn=shared_ffn,
        shared_names=GEN_NAMES["shared"] if shared_ffn else (),
        shared_gate_name=GEN_NAMES["shared_expert_gate"]
        if d.get("shared_gate")
        else None,
        family="raw",
        **_gen_expert_names(gated, d.get("expert_bias", False), layout),
    )
    spec.validate()
    for key in ("hot_expert", "nan_router_row"):
        if key in d and not 0 <= d[key] < spec.num_experts:
            raise MoecError(
                f"{key} must be an expert index in 0..{spec.num_experts - 1}, got {d[key]}"
            )
    return spec, t_run
