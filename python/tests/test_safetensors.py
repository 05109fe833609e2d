"""safetensors writer/reader round trips (f32, f16, bf16) and the on-disk format."""

import itertools
import json
import struct

import numpy as np
import pytest
from moec.errors import MoecError
from moec.safetensors_io import (
    Checkpoint,
    SafetensorsFile,
    bf16_bits_to_float32,
    float32_to_bf16_bits,
    load_file,
    save_file,
)


def sample():
    rng = np.random.default_rng(3)
    return {
        "a.weight": rng.standard_normal((3, 5)).astype(np.float32),
        "b.{e}": rng.standard_normal((7,)).astype(np.float32),
        "scalar": np.array(1.5, dtype=np.float32),
        "ids": np.arange(6, dtype=np.int64).reshape(2, 3),
    }


def test_f32_round_trip_exact(tmp_path):
    t = sample()
    save_file(tmp_path / "w.safetensors", t, metadata={"format": "pt"})
    back = load_file(tmp_path / "w.safetensors")
    assert set(back) == set(t)
    for k in t:
        assert back[k].dtype == t[k].dtype and back[k].shape == t[k].shape
        np.testing.assert_array_equal(back[k], t[k])
    assert SafetensorsFile(tmp_path / "w.safetensors").metadata == {"format": "pt"}


def test_header_layout(tmp_path):
    save_file(tmp_path / "w.safetensors", sample(), dtype="bf16")
    raw = (tmp_path / "w.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0
    header = json.loads(raw[8 : 8 + n])
    assert header["a.weight"]["dtype"] == "BF16" and header["a.weight"]["shape"] == [
        3,
        5,
    ]
    assert header["ids"]["dtype"] == "I64"  # non-float tensors keep their dtype
    ends = sorted(v["data_offsets"] for k, v in header.items() if k != "__metadata__")
    assert ends[0][0] == 0 and ends[-1][1] == len(raw) - 8 - n
    for (b0, e0), (b1, _) in itertools.pairwise(ends):
        assert e0 == b1  # contiguous


@pytest.mark.parametrize(
    "dtype,tag,rtol", [("f16", "F16", 1e-3), ("bf16", "BF16", 8e-3)]
)
def test_half_round_trip(tmp_path, dtype, tag, rtol):
    t = sample()
    save_file(tmp_path / "w.safetensors", t, dtype=dtype)
    f = SafetensorsFile(tmp_path / "w.safetensors")
    assert f.dtype("a.weight") == tag and f.shape("a.weight") == (3, 5)
    back = f.get("a.weight")
    np.testing.assert_allclose(back.astype(np.float32), t["a.weight"], rtol=rtol)
    # Writing what was read gives identical bits (the conversion is idempotent).
    save_file(tmp_path / "w2.safetensors", {"a": back}, dtype=dtype)
    np.testing.assert_array_equal(load_file(tmp_path / "w2.safetensors")["a"], back)


def test_bf16_rounding():
    x = np.array(
        [1.0, 1.0 + 2**-8, 1.0 + 3 * 2**-8, -2.5, 65504.0, np.inf, -0.0],
        dtype=np.float32,
    )
    bits = float32_to_bf16_bits(x)
    assert bits[0] == 0x3F80
    assert bits[1] == 0x3F80  # tie -> even
    assert bits[2] == 0x3F82  # tie -> even (up)
    assert bits[3] == 0xC020
    assert bits[5] == 0x7F80 and bits[6] == 0x8000
    back = bf16_bits_to_float32(bits)
    assert back[4] == 65536.0
    assert np.isnan(
        bf16_bits_to_float32(float32_to_bf16_bits(np.array([np.nan], np.float32)))
    )[0]


def test_checkpoint_index_and_directory(tmp_path):
    save_file(
        tmp_path / "model-00001-of-00002.safetensors", {"x": np.ones(2, np.float32)}
    )
    save_file(
        tmp_path / "model-00002-of-00002.safetensors", {"y": np.zeros(3, np.float32)}
    )
    index = {
        "metadata": {},
        "weight_map": {
            "x": "model-00001-of-00002.safetensors",
            "y": "model-00002-of-00002.safetensors",
        },
    }
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    for src in (tmp_path, tmp_path / "model.safetensors.index.json"):
        ck = Checkpoint(src)
        assert ck.get("x").tolist() == [1.0, 1.0] and ck.get("y").shape == (3,)
    with pytest.raises(MoecError, match="no tensor named"):
        Checkpoint(tmp_path).get("z")


def test_corrupt_file(tmp_path):
    p = tmp_path / "bad.safetensors"
    p.write_bytes(struct.pack("<Q", 1000) + b"{}")
    with pytest.raises(MoecError, match="header length"):
        SafetensorsFile(p)
