"""transformers 4 and 5 configs: key spellings (attribute_map aliases), strict JSON types,
and the Switch Transformers semantics chosen by transformers_version."""

import json

import numpy as np
import pytest
from conftest import CONFIGS, load_config, one_error_line, run_cli
from moec.configs import KEY_ALIASES, layer_spec_from_config, transformers_major
from moec.emit_mlir import emit_module
from moec.errors import MoecError
from moec.reference import moe_layer_reference
from moec.weights import load_operands, random_weights

# (stem, MoE layer) of the configs written like each config class's to_dict()
PAIRS = [
    ("mixtral-tiny", 0),
    ("qwen2-moe-tiny", 0),
    ("qwen3-moe-tiny", 1),
    ("olmoe-tiny", 1),
    ("deepseek-v2-tiny", 1),
    ("deepseek-v3-tiny", 2),
    ("switch-tiny", 1),
    ("gpt-oss-tiny", 1),
]


def spec_of(cfg, layer, **kw):
    return layer_spec_from_config(cfg, layer, **kw)


@pytest.mark.parametrize("stem,layer", PAIRS)
def test_t4_and_t5_configs_give_the_same_layer(stem, layer):
    t4, t5 = load_config(f"{stem}-t4.json"), load_config(f"{stem}-t5.json")
    assert t4["transformers_version"].startswith("4.")
    assert t5["transformers_version"].startswith("5.")
    a, b = emit_module(spec_of(t4, layer)), emit_module(spec_of(t5, layer))
    if stem == "switch-tiny":
        # transformers 5 never drops a Switch token; 4.x has a capacity and passes drops through
        assert (
            "expert_capacity = 3 : i64, drop_policy = #moe.drop_policy<passthrough>"
            in a
        )
        assert "expert_capacity" not in b and "drop_policy" not in b
        assert (
            a.replace(
                ", expert_capacity = 3 : i64, drop_policy = #moe.drop_policy<passthrough>",
                "",
            )
            == b
        )
    else:
        assert a == b


def test_qwen3_t5_writes_num_local_experts():
    cfg = load_config("qwen3-moe-tiny-t5.json")
    assert "num_local_experts" in cfg and "num_experts" not in cfg
    assert spec_of(cfg, 0).num_experts == 16


ALIAS_CASES = [
    (family, canonical, alias)
    for family, table in KEY_ALIASES.items()
    for canonical, spellings in table.items()
    for alias in spellings[1:]
]
FAMILY_CONFIG = {
    "mixtral": ("mixtral-tiny-t4.json", 0),
    "qwen2_moe": ("qwen2-moe-tiny-t4.json", 0),
    "qwen3_moe": ("qwen3-moe-tiny-t4.json", 0),
    "olmoe": ("olmoe-tiny-t4.json", 0),
    "deepseek_v2": ("deepseek-v2-tiny-t4.json", 1),
    "deepseek_v3": ("deepseek-v3-tiny-t4.json", 1),
    "switch_transformers": ("switch-tiny-t4.json", 1),
    "gpt_oss": ("gpt-oss-tiny-t4.json", 0),
}


def test_every_family_has_an_alias_table_and_t4_t5_configs():
    assert set(KEY_ALIASES) == set(FAMILY_CONFIG)
    for family, (name, _) in FAMILY_CONFIG.items():
        assert load_config(name)["model_type"] == family
        assert (CONFIGS / name.replace("-t4", "-t5")).exists()


@pytest.mark.parametrize("family,canonical,alias", ALIAS_CASES)
def test_alias_spelling_is_accepted(family, canonical, alias):
    name, layer = FAMILY_CONFIG[family]
    cfg = load_config(name)
    want = emit_module(spec_of(cfg, layer))
    renamed = {alias if k == canonical else k: v for k, v in cfg.items()}
    assert canonical not in renamed and alias in renamed
    assert emit_module(spec_of(renamed, layer)) == want
    both = dict(cfg, **{alias: cfg[canonical]})  # both spellings, same value: fine
    assert emit_module(spec_of(both, layer)) == want


@pytest.mark.parametrize("family,canonical,alias", ALIAS_CASES)
def test_alias_conflict_is_an_error(family, canonical, alias):
    name, layer = FAMILY_CONFIG[family]
    cfg = load_config(name)
    cfg[alias] = cfg[canonical] * 2
    with pytest.raises(MoecError) as exc:
        spec_of(cfg, layer)
    msg = str(exc.value)
    assert f"{canonical} = {cfg[canonical]}" in msg and f"{alias} = {cfg[alias]}" in msg
    assert "\n" not in msg


@pytest.mark.parametrize("family,canonical,alias", ALIAS_CASES)
def test_missing_key_names_every_spelling(family, canonical, alias):
    name, layer = FAMILY_CONFIG[family]
    cfg = load_config(name)
    del cfg[canonical]
    if (
        canonical == "num_layers"
    ):  # optional for Switch (default 12): nothing is missing
        assert spec_of(cfg, layer).num_experts == 4
        return
    with pytest.raises(MoecError, match="missing required key") as exc:
        spec_of(cfg, layer)
    assert f"{canonical} (or {alias})" in str(exc.value)


@pytest.mark.parametrize(
    "name,layer,key,value,expected",
    [
        (
            "qwen3-moe-tiny.json",
            0,
            "norm_topk_prob",
            "false",
            "a JSON boolean (true or false)",
        ),
        ("olmoe-tiny.json", 0, "norm_topk_prob", 0, "a JSON boolean (true or false)"),
        ("qwen3-moe-tiny.json", 0, "num_experts", "16", "an integer"),
        ("qwen3-moe-tiny.json", 0, "num_experts", 16.0, "an integer"),
        ("qwen3-moe-tiny.json", 0, "num_experts", True, "an integer"),
        ("mixtral-tiny.json", 0, "hidden_act", ["silu"], "a string"),
        ("mixtral-tiny.json", 0, "hidden_act", {"name": "silu"}, "a string"),
        ("qwen2-moe-tiny.json", 0, "mlp_only_layers", "1", "a list of integers"),
        ("qwen2-moe-tiny.json", 0, "mlp_only_layers", [1, "2"], "a list of integers"),
        ("deepseek-v3-tiny.json", 1, "routed_scaling_factor", True, "a number"),
        ("deepseek-v3-tiny.json", 1, "routed_scaling_factor", "2.5", "a number"),
        ("deepseek-v2-tiny.json", 1, "topk_method", 3, "a string"),
        (
            "switch-tiny.json",
            1,
            "router_bias",
            "true",
            "a JSON boolean (true or false)",
        ),
        ("switch-tiny.json", 1, "d_model", {"x": 1}, "an integer"),
        ("gpt-oss-tiny-t5.json", 0, "swiglu_limit", "7", "a number"),
        ("gpt-oss-tiny-t5.json", 0, "transformers_version", 5, "a string"),
        ("mixtral-tiny-t5.json", 0, "num_experts", "8", "an integer"),  # an alias too
    ],
)
def test_strict_json_types(name, layer, key, value, expected):
    cfg = load_config(name)
    cfg[key] = value
    with pytest.raises(MoecError) as exc:
        spec_of(cfg, layer)
    msg = str(exc.value)
    assert msg.startswith(f"config key {key} must be {expected}, got "), msg
    assert "\n" not in msg


def test_strict_types_message_shows_value_and_kind(tmp_path, write_config):
    cfg = load_config("qwen3-moe-tiny.json")
    cfg["norm_topk_prob"] = "false"
    r = run_cli("import", write_config(cfg), "--layer", 0, "-o", tmp_path / "o.mlir")
    one_error_line(
        r,
        "config key norm_topk_prob must be a JSON boolean (true or false), got 'false' (a string)",
    )


@pytest.mark.parametrize(
    "version,major",
    [
        ("5.17.0", 5),
        ("4.46.0.dev0", 4),
        ("5.0.0rc1", 5),
        ("5.0.0.dev0", 5),
        ("4.57.1", 4),
        ("10.2", 10),
        ("5", 5),
        (" 4.55.0 ", 4),
        ("5.1.0+local.build", 5),
        ("4.0.0.post1", 4),
    ],
)
def test_version_parsing(version, major):
    assert transformers_major(version) == major


@pytest.mark.parametrize("bad", ["five", "", "v5.0", "5.x", "5..0", "4.46.0 beta", "."])
def test_malformed_version_is_an_error(bad):
    cfg = load_config("switch-tiny-t5.json")
    cfg["transformers_version"] = bad
    with pytest.raises(MoecError, match="transformers_version is not a version number"):
        spec_of(cfg, 1)
    # a forced choice does not need the version; other families never parse it
    assert spec_of(cfg, 1, switch_semantics="v5").expert_capacity is None
    mix = load_config("mixtral-tiny.json")
    mix["transformers_version"] = bad
    spec_of(mix, 0)


@pytest.mark.parametrize(
    "name,option,capacity",
    [
        ("switch-tiny.json", "auto", 3),  # no transformers_version: 4.x behaviour
        ("switch-tiny-t4.json", "auto", 3),
        ("switch-tiny-t5.json", "auto", None),
        ("switch-tiny-t5.json", "v4", 3),
        ("switch-tiny-t4.json", "v5", None),
        ("switch-tiny.json", "v5", None),
    ],
)
def test_switch_semantics(tmp_path, name, option, capacity):
    out = tmp_path / "o.mlir"
    r = run_cli(
        "import", CONFIGS / name, "--layer", 1, "--switch-semantics", option, "-o", out
    )
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    if capacity is None:
        assert "expert_capacity" not in text and "drop_policy" not in text
    else:
        assert (
            f"expert_capacity = {capacity} : i64, drop_policy = #moe.drop_policy<passthrough>"
            in text
        )


PASSTHROUGH = (
    ", expert_capacity = 3 : i64, drop_policy = #moe.drop_policy<passthrough>}"
)
ZERO = ", expert_capacity = 3 : i64}"
DROPLESS = "activation = #moe.activation<relu>}"


@pytest.mark.parametrize(
    "version,tail",
    [
        ("4.46.0", PASSTHROUGH),
        ("4.51.3", PASSTHROUGH),  # checked against transformers 4.51.3's own outputs
        ("4.52.0.dev0", ZERO),
        ("4.57.1", ZERO),  # checked against 4.57.1
        ("5.0.0", DROPLESS),
        ("5.17.0", DROPLESS),  # checked against 5.17.0
        ("5.18.0", ZERO),  # same code as 5.23.0
        ("5.23.0", ZERO),  # checked against 5.23.0
        ("6.1", ZERO),
    ],
)
def test_switch_behaviour_follows_the_transformers_release(version, tail):
    cfg = load_config("switch-tiny.json")
    cfg["transformers_version"] = version
    attrs = emit_module(spec_of(cfg, 1)).split("{top_k", 1)[1].split(" : (", 1)[0]
    assert attrs.endswith(tail), attrs


def test_switch_explicit_choice_ignores_the_release():
    cfg = load_config("switch-tiny.json")
    cfg["transformers_version"] = "5.20.0"
    assert spec_of(cfg, 1).expert_capacity == 3  # 5.18 and later apply the capacity
    for option, capacity, policy in (
        ("zero", 3, "zero"),
        ("dropless", None, "zero"),
        ("passthrough", 3, "passthrough"),
        ("v4", 3, "passthrough"),
        ("v5", None, "zero"),
    ):
        spec = spec_of(cfg, 1, switch_semantics=option)
        assert (spec.expert_capacity, spec.drop_policy) == (capacity, policy), option


def test_switch_semantics_option_errors(tmp_path):
    r = run_cli(
        "import",
        CONFIGS / "switch-tiny.json",
        "--layer",
        1,
        "--switch-semantics",
        "v6",
        "-o",
        tmp_path / "o.mlir",
    )
    one_error_line(r, "--switch-semantics", "v6")
    with pytest.raises(MoecError, match="unsupported switch semantics"):
        spec_of(load_config("switch-tiny.json"), 1, switch_semantics="v3")


def test_switch_v5_capacity_factor_is_allowed_v4_is_not():
    t5 = load_config("switch-tiny-t5.json")
    assert spec_of(t5, 1, capacity_factor=1.0).capacity_factor == 1.0
    with pytest.raises(MoecError, match="fixed expert_capacity"):
        spec_of(load_config("switch-tiny-t4.json"), 1, capacity_factor=1.0)


class _Dict(dict):
    def get(self, name, default=None):  # the checkpoint interface
        return self[name]


def test_switch_v5_reference_is_dropless_without_passthrough():
    """Same weights, both semantics: v5 computes every token (y = p·E(x)); v4 drops past the
    capacity of 3 and passes dropped tokens through as p·x."""
    v4 = spec_of(load_config("switch-tiny-t4.json"), 1)
    v5 = spec_of(load_config("switch-tiny-t5.json"), 1)
    ck = _Dict(random_weights(v4, 2))
    ops = load_operands(v4, ck)
    x = np.random.default_rng(0).standard_normal((16, 32))
    common = {"top_k": 1, "activation": "relu"}
    experts = (ops["in"], ops["out"])
    y5, c5, k5 = moe_layer_reference(x, ops["router"], experts, **common)
    y4, c4, k4 = moe_layer_reference(
        x,
        ops["router"],
        experts,
        expert_capacity=3,
        drop_policy="passthrough",
        **common,
    )
    assert k5.tolist() == c5.tolist() and sum(k4) < sum(c4)
    from moec.reference import reference_from_spec

    np.testing.assert_array_equal(reference_from_spec(v5, ops, x)[0], y5)
    np.testing.assert_array_equal(reference_from_spec(v4, ops, x)[0], y4)
    assert not np.allclose(y4, y5)


def test_config_reading_errors_are_one_line(tmp_path, write_config):
    cfg = load_config("deepseek-v3-tiny.json")
    cfg["num_local_experts"] = 8  # alias of n_routed_experts = 16
    r = run_cli("import", write_config(cfg), "--layer", 1, "-o", tmp_path / "o.mlir")
    one_error_line(r, "n_routed_experts = 16", "num_local_experts = 8")
    assert json.loads(json.dumps(cfg))  # the config itself is valid JSON


@pytest.mark.parametrize(
    "version,mask",
    [
        (None, "zero"),  # deepseek-ai's remote code
        ("4.57.1", "zero"),  # checked against transformers 4.57.1's own outputs
        ("5.5.0", "zero"),
        ("5.6.0", "neg_inf"),
        ("5.23.0", "neg_inf"),  # checked against 5.23.0
    ],
)
def test_deepseek_v3_group_mask_follows_the_transformers_release(version, mask):
    cfg = load_config("deepseek-v3-tiny.json")
    cfg.pop("transformers_version", None)
    if version:
        cfg["transformers_version"] = version
    layer = cfg.get("first_k_dense_replace", 3)
    spec = spec_of(cfg, layer)
    assert spec.group_mask == mask
    text = emit_module(spec)
    assert ("group_mask = #moe.group_mask<zero>" in text) == (mask == "zero")
