"""LayerSpec: everything about one MoE block that the emitter, weights and reference need.

Built either from a Hugging Face config (``configs.py``) or from a raw gen-layer SPEC.json
(``spec_from_json`` below). Weight names are checkpoint names; per-expert tensors carry ``{e}``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .errors import MoecError

SCORINGS = ("softmax", "sigmoid")
SELECTIONS = ("plain", "group_sum_top2", "group_max")
ACTIVATIONS = ("silu", "gelu", "relu")
DROP_POLICIES = ("zero", "passthrough")


@dataclass(frozen=True)
class Operand:
    """One weight operand of ``moe.layer`` (in operand order)."""

    role: str  # router, router_bias, score_bias, gate, up, down, in, out, shared_*, shared_expert_gate
    ssa: str  # SSA name without '%'
    name: str  # checkpoint name; contains '{e}' when stacked per expert
    shape: tuple[int, ...]  # full (stacked) shape

    @property
    def stacked(self) -> bool:
        return "{e}" in self.name


@dataclass
class LayerSpec:
    hidden: int  # D
    ffn: int  # F (per routed expert)
    num_experts: int  # E
    top_k: int  # k
    router_name: str
    expert_names: tuple[
        str, ...
    ]  # gated: (gate, up, down); non-gated: (in, out); '{e}' templates
    tokens: int | None = None  # static T, None = dynamic
    scoring: str = "softmax"
    selection: str = "plain"
    n_group: int | None = None
    topk_group: int | None = None
    normalize: bool = False
    routed_scaling_factor: float = 1.0
    activation: str = "silu"
    gated: bool = True
    capacity_factor: float | None = None
    expert_capacity: int | None = None
    min_capacity: int = 0
    drop_policy: str = "zero"
    router_bias_name: str | None = None
    score_bias_name: str | None = None
    shared_ffn: int = 0  # F_s; 0 = no shared expert
    shared_names: tuple[str, ...] = ()  # (gate, up, down) of the shared expert
    shared_gate_name: str | None = (
        None  # [1, D] sigmoid gate on the shared expert output
    )
    family: str = "raw"
    extra: dict = field(default_factory=dict)  # descriptive only

    def validate(self) -> LayerSpec:
        def bad(msg: str) -> None:
            raise MoecError(msg)

        for key in ("hidden", "ffn", "num_experts", "top_k"):
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                bad(f"{key} must be a positive integer, got {v!r}")
        if self.top_k > self.num_experts:
            bad(
                f"top_k = {self.top_k} exceeds the number of experts {self.num_experts}"
            )
        if self.tokens is not None and (
            not isinstance(self.tokens, int) or self.tokens <= 0
        ):
            bad(f"tokens must be a positive integer, got {self.tokens!r}")
        if self.scoring not in SCORINGS:
            bad(
                f"unsupported scoring {self.scoring!r} (supported: {', '.join(SCORINGS)})"
            )
        if self.selection not in SELECTIONS:
            bad(
                f"unsupported selection {self.selection!r} (supported: {', '.join(SELECTIONS)})"
            )
        if self.activation not in ACTIVATIONS:
            bad(
                f"unsupported activation {self.activation!r} (supported: {', '.join(ACTIVATIONS)})"
            )
        if self.drop_policy not in DROP_POLICIES:
            bad(
                f"unsupported drop_policy {self.drop_policy!r} (supported: {', '.join(DROP_POLICIES)})"
            )
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
        if self.min_capacity < 0:
            bad(f"min_capacity must be >= 0, got {self.min_capacity!r}")
        if not (
            math.isfinite(self.routed_scaling_factor) and self.routed_scaling_factor > 0
        ):
            bad(
                f"routed_scaling_factor must be a finite number > 0, got {self.routed_scaling_factor!r}"
            )
        for key in ("n_group", "topk_group", "expert_capacity"):
            v = getattr(self, key)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
                bad(f"{key} must be an integer, got {v!r}")
        for key in ("min_capacity", "shared_ffn"):
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                bad(f"{key} must be a non-negative integer, got {v!r}")
        if self.drop_policy == "passthrough" and not self.has_capacity:
            bad(
                "drop_policy passthrough needs a capacity limit (capacity_factor or expert_capacity)"
            )
        if len(self.expert_names) != (3 if self.gated else 2):
            bad(
                "expert_names must be (gate, up, down) for gated and (in, out) for non-gated experts"
            )
        if self.shared_ffn and len(self.shared_names) != 3:
            bad("a shared expert needs (gate, up, down) names")
        if self.shared_gate_name and not self.shared_ffn:
            bad("shared_gate needs a shared expert")
        return self

    @property
    def has_capacity(self) -> bool:
        return self.capacity_factor is not None or self.expert_capacity is not None

    def operands(self) -> list[Operand]:
        """Weight operands in ``moe.layer`` operand order (the input x is not included)."""
        E, D, F = self.num_experts, self.hidden, self.ffn
        ops = [Operand("router", "router", self.router_name, (E, D))]
        if self.router_bias_name:
            ops.append(
                Operand("router_bias", "router_bias", self.router_bias_name, (E,))
            )
        if self.score_bias_name:
            ops.append(Operand("score_bias", "score_bias", self.score_bias_name, (E,)))
        if self.gated:
            roles = (("gate", (E, F, D)), ("up", (E, F, D)), ("down", (E, D, F)))
        else:
            roles = (("in", (E, F, D)), ("out", (E, D, F)))
        for (role, shape), name in zip(roles, self.expert_names):
            ops.append(Operand(role, f"w_{role}", name, shape))
        if self.shared_ffn:
            Fs = self.shared_ffn
            shapes = ((Fs, D), (Fs, D), (D, Fs))
            for role, shape, name in zip(
                ("gate", "up", "down"), shapes, self.shared_names
            ):
                ops.append(Operand(f"shared_{role}", f"shared_{role}", name, shape))
            if self.shared_gate_name:
                ops.append(
                    Operand(
                        "shared_expert_gate",
                        "shared_expert_gate",
                        self.shared_gate_name,
                        (1, D),
                    )
                )
        return ops


# --- gen-layer SPEC.json -------------------------------------------------------------------

GEN_NAMES = {
    "router": "router",
    "router_bias": "router_bias",
    "score_bias": "score_bias",
    "gated": ("experts.{e}.gate", "experts.{e}.up", "experts.{e}.down"),
    "nongated": ("experts.{e}.in", "experts.{e}.out"),
    "shared": ("shared.gate", "shared.up", "shared.down"),
    "shared_expert_gate": "shared_expert_gate",
}

_SPEC_KEYS = {
    "T",
    "T_run",
    "D",
    "F",
    "E",
    "k",
    "scoring",
    "selection",
    "n_group",
    "topk_group",
    "normalize",
    "routed_scaling_factor",
    "activation",
    "gated",
    "capacity_factor",
    "expert_capacity",
    "min_capacity",
    "drop_policy",
    "router_bias",
    "score_bias",
    "shared_F",
    "F_s",
    "shared_gate",
    "comment",
    "name",
    "hot_expert",
    "nan_router_row",
}


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
    t = d.get("T", "dynamic")
    if t == "dynamic" or t is None:
        tokens = None
        t_run = d.get("T_run", 16)
    elif isinstance(t, int) and not isinstance(t, bool):
        if t <= 0:
            raise MoecError(f'T must be a positive integer or "dynamic", got {t!r}')
        tokens = t
        t_run = d.get("T_run", t)
        if t_run != t:
            raise MoecError(f"T_run = {t_run} differs from the static T = {t}")
    else:
        raise MoecError(f'T must be an integer or "dynamic", got {t!r}')
    if not isinstance(t_run, int) or t_run <= 0:
        raise MoecError(f"T_run must be a positive integer, got {t_run!r}")
    for key in ("normalize", "gated", "router_bias", "score_bias", "shared_gate"):
        if key in d and not isinstance(d[key], bool):
            raise MoecError(
                f"SPEC.json key {key} must be true or false, got {d[key]!r}"
            )
    if "hot_expert" in d and not d.get("router_bias"):
        raise MoecError("hot_expert needs router_bias = true (it raises that bias)")
    gated = bool(d.get("gated", True))
    shared_ffn = d.get("shared_F", d.get("F_s", 0)) or 0
    cf = d.get("capacity_factor")
    spec = LayerSpec(
        hidden=d["D"],
        ffn=d["F"],
        num_experts=d["E"],
        top_k=d["k"],
        router_name=GEN_NAMES["router"],
        expert_names=GEN_NAMES["gated"] if gated else GEN_NAMES["nongated"],
        tokens=tokens,
        scoring=d.get("scoring", "softmax"),
        selection=d.get("selection", "plain"),
        n_group=d.get("n_group"),
        topk_group=d.get("topk_group"),
        normalize=bool(d.get("normalize", False)),
        routed_scaling_factor=float(d.get("routed_scaling_factor", 1.0)),
        activation=d.get("activation", "silu"),
        gated=gated,
        capacity_factor=None if cf is None else float(cf),
        expert_capacity=d.get("expert_capacity"),
        min_capacity=int(d.get("min_capacity", 0)),
        drop_policy=d.get("drop_policy", "zero"),
        router_bias_name=GEN_NAMES["router_bias"] if d.get("router_bias") else None,
        score_bias_name=GEN_NAMES["score_bias"] if d.get("score_bias") else None,
        shared_ffn=shared_ffn,
        shared_names=GEN_NAMES["shared"] if shared_ffn else (),
        shared_gate_name=GEN_NAMES["shared_expert_gate"]
        if d.get("shared_gate")
        else None,
        family="raw",
    )
    return spec.validate(), t_run
