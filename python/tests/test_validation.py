"""Tests that values which would make invalid IR are rejected by the CLI."""

import json

import pytest
from conftest import CONFIGS, run_cli

BASE = {"D": 8, "F": 4, "E": 4, "k": 2}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"routed_scaling_factor": 0},
            "routed_scaling_factor must be a finite number > 0",
        ),
        (
            {"drop_policy": "passthrough"},
            "drop_policy passthrough needs a capacity limit",
        ),
        ({"normalize": "yes"}, "SPEC.json key normalize must be true or false"),
        ({"score_bias": 1}, "SPEC.json key score_bias must be true or false"),
        ({"T": 0}, 'T must be a positive integer or "dynamic", got 0'),
        ({"shared_F": 1.5}, "shared_ffn must be a non-negative integer, got 1.5"),
    ],
)
def test_gen_layer_rejects(tmp_path, extra, message):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({**BASE, **extra}))
    proc = run_cli(
        "gen-layer",
        "--spec",
        spec,
        "-o",
        tmp_path / "m.mlir",
        "--weights",
        tmp_path / "w.safetensors",
        "--input",
        tmp_path / "x.npy",
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("moec: error: ")
    assert message in proc.stderr


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("num_hidden_layers", "x", "num_hidden_layers must be an integer, got 'x'"),
        ("n_shared_experts", 1.5, "n_shared_experts must be an integer, got 1.5"),
        (
            "routed_scaling_factor",
            -1,
            "routed_scaling_factor must be a finite number > 0",
        ),
    ],
)
def test_import_rejects(tmp_path, key, value, message):
    cfg = json.loads((CONFIGS / "deepseek-v3-tiny.json").read_text())
    cfg[key] = value
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    layer = str(cfg.get("first_k_dense_replace", 0))
    proc = run_cli("import", path, "--layer", layer, "-o", tmp_path / "m.mlir")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("moec: error: ")
    assert message in proc.stderr
