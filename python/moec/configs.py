"""Hugging Face config.json -> LayerSpec for one decoder layer's MoE block.

One function per family. Shape keys (hidden size, expert width, expert count, top-k) are
required; semantic keys fall back to the Hugging Face config class defaults. Keys that do not
affect the MoE block are ignored; a semantics-changing value we cannot express is an error.
"""

from __future__ import annotations

from collections.abc import Callable

from .errors import MoecError
from .spec import LayerSpec

_ACTIVATIONS = {"silu": "silu", "swish": "silu", "gelu": "gelu", "relu": "relu"}


def _missing(cfg: dict, keys: tuple[str, ...], family: str) -> None:
    missing = [k for k in keys if cfg.get(k) is None]
    if missing:
        raise MoecError(
            f"{family} config is missing required key(s): {', '.join(missing)}"
        )


def _get(cfg: dict, key: str, default):
    v = cfg.get(key)
    return default if v is None else v


def _choice(
    cfg: dict, key: str, default: str, supported: dict[str, str], family: str
) -> str:
    value = _get(cfg, key, default)
    if value not in supported:
        raise MoecError(
            f"unsupported {key} {value!r} for {family} (supported: {', '.join(sorted(supported))})"
        )
    return supported[value]


def _activation(
    cfg: dict, family: str, key: str = "hidden_act", default: str = "silu"
) -> str:
    return _choice(cfg, key, default, _ACTIVATIONS, family)


def _check_layer_range(cfg: dict, layer: int, key: str, default: int | None) -> None:
    n = _get(cfg, key, default)
    if n is not None and (not isinstance(n, int) or isinstance(n, bool)):
        raise MoecError(f"{key} must be an integer, got {n!r}")
    if layer < 0 or (n is not None and layer >= n):
        raise MoecError(f"layer {layer} is out of range ({key} = {n})")


def _not_moe(family: str, layer: int, why: str) -> MoecError:
    return MoecError(
        f"layer {layer} of this {family} config is not an MoE layer ({why})"
    )


def _gated_names(prefix: str, gate: str, up: str, down: str) -> tuple[str, str, str]:
    return tuple(f"{prefix}.experts.{{e}}.{n}.weight" for n in (gate, up, down))


def _mixtral(cfg: dict, layer: int) -> LayerSpec:
    fam = "mixtral"
    _missing(
        cfg,
        (
            "hidden_size",
            "intermediate_size",
            "num_local_experts",
            "num_experts_per_tok",
        ),
        fam,
    )
    _check_layer_range(cfg, layer, "num_hidden_layers", None)
    p = f"model.layers.{layer}.block_sparse_moe"
    return LayerSpec(
        hidden=cfg["hidden_size"],
        ffn=cfg["intermediate_size"],
        num_experts=cfg["num_local_experts"],
        top_k=cfg["num_experts_per_tok"],
        router_name=f"{p}.gate.weight",
        expert_names=_gated_names(p, "w1", "w3", "w2"),
        normalize=True,  # Mixtral always renormalizes the top-k softmax weights
        activation=_activation(cfg, fam),
        family=fam,
    )


def _qwen_is_moe(cfg: dict, layer: int, fam: str) -> None:
    if layer in (_get(cfg, "mlp_only_layers", []) or []):
        raise _not_moe(fam, layer, "listed in mlp_only_layers")
    step = _get(cfg, "decoder_sparse_step", 1)
    if cfg["num_experts"] <= 0 or step <= 0 or (layer + 1) % step != 0:
        raise _not_moe(
            fam,
            layer,
            f"decoder_sparse_step = {step}: MoE layers satisfy (layer + 1) % step == 0",
        )


def _qwen2_moe(cfg: dict, layer: int) -> LayerSpec:
    fam = "qwen2_moe"
    _missing(
        cfg,
        (
            "hidden_size",
            "moe_intermediate_size",
            "num_experts",
            "num_experts_per_tok",
            "shared_expert_intermediate_size",
        ),
        fam,
    )
    _check_layer_range(cfg, layer, "num_hidden_layers", None)
    _qwen_is_moe(cfg, layer, fam)
    p = f"model.layers.{layer}.mlp"
    fs = cfg["shared_expert_intermediate_size"]
    return LayerSpec(
        hidden=cfg["hidden_size"],
        ffn=cfg["moe_intermediate_size"],
        num_experts=cfg["num_experts"],
        top_k=cfg["num_experts_per_tok"],
        router_name=f"{p}.gate.weight",
        expert_names=_gated_names(p, "gate_proj", "up_proj", "down_proj"),
        normalize=bool(_get(cfg, "norm_topk_prob", False)),
        activation=_activation(cfg, fam),
        shared_ffn=fs,
        shared_names=tuple(
            f"{p}.shared_expert.{n}.weight"
            for n in ("gate_proj", "up_proj", "down_proj")
        )
        if fs
        else (),
        shared_gate_name=f"{p}.shared_expert_gate.weight" if fs else None,
        family=fam,
    )


def _qwen3_moe(cfg: dict, layer: int) -> LayerSpec:
    fam = "qwen3_moe"
    _missing(
        cfg,
        ("hidden_size", "moe_intermediate_size", "num_experts", "num_experts_per_tok"),
        fam,
    )
    _check_layer_range(cfg, layer, "num_hidden_layers", None)
    _qwen_is_moe(cfg, layer, fam)
    p = f"model.layers.{layer}.mlp"
    return LayerSpec(
        hidden=cfg["hidden_size"],
        ffn=cfg["moe_intermediate_size"],
        num_experts=cfg["num_experts"],
        top_k=cfg["num_experts_per_tok"],
        router_name=f"{p}.gate.weight",
        expert_names=_gated_names(p, "gate_proj", "up_proj", "down_proj"),
        normalize=bool(
            _get(cfg, "norm_topk_prob", False)
        ),  # HF class default false; real configs: true
        activation=_activation(cfg, fam),
        family=fam,
    )


def _olmoe(cfg: dict, layer: int) -> LayerSpec:
    fam = "olmoe"
    _missing(
        cfg,
        ("hidden_size", "intermediate_size", "num_experts", "num_experts_per_tok"),
        fam,
    )
    _check_layer_range(cfg, layer, "num_hidden_layers", None)
    p = f"model.layers.{layer}.mlp"
    return LayerSpec(
        hidden=cfg["hidden_size"],
        ffn=cfg["intermediate_size"],
        num_experts=cfg["num_experts"],
        top_k=cfg["num_experts_per_tok"],
        router_name=f"{p}.gate.weight",
        expert_names=_gated_names(p, "gate_proj", "up_proj", "down_proj"),
        normalize=bool(_get(cfg, "norm_topk_prob", False)),
        activation=_activation(cfg, fam),
        family=fam,
    )


def _deepseek(cfg: dict, layer: int, fam: str) -> LayerSpec:
    v3 = fam == "deepseek_v3"
    _missing(cfg, ("hidden_size", "moe_intermediate_size", "num_experts_per_tok"), fam)
    _check_layer_range(cfg, layer, "num_hidden_layers", None)
    if cfg.get("n_routed_experts") is None:
        if "n_routed_experts" in cfg:
            raise _not_moe(fam, layer, "n_routed_experts is null")
        _missing(cfg, ("n_routed_experts",), fam)
    first_dense = _get(cfg, "first_k_dense_replace", 3 if v3 else 0)
    freq = _get(cfg, "moe_layer_freq", 1)
    if layer < first_dense:
        raise _not_moe(fam, layer, f"first_k_dense_replace = {first_dense}")
    if freq <= 0 or layer % freq != 0:
        raise _not_moe(
            fam, layer, f"moe_layer_freq = {freq}: MoE layers satisfy layer % freq == 0"
        )
    E, k = cfg["n_routed_experts"], cfg["num_experts_per_tok"]
    norm = bool(_get(cfg, "norm_topk_prob", v3))
    scale = float(_get(cfg, "routed_scaling_factor", 2.5 if v3 else 1.0))
    if v3:
        scoring = _choice(cfg, "scoring_func", "sigmoid", {"sigmoid": "sigmoid"}, fam)
        selection = _choice(
            cfg, "topk_method", "noaux_tc", {"noaux_tc": "group_sum_top2"}, fam
        )
        # Reference code: normalization only when top_k > 1; the scale is always applied.
        normalize = norm and k > 1
    else:
        scoring = _choice(cfg, "scoring_func", "softmax", {"softmax": "softmax"}, fam)
        selection = _choice(
            cfg,
            "topk_method",
            "greedy",
            {"greedy": "plain", "gready": "plain", "group_limited_greedy": "group_max"},
            fam,
        )
        # Reference code: if top_k > 1 and norm_topk_prob: renormalize (no scale) else: scale.
        normalize = norm and k > 1
        if normalize:
            scale = 1.0
    n_group = topk_group = None
    if selection != "plain":
        if v3:
            n_group, topk_group = _get(cfg, "n_group", 8), _get(cfg, "topk_group", 4)
        else:
            _missing(
                cfg,
                ("n_group", "topk_group"),
                f"{fam} (topk_method group_limited_greedy)",
            )
            n_group, topk_group = cfg["n_group"], cfg["topk_group"]
    p = f"model.layers.{layer}.mlp"
    if "n_shared_experts" in cfg:
        n_shared = cfg["n_shared_experts"] or 0  # null: no shared experts
    else:
        n_shared = 1 if v3 else 2  # transformers config class defaults
    fs = cfg["moe_intermediate_size"] * n_shared
    return LayerSpec(
        hidden=cfg["hidden_size"],
        ffn=cfg["moe_intermediate_size"],
        num_experts=E,
        top_k=k,
        router_name=f"{p}.gate.weight",
        expert_names=_gated_names(p, "gate_proj", "up_proj", "down_proj"),
        scoring=scoring,
        selection=selection,
        n_group=n_group,
        topk_group=topk_group,
        normalize=normalize,
        routed_scaling_factor=scale,
        activation=_activation(cfg, fam),
        score_bias_name=f"{p}.gate.e_score_correction_bias" if v3 else None,
        shared_ffn=fs,
        shared_names=tuple(
            f"{p}.shared_experts.{n}.weight"
            for n in ("gate_proj", "up_proj", "down_proj")
        )
        if fs
        else (),
        family=fam,
    )


def _switch(cfg: dict, layer: int) -> LayerSpec:
    fam = "switch_transformers"
    _missing(cfg, ("d_model", "d_ff", "num_experts"), fam)
    n_layers = _get(cfg, "num_layers", 12)
    _check_layer_range(cfg, layer, "num_layers", 12)
    step = cfg.get("encoder_sparse_step")
    if step is None:
        n_sparse = _get(cfg, "num_sparse_encoder_layers", 3)
        step = n_layers // n_sparse if n_sparse > 0 else n_layers
    sparse = (layer % step == 1 or step == 1) if step > 0 else False
    if not sparse:
        raise _not_moe(
            fam,
            layer,
            f"encoder_sparse_step = {step}: sparse blocks satisfy layer % step == 1",
        )
    p = f"encoder.block.{layer}.layer.1.mlp"
    return LayerSpec(
        hidden=cfg["d_model"],
        ffn=cfg["d_ff"],
        num_experts=cfg["num_experts"],
        top_k=1,
        router_name=f"{p}.router.classifier.weight",
        expert_names=(
            f"{p}.experts.expert_{{e}}.wi.weight",
            f"{p}.experts.expert_{{e}}.wo.weight",
        ),
        activation=_activation(cfg, fam, key="dense_act_fn", default="relu"),
        gated=False,
        expert_capacity=_get(cfg, "expert_capacity", 64),
        drop_policy="passthrough",
        router_bias_name=f"{p}.router.classifier.bias"
        if _get(cfg, "router_bias", False)
        else None,
        family=fam,
    )


FAMILIES: dict[str, Callable[[dict, int], LayerSpec]] = {
    "deepseek_v2": lambda c, layer: _deepseek(c, layer, "deepseek_v2"),
    "deepseek_v3": lambda c, layer: _deepseek(c, layer, "deepseek_v3"),
    "mixtral": _mixtral,
    "olmoe": _olmoe,
    "qwen2_moe": _qwen2_moe,
    "qwen3_moe": _qwen3_moe,
    "switch_transformers": _switch,
}


def layer_spec_from_config(
    cfg: dict,
    layer: int,
    *,
    tokens: int | None = None,
    capacity_factor: float | None = None,
    min_capacity: int | None = None,
) -> LayerSpec:
    """The MoE block of decoder layer ``layer``; optional capacity limit (drops contribute zero)."""
    if not isinstance(cfg, dict):
        raise MoecError("config must be a JSON object")
    model_type = cfg.get("model_type")
    if model_type is None:
        raise MoecError(f"config has no model_type (supported: {', '.join(FAMILIES)})")
    if model_type not in FAMILIES:
        raise MoecError(
            f"unsupported model_type {model_type!r} (supported: {', '.join(FAMILIES)})"
        )
    spec = FAMILIES[model_type](cfg, layer)
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
