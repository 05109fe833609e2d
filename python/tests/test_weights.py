"""random-weights: checkpoint names and shapes per family; the reference command end to end."""

import json

import numpy as np
import pytest
from conftest import CONFIGS, run_cli
from moec.__main__ import main
from moec.configs import layer_spec_from_config
from moec.safetensors_io import SafetensorsFile


def gated(prefix, E, F, D, gate="gate_proj", up="up_proj", down="down_proj"):
    names = {}
    for e in range(E):
        names[f"{prefix}.experts.{e}.{gate}.weight"] = (F, D)
        names[f"{prefix}.experts.{e}.{up}.weight"] = (F, D)
        names[f"{prefix}.experts.{e}.{down}.weight"] = (D, F)
    return names


def shared_mlp(prefix, Fs, D):
    return {
        f"{prefix}.gate_proj.weight": (Fs, D),
        f"{prefix}.up_proj.weight": (Fs, D),
        f"{prefix}.down_proj.weight": (D, Fs),
    }


EXPECTED = {
    ("mixtral-tiny.json", 1): {
        "model.layers.1.block_sparse_moe.gate.weight": (8, 64),
        **gated("model.layers.1.block_sparse_moe", 8, 96, 64, "w1", "w3", "w2"),
    },
    ("qwen2-moe-tiny.json", 0): {
        "model.layers.0.mlp.gate.weight": (12, 64),
        **gated("model.layers.0.mlp", 12, 32, 64),
        **shared_mlp("model.layers.0.mlp.shared_expert", 128, 64),
        "model.layers.0.mlp.shared_expert_gate.weight": (1, 64),
    },
    ("qwen3-moe-tiny.json", 0): {
        "model.layers.0.mlp.gate.weight": (16, 64),
        **gated("model.layers.0.mlp", 16, 48, 64),
    },
    ("olmoe-tiny.json", 0): {
        "model.layers.0.mlp.gate.weight": (16, 64),
        **gated("model.layers.0.mlp", 16, 32, 64),
    },
    ("deepseek-v2-tiny.json", 1): {
        "model.layers.1.mlp.gate.weight": (16, 64),
        **gated("model.layers.1.mlp", 16, 32, 64),
        **shared_mlp("model.layers.1.mlp.shared_experts", 64, 64),
    },
    ("deepseek-v3-tiny.json", 1): {
        "model.layers.1.mlp.gate.weight": (16, 64),
        "model.layers.1.mlp.gate.e_score_correction_bias": (16,),
        **gated("model.layers.1.mlp", 16, 32, 64),
        **shared_mlp("model.layers.1.mlp.shared_experts", 32, 64),
    },
    ("switch-tiny.json", 1): {
        "encoder.block.1.layer.1.mlp.router.classifier.weight": (4, 32),
        **{
            f"encoder.block.1.layer.1.mlp.experts.expert_{e}.wi.weight": (64, 32)
            for e in range(4)
        },
        **{
            f"encoder.block.1.layer.1.mlp.experts.expert_{e}.wo.weight": (32, 64)
            for e in range(4)
        },
    },
}


@pytest.mark.parametrize("name,layer", list(EXPECTED))
def test_random_weight_names(tmp_path, name, layer):
    out = tmp_path / "w.safetensors"
    assert (
        main(
            [
                "random-weights",
                str(CONFIGS / name),
                "--layer",
                str(layer),
                "--seed",
                "7",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    f = SafetensorsFile(out)
    want = EXPECTED[(name, layer)]
    assert {k: f.shape(k) for k in f} == want
    assert all(f.dtype(k) == "F32" for k in f)
    for k in f:
        a = f.get(k)
        assert np.all(np.isfinite(a)) and np.any(a != 0.0)
        if a.ndim == 2 and a.size >= 1024:
            assert (
                abs(a.std() * np.sqrt(a.shape[1]) - 1.0) < 0.1
            )  # N(0, 1/sqrt(fan_in))


def test_random_weights_deterministic_and_dtype(tmp_path):
    args = [str(CONFIGS / "mixtral-tiny.json"), "--layer", "0", "--seed", "3"]
    for i in range(2):
        assert main(["random-weights", *args, "-o", str(tmp_path / f"{i}.st")]) == 0
    assert (tmp_path / "0.st").read_bytes() == (tmp_path / "1.st").read_bytes()
    assert (
        main(
            [
                "random-weights",
                *args,
                "-o",
                str(tmp_path / "bf.st"),
                "--dtype",
                "bf16",
                "--scale",
                "2",
            ]
        )
        == 0
    )
    f = SafetensorsFile(tmp_path / "bf.st")
    assert {f.dtype(k) for k in f} == {"BF16"}
    a = f.get("model.layers.0.block_sparse_moe.experts.0.w1.weight")
    assert abs(a.std() * np.sqrt(64) - 2.0) < 0.2


@pytest.mark.parametrize("name,layer", list(EXPECTED))
def test_reference_command(tmp_path, name, layer):
    cfg = json.loads((CONFIGS / name).read_text())
    spec = layer_spec_from_config(cfg, layer)
    w = tmp_path / "w.safetensors"
    assert (
        main(
            [
                "random-weights",
                str(CONFIGS / name),
                "--layer",
                str(layer),
                "--seed",
                "1",
                "-o",
                str(w),
                "--dtype",
                "bf16",
            ]
        )
        == 0
    )
    x = np.random.default_rng(0).standard_normal((24, spec.hidden)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    r = run_cli(
        "reference",
        CONFIGS / name,
        "--layer",
        layer,
        "--weights",
        w,
        "--input",
        tmp_path / "x.npy",
        "-o",
        tmp_path / "y.npy",
        "--stats-json",
        tmp_path / "s.json",
    )
    assert r.returncode == 0, r.stderr
    y = np.load(tmp_path / "y.npy")
    assert y.dtype == np.float32 and y.shape == x.shape
    assert 0.05 < float(y.std()) < 50.0  # O(1) outputs
    stats = json.loads((tmp_path / "s.json").read_text())
    assert sum(stats["expert_counts"]) == 24 * spec.top_k
    if spec.has_capacity:
        assert sum(stats["expert_kept"]) < sum(
            stats["expert_counts"]
        )  # switch-tiny: C = 3
        assert max(stats["expert_kept"]) <= 3
    else:
        assert stats["expert_kept"] == stats["expert_counts"]


def test_reference_errors(tmp_path):
    w = tmp_path / "w.safetensors"
    main(
        [
            "random-weights",
            str(CONFIGS / "mixtral-tiny.json"),
            "--layer",
            "0",
            "--seed",
            "1",
            "-o",
            str(w),
        ]
    )
    np.save(tmp_path / "x.npy", np.zeros((4, 32), np.float32))
    r = run_cli(
        "reference",
        CONFIGS / "mixtral-tiny.json",
        "--layer",
        0,
        "--weights",
        w,
        "--input",
        tmp_path / "x.npy",
        "-o",
        tmp_path / "y.npy",
    )
    assert r.returncode == 2 and "input must be [T, 64]" in r.stderr
    # weights of another layer: missing tensor names
    r = run_cli(
        "reference",
        CONFIGS / "mixtral-tiny.json",
        "--layer",
        1,
        "--weights",
        w,
        "--input",
        tmp_path / "x.npy",
        "-o",
        tmp_path / "y.npy",
    )
    assert (
        r.returncode == 2 and "model.layers.1.block_sparse_moe.gate.weight" in r.stderr
    )
