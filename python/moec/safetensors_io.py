"""Read and write safetensors files with NumPy only.

Format: 8-byte little-endian header length N, N bytes of UTF-8 JSON
``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}``, then the
data buffer (offsets are relative to its start). BF16 has no NumPy dtype: it is converted
to/from float32 by bit manipulation (round to nearest even on write).
"""

from __future__ import annotations

import itertools
import json
import os
import struct
from pathlib import Path

import numpy as np

from .errors import MoecError

_NUMPY_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
    "BF16": np.dtype("<u2"),  # stored bits; decoded to float32 on read
}
_TAG_OF = {np.dtype(v).str: k for k, v in _NUMPY_DTYPES.items() if k != "BF16"}

# Short names used on the command line.
FLOAT_DTYPES = {"f32": "F32", "f16": "F16", "bf16": "BF16"}


def float32_to_bf16_bits(a: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bit patterns (uint16), round to nearest even, NaN kept NaN."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    rounded = (u + (np.uint32(0x7FFF) + ((u >> 16) & np.uint32(1)))) >> 16
    nan = np.isnan(a)
    out = rounded.astype(np.uint16)
    out[nan] = ((u[nan] >> 16) | np.uint32(0x40)).astype(np.uint16)
    return out


def bf16_bits_to_float32(bits: np.ndarray) -> np.ndarray:
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def _encode(a: np.ndarray, dtype: str | None) -> tuple[str, bytes]:
    a = np.asarray(a)
    if dtype is not None and np.issubdtype(a.dtype, np.floating):
        tag = FLOAT_DTYPES.get(dtype, dtype)
        if tag == "BF16":
            return "BF16", float32_to_bf16_bits(a.astype(np.float32)).tobytes()
        if tag not in ("F32", "F16", "F64"):
            raise MoecError(
                f"unsupported float dtype {dtype!r} (supported: f32, f16, bf16)"
            )
        a = a.astype(_NUMPY_DTYPES[tag])
    a = np.ascontiguousarray(a)
    if a.dtype.byteorder == ">":
        a = a.astype(a.dtype.newbyteorder("<"))
    tag = _TAG_OF.get(a.dtype.str)
    if tag is None:
        raise MoecError(f"cannot store NumPy dtype {a.dtype} in safetensors")
    return tag, a.tobytes()


def save_file(
    path: str | os.PathLike,
    tensors: dict[str, np.ndarray],
    *,
    dtype: str | None = None,
    metadata: dict[str, str] | None = None,
) -> None:
    """Write ``tensors``; ``dtype`` (f32/f16/bf16) converts every floating tensor."""
    header: dict[str, object] = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        tag, blob = _encode(tensors[name], dtype)
        header[name] = {
            "dtype": tag,
            "shape": [int(d) for d in np.shape(tensors[name])],
            "data_offsets": [offset, offset + len(blob)],
        }
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


# Every dtype the compiler's loader knows, with its element size; the ones NumPy cannot
# decode (FP8) still validate, so whole-model checkpoints that contain them open.
_DTYPE_SIZES = {
    **{tag: dt.itemsize for tag, dt in _NUMPY_DTYPES.items()},
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "F8_E8M0": 1,
    "F8_E4M3FNUZ": 1,
    "F8_E5M2FNUZ": 1,
}
MAX_HEADER = 100_000_000  # the compiler's limit (kMaxSafetensorsHeader)
_INT64_MAX = 2**63 - 1


def _no_duplicates(pairs: list) -> dict:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise MoecError(f"duplicate key {dup!r}")
    return dict(pairs)


def _reject_constant(name: str):
    raise MoecError(f"{name} is not valid JSON")


def parse_json_strict(text: str):
    """json.loads that rejects duplicate keys and NaN/Infinity; errors are MoecError."""
    try:
        return json.loads(
            text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant
        )
    except json.JSONDecodeError as exc:
        raise MoecError(f"invalid JSON: {exc}") from None
    except RecursionError:
        raise MoecError("JSON nested too deeply") from None


def _index(v) -> bool:
    """A non-negative integer that fits int64 (JSON booleans are not integers)."""
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= _INT64_MAX


class SafetensorsFile:
    """Lazy reader: parses and validates the header (the compiler's rules), reads one tensor
    at a time on demand. Every problem is a one-line MoecError."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        with open(self.path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < 8:
                raise MoecError(
                    f"{self.path}: file is {size} bytes, too short for the 8-byte header length"
                )
            (n,) = struct.unpack("<Q", f.read(8))
            if n > MAX_HEADER:
                raise MoecError(
                    f"{self.path}: header length {n} exceeds the limit of {MAX_HEADER} bytes"
                )
            if n > size - 8:
                raise MoecError(
                    f"{self.path}: header length {n} exceeds the {size - 8} bytes after the "
                    "length field (truncated file?)"
                )
            raw = f.read(n)
        if len(raw) != n:
            raise MoecError(f"{self.path}: file shrank while reading the header")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MoecError(
                f"{self.path}: header is not UTF-8 (byte {exc.start})"
            ) from None
        try:
            header = parse_json_strict(text)
        except MoecError as exc:
            raise MoecError(f"{self.path}: bad safetensors header: {exc}") from None
        if not isinstance(header, dict):
            raise MoecError(f"{self.path}: header is not a JSON object")
        self._data_start = 8 + n
        self._data_size = size - 8 - n
        self.metadata = self._metadata(header.pop("__metadata__", None))
        self._entries = {name: self._entry(name, e) for name, e in header.items()}
        self._check_overlaps()

    def _metadata(self, meta) -> dict[str, str]:
        if meta is None:
            return {}
        if not isinstance(meta, dict) or not all(
            isinstance(v, str) for v in meta.values()
        ):
            raise MoecError(f"{self.path}: __metadata__ must be an object of strings")
        return meta

    def _entry(self, name: str, e) -> dict:
        what = f"{self.path}: tensor {name!r}"
        if not isinstance(e, dict):
            raise MoecError(f"{what}: entry is not a JSON object")
        dtype, shape, offsets = e.get("dtype"), e.get("shape"), e.get("data_offsets")
        if not isinstance(dtype, str):
            raise MoecError(f"{what}: missing or non-string 'dtype'")
        if not isinstance(shape, list):
            raise MoecError(f"{what}: missing or non-array 'shape'")
        if not isinstance(offsets, list) or len(offsets) != 2:
            raise MoecError(f"{what}: 'data_offsets' is not a [begin, end] pair")
        if dtype not in _DTYPE_SIZES:
            raise MoecError(f"{what}: unknown dtype {dtype!r}")
        if not all(_index(d) for d in shape):
            raise MoecError(
                f"{what}: shape has a dimension that is not a non-negative integer"
            )
        if not all(_index(o) for o in offsets):
            raise MoecError(f"{what}: 'data_offsets' are not non-negative integers")
        begin, end = offsets
        if begin > end:
            raise MoecError(f"{what}: data_offsets [{begin}, {end}] has begin > end")
        if end > self._data_size:
            raise MoecError(
                f"{what}: data_offsets [{begin}, {end}] out of bounds of the "
                f"{self._data_size}-byte data section"
            )
        count = 1
        for d in shape:
            count *= d
        need = count * _DTYPE_SIZES[dtype]
        if need != end - begin:
            raise MoecError(
                f"{what}: data_offsets [{begin}, {end}] span {end - begin} bytes but shape "
                f"{shape} of {dtype} needs {need}"
            )
        return {
            "dtype": dtype,
            "shape": tuple(shape),
            "begin": begin,
            "end": end,
            "count": count,
        }

    def _check_overlaps(self) -> None:
        spans = sorted(
            (e["begin"], e["end"], name)
            for name, e in self._entries.items()
            if e["end"] > e["begin"]
        )
        for (b0, e0, n0), (b1, e1, n1) in itertools.pairwise(spans):
            if b1 < e0:
                raise MoecError(
                    f"{self.path}: tensors {n0!r} and {n1!r} overlap "
                    f"(bytes [{b0}, {e0}) and [{b1}, {e1}))"
                )

    def keys(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __iter__(self):
        return iter(self._entries)

    def _find(self, name: str) -> dict:
        if name not in self._entries:
            raise MoecError(f"{self.path}: no tensor named {name!r}")
        return self._entries[name]

    def dtype(self, name: str) -> str:
        return self._find(name)["dtype"]

    def shape(self, name: str) -> tuple[int, ...]:
        return self._find(name)["shape"]

    def get(self, name: str) -> np.ndarray:
        """The tensor as stored (BF16 decoded to float32)."""
        entry = self._find(name)
        if entry["dtype"] not in _NUMPY_DTYPES:
            raise MoecError(
                f"{self.path}: tensor {name!r} has dtype {entry['dtype']}, which moec cannot read"
            )
        dt = _NUMPY_DTYPES[entry["dtype"]]
        with open(self.path, "rb") as f:
            f.seek(self._data_start + entry["begin"])
            a = np.fromfile(f, dtype=dt, count=entry["count"])
        if a.size != entry["count"]:
            raise MoecError(f"{self.path}: file shrank while reading tensor {name!r}")
        a = a.reshape(entry["shape"])
        return bf16_bits_to_float32(a) if entry["dtype"] == "BF16" else a


def load_file(path: str | os.PathLike) -> dict[str, np.ndarray]:
    f = SafetensorsFile(path)
    return {name: f.get(name) for name in f}


class Checkpoint:
    """Tensors by name from one file, a sharded ``*.safetensors.index.json``, or a directory."""

    def __init__(self, path: str | os.PathLike):
        path = Path(path)
        self._files: dict[str, SafetensorsFile] = {}
        self._where: dict[str, Path] = {}
        if path.is_dir():
            index = path / "model.safetensors.index.json"
            if index.exists():
                self._read_index(index)
            else:
                for p in sorted(path.glob("*.safetensors")):
                    self._add_file(p)
                if not self._where:
                    raise MoecError(f"{path}: no *.safetensors files")
        elif path.name.endswith(".json"):
            self._read_index(path)
        else:
            self._add_file(path)

    def _add_file(self, p: Path) -> None:
        f = SafetensorsFile(p)
        self._files[str(p)] = f
        for name in f:
            self._where.setdefault(name, p)

    def _read_index(self, index: Path) -> None:
        try:
            text = index.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            raise MoecError(f"{index}: not a safetensors index (not UTF-8)") from None
        try:
            data = parse_json_strict(text)
        except MoecError as exc:
            raise MoecError(f"{index}: not a safetensors index ({exc})") from None
        weight_map = data.get("weight_map") if isinstance(data, dict) else None
        if not isinstance(weight_map, dict) or not all(
            isinstance(v, str) and v for v in weight_map.values()
        ):
            raise MoecError(
                f'{index}: not a safetensors index (needs a "weight_map" object of file names)'
            )
        for name, shard in weight_map.items():
            self._where[name] = index.parent / shard

    def __contains__(self, name: str) -> bool:
        return name in self._where

    def get(self, name: str) -> np.ndarray:
        if name not in self._where:
            raise MoecError(f"checkpoint has no tensor named {name!r}")
        p = self._where[name]
        if str(p) not in self._files:
            try:
                self._files[str(p)] = SafetensorsFile(p)
            except OSError as exc:
                raise MoecError(
                    f"{p}: cannot open the shard holding {name!r}: {exc.strerror or exc}"
                ) from None
        f = self._files[str(p)]
        if name not in f:
            raise MoecError(
                f"{p}: the index lists {name!r} but the shard has no such tensor"
            )
        return f.get(name)
