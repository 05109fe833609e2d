"""Hugging Face config.json -> LayerSpec for one decoder layer's MoE block.

One function per family. Shape keys (hidden size, expert width, expert count, top-k) are
required; semantic keys fall back to the Hugging Face config class defaults. Keys that do not
affect the MoE block are ignored; a semantics-changing value we cannot express is an error.

Every key a family reads has a JSON type (``SCHEMAS``) that is checked before anything else,
so ``"norm_topk_prob": "false"`` is an error instead of a truthy string. transformers 4 and 5
spell some keys differently (``attribute_map``); ``KEY_ALIASES`` lists every spelling.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from .errors import MoecError
from .spec import MAX_DIM, LayerSpec, Source, is_number

_ACTIVATIONS = {"silu": "silu", "swish": "silu", "gelu": "gelu", "relu": "relu"}
# What Switch Transformers does with a token past an expert's capacity: "passthrough" (kept
# as p·x), "zero" (contributes nothing) or "dropless" (capacity never binds). v4 and v5 name
# the behaviour of the 4.x releases before 4.52 and of 5.0-5.17.
SWITCH_SEMANTICS = ("auto", "passthrough", "zero", "dropless", "v4", "v5")
_SWITCH_ALIASES = {"v4": "passthrough", "v5": "dropless"}
# (first transformers release, behaviour). Each boundary was read off the released code of
# SwitchTransformersSparseMLP / Top1Router in the wheels on both sides of it (4.51.3 | 4.52.0,
# 4.57.1 | 5.0.0, 5.17.0 | 5.18.0), and 4.51.3, 4.57.1, 5.17.0 and 5.23.0 were run on the
# fixtures of test/Integration/transformers.
SWITCH_HISTORY: tuple[tuple[tuple[int, int], str], ...] = (
    (
        (0, 0),
        "passthrough",
    ),  # next_states = hidden_states.clone(): p·x for a dropped token
    ((4, 52), "zero"),  # next_states starts from zeros: a dropped token contributes 0
    (
        (5, 0),
        "dropless",
    ),  # the capacity cumsum runs over a size-1 axis: nothing is dropped
    ((5, 18), "zero"),  # the cumsum runs over the tokens again; drops contribute 0
)

# family -> canonical key -> every spelling transformers has written or accepts for it
# (canonical first). From the config classes' ``attribute_map`` in transformers 4.x and 5.x:
# Mixtral 5 maps num_experts -> num_local_experts, Qwen3-MoE 5 maps num_experts ->
# num_local_experts (so 5 writes num_local_experts), OLMoE 5 maps num_local_experts ->
# num_experts, DeepSeek-V2 5 maps num_experts -> n_routed_experts, DeepSeek-V3 maps
# num_local_experts -> n_routed_experts, GPT-OSS maps num_experts -> num_local_experts, and
# Switch maps hidden_size -> d_model, num_hidden_layers -> num_layers.
KEY_ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "mixtral": {"num_local_experts": ("num_local_experts", "num_experts")},
    "qwen2_moe": {},
    "qwen3_moe": {"num_experts": ("num_experts", "num_local_experts")},
    "olmoe": {"num_experts": ("num_experts", "num_local_experts")},
    "deepseek_v2": {"n_routed_experts": ("n_routed_experts", "num_experts")},
    "deepseek_v3": {"n_routed_experts": ("n_routed_experts", "num_local_experts")},
    "switch_transformers": {
        "d_model": ("d_model", "hidden_size"),
        "num_layers": ("num_layers", "num_hidden_layers"),
    },
    "gpt_oss": {"num_local_experts": ("num_local_experts", "num_experts")},
}

_COMMON = {"model_type": "str", "transformers_version": "str"}
_QWEN = {
    "hidden_size": "int",
    "moe_intermediate_size": "int",
    "num_experts": "int",
    "num_experts_per_tok": "int",
    "num_hidden_layers": "int",
    "norm_topk_prob": "bool",
    "decoder_sparse_step": "int",
    "mlp_only_layers": "int_list",
    "hidden_act": "str",
}
_DEEPSEEK = {
    "hidden_size": "int",
    "moe_intermediate_size": "int",
    "n_routed_experts": "int",
    "num_experts_per_tok": "int",
    "num_hidden_layers": "int",
    "n_shared_experts": "int",
    "n_group": "int",
    "topk_group": "int",
    "topk_method": "str",
    "scoring_func": "str",
    "norm_topk_prob": "bool",
    "routed_scaling_factor": "number",
    "first_k_dense_replace": "int",
    "moe_layer_freq": "int",
    "hidden_act": "str",
}
# family -> every key the family reads (canonical spelling) -> its JSON type
SCHEMAS: dict[str, dict[str, str]] = {
    "mixtral": {
        "hidden_size": "int",
        "intermediate_size": "int",
        "num_local_experts": "int",
        "num_experts_per_tok": "int",
        "num_hidden_layers": "int",
        "hidden_act": "str",
    },
    "qwen2_moe": {**_QWEN, "shared_expert_intermediate_size": "int"},
    "qwen3_moe": _QWEN,
    "olmoe": {
        "hidden_size": "int",
        "intermediate_size": "int",
        "num_experts": "int",
        "num_experts_per_tok": "int",
        "num_hidden_layers": "int",
        "norm_topk_prob": "bool",
        "hidden_act": "str",
    },
    "deepseek_v2": _DEEPSEEK,
    "deepseek_v3": _DEEPSEEK,
    "switch_transformers": {
        "d_model": "int",
        "d_ff": "int",
        "num_experts": "int",
        "expert_capacity": "int",
        "num_layers": "int",
        "num_sparse_encoder_layers": "int",
        "encoder_sparse_step": "int",
        "router_bias": "bool",
        "dense_act_fn": "str",
    },
    "gpt_oss": {
        "hidden_size": "int",
        "intermediate_size": "int",
        "num_local_experts": "int",
        "num_experts_per_tok": "int",
        "num_hidden_layers": "int",
        "swiglu_limit": "number",
        "swiglu_alpha": "number",
    },
}

_TYPE_WORDS = {
    "int": "an integer",
    "bool": "a JSON boolean (true or false)",
    "number": "a number",
    "str": "a string",
    "int_list": "a list of integers",
}


def _json_kind(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int | float):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "a list"
    return "an object"


def _shown(v) -> str:
    """A config value for an error message: strings quoted, the rest as JSON, truncated."""
    try:
        text = repr(v) if isinstance(v, str) else json.dumps(v)
    except (TypeError, ValueError, RecursionError):
        text = "..."
    return text if len(text) <= 60 else text[:57] + "..."


def _type_ok(v, kind: str) -> bool:
    if kind == "int":
        return isinstance(v, int) and not isinstance(v, bool)
    if kind == "bool":
        return isinstance(v, bool)
    if kind == "number":
        return is_number(v)
    if kind == "str":
        return isinstance(v, str)
    return isinstance(v, list) and all(_type_ok(x, "int") for x in v)


class _Config:
    """Typed, alias-aware access to one config dict. Null values count as absent."""

    def __init__(self, cfg: dict, family: str):
        self.cfg, self.family = cfg, family
        self.aliases = KEY_ALIASES.get(family, {})
        for key, kind in {**_COMMON, **SCHEMAS[family]}.items():
            for spelling in self.spellings(key):
                v = cfg.get(spelling)
                if v is not None and not _type_ok(v, kind):
                    raise MoecError(
                        f"config key {spelling} must be {_TYPE_WORDS[kind]}, "
                        f"got {_shown(v)} ({_json_kind(v)})"
                    )
            self.get(key)  # alias conflicts

    def spellings(self, key: str) -> tuple[str, ...]:
        return self.aliases.get(key, (key,))

    def describe(self, key: str) -> str:
        """``key`` or ``key (or alias)`` for messages."""
        rest = self.spellings(key)[1:]
        return key + (f" (or {' or '.join(rest)})" if rest else "")

    def present(self, key: str) -> bool:
        """Whether any spelling of ``key`` appears in the config (null included)."""
        return any(s in self.cfg for s in self.spellings(key))

    def get(self, key: str, default=None):
        found = [
            (s, self.cfg[s]) for s in self.spellings(key) if self.cfg.get(s) is not None
        ]
        if len({json.dumps(v) for _, v in found}) > 1:
            listed = " and ".join(f"{s} = {_shown(v)}" for s, v in found)
            raise MoecError(
                f"config gives {listed}: transformers treats these spellings as one "
                "setting, so they must agree"
            )
        return found[0][1] if found else default

    def require(self, *keys: str, what: str | None = None) -> None:
        missing = [self.describe(k) for k in keys if self.get(k) is None]
        if missing:
            raise MoecError(
                f"{what or self.family} config is missing required key(s): {', '.join(missing)}"
            )


def _choice(c: _Config, key: str, default: str, supported: dict[str, str]) -> str:
    value = c.get(key, default)
    if value not in supported:
        raise MoecError(
            f"unsupported {key} {value!r} for {c.family} (supported: {', '.join(sorted(supported))})"
        )
    return supported[value]


def _activation(c: _Config, key: str = "hidden_act", default: str = "silu") -> str:
    return _choice(c, key, default, _ACTIVATIONS)


def _check_layer_range(c: _Config, layer: int, key: str, default: int | None) -> None:
    n = c.get(key, default)
    if layer < 0 or (n is not None and layer >= n):
        raise MoecError(f"layer {layer} is out of range ({key} = {n})")


def _not_moe(family: str, layer: int, why: str) -> MoecError:
    return MoecError(
        f"layer {layer} of this {family} config is not an MoE layer ({why})"
    )


def _gated_names(prefix: str, gate: str, up: str, down: str) -> tuple[str, str, str]:
    return tuple(f"{prefix}.experts.{{e}}.{n}.weight" for n in (gate, up, down))


def _dual_layout_sources(
    per_expert: tuple[str, str, str], fused_prefix: str
) -> dict[str, tuple[Source, ...]]:
    """Gated experts stored per expert (the Hub checkpoints, and what save_pretrained writes in
    transformers 4 and 5) or fused as transformers 5's ``*Experts`` modules hold them in memory:
    ``gate_up_proj`` [E, 2F, D] with gate the first half (``chunk(2)``), ``down_proj``
    [E, D, F]."""
    gate, up, down = per_expert
    fused = f"{fused_prefix}.experts.gate_up_proj"
    return {
        "gate": (
            Source(gate, layout="per-expert"),
            Source(fused, parts=2, part=0, layout="stacked"),
        ),
        "up": (
            Source(up, layout="per-expert"),
            Source(fused, parts=2, part=1, layout="stacked"),
        ),
        "down": (
            Source(down, layout="per-expert"),
            Source(f"{fused_prefix}.experts.down_proj", layout="stacked"),
        ),
    }


def _sizes(c: _Config, *keys: str) -> list[int]:
    """Required size keys, which must also be positive and not absurd."""
    c.require(*keys)
    values = [c.get(k) for k in keys]
    for key, v in zip(keys, values):
        if not 0 < v <= MAX_DIM:
            raise MoecError(
                f"config key {key} must be a positive integer of at most {MAX_DIM}, got {v}"
            )
    return values


def _mixtral(c: _Config, layer: int, _opts: dict) -> LayerSpec:
    D, F, E, k = _sizes(
        c,
        "hidden_size",
        "intermediate_size",
        "num_local_experts",
        "num_experts_per_tok",
    )
    _check_layer_range(c, layer, "num_hidden_layers", None)
    # The checkpoints name the block block_sparse_moe (transformers 5's save_pretrained writes
    # those names back too); in memory transformers 5 calls it mlp (conversion_mapping:
    # ".block_sparse_moe.gate" -> ".mlp.gate") and fuses the experts.
    p4 = f"model.layers.{layer}.block_sparse_moe"
    p5 = f"model.layers.{layer}.mlp"
    names = _gated_names(p4, "w1", "w3", "w2")
    sources = _dual_layout_sources(names, p5)
    sources["router"] = (
        Source(f"{p4}.gate.weight", layout="per-expert"),
        Source(f"{p5}.gate.weight", layout="stacked"),
    )
    return LayerSpec(
        hidden=D,
        ffn=F,
        num_experts=E,
        top_k=k,
        router_name=f"{p4}.gate.weight",
        expert_names=names,
        normalize=True,  # Mixtral always renormalizes the top-k softmax weights
        activation=_activation(c),
        sources=sources,
        family=c.family,
    )


def _qwen_is_moe(c: _Config, layer: int, num_experts: int) -> None:
    if layer in (c.get("mlp_only_layers", []) or []):
        raise _not_moe(c.family, layer, "listed in mlp_only_layers")
    step = c.get("decoder_sparse_step", 1)
    if num_experts <= 0 or step <= 0 or (layer + 1) % step != 0:
        raise _not_moe(
            c.family,
            layer,
            f"decoder_sparse_step = {step}: MoE layers satisfy (layer + 1) % step == 0",
        )


def _qwen(c: _Config, layer: int, _opts: dict) -> LayerSpec:
    """Qwen2-MoE (shared expert with a sigmoid gate) and Qwen3-MoE (no shared expert)."""
    qwen2 = c.family == "qwen2_moe"
    keys = [
        "hidden_size",
        "moe_intermediate_size",
        "num_experts",
        "num_experts_per_tok",
    ]
    c.require(*keys, *(["shared_expert_intermediate_size"] if qwen2 else []))
    _check_layer_range(c, layer, "num_hidden_layers", None)
    _qwen_is_moe(c, layer, c.get("num_experts"))
    D, F, E, k = _sizes(c, *keys)
    p = f"model.layers.{layer}.mlp"
    names = _gated_names(p, "gate_proj", "up_proj", "down_proj")
    fs = c.get("shared_expert_intermediate_size", 0) if qwen2 else 0
    if fs < 0 or fs > MAX_DIM:
        raise MoecError(
            f"config key shared_expert_intermediate_size is out of range: {fs}"
        )
    return LayerSpec(
        hidden=D,
        ffn=F,
        num_experts=E,
        top_k=k,
        router_name=f"{p}.gate.weight",
        expert_names=names,
        # HF class default false; real Qwen3 configs say true
        normalize=c.get("norm_topk_prob", False),
        activation=_activation(c),
        shared_ffn=fs,
        shared_names=tuple(
            f"{p}.shared_expert.{n}.weight"
            for n in ("gate_proj", "up_proj", "down_proj")
        )
        if fs
        else (),
        shared_gate_name=f"{p}.shared_expert_gate.weight" if fs else None,
        sources=_dual_layout_sources(names, p),
        family=c.family,
    )


def _olmoe(c: _Config, layer: int, _opts: dict) -> LayerSpec:
    D, F, E, k = _sizes(
        c, "hidden_size", "intermediate_size", "num_experts", "num_experts_per_tok"
    )
    _check_layer_range(c, layer, "num_hidden_layers", None)
    p = f"model.layers.{layer}.mlp"
    names = _gated_names(p, "gate_proj", "up_proj", "down_proj")
    return LayerSpec(
        hidden=D,
        ffn=F,
        num_experts=E,
        top_k=k,
        router_name=f"{p}.gate.weight",
        expert_names=names,
        normalize=c.get("norm_topk_prob", False),
        activation=_activation(c),
        sources=_dual_layout_sources(names, p),
        family=c.family,
    )


def _deepseek_group_mask(c: _Config) -> str:
    """What the experts of dropped groups score: 0.0 in deepseek-ai's remote code and in
    transformers before 5.6 (checked: 4.51.3, 4.57.1, 5.0.0, 5.5.0), -inf from 5.6 (checked:
    5.6.0 - 5.23.0). A config without transformers_version is taken as remote-code's.
    DeepSeek-V2 masks with 0.0 everywhere (its softmax scores are > 0, so it rarely matters)."""
    version = c.get("transformers_version")
    if (
        c.family == "deepseek_v2"
        or version is None
        or transformers_release(version) < (5, 6)
    ):
        return "zero"
    return "neg_inf"


def _deepseek_routing(c: _Config, k: int) -> dict:
    """scoring, selection, normalization and scale of DeepSeek-V2/V3's reference code."""
    v3 = c.family == "deepseek_v3"
    norm = c.get("norm_topk_prob", v3)
    scale = float(c.get("routed_scaling_factor", 2.5 if v3 else 1.0))
    if v3:
        scoring = _choice(c, "scoring_func", "sigmoid", {"sigmoid": "sigmoid"})
        selection = _choice(
            c, "topk_method", "noaux_tc", {"noaux_tc": "group_sum_top2"}
        )
        # Reference code: normalization only when top_k > 1; the scale is always applied.
        normalize = norm and k > 1
    else:
        scoring = _choice(c, "scoring_func", "softmax", {"softmax": "softmax"})
        selection = _choice(
            c,
            "topk_method",
            "greedy",
            {"greedy": "plain", "gready": "plain", "group_limited_greedy": "group_max"},
        )
        # Reference code: if top_k > 1 and norm_topk_prob: renormalize (no scale) else: scale.
        normalize = norm and k > 1
        if normalize:
            scale = 1.0
    n_group = topk_group = None
    if selection != "plain":
        if v3:
            n_group, topk_group = c.get("n_group", 8), c.get("topk_group", 4)
        else:
            c.require(
                "n_group",
                "topk_group",
                what=f"{c.family} (topk_method group_limited_greedy)",
            )
            n_group, topk_group = c.get("n_group"), c.get("topk_group")
    return {
        "scoring": scoring,
        "selection": selection,
        "n_group": n_group,
        "topk_group": topk_group,
        "group_mask": _deepseek_group_mask(c) if selection != "plain" else "neg_inf",
        "normalize": normalize,
        "routed_scaling_factor": scale,
    }


def _deepseek(c: _Config, layer: int, _opts: dict) -> LayerSpec:
    v3 = c.family == "deepseek_v3"
    c.require("hidden_size", "moe_intermediate_size", "num_experts_per_tok")
    _check_layer_range(c, layer, "num_hidden_layers", None)
    if c.get("n_routed_experts") is None:
        if c.present("n_routed_experts"):
            raise _not_moe(c.family, layer, "n_routed_experts is null")
        c.require("n_routed_experts")
    first_dense = c.get("first_k_dense_replace", 3 if v3 else 0)
    freq = c.get("moe_layer_freq", 1)
    if layer < first_dense:
        raise _not_moe(c.family, layer, f"first_k_dense_replace = {first_dense}")
    if freq <= 0 or layer % freq != 0:
        raise _not_moe(
            c.family,
            layer,
            f"moe_layer_freq = {freq}: MoE layers satisfy layer % freq == 0",
        )
    D, F, E, k = _sizes(
        c,
        "hidden_size",
        "moe_intermediate_size",
        "n_routed_experts",
        "num_experts_per_tok",
    )
    p = f"model.layers.{layer}.mlp"
    if "n_shared_experts" in c.cfg:
        n_shared = c.get("n_shared_experts", 0)  # null: no shared experts
    else:
        n_shared = 1 if v3 else 2  # transformers config class defaults
    if not 0 <= n_shared <= MAX_DIM // F:
        raise MoecError(f"config key n_shared_experts is out of range: {n_shared}")
    fs = F * n_shared
    names = _gated_names(p, "gate_proj", "up_proj", "down_proj")
    return LayerSpec(
        hidden=D,
        ffn=F,
        num_experts=E,
        top_k=k,
        router_name=f"{p}.gate.weight",
        expert_names=names,
        activation=_activation(c),
        score_bias_name=f"{p}.gate.e_score_correction_bias" if v3 else None,
        shared_ffn=fs,
        shared_names=tuple(
            f"{p}.shared_experts.{n}.weight"
            for n in ("gate_proj", "up_proj", "down_proj")
        )
        if fs
        else (),
        sources=_dual_layout_sources(names, p),
        family=c.family,
        **_deepseek_routing(c, k),
    )


_VERSION = re.compile(
    r"(\d+)(?:\.\d+)*"  # release
    r"(?:[-_.]?(?:a|b|c|rc|alpha|beta|pre|preview)[-_.]?\d*)?"  # pre-release
    r"(?:[-_.]?(?:post|rev|r)[-_.]?\d*)?"  # post-release
    r"(?:[-_.]?dev[-_.]?\d*)?"  # development release
    r"(?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?",  # local version label
    re.IGNORECASE,
)


def transformers_release(version: str) -> tuple[int, int]:
    """(major, minor) of a PEP 440 version string ("5.17.0", "4.46.0.dev0", "5.0.0rc1")."""
    m = _VERSION.fullmatch(version.strip()) if isinstance(version, str) else None
    if not m:
        raise MoecError(
            f"config key transformers_version is not a version number: {_shown(version)} "
            '(expected e.g. "4.46.0" or "5.0.0.dev0"; --switch-semantics skips it)'
        )
    parts = version.strip().split(".")
    minor = re.match(r"\d+", parts[1]) if len(parts) > 1 else None
    return int(m.group(1)), int(minor.group(0)) if minor else 0


def transformers_major(version: str) -> int:
    return transformers_release(version)[0]


def switch_semantics(c: _Config, requested: str) -> str:
    """ "passthrough", "zero" or "dropless": forced, or what the transformers release that
    wrote the config computes (no transformers_version: the old behaviour, passthrough)."""
    if requested not in SWITCH_SEMANTICS:
        raise MoecError(
            f"unsupported switch semantics {requested!r} (supported: {', '.join(SWITCH_SEMANTICS)})"
        )
    if requested != "auto":
        return _SWITCH_ALIASES.get(requested, requested)
    version = c.get("transformers_version")
    if version is None:
        return "passthrough"
    release = transformers_release(version)
    behaviour = next(b for first, b in reversed(SWITCH_HISTORY) if release >= first)
    return behaviour


def _switch(c: _Config, layer: int, opts: dict) -> LayerSpec:
    D, F, E = _sizes(c, "d_model", "d_ff", "num_experts")
    n_layers = c.get("num_layers", 12)
    _check_layer_range(c, layer, "num_layers", 12)
    step = c.get("encoder_sparse_step")
    if step is None:
        n_sparse = c.get("num_sparse_encoder_layers", 3)
        step = n_layers // n_sparse if n_sparse > 0 else 0
    sparse = (layer % step == 1 or step == 1) if step > 0 else False
    if not sparse:
        raise _not_moe(
            c.family,
            layer,
            f"encoder_sparse_step = {step}: sparse blocks satisfy layer % step == 1",
        )
    capacity = c.get("expert_capacity", 64)
    if capacity <= 0:
        raise MoecError(f"config key expert_capacity must be positive, got {capacity}")
    behaviour = switch_semantics(c, opts.get("switch_semantics", "auto"))
    p = f"encoder.block.{layer}.layer.1.mlp"
    return LayerSpec(
        hidden=D,
        ffn=F,
        num_experts=E,
        top_k=1,
        router_name=f"{p}.router.classifier.weight",
        expert_names=(
            f"{p}.experts.expert_{{e}}.wi.weight",
            f"{p}.experts.expert_{{e}}.wo.weight",
        ),
        activation=_activation(c, key="dense_act_fn", default="relu"),
        gated=False,
        # Capacity counted in token order over the sequence; what a dropped token contributes
        # depends on the transformers release (SWITCH_HISTORY).
        expert_capacity=None if behaviour == "dropless" else capacity,
        drop_policy="passthrough" if behaviour == "passthrough" else "zero",
        router_bias_name=f"{p}.router.classifier.bias"
        if c.get("router_bias", False)
        else None,
        family=c.family,
        extra={"switch_semantics": behaviour},
    )


def _gpt_oss(c: _Config, layer: int, _opts: dict) -> LayerSpec:
    """GPT-OSS: biased router, top-k of the logits then a softmax over those k (= softmax over
    all E, top-k, renormalize); experts with biases and the clamped SwiGLU, stored fused,
    transposed ([in, out]) and with gate/up interleaved."""
    D, F, E, k = _sizes(
        c,
        "hidden_size",
        "intermediate_size",
        "num_local_experts",
        "num_experts_per_tok",
    )
    _check_layer_range(c, layer, "num_hidden_layers", None)
    p = f"model.layers.{layer}.mlp"
    x = f"{p}.experts"
    gate_up = Source(f"{x}.gate_up_proj", transpose=True, parts=2, interleave=True)
    gate_up_bias = Source(f"{x}.gate_up_proj_bias", parts=2, interleave=True)
    return LayerSpec(
        hidden=D,
        ffn=F,
        num_experts=E,
        top_k=k,
        router_name=f"{p}.router.weight",
        router_bias_name=f"{p}.router.bias",
        expert_names=(f"{x}.gate", f"{x}.up", f"{x}.down"),
        expert_bias_names=(f"{x}.gate_bias", f"{x}.up_bias", f"{x}.down_bias"),
        normalize=True,
        activation="clamped_swiglu",
        swiglu_alpha=float(c.get("swiglu_alpha", 1.702)),
        swiglu_limit=float(c.get("swiglu_limit", 7.0)),
        sources={
            "gate": (gate_up,),
            "up": (
                Source(gate_up.name, transpose=True, parts=2, part=1, interleave=True),
            ),
            "down": (Source(f"{x}.down_proj", transpose=True),),
            "gate_bias": (gate_up_bias,),
            "up_bias": (Source(gate_up_bias.name, parts=2, part=1, interleave=True),),
            "down_bias": (Source(f"{x}.down_proj_bias"),),
        },
        family=c.family,
    )


FAMILIES: dict[str, Callable[[_Config, int, dict], LayerSpec]] = {
    "deepseek_v2": _deepseek,
    "deepseek_v3": _deepseek,
    "gpt_oss": _gpt_oss,
    "mixtral": _mixtral,
    "olmoe": _olmoe,
    "qwen2_moe": _qwen,
    "qwen3_moe": _qwen,
    "switch_transformers": _switch,
}


def layer_spec_from_config(
    cfg: dict,
    layer: int,
    *,
    tokens: int | None = None,
    capacity_factor: float | None = None,
    min_capacity: int | None = None,
    switch_semantics: str = "auto",
) -> LayerSpec:
    """The MoE block of decoder layer ``layer``; optional capacity limit (drops contribute zero).

    ``switch_semantics``: "auto" (from ``transformers_version``) or one of ``SWITCH_SEMANTICS``;
    Switch only."""
    if not isinstance(cfg, dict):
        raise MoecError("config must be a JSON object")
    model_type = cfg.get("model_type")
    if model_type is None:
        raise MoecError(f"config has no model_type (supported: {', '.join(FAMILIES)})")
    if not isinstance(model_type, str) or model_type not in FAMILIES:
        raise MoecError(
            f"unsupported model_type {_shown(model_type)} (supported: {', '.join(FAMILIES)})"
        )
    if not isinstance(layer, int) or isinstance(layer, bool):
        raise MoecError(f"layer must be an integer, got {layer!r}")
    config = _Config(cfg, model_type)
    spec = FAMILIES[model_type](config, layer, {"switch_semantics": switch_semantics})
    spec.tokens = tokens
    if capacity_factor is not None:
        if spec.expert_capacity is not None:
            raise MoecError(
                f"{model_type} has a fixed expert_capacity; --capacity-factor does not apply"
            )
        spec.capacity_factor = capacity_factor
    if min_capacity is not None:
        spec.min_capacity = min_capacity
    return spec.validate()
