"""random-weights streams: header first, one block at a time, the size announced, free disk
space checked, the same values as the in-memory generator, no partial file on failure."""

import json
import os
import tracemalloc

import numpy as np
import pytest
from conftest import CONFIGS, load_config, run_cli
from moec import weights
from moec.__main__ import main
from moec.configs import layer_spec_from_config
from moec.errors import MoecError
from moec.safetensors_io import SafetensorsFile, load_file, save_file
from moec.spec import spec_from_json
from moec.weights import random_weights, write_plan, write_random_weights


def test_same_values_as_in_memory_generator(tmp_path):
    spec = layer_spec_from_config(load_config("deepseek-v3-tiny.json"), 1)
    for dtype in ("f32", "bf16", "f16"):
        for layout in ("per-expert", "stacked"):
            streamed = tmp_path / f"s-{dtype}-{layout}.st"
            write_random_weights(
                streamed, spec, 7, dtype=dtype, layout=layout, scale=2.0
            )
            saved = tmp_path / f"m-{dtype}-{layout}.st"
            save_file(
                saved, random_weights(spec, 7, scale=2.0, layout=layout), dtype=dtype
            )
            a, b = load_file(streamed), load_file(saved)
            assert a.keys() == b.keys()
            for k in a:
                np.testing.assert_array_equal(
                    a[k], b[k], err_msg=f"{k} {dtype} {layout}"
                )
            assert (
                SafetensorsFile(streamed).dtype(next(iter(a)))
                == {"f32": "F32", "bf16": "BF16", "f16": "F16"}[dtype]
            )


def test_per_expert_f32_values_unchanged_from_the_original_generator():
    """The original generator: one default_rng(seed) stream in operand order, per-expert
    operands one expert slice at a time, N(0, scale/sqrt(fan_in)) and biases N(0, 0.2)."""
    spec = layer_spec_from_config(load_config("qwen2-moe-tiny.json"), 0)
    rng = np.random.default_rng(3)
    want = {}
    for op in spec.operands():
        std = 0.2 if op.role.endswith("bias") else 1.0 / np.sqrt(op.shape[-1])
        if op.stacked:
            for e in range(spec.num_experts):
                want[op.name.replace("{e}", str(e))] = (
                    rng.standard_normal(op.shape[1:]) * std
                ).astype(np.float32)
        else:
            want[op.name] = (rng.standard_normal(op.shape) * std).astype(np.float32)
    got = random_weights(spec, 3)
    assert got.keys() == want.keys()
    for k, value in want.items():
        np.testing.assert_array_equal(got[k], value)


@pytest.mark.parametrize("layout", ["per-expert", "stacked"])
def test_memory_stays_at_one_expert_slice(tmp_path, layout):
    # E=32, F=256, D=128: an expert slice is 32768 values (256 KiB in float64); each
    # projection 4 MiB in f32, the fused gate_up 8 MiB, the file ~12 MiB.
    spec = spec_from_json(
        {"D": 128, "F": 256, "E": 32, "k": 2, "layout": layout, "expert_bias": True}
    )[0]
    out = tmp_path / "w.st"
    tracemalloc.start()
    try:
        total = write_random_weights(out, spec, 0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == out.stat().st_size > 12 * 2**20
    slice_f64 = 256 * 128 * 8
    assert peak < 3 * slice_f64, (
        f"peak {peak} bytes: more than one expert slice in memory"
    )


def test_real_deepseek_v3_size_is_planned_and_checked_without_allocating(
    tmp_path, monkeypatch
):
    """E=256, D=7168, F=2048 (~45 GB in f32): the plan and the disk-space check happen before
    anything is generated; nothing is written when the space is missing."""
    cfg = load_config("deepseek-v3-tiny.json")
    cfg.update(
        hidden_size=7168,
        moe_intermediate_size=2048,
        n_routed_experts=256,
        num_experts_per_tok=8,
        n_group=8,
        topk_group=4,
    )
    spec = layer_spec_from_config(cfg, 3)
    wp = write_plan(spec, "f32", "per-expert")
    E, D, F = 256, 7168, 2048
    data = 4 * (3 * E * F * D + E * D + E + 3 * F * D)
    assert wp.total == len(wp.header) + data
    assert 45e9 < wp.total < 45.4e9
    assert write_plan(spec, "bf16", "stacked").total < wp.total / 2 + 2**20
    monkeypatch.setattr(weights.shutil, "disk_usage", lambda p: _Usage(10 * 2**30))
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    out = tmp_path / "w.safetensors"
    tracemalloc.start()
    try:
        with pytest.raises(
            MoecError,
            match=r"not enough free disk space .* needs 42\.\d GiB, .* has 10\.0 GiB free",
        ):
            write_random_weights(out, spec, 0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the plan and header only (a single expert slice would be 117 MB in float64)
    assert (
        peak < 8 * 2**20
        and not out.exists()
        and os.listdir(tmp_path) == ["config.json"]
    )


class _Usage:
    def __init__(self, free):
        self.free = free


def test_cli_disk_space_error_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(weights.shutil, "disk_usage", lambda p: _Usage(1000))
    out = tmp_path / "w.st"
    rc = main(
        [
            "random-weights",
            str(CONFIGS / "mixtral-tiny.json"),
            "--layer",
            "0",
            "--seed",
            "1",
            "-o",
            str(out),
        ]
    )
    err = capsys.readouterr().err
    assert (
        rc == 2
        and err.count("\n") == 1
        and err.startswith("moec: error: not enough free disk space")
    )
    assert not out.exists()


def test_size_is_announced(tmp_path):
    out = tmp_path / "w.safetensors"
    r = run_cli(
        "random-weights",
        CONFIGS / "mixtral-tiny.json",
        "--layer",
        0,
        "--seed",
        1,
        "--dtype",
        "bf16",
        "-o",
        out,
    )
    assert r.returncode == 0
    size = out.stat().st_size
    assert r.stderr == f"moec: writing {weights.format_size(size)} to {out}\n"
    assert weights.format_size(size).endswith("KiB")
    assert weights.format_size(int(44.1 * 2**30)) == "44.1 GiB"
    assert weights.format_size(12) == "12 bytes"


def test_failure_mid_write_leaves_no_file(tmp_path, monkeypatch):
    spec = layer_spec_from_config(load_config("mixtral-tiny.json"), 0)
    calls = []

    def boom(self, piece, values):
        calls.append(piece)
        if len(calls) == 5:
            raise OSError(28, "No space left on device")
        return real(self, piece, values)

    real = weights._FileSink.put
    monkeypatch.setattr(weights._FileSink, "put", boom)
    out = tmp_path / "w.st"
    out.write_bytes(b"old")  # an existing file is only replaced by a complete one
    with pytest.raises(OSError):
        write_random_weights(out, spec, 0)
    assert out.read_bytes() == b"old" and sorted(os.listdir(tmp_path)) == ["w.st"]
