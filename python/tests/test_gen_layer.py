"""gen-layer / reference-spec: raw-parameter layers for the compiler's integration tests."""

import json

import numpy as np
import pytest
from conftest import CONFIGS, run_cli
from moec.__main__ import main
from moec.configs import layer_spec_from_config
from moec.emit_mlir import emit_module
from moec.reference import moe_layer_reference
from moec.safetensors_io import Checkpoint, SafetensorsFile
from moec.spec import spec_from_json
from moec.weights import load_operands, random_weights

FULL = {
    "T": "dynamic",
    "T_run": 12,
    "D": 16,
    "F": 24,
    "E": 8,
    "k": 2,
    "scoring": "sigmoid",
    "selection": "group_sum_top2",
    "n_group": 4,
    "topk_group": 2,
    "normalize": True,
    "routed_scaling_factor": 2.5,
    "activation": "gelu",
    "capacity_factor": 1.25,
    "min_capacity": 2,
    "router_bias": True,
    "score_bias": True,
    "shared_F": 8,
    "shared_gate": True,
}


def gen(tmp_path, spec, seed=0, *extra):
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    paths = {k: tmp_path / f"{k}" for k in ("m.mlir", "w.safetensors", "x.npy")}
    assert (
        main(
            [
                "gen-layer",
                "--spec",
                str(tmp_path / "spec.json"),
                "-o",
                str(paths["m.mlir"]),
                "--weights",
                str(paths["w.safetensors"]),
                "--input",
                str(paths["x.npy"]),
                "--seed",
                str(seed),
                *extra,
            ]
        )
        == 0
    )
    return paths["m.mlir"].read_text(), paths["w.safetensors"], paths["x.npy"]


def test_full_spec_module(tmp_path):
    text, w, x = gen(tmp_path, FULL)
    assert (
        "%y = moe.layer %x, %router router_bias(%router_bias) score_bias(%score_bias) "
        "experts(%w_gate, %w_up, %w_down) shared(%shared_gate, %shared_up, %shared_down, "
        "%shared_expert_gate) {top_k = 2 : i64, scoring = #moe.scoring<sigmoid>, "
        "selection = #moe.selection<group_sum_top2>, n_group = 4 : i64, topk_group = 2 : i64, "
        "normalize = true, routed_scaling_factor = 2.5 : f64, activation = #moe.activation<gelu>, "
        "capacity_factor = 1.25 : f64, min_capacity = 2 : i64} : (tensor<?x16xf32>, tensor<8x16xf32>, "
        "tensor<8xf32>, tensor<8xf32>, tensor<8x24x16xf32>, tensor<8x24x16xf32>, tensor<8x16x24xf32>, "
        "tensor<8x16xf32>, tensor<8x16xf32>, tensor<16x8xf32>, tensor<1x16xf32>) -> tensor<?x16xf32>"
    ) in text
    assert '%w_gate: tensor<8x24x16xf32> {moe.weight = "experts.{e}.gate"}' in text
    f = SafetensorsFile(w)
    names = set(f.keys())
    assert {
        "router",
        "router_bias",
        "score_bias",
        "shared.gate",
        "shared.up",
        "shared.down",
        "shared_expert_gate",
    } <= names
    assert {
        f"experts.{e}.{r}" for e in range(8) for r in ("gate", "up", "down")
    } <= names
    assert len(names) == 7 + 24
    assert f.shape("experts.3.down") == (16, 24)
    xa = np.load(x)
    assert xa.shape == (12, 16) and xa.dtype == np.float32


def test_static_nongated_passthrough(tmp_path):
    spec = {
        "T": 10,
        "D": 8,
        "F": 12,
        "E": 4,
        "k": 1,
        "gated": False,
        "activation": "relu",
        "expert_capacity": 2,
        "drop_policy": "passthrough",
    }
    text, w, x = gen(tmp_path, spec)
    assert "%x: tensor<10x8xf32>" in text and "experts(%w_in, %w_out)" in text
    assert (
        "expert_capacity = 2 : i64, drop_policy = #moe.drop_policy<passthrough>}"
        in text
    )
    assert set(SafetensorsFile(w).keys()) == {"router"} | {
        f"experts.{e}.{r}" for e in range(4) for r in ("in", "out")
    }
    assert np.load(x).shape == (10, 8)


@pytest.mark.parametrize(
    "spec",
    [
        FULL,
        {
            "T": 16,
            "D": 8,
            "F": 12,
            "E": 4,
            "k": 1,
            "gated": False,
            "activation": "relu",
            "expert_capacity": 2,
            "drop_policy": "passthrough",
        },
        {
            "D": 16,
            "F": 8,
            "E": 6,
            "k": 3,
            "selection": "group_max",
            "n_group": 3,
            "topk_group": 2,
            "routed_scaling_factor": 16.0,
        },
    ],
)
def test_reference_spec_matches_function_api(tmp_path, spec):
    _, w, x = gen(tmp_path, spec, 5)
    r = run_cli(
        "reference-spec",
        "--spec",
        tmp_path / "spec.json",
        "--weights",
        w,
        "--input",
        x,
        "-o",
        tmp_path / "y.npy",
        "--stats-json",
        tmp_path / "s.json",
    )
    assert r.returncode == 0, r.stderr
    y = np.load(tmp_path / "y.npy")
    ls, _ = spec_from_json(spec)
    ops = load_operands(ls, Checkpoint(w))
    experts = (
        (ops["gate"], ops["up"], ops["down"]) if ls.gated else (ops["in"], ops["out"])
    )
    shared = (
        (ops["shared_gate"], ops["shared_up"], ops["shared_down"])
        if ls.shared_ffn
        else None
    )
    y2, counts, kept = moe_layer_reference(
        np.load(x),
        ops["router"],
        experts,
        top_k=ls.top_k,
        scoring=ls.scoring,
        selection=ls.selection,
        n_group=ls.n_group,
        topk_group=ls.topk_group,
        normalize=ls.normalize,
        routed_scaling_factor=ls.routed_scaling_factor,
        activation=ls.activation,
        router_bias=ops.get("router_bias"),
        score_bias=ops.get("score_bias"),
        capacity_factor=ls.capacity_factor,
        expert_capacity=ls.expert_capacity,
        min_capacity=ls.min_capacity,
        drop_policy=ls.drop_policy,
        shared=shared,
        shared_gate=ops.get("shared_expert_gate"),
    )
    np.testing.assert_array_equal(y, y2.astype(np.float32))
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats == {"expert_counts": counts.tolist(), "expert_kept": kept.tolist()}
    assert 0.05 < float(np.std(y)) < 50.0


def test_seed_changes_weights_and_input(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _, w0, x0 = gen(tmp_path / "a", FULL, 0)
    _, w1, x1 = gen(tmp_path / "b", FULL, 1)
    assert not np.array_equal(np.load(x0), np.load(x1))
    assert not np.array_equal(
        SafetensorsFile(w0).get("router"), SafetensorsFile(w1).get("router")
    )


def test_same_spec_from_config_and_json_agree():
    """A raw spec with a family's parameters gives the same attributes as the importer."""
    cfg = json.loads((CONFIGS / "deepseek-v3-tiny.json").read_text())
    a = layer_spec_from_config(cfg, 1)
    b, _ = spec_from_json(
        {
            "D": 64,
            "F": 32,
            "E": 16,
            "k": 4,
            "scoring": "sigmoid",
            "selection": "group_sum_top2",
            "n_group": 4,
            "topk_group": 2,
            "normalize": True,
            "routed_scaling_factor": 2.5,
            "score_bias": True,
            "shared_F": 32,
            "group_mask": "zero",  # the config has no transformers_version: remote code's
        }
    )

    def attrs(s):
        return emit_module(s).split("{top_k", 1)[1].split("}", 1)[0]

    assert attrs(a) == attrs(b)
    assert len(random_weights(a, 0)) == len(random_weights(b, 0))


@pytest.mark.parametrize(
    "bad,msg",
    [
        ({"D": 8, "F": 8, "E": 4}, "missing required key(s): k"),
        ({"D": 8, "F": 8, "E": 4, "k": 2, "topk": 1}, "unknown SPEC.json key(s): topk"),
        (
            {"D": 8, "F": 8, "E": 4, "k": 2, "scoring": "tanh"},
            "unsupported scoring 'tanh'",
        ),
        ({"D": 8, "F": 8, "E": 4, "k": 5}, "top_k = 5 exceeds"),
        (
            {
                "D": 8,
                "F": 8,
                "E": 6,
                "k": 2,
                "selection": "group_max",
                "n_group": 4,
                "topk_group": 2,
            },
            "divide",
        ),
        (
            {
                "D": 8,
                "F": 8,
                "E": 4,
                "k": 2,
                "capacity_factor": 1.0,
                "expert_capacity": 4,
            },
            "not both",
        ),
    ],
)
def test_spec_errors(tmp_path, bad, msg):
    (tmp_path / "spec.json").write_text(json.dumps(bad))
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
    assert (
        r.returncode == 2 and r.stderr.startswith("moec: error: ") and msg in r.stderr
    ), r.stderr
