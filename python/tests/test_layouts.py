"""Weight sources: both on-disk layouts round-trip through load_operands for every family, the
transpose/parts/interleave rules on hand-made tensors, source order and the errors."""

import json

import numpy as np
import pytest
from conftest import CONFIGS, load_config, one_error_line, run_cli
from moec.__main__ import main
from moec.configs import layer_spec_from_config
from moec.emit_mlir import emit_module
from moec.errors import MoecError
from moec.safetensors_io import Checkpoint, SafetensorsFile
from moec.spec import LayerSpec, Source, spec_from_json
from moec.weights import load_operands, plan, random_weights


class DictCheckpoint(dict):
    """The checkpoint interface (``in`` and ``get``) over a dict of arrays."""

    def get(self, name, default=None):
        if name not in self:
            raise MoecError(f"checkpoint has no tensor named {name!r}")
        return self[name]


FAMILIES = [
    ("mixtral-tiny.json", 0),
    ("qwen2-moe-tiny.json", 0),
    ("qwen3-moe-tiny-t5.json", 0),
    ("olmoe-tiny.json", 0),
    ("deepseek-v2-tiny.json", 1),
    ("deepseek-v3-tiny.json", 1),
    ("switch-tiny.json", 1),
    ("gpt-oss-tiny-t4.json", 0),
]


@pytest.mark.parametrize("name,layer", FAMILIES)
def test_both_layouts_load_the_same_operands(name, layer):
    spec = layer_spec_from_config(load_config(name), layer)
    per_expert = random_weights(spec, 5, layout="per-expert")
    stacked = random_weights(spec, 5, layout="stacked")
    a = load_operands(spec, DictCheckpoint(per_expert))
    b = load_operands(spec, DictCheckpoint(stacked))
    assert a.keys() == b.keys()
    for role in a:
        np.testing.assert_array_equal(a[role], b[role], err_msg=role)
        assert a[role].shape == next(
            op.shape for op in spec.operands() if op.role == role
        )
    if spec.family in ("switch_transformers", "gpt_oss"):
        assert per_expert.keys() == stacked.keys()  # one on-disk form only
    else:
        assert per_expert.keys() != stacked.keys()


@pytest.mark.parametrize(
    "name,layer,stacked_names",
    [
        (
            "mixtral-tiny.json",
            0,
            {
                "model.layers.0.mlp.gate.weight": (8, 64),
                "model.layers.0.mlp.experts.gate_up_proj": (8, 192, 64),
                "model.layers.0.mlp.experts.down_proj": (8, 64, 96),
            },
        ),
        (
            "deepseek-v3-tiny.json",
            1,
            {
                "model.layers.1.mlp.gate.weight": (16, 64),
                "model.layers.1.mlp.gate.e_score_correction_bias": (16,),
                "model.layers.1.mlp.experts.gate_up_proj": (16, 64, 64),
                "model.layers.1.mlp.experts.down_proj": (16, 64, 32),
                "model.layers.1.mlp.shared_experts.gate_proj.weight": (32, 64),
                "model.layers.1.mlp.shared_experts.up_proj.weight": (32, 64),
                "model.layers.1.mlp.shared_experts.down_proj.weight": (64, 32),
            },
        ),
    ],
)
def test_stacked_layout_is_transformers_5(tmp_path, name, layer, stacked_names):
    w = tmp_path / "w.safetensors"
    args = ["random-weights", str(CONFIGS / name), "--layer", str(layer), "--seed", "1"]
    assert main([*args, "--layout", "stacked", "-o", str(w)]) == 0
    f = SafetensorsFile(w)
    assert {k: f.shape(k) for k in f} == stacked_names
    # gate_up_proj = [gate; up] along axis 1 (transformers 5 chunk(2)), the same values as the
    # per-expert layout with the same seed
    assert main([*args, "--layout", "per-expert", "-o", str(tmp_path / "p.st")]) == 0
    p = SafetensorsFile(tmp_path / "p.st")
    prefix = f"model.layers.{layer}." + (
        "block_sparse_moe" if "mixtral" in name else "mlp"
    )
    gate_name, up_name = ("w1", "w3") if "mixtral" in name else ("gate_proj", "up_proj")
    gu = f.get(f"model.layers.{layer}.mlp.experts.gate_up_proj")
    F = gu.shape[1] // 2
    np.testing.assert_array_equal(
        gu[2, :F], p.get(f"{prefix}.experts.2.{gate_name}.weight")
    )
    np.testing.assert_array_equal(
        gu[2, F:], p.get(f"{prefix}.experts.2.{up_name}.weight")
    )


def test_sources_hand_made():
    """arg [E=2, n=2, m=3] from on-disk tensors of each kind."""
    E, n, m = 2, 2, 3
    gate = np.arange(E * n * m, dtype=np.float32).reshape(E, n, m)
    up = 100 + gate

    def spec_with(sources):
        return LayerSpec(
            hidden=m,
            ffn=n,
            num_experts=E,
            top_k=1,
            router_name="r",
            expert_names=("g", "u", "d"),
            sources=sources,
        )

    ck = DictCheckpoint(
        r=np.zeros((E, m), np.float32), d=np.zeros((E, m, n), np.float32)
    )
    # fused [E, 2n, m], blocks
    ck["blocks"] = np.concatenate([gate, up], axis=1)
    # fused, transposed [E, m, 2n], interleaved columns g0 u0 g1 u1
    inter = np.empty((E, 2 * n, m), np.float32)
    inter[:, 0::2], inter[:, 1::2] = gate, up
    ck["inter_t"] = inter.swapaxes(1, 2).copy()
    # per expert, transposed [m, n]
    for e in range(E):
        ck[f"pe.{e}"] = gate[e].T.copy()
        ck[f"pu.{e}"] = up[e].T.copy()
    cases = {
        "blocks": (
            (Source("blocks", parts=2, part=0),),
            (Source("blocks", parts=2, part=1),),
        ),
        "interleaved+transposed": (
            (Source("inter_t", transpose=True, parts=2, part=0, interleave=True),),
            (Source("inter_t", transpose=True, parts=2, part=1, interleave=True),),
        ),
        "per-expert transposed": (
            (Source("pe.{e}", transpose=True),),
            (Source("pu.{e}", transpose=True),),
        ),
    }
    for label, (gs, us) in cases.items():
        ops = load_operands(spec_with({"gate": gs, "up": us}), ck)
        np.testing.assert_array_equal(ops["gate"], gate, err_msg=label)
        np.testing.assert_array_equal(ops["up"], up, err_msg=label)


def _two_source_spec():
    spec = layer_spec_from_config(load_config("qwen3-moe-tiny.json"), 0)
    return spec, random_weights(spec, 1), random_weights(spec, 2, layout="stacked")


def test_first_present_source_wins():
    spec, per_expert, stacked = _two_source_spec()
    both = DictCheckpoint({**stacked, **per_expert})
    got = load_operands(spec, both)
    np.testing.assert_array_equal(
        got["gate"], load_operands(spec, DictCheckpoint(per_expert))["gate"]
    )
    assert not np.array_equal(
        got["gate"], load_operands(spec, DictCheckpoint(stacked))["gate"]
    )


def test_missing_weight_lists_every_name_looked_for():
    spec, per_expert, _ = _two_source_spec()
    ck = DictCheckpoint(per_expert)
    del ck["model.layers.0.mlp.experts.0.up_proj.weight"]
    with pytest.raises(MoecError) as exc:
        load_operands(spec, ck)
    msg = str(exc.value)
    assert "model.layers.0.mlp.experts.{e}.up_proj.weight" in msg
    assert "'model.layers.0.mlp.experts.0.up_proj.weight'" in msg
    assert "'model.layers.0.mlp.experts.gate_up_proj'" in msg
    # a later expert missing: its exact name
    ck = DictCheckpoint(per_expert)
    del ck["model.layers.0.mlp.experts.7.up_proj.weight"]
    with pytest.raises(MoecError, match="experts.7.up_proj.weight"):
        load_operands(spec, ck)


def test_shape_mismatch_names_the_tensor():
    spec, _, stacked = _two_source_spec()
    ck = DictCheckpoint(stacked)
    name = "model.layers.0.mlp.experts.gate_up_proj"
    ck[name] = ck[name][:, :-1]
    with pytest.raises(
        MoecError,
        match=rf"tensor '{name}' has shape \[16, 95, 64\], expected \[16, 96, 64\]",
    ):
        load_operands(spec, ck)


@pytest.mark.parametrize(
    "src,shape,msg",
    [
        (Source("a", parts=0), (4, 3), "parts >= 1"),
        (Source("a", parts=2, part=2), (4, 3), "0 <= part < parts"),
        (Source("a", parts=2), (4,), "cannot be split"),
        (Source("a", transpose=True), (4,), "cannot be transposed"),
        (Source("a.{e}", transpose=True), (4, 3), "cannot be transposed"),
    ],
)
def test_source_rules(src, shape, msg):
    with pytest.raises(MoecError, match=msg):
        src.check(shape)


def test_source_mlir_only_non_defaults():
    assert Source("x").mlir() == '{name = "x"}'
    assert (
        Source("x", transpose=True, parts=2, part=1, interleave=True).mlir()
        == '{name = "x", transpose = true, parts = 2 : i64, part = 1 : i64, interleave = true}'
    )


def test_plan_rejects_partial_fused_tensor():
    spec = spec_from_json({"D": 4, "F": 3, "E": 2, "k": 1, "layout": "stacked"})[0]
    spec.sources = {"gate": (Source("experts.gate_up", parts=2, part=0),)}  # no part 1
    with pytest.raises(MoecError, match="only partly"):
        plan(spec, "stacked")


GPT_OSS_LIKE = {
    "D": 12,
    "F": 5,
    "E": 6,
    "k": 2,
    "T_run": 9,
    "normalize": True,
    "router_bias": True,
    "expert_bias": True,
    "activation": "clamped_swiglu",
    "swiglu_limit": 0.5,
    "swiglu_alpha": 1.5,
}


def gen(tmp_path, spec, seed=3):
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    args = ["gen-layer", "--spec", str(tmp_path / "spec.json"), "--seed", str(seed)]
    paths = [tmp_path / n for n in ("m.mlir", "w.safetensors", "x.npy")]
    flags = ["-o", "--weights", "--input"]
    assert main(args + [a for f, p in zip(flags, paths) for a in (f, str(p))]) == 0
    return [p.read_text() if p.suffix == ".mlir" else p for p in paths]


def test_gen_layer_gpt_oss_like_both_layouts(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    text_a, w_a, x_a = gen(tmp_path / "a", GPT_OSS_LIKE)
    text_b, w_b, x_b = gen(tmp_path / "b", dict(GPT_OSS_LIKE, layout="stacked"))
    assert (
        "experts(%w_gate, %w_up, %w_down) expert_biases(%b_gate, %b_up, %b_down) {top_k = 2 : i64, "
        "scoring = #moe.scoring<softmax>, normalize = true, activation = #moe.activation<clamped_swiglu>, "
        "swiglu_alpha = 1.5 : f64, swiglu_limit = 0.5 : f64}" in text_a
    )
    assert '%b_down: tensor<6x12xf32> {moe.weight = "experts.{e}.down_bias"}' in text_a
    assert (
        '%w_up: tensor<6x5x12xf32> {moe.weight = "experts.up", moe.weight_sources = '
        '[{name = "experts.gate_up", parts = 2 : i64, part = 1 : i64}]}' in text_b
    )
    assert (
        '%b_gate: tensor<6x5xf32> {moe.weight = "experts.gate_bias", moe.weight_sources = '
        '[{name = "experts.gate_up_bias", parts = 2 : i64}]}' in text_b
    )
    assert '%w_down: tensor<6x12x5xf32> {moe.weight = "experts.down"}' in text_b
    f = SafetensorsFile(w_b)
    assert {k: f.shape(k) for k in f} == {
        "router": (6, 12),
        "router_bias": (6,),
        "experts.gate_up": (6, 10, 12),
        "experts.down": (6, 12, 5),
        "experts.gate_up_bias": (6, 10),
        "experts.down_bias": (6, 12),
    }
    # same seed, same operand values whichever layout; so the same reference output
    ys = []
    for d, w, x in ((tmp_path / "a", w_a, x_a), (tmp_path / "b", w_b, x_b)):
        r = run_cli(
            "reference-spec",
            "--spec",
            d / "spec.json",
            "--weights",
            w,
            "--input",
            x,
            "-o",
            d / "y.out",
        )
        assert r.returncode == 0, r.stderr
        ys.append(np.load(d / "y.out"))
    np.testing.assert_array_equal(ys[0], ys[1])
    assert 0.01 < float(np.std(ys[0])) < 50


def test_gen_layer_nongated_stacked_with_biases(tmp_path):
    spec = {
        "D": 8,
        "F": 6,
        "E": 4,
        "k": 1,
        "gated": False,
        "activation": "relu",
        "expert_bias": True,
        "layout": "stacked",
    }
    text, w, _ = gen(tmp_path, spec)
    assert "experts(%w_in, %w_out) expert_biases(%b_in, %b_out)" in text
    assert "moe.weight_sources" not in text
    f = SafetensorsFile(w)
    assert {k: f.shape(k) for k in f} == {
        "router": (4, 8),
        "experts.in": (4, 6, 8),
        "experts.out": (4, 8, 6),
        "experts.in_bias": (4, 6),
        "experts.out_bias": (4, 8),
    }


@pytest.mark.parametrize(
    "extra,msg",
    [
        ({"activation": "clamped_swiglu"}, "needs swiglu_limit"),
        ({"swiglu_limit": 7.0}, "need activation clamped_swiglu"),
        (
            {"activation": "clamped_swiglu", "swiglu_limit": 7, "gated": False},
            "needs gated experts",
        ),
        (
            {"activation": "clamped_swiglu", "swiglu_limit": -1},
            "swiglu_limit must be a finite number > 0",
        ),
        (
            {"activation": "clamped_swiglu", "swiglu_limit": "7"},
            "swiglu_limit must be a number",
        ),
        ({"layout": "fused"}, "unsupported layout 'fused'"),
        ({"expert_bias": 1}, "expert_bias must be true or false"),
        ({"hot_expert": 9, "router_bias": True}, "hot_expert must be an expert index"),
        ({"nan_router_row": -1}, "nan_router_row must be an expert index"),
        (
            {"min_capacity": "2", "capacity_factor": 1.0},
            "min_capacity must be a non-negative integer",
        ),
        ({"routed_scaling_factor": "2"}, "routed_scaling_factor must be a number"),
        ({"routed_scaling_factor": 10**400}, "routed_scaling_factor must be a number"),
        ({"D": 2**40}, "hidden = 1099511627776 is too large"),
    ],
)
def test_gen_layer_spec_errors(tmp_path, extra, msg):
    (tmp_path / "spec.json").write_text(
        json.dumps({"D": 8, "F": 4, "E": 4, "k": 2, **extra})
    )
    r = run_cli(
        "gen-layer",
        "--spec",
        tmp_path / "spec.json",
        "-o",
        tmp_path / "m.mlir",
        "--weights",
        tmp_path / "w.st",
        "--input",
        tmp_path / "x.npy",
    )
    one_error_line(r, msg)
    assert not (tmp_path / "w.st").exists()


def test_emitted_sources_round_trip_through_files(tmp_path):
    """random-weights --layout stacked, then reference (file-based, Checkpoint) equals the
    per-expert file's reference for a family with both forms."""
    cfg = CONFIGS / "mixtral-tiny-t5.json"
    np.save(
        tmp_path / "x.npy",
        np.random.default_rng(1).standard_normal((5, 64)).astype(np.float32),
    )
    ys = []
    for layout in ("per-expert", "stacked"):
        w = tmp_path / f"{layout}.safetensors"
        assert (
            main(
                [
                    "random-weights",
                    str(cfg),
                    "--layer",
                    "1",
                    "--seed",
                    "9",
                    "--layout",
                    layout,
                    "-o",
                    str(w),
                ]
            )
            == 0
        )
        out = tmp_path / f"{layout}.npy"
        assert (
            main(
                [
                    "reference",
                    str(cfg),
                    "--layer",
                    "1",
                    "--weights",
                    str(w),
                    "--input",
                    str(tmp_path / "x.npy"),
                    "-o",
                    str(out),
                ]
            )
            == 0
        )
        ys.append(np.load(out))
    np.testing.assert_array_equal(ys[0], ys[1])
    spec = layer_spec_from_config(load_config("mixtral-tiny-t5.json"), 1)
    assert "moe.weight_sources" in emit_module(spec)
    assert load_operands(spec, Checkpoint(tmp_path / "stacked.safetensors"))[
        "router"
    ].shape == (8, 64)


def test_weights_must_be_float_like_the_runtime(tmp_path):
    """F64 or integer tensors are refused (the runtime only widens F32/F16/BF16)."""
    from moec.configs import layer_spec_from_config
    from moec.safetensors_io import Checkpoint, save_file
    from moec.weights import load_operands, random_weights

    spec = layer_spec_from_config(load_config("mixtral-tiny.json"), 0)
    tensors = random_weights(spec, 0)
    router = spec.router_name
    tensors[router] = tensors[router].astype(np.float64)
    path = tmp_path / "w.safetensors"
    save_file(path, tensors)
    with pytest.raises(MoecError, match="cannot be loaded as f32"):
        load_operands(spec, Checkpoint(path))
