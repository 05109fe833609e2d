"""GPT-OSS: the emitted IR, its on-disk layout (fused, transposed, interleaved, with biases),
MXFP4 checkpoints refused, and the reference against a naive loop over the on-disk tensors."""

import math

import numpy as np
import pytest
from conftest import CONFIGS, load_config, one_error_line, run_cli
from moec.__main__ import main
from moec.configs import layer_spec_from_config
from moec.emit_mlir import emit_module
from moec.errors import MoecError
from moec.reference import clamped_swiglu
from moec.safetensors_io import Checkpoint, SafetensorsFile, save_file
from moec.weights import load_operands

P = "model.layers.1.mlp"
EXPECTED_IR = f"""\
func.func @forward(%x: tensor<?x64xf32> {{moe.input = "hidden_states"}},
    %router: tensor<8x64xf32> {{moe.weight = "{P}.router.weight"}},
    %router_bias: tensor<8xf32> {{moe.weight = "{P}.router.bias"}},
    %w_gate: tensor<8x32x64xf32> {{moe.weight = "{P}.experts.gate", moe.weight_sources = [{{name = "{P}.experts.gate_up_proj", transpose = true, parts = 2 : i64, interleave = true}}]}},
    %w_up: tensor<8x32x64xf32> {{moe.weight = "{P}.experts.up", moe.weight_sources = [{{name = "{P}.experts.gate_up_proj", transpose = true, parts = 2 : i64, part = 1 : i64, interleave = true}}]}},
    %w_down: tensor<8x64x32xf32> {{moe.weight = "{P}.experts.down", moe.weight_sources = [{{name = "{P}.experts.down_proj", transpose = true}}]}},
    %b_gate: tensor<8x32xf32> {{moe.weight = "{P}.experts.gate_bias", moe.weight_sources = [{{name = "{P}.experts.gate_up_proj_bias", parts = 2 : i64, interleave = true}}]}},
    %b_up: tensor<8x32xf32> {{moe.weight = "{P}.experts.up_bias", moe.weight_sources = [{{name = "{P}.experts.gate_up_proj_bias", parts = 2 : i64, part = 1 : i64, interleave = true}}]}},
    %b_down: tensor<8x64xf32> {{moe.weight = "{P}.experts.down_bias", moe.weight_sources = [{{name = "{P}.experts.down_proj_bias"}}]}})
    -> (tensor<?x64xf32> {{moe.output = "output"}}) {{
  %y = moe.layer %x, %router router_bias(%router_bias) experts(%w_gate, %w_up, %w_down) expert_biases(%b_gate, %b_up, %b_down) {{top_k = 2 : i64, scoring = #moe.scoring<softmax>, normalize = true, activation = #moe.activation<clamped_swiglu>, swiglu_limit = 7.0 : f64}} : (tensor<?x64xf32>, tensor<8x64xf32>, tensor<8xf32>, tensor<8x32x64xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>, tensor<8x32xf32>, tensor<8x32xf32>, tensor<8x64xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}}
"""


@pytest.mark.parametrize("name", ["gpt-oss-tiny-t4.json", "gpt-oss-tiny-t5.json"])
def test_import_exact(tmp_path, name):
    out = tmp_path / "o.mlir"
    assert main(["import", str(CONFIGS / name), "--layer", "1", "-o", str(out)]) == 0
    assert out.read_text() == EXPECTED_IR


def test_swiglu_parameters_from_config():
    cfg = load_config("gpt-oss-tiny-t5.json")
    cfg.update(swiglu_limit=5.5, swiglu_alpha=2.0)
    text = emit_module(layer_spec_from_config(cfg, 0))
    assert (
        "activation = #moe.activation<clamped_swiglu>, swiglu_alpha = 2.0 : f64, "
        "swiglu_limit = 5.5 : f64}" in text
    )
    del cfg["swiglu_limit"], cfg["swiglu_alpha"]  # class defaults: 7.0, 1.702
    assert "swiglu_limit = 7.0 : f64}" in emit_module(layer_spec_from_config(cfg, 0))
    for bad in (0, -1.0):
        cfg["swiglu_limit"] = bad
        with pytest.raises(MoecError, match="swiglu_limit must be a finite number > 0"):
            layer_spec_from_config(cfg, 0)


def test_layer_range_and_aliases():
    cfg = load_config("gpt-oss-tiny-t4.json")
    with pytest.raises(MoecError, match="out of range"):
        layer_spec_from_config(cfg, 2)
    cfg["num_experts"] = cfg.pop("num_local_experts")
    assert layer_spec_from_config(cfg, 0).num_experts == 8


@pytest.mark.parametrize("layout", ["per-expert", "stacked"])
def test_random_weights_on_disk_layout(tmp_path, layout):
    """GPT-OSS has one on-disk form whatever --layout says: the transformers tensors."""
    w = tmp_path / "w.safetensors"
    args = ["random-weights", str(CONFIGS / "gpt-oss-tiny-t5.json"), "--layer", "0"]
    assert main([*args, "--seed", "4", "--layout", layout, "-o", str(w)]) == 0
    f = SafetensorsFile(w)
    p = "model.layers.0.mlp"
    assert {k: f.shape(k) for k in f} == {
        f"{p}.router.weight": (8, 64),
        f"{p}.router.bias": (8,),
        f"{p}.experts.gate_up_proj": (8, 64, 64),  # [E, D, 2F]
        f"{p}.experts.gate_up_proj_bias": (8, 64),  # [E, 2F]
        f"{p}.experts.down_proj": (8, 32, 64),  # [E, F, D]
        f"{p}.experts.down_proj_bias": (8, 64),
    }
    # Loading goes through the sources: gate = columns 0, 2, 4, ... transposed to [F, D].
    spec = layer_spec_from_config(load_config("gpt-oss-tiny-t5.json"), 0)
    ops = load_operands(spec, Checkpoint(w))
    gu = f.get(f"{p}.experts.gate_up_proj")
    gub = f.get(f"{p}.experts.gate_up_proj_bias")
    np.testing.assert_array_equal(ops["gate"], gu[..., 0::2].swapaxes(1, 2))
    np.testing.assert_array_equal(ops["up"], gu[..., 1::2].swapaxes(1, 2))
    np.testing.assert_array_equal(
        ops["down"], f.get(f"{p}.experts.down_proj").swapaxes(1, 2)
    )
    np.testing.assert_array_equal(ops["gate_bias"], gub[:, 0::2])
    np.testing.assert_array_equal(ops["up_bias"], gub[:, 1::2])
    np.testing.assert_array_equal(
        ops["down_bias"], f.get(f"{p}.experts.down_proj_bias")
    )
    assert ops["gate"].shape == (8, 32, 64) and ops["down"].shape == (8, 64, 32)


def test_mxfp4_checkpoint_is_refused(tmp_path):
    p = "model.layers.0.mlp"
    E, D, F = 8, 64, 32
    u8 = np.zeros
    tensors = {
        f"{p}.router.weight": np.zeros((E, D), np.float32),
        f"{p}.router.bias": np.zeros(E, np.float32),
        f"{p}.experts.gate_up_proj_blocks": u8((E, 2 * F, D // 32, 16), np.uint8),
        f"{p}.experts.gate_up_proj_scales": u8((E, 2 * F, D // 32), np.uint8),
        f"{p}.experts.gate_up_proj_bias": np.zeros((E, 2 * F), np.float32),
        f"{p}.experts.down_proj_blocks": u8((E, D, F // 32, 16), np.uint8),
        f"{p}.experts.down_proj_scales": u8((E, D, F // 32), np.uint8),
        f"{p}.experts.down_proj_bias": np.zeros((E, D), np.float32),
    }
    save_file(tmp_path / "w.safetensors", tensors)
    np.save(tmp_path / "x.npy", np.zeros((2, D), np.float32))
    r = run_cli(
        "reference",
        CONFIGS / "gpt-oss-tiny-t5.json",
        "--layer",
        0,
        "--weights",
        tmp_path / "w.safetensors",
        "--input",
        tmp_path / "x.npy",
        "-o",
        tmp_path / "y.npy",
    )
    one_error_line(
        r, "unsupported quantized checkpoint", f"{p}.experts.gate_up_proj_blocks"
    )


def test_clamped_swiglu_by_hand():
    s = lambda z: 1.0 / (1.0 + math.exp(-z))
    # gate above the limit is cut to 7; up below -7 is lifted to -7
    got = clamped_swiglu(
        np.array([8.0, -3.0, 1.0]), np.array([-9.0, 9.0, 0.5]), 1.702, 7.0
    )
    want = [
        (-7 + 1) * 7 * s(1.702 * 7),
        (7 + 1) * -3 * s(1.702 * -3),
        1.5 * 1 * s(1.702),
    ]
    np.testing.assert_allclose(got, want, rtol=1e-14)
    with np.errstate(invalid="ignore"):  # NaN propagates, as torch.clamp does
        assert np.isnan(
            clamped_swiglu(np.array([np.nan]), np.array([0.0]), 1.702, 7.0)
        )[0]


def naive_gpt_oss(x, W, b, gate_up, gate_up_b, down, down_b, k, alpha=1.702, limit=7.0):
    """transformers' GptOssMLP written as loops over the on-disk tensors: top-k of the
    biased logits, softmax over those k, interleaved gate/up, clamps, (up + 1) * glu."""
    E, D = len(W), len(x[0])
    F = len(gate_up[0][0]) // 2
    y, clamps = [], [0, 0]
    for xt in x:
        logits = [sum(xt[d] * W[e][d] for d in range(D)) + b[e] for e in range(E)]
        chosen = sorted(range(E), key=lambda e: (-logits[e], e))[:k]
        m = max(logits[e] for e in chosen)
        ex = [math.exp(logits[e] - m) for e in chosen]
        weights = [v / sum(ex) for v in ex]
        acc = [0.0] * D
        for e, w in zip(chosen, weights):
            gu = [
                sum(xt[d] * gate_up[e][d][c] for d in range(D)) + gate_up_b[e][c]
                for c in range(2 * F)
            ]
            mid = []
            for f in range(F):
                g, u = gu[2 * f], gu[2 * f + 1]
                clamps[0] += g > limit
                clamps[1] += abs(u) > limit
                g = min(g, limit)
                u = max(min(u, limit), -limit)
                mid.append((u + 1.0) * g / (1.0 + math.exp(-alpha * g)))
            out = [
                sum(mid[f] * down[e][f][d] for f in range(F)) + down_b[e][d]
                for d in range(D)
            ]
            acc = [a + w * o for a, o in zip(acc, out)]
        y.append(acc)
    return np.array(y), clamps


def test_reference_matches_naive_loop_on_hf_tensors(tmp_path, write_config):
    E, D, F, k, T = 4, 3, 2, 2, 6
    cfg = load_config("gpt-oss-tiny-t5.json")
    cfg.update(
        hidden_size=D, intermediate_size=F, num_local_experts=E, num_experts_per_tok=k
    )
    rng = np.random.default_rng(11)
    p = "model.layers.0.mlp"
    t = {
        f"{p}.router.weight": rng.standard_normal((E, D)),
        f"{p}.router.bias": rng.standard_normal(E),
        # large enough that some gates exceed 7 and some |up| exceed 7
        f"{p}.experts.gate_up_proj": 4.0 * rng.standard_normal((E, D, 2 * F)),
        f"{p}.experts.gate_up_proj_bias": rng.standard_normal((E, 2 * F)),
        f"{p}.experts.down_proj": rng.standard_normal((E, F, D)),
        f"{p}.experts.down_proj_bias": rng.standard_normal((E, D)),
    }
    t = {name: a.astype(np.float32) for name, a in t.items()}
    save_file(tmp_path / "w.safetensors", t)
    x = (2.0 * rng.standard_normal((T, D))).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    r = run_cli(
        "reference",
        write_config(cfg),
        "--layer",
        0,
        "--weights",
        tmp_path / "w.safetensors",
        "--input",
        tmp_path / "x.npy",
        "-o",
        tmp_path / "y.npy",
    )
    assert r.returncode == 0, r.stderr
    f64 = {name: a.astype(np.float64).tolist() for name, a in t.items()}
    want, clamps = naive_gpt_oss(
        x.astype(np.float64).tolist(),
        f64[f"{p}.router.weight"],
        f64[f"{p}.router.bias"],
        f64[f"{p}.experts.gate_up_proj"],
        f64[f"{p}.experts.gate_up_proj_bias"],
        f64[f"{p}.experts.down_proj"],
        f64[f"{p}.experts.down_proj_bias"],
        k,
    )
    assert clamps[0] > 0 and clamps[1] > 0, "the case must exercise both clamps"
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), want, rtol=1e-5, atol=1e-5)
