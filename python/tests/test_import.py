"""`moec import` for every family, and its error paths."""

import re

import pytest
from conftest import CONFIGS, load_config, run_cli
from moec.__main__ import main
from moec.emit_mlir import mlir_f64


def import_text(tmp_path, config, layer, *extra):
    out = tmp_path / "out.mlir"
    assert (
        main(
            [
                "import",
                str(config),
                "--layer",
                str(layer),
                "-o",
                str(out),
                *map(str, extra),
            ]
        )
        == 0
    )
    return out.read_text()


def attrs_of(text):
    return re.search(r"moe\.layer .*? \{(.*)\} : \(", text).group(1)


def test_mixtral_exact(tmp_path):
    text = import_text(tmp_path, CONFIGS / "mixtral-tiny.json", 0)
    assert text.startswith(
        'func.func @forward(%x: tensor<?x64xf32> {moe.input = "hidden_states"},'
    )
    # moe.weight keeps the transformers-4 name; moe.weight_sources adds transformers 5's
    # renamed router and fused experts (mlp.experts.gate_up_proj = [gate; up], down_proj).
    assert (
        '%router: tensor<8x64xf32> {moe.weight = "model.layers.0.block_sparse_moe.gate.weight", '
        'moe.weight_sources = [{name = "model.layers.0.block_sparse_moe.gate.weight"}, '
        '{name = "model.layers.0.mlp.gate.weight"}]}'
    ) in text
    fused = {
        "w1": ", parts = 2 : i64}",
        "w3": ", parts = 2 : i64, part = 1 : i64}",
        "w2": "}",
    }
    for w, shape in (("w1", "8x96x64"), ("w3", "8x96x64"), ("w2", "8x64x96")):
        per_expert = f"model.layers.0.block_sparse_moe.experts.{{e}}.{w}.weight"
        stacked = "gate_up_proj" if w != "w2" else "down_proj"
        assert (
            f'tensor<{shape}xf32> {{moe.weight = "{per_expert}", moe.weight_sources = '
            f'[{{name = "{per_expert}"}}, {{name = "model.layers.0.mlp.experts.{stacked}"'
            f"{fused[w]}]}}"
        ) in text
    assert '-> (tensor<?x64xf32> {moe.output = "output"}) {' in text
    assert (
        "%y = moe.layer %x, %router experts(%w_gate, %w_up, %w_down) {top_k = 2 : i64, "
        "scoring = #moe.scoring<softmax>, normalize = true, activation = #moe.activation<silu>} : "
        "(tensor<?x64xf32>, tensor<8x64xf32>, tensor<8x96x64xf32>, tensor<8x96x64xf32>, "
        "tensor<8x64x96xf32>) -> tensor<?x64xf32>"
    ) in text
    assert "  return %y : tensor<?x64xf32>\n}\n" in text


def test_static_tokens(tmp_path):
    text = import_text(tmp_path, CONFIGS / "mixtral-tiny.json", 1, "--tokens", 16)
    assert "tensor<?x" not in text and "%x: tensor<16x64xf32>" in text
    assert "model.layers.1.block_sparse_moe" in text


def test_capacity_option(tmp_path):
    text = import_text(
        tmp_path,
        CONFIGS / "mixtral-tiny.json",
        0,
        "--capacity-factor",
        1.25,
        "--min-capacity",
        4,
    )
    assert attrs_of(text).endswith(
        "capacity_factor = 1.25 : f64, min_capacity = 4 : i64"
    )


def test_qwen2_moe_shared_expert_and_gate(tmp_path):
    text = import_text(tmp_path, CONFIGS / "qwen2-moe-tiny.json", 2)
    assert "normalize" not in text  # norm_topk_prob false
    assert "shared(%shared_gate, %shared_up, %shared_down, %shared_expert_gate)" in text
    assert (
        '%shared_gate: tensor<128x64xf32> {moe.weight = "model.layers.2.mlp.shared_expert.gate_proj.weight"}'
        in text
    )
    assert (
        '%shared_down: tensor<64x128xf32> {moe.weight = "model.layers.2.mlp.shared_expert.down_proj.weight"}'
        in text
    )
    assert (
        '%shared_expert_gate: tensor<1x64xf32> {moe.weight = "model.layers.2.mlp.shared_expert_gate.weight"}'
        in text
    )
    assert "tensor<12x32x64xf32>" in text and "tensor<12x64x32xf32>" in text
    assert (
        attrs_of(text)
        == "top_k = 4 : i64, scoring = #moe.scoring<softmax>, activation = #moe.activation<silu>"
    )


def test_qwen3_moe(tmp_path):
    text = import_text(tmp_path, CONFIGS / "qwen3-moe-tiny.json", 3)
    assert attrs_of(text) == (
        "top_k = 4 : i64, scoring = #moe.scoring<softmax>, normalize = true, "
        "activation = #moe.activation<silu>"
    )
    assert '"model.layers.3.mlp.experts.{e}.gate_proj.weight"' in text
    assert "shared" not in text


def test_qwen3_norm_default_is_false(tmp_path, write_config):
    cfg = load_config("qwen3-moe-tiny.json")
    del cfg["norm_topk_prob"]
    assert "normalize" not in import_text(tmp_path, write_config(cfg), 0)


def test_olmoe(tmp_path):
    text = import_text(tmp_path, CONFIGS / "olmoe-tiny.json", 1)
    assert (
        attrs_of(text)
        == "top_k = 4 : i64, scoring = #moe.scoring<softmax>, activation = #moe.activation<silu>"
    )
    assert (
        '%w_down: tensor<16x64x32xf32> {moe.weight = "model.layers.1.mlp.experts.{e}.down_proj.weight", '
        'moe.weight_sources = [{name = "model.layers.1.mlp.experts.{e}.down_proj.weight"}, '
        '{name = "model.layers.1.mlp.experts.down_proj"}]}'
    ) in text


def test_deepseek_v2(tmp_path):
    text = import_text(tmp_path, CONFIGS / "deepseek-v2-tiny.json", 1)
    assert attrs_of(text) == (
        "top_k = 4 : i64, scoring = #moe.scoring<softmax>, selection = #moe.selection<group_max>, "
        "n_group = 4 : i64, topk_group = 2 : i64, group_mask = #moe.group_mask<zero>, "
        "routed_scaling_factor = 16.0 : f64, "
        "activation = #moe.activation<silu>"
    )
    # 2 shared experts of width 32 -> one shared MLP of width 64, no gate
    assert "shared(%shared_gate, %shared_up, %shared_down)" in text
    assert (
        '%shared_up: tensor<64x64xf32> {moe.weight = "model.layers.1.mlp.shared_experts.up_proj.weight"}'
        in text
    )
    assert "score_bias" not in text


def test_deepseek_v2_greedy(tmp_path, write_config):
    cfg = load_config("deepseek-v2-tiny.json")
    cfg.update(
        topk_method="greedy", n_group=None, topk_group=None, n_shared_experts=None
    )
    text = import_text(tmp_path, write_config(cfg), 2)
    assert "selection" not in text and "shared" not in text


def test_deepseek_v3(tmp_path):
    text = import_text(tmp_path, CONFIGS / "deepseek-v3-tiny.json", 2)
    assert attrs_of(text) == (
        "top_k = 4 : i64, scoring = #moe.scoring<sigmoid>, selection = #moe.selection<group_sum_top2>, "
        "n_group = 4 : i64, topk_group = 2 : i64, group_mask = #moe.group_mask<zero>, "
        "normalize = true, routed_scaling_factor = 2.5 : f64, "
        "activation = #moe.activation<silu>"
    )
    assert (
        "moe.layer %x, %router score_bias(%score_bias) experts(%w_gate, %w_up, %w_down) "
        "shared(%shared_gate, %shared_up, %shared_down) {"
    ) in text
    assert (
        '%score_bias: tensor<16xf32> {moe.weight = "model.layers.2.mlp.gate.e_score_correction_bias"}'
        in text
    )
    assert "tensor<32x64xf32>" in text  # 1 shared expert x 32


def test_deepseek_v3_defaults(tmp_path, write_config):
    cfg = load_config("deepseek-v3-tiny.json")
    for key in (
        "norm_topk_prob",
        "scoring_func",
        "topk_method",
        "routed_scaling_factor",
    ):
        del cfg[key]
    text = import_text(tmp_path, write_config(cfg), 1)
    assert "scoring = #moe.scoring<sigmoid>" in text and "normalize = true" in text
    assert "routed_scaling_factor = 2.5 : f64" in text


def test_switch(tmp_path):
    text = import_text(tmp_path, CONFIGS / "switch-tiny.json", 3)
    assert attrs_of(text) == (
        "top_k = 1 : i64, scoring = #moe.scoring<softmax>, activation = #moe.activation<relu>, "
        "expert_capacity = 3 : i64, drop_policy = #moe.drop_policy<passthrough>"
    )
    assert "experts(%w_in, %w_out)" in text
    assert (
        '%router: tensor<4x32xf32> {moe.weight = "encoder.block.3.layer.1.mlp.router.classifier.weight"}'
        in text
    )
    assert (
        '%w_in: tensor<4x64x32xf32> {moe.weight = "encoder.block.3.layer.1.mlp.experts.expert_{e}.wi.weight"}'
        in text
    )
    assert (
        '%w_out: tensor<4x32x64xf32> {moe.weight = "encoder.block.3.layer.1.mlp.experts.expert_{e}.wo.weight"}'
        in text
    )


def test_switch_router_bias(tmp_path, write_config):
    cfg = load_config("switch-tiny.json")
    cfg["router_bias"] = True
    text = import_text(tmp_path, write_config(cfg), 1)
    assert "moe.layer %x, %router router_bias(%router_bias) experts(" in text
    assert (
        '%router_bias: tensor<4xf32> {moe.weight = "encoder.block.1.layer.1.mlp.router.classifier.bias"}'
        in text
    )


def test_float_literals():
    assert mlir_f64(2.5) == "2.5 : f64"
    assert mlir_f64(1) == "1.0 : f64"
    assert mlir_f64(1e-05) == "1.0e-05 : f64"
    assert mlir_f64(1.5e20) == "1.5e+20 : f64"
    assert mlir_f64(0.1) == "0.1 : f64"
    assert float(mlir_f64(1 / 3).split()[0]) == 1 / 3


# --- error paths: exit code 2, one line "moec: error: ..." --------------------------------


def expect_error(config_path, layer, *patterns, tmp_path):
    r = run_cli("import", config_path, "--layer", layer, "-o", tmp_path / "o.mlir")
    assert r.returncode == 2, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("moec: error: "), r.stderr
    for p in patterns:
        assert p in lines[0], lines[0]
    assert not (tmp_path / "o.mlir").exists()
    return lines[0]


def test_error_unsupported_model_type(tmp_path, write_config):
    cfg = load_config("mixtral-tiny.json")
    cfg["model_type"] = "llama"
    expect_error(
        write_config(cfg),
        0,
        "model_type",
        "'llama'",
        "mixtral",
        "deepseek_v3",
        "switch_transformers",
        tmp_path=tmp_path,
    )


@pytest.mark.parametrize(
    "name,key,value,supported",
    [
        ("deepseek-v3-tiny.json", "scoring_func", "softmax", "sigmoid"),
        ("deepseek-v2-tiny.json", "scoring_func", "sigmoid", "softmax"),
        ("deepseek-v3-tiny.json", "topk_method", "greedy", "noaux_tc"),
        ("deepseek-v2-tiny.json", "topk_method", "noaux_tc", "group_limited_greedy"),
        ("mixtral-tiny.json", "hidden_act", "gelu_new", "silu"),
        ("qwen3-moe-tiny.json", "hidden_act", "tanh", "relu"),
        ("switch-tiny.json", "dense_act_fn", "gelu_new", "relu"),
    ],
)
def test_error_unsupported_value(tmp_path, write_config, name, key, value, supported):
    cfg = load_config(name)
    cfg[key] = value
    expect_error(write_config(cfg), 1, key, repr(value), supported, tmp_path=tmp_path)


@pytest.mark.parametrize(
    "name,layer,why",
    [
        ("qwen2-moe-tiny.json", 1, "mlp_only_layers"),
        ("deepseek-v3-tiny.json", 0, "first_k_dense_replace"),
        ("switch-tiny.json", 0, "encoder_sparse_step"),
        ("switch-tiny.json", 2, "encoder_sparse_step"),
    ],
)
def test_error_not_moe_layer(tmp_path, name, layer, why):
    msg = expect_error(
        CONFIGS / name, layer, "not an MoE layer", why, tmp_path=tmp_path
    )
    assert f"layer {layer}" in msg


def test_error_not_moe_layer_sparse_step_and_freq(tmp_path, write_config):
    cfg = load_config("qwen3-moe-tiny.json")
    cfg["decoder_sparse_step"] = 2
    expect_error(write_config(cfg), 0, "decoder_sparse_step", tmp_path=tmp_path)
    assert "moe.layer" in import_text(tmp_path, write_config(cfg), 1)
    cfg = load_config("deepseek-v2-tiny.json")
    cfg["moe_layer_freq"] = 2
    expect_error(write_config(cfg), 3, "moe_layer_freq", tmp_path=tmp_path)


def test_error_layer_out_of_range(tmp_path):
    expect_error(
        CONFIGS / "mixtral-tiny.json",
        2,
        "out of range",
        "num_hidden_layers",
        tmp_path=tmp_path,
    )


def test_error_missing_keys(tmp_path, write_config):
    cfg = load_config("mixtral-tiny.json")
    del cfg["num_local_experts"], cfg["hidden_size"]
    expect_error(
        write_config(cfg),
        0,
        "missing",
        "num_local_experts",
        "hidden_size",
        tmp_path=tmp_path,
    )
    cfg = load_config("deepseek-v2-tiny.json")
    del cfg["n_group"]
    expect_error(write_config(cfg), 1, "missing", "n_group", tmp_path=tmp_path)


def test_error_bad_json_and_missing_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    expect_error(bad, 0, "invalid JSON", tmp_path=tmp_path)
    expect_error(tmp_path / "nope.json", 0, "nope.json", tmp_path=tmp_path)


def test_examples_configs_import(tmp_path):
    examples = CONFIGS.parents[2] / "examples" / "configs"
    for name, layer in (
        ("mixtral-tiny.json", 0),
        ("qwen3-moe-tiny.json", 0),
        ("deepseek-v3-tiny.json", 1),
    ):
        if (examples / name).exists():
            assert "moe.layer" in import_text(tmp_path, examples / name, layer)


def test_expert_dtype_bf16(tmp_path):
    """--expert-dtype bf16 stores the expert projections and the shared expert's gate, up
    and down in bf16; the router, biases, tokens and output stay f32 (the dialect's rule)."""
    text = import_text(tmp_path, CONFIGS / "deepseek-v3-tiny.json", 1, "--expert-dtype", "bf16")
    args = dict(re.findall(r"%(\w+): (tensor<[^>]+>)", text.split("->")[0]))
    assert args["x"].endswith("xf32>")
    assert args["router"].endswith("xf32>") and args["score_bias"].endswith("xf32>")
    for name in ("w_gate", "w_up", "w_down", "shared_gate", "shared_up", "shared_down"):
        assert args[name].endswith("xbf16>"), name
    assert "-> (tensor<?x64xf32>" in text
    layer_types = text.split(" : (", 1)[1]
    assert layer_types.count("xbf16>") == 6


def test_expert_dtype_default_and_unknown(tmp_path):
    assert "bf16" not in import_text(tmp_path, CONFIGS / "mixtral-tiny.json", 0)
    with pytest.raises(SystemExit):
        main(["import", str(CONFIGS / "mixtral-tiny.json"), "--layer", "0", "-o",
              str(tmp_path / "x.mlir"), "--expert-dtype", "f16"])
