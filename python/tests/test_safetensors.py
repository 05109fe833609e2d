"""safetensors writer/reader round trips (f32, f16, bf16) and the on-disk format."""

import itertools
import json
import re
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


# --- strictness: the compiler's loader rules, always a one-line MoecError ----------------


def raw_file(path, header, data=b"", length=None):
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    n = len(text) if length is None else length
    path.write_bytes(struct.pack("<Q", n) + text + data)
    return path


def entry(dtype="F32", shape=(2,), offsets=(0, 8)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


@pytest.mark.parametrize(
    "header,data,msg",
    [
        ({"a": entry(offsets=(-8, 0))}, b"\0" * 8, "not non-negative integers"),
        ({"a": entry(offsets=(8, 0))}, b"\0" * 8, "begin > end"),
        ({"a": entry(offsets=(0, 16))}, b"\0" * 8, "out of bounds"),
        (
            {"a": entry(offsets=(0, 4))},
            b"\0" * 8,
            "span 4 bytes but shape [2] of F32 needs 8",
        ),
        ({"a": entry(shape=(3,))}, b"\0" * 8, "needs 12"),
        ({"a": entry(dtype="F12")}, b"\0" * 8, "unknown dtype 'F12'"),
        ({"a": entry(dtype=7)}, b"\0" * 8, "non-string 'dtype'"),
        ({"a": entry(shape=(-2,))}, b"\0" * 8, "not a non-negative integer"),
        ({"a": entry(shape=(True, 2))}, b"\0" * 8, "not a non-negative integer"),
        ({"a": entry(shape=(2.0,))}, b"\0" * 8, "not a non-negative integer"),
        (
            {"a": {"dtype": "F32", "data_offsets": [0, 8]}},
            b"\0" * 8,
            "non-array 'shape'",
        ),
        ({"a": {"dtype": "F32", "shape": [2]}}, b"\0" * 8, "not a [begin, end] pair"),
        ({"a": entry(offsets=(0, 8, 8))}, b"\0" * 8, "not a [begin, end] pair"),
        ({"a": entry(offsets=(0, 2**64))}, b"\0" * 8, "not non-negative integers"),
        ({"a": [1, 2]}, b"", "entry is not a JSON object"),
        ({"a": entry(), "b": entry(offsets=(4, 12))}, b"\0" * 12, "overlap"),
        ({"__metadata__": {"k": 1}}, b"", "__metadata__ must be an object of strings"),
        ([1, 2], b"", "header is not a JSON object"),
    ],
)
def test_strict_header(tmp_path, header, data, msg):
    p = raw_file(tmp_path / "f.safetensors", header, data)
    with pytest.raises(MoecError, match=re.escape(msg)):
        SafetensorsFile(p)


@pytest.mark.parametrize(
    "raw,msg",
    [
        (b"", "too short for the 8-byte header length"),
        (b"\x01\x00", "too short"),
        (struct.pack("<Q", 2**40) + b"{}", "exceeds the limit"),
        (struct.pack("<Q", 100) + b"{}", "truncated file?"),
        (struct.pack("<Q", 2) + b"\xff\xfe", "not UTF-8"),
        (struct.pack("<Q", 2) + b"{,", "bad safetensors header: invalid JSON"),
        (struct.pack("<Q", 14) + b'{"a":1,"a":2} ', "duplicate key 'a'"),
        (struct.pack("<Q", 9) + b'{"a":NaN}', "NaN is not valid JSON"),
        (struct.pack("<Q", 20000) + b"[" * 10000 + b"]" * 10000, "nested too deeply"),
    ],
)
def test_strict_file(tmp_path, raw, msg):
    p = tmp_path / "f.safetensors"
    p.write_bytes(raw)
    with pytest.raises(MoecError, match=re.escape(msg)):
        SafetensorsFile(p)


def test_valid_edge_cases(tmp_path):
    # empty tensors overlap nothing; F8 validates (moec cannot decode it); null metadata
    header = {
        "__metadata__": None,
        "e": entry(shape=(0, 3), offsets=(0, 0)),
        "a": entry(offsets=(0, 8)),
        "f8": entry(dtype="F8_E4M3", shape=(2,), offsets=(8, 10)),
    }
    f = SafetensorsFile(raw_file(tmp_path / "f.st", header, b"\0" * 10))
    assert f.get("e").shape == (0, 3) and f.get("a").tolist() == [0.0, 0.0]
    with pytest.raises(MoecError, match="F8_E4M3, which moec cannot read"):
        f.get("f8")
    with pytest.raises(MoecError, match="no tensor named 'z'"):
        f.shape("z")


def test_bad_index_files(tmp_path):
    save_file(tmp_path / "a.safetensors", {"x": np.ones(2, np.float32)})
    cases = {
        "list.json": b"[]",
        "nomap.json": b"{}",
        "badmap.json": b'{"weight_map": {"x": 3}}',
        "utf.json": b"\xff",
        "dup.json": b'{"weight_map": {}, "weight_map": {}}',
    }
    for name, raw in cases.items():
        (tmp_path / name).write_bytes(raw)
        with pytest.raises(MoecError, match="not a safetensors index"):
            Checkpoint(tmp_path / name)
    (tmp_path / "missing.json").write_text(
        json.dumps({"weight_map": {"x": "nope.safetensors", "y": "a.safetensors"}})
    )
    ck = Checkpoint(tmp_path / "missing.json")
    with pytest.raises(MoecError, match="cannot open the shard holding 'x'"):
        ck.get("x")
    with pytest.raises(
        MoecError, match="the index lists 'y' but the shard has no such tensor"
    ):
        ck.get("y")


def test_fuzz_only_moec_errors(tmp_path):
    """Seeded byte flips, truncations, insertions and header-length edits of a valid file:
    opening it and reading every tensor either works or raises MoecError, nothing else."""
    save_file(tmp_path / "good.st", sample(), dtype="bf16", metadata={"format": "pt"})
    good = (tmp_path / "good.st").read_bytes()
    (n,) = struct.unpack("<Q", good[:8])
    rng = np.random.default_rng(2024)
    p = tmp_path / "fuzz.st"
    outcomes = {"ok": 0, "error": 0}
    for _ in range(400):
        data = bytearray(good)
        for _ in range(int(rng.integers(1, 4))):
            kind = rng.integers(0, 6)
            if kind == 0 and len(data) > 8:  # replace a header byte (most interesting)
                i = int(rng.integers(8, min(8 + n, len(data))))
                data[i] = int(rng.integers(0, 256))
            elif kind == 1 and data:  # flip any byte
                i = int(rng.integers(0, len(data)))
                data[i] ^= 1 << int(rng.integers(0, 8))
            elif kind == 2 and data:  # truncate
                del data[int(rng.integers(0, len(data))) :]
            elif kind == 3:  # insert junk
                i = int(rng.integers(0, len(data) + 1))
                data[i:i] = rng.bytes(int(rng.integers(1, 16)))
            elif kind == 4:  # another header length
                data[:8] = struct.pack(
                    "<Q", int(rng.choice([0, 1, n - 1, n + 1, n + 8, 2**63, len(data)]))
                )
            elif kind == 5:  # replace a digit in the header (offsets, shapes)
                digits = [
                    i for i in range(8, min(8 + n, len(data))) if chr(data[i]).isdigit()
                ]
                if digits:
                    data[int(rng.choice(digits))] = ord(str(int(rng.integers(0, 10))))
        p.write_bytes(bytes(data))
        try:
            f = SafetensorsFile(p)
            for name in f:
                f.get(name)
            Checkpoint(p).get(next(iter(f), "x")) if list(f) else None
            outcomes["ok"] += 1
        except MoecError as exc:
            assert "\n" not in str(exc)
            outcomes["error"] += 1
    assert outcomes["error"] > 100 and outcomes["ok"] > 10, outcomes
