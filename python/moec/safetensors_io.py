"""Read and write safetensors files with NumPy only.

Format: 8-byte little-endian header length N, N bytes of UTF-8 JSON
``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}``, then the
data buffer (offsets are relative to its start). BF16 has no NumPy dtype: it is converted
to/from float32 by bit manipulation (round to nearest even on write).
"""

from __future__ import annotations

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


class SafetensorsFile:
    """Lazy reader: parses the header, reads one tensor at a time on demand."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            size = self.path.stat().st_size
            with open(self.path, "rb") as f:
                raw = f.read(8)
                if len(raw) != 8:
                    raise MoecError(f"{self.path}: not a safetensors file (too short)")
                (n,) = struct.unpack("<Q", raw)
                if n > size - 8:
                    raise MoecError(
                        f"{self.path}: header length {n} exceeds the file size"
                    )
                header = json.loads(f.read(n).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MoecError(f"{self.path}: bad safetensors header: {exc}") from None
        if not isinstance(header, dict):
            raise MoecError(f"{self.path}: bad safetensors header (not an object)")
        self._data_start = 8 + n
        self.metadata = header.pop("__metadata__", {}) or {}
        self._entries = header
        for name, entry in header.items():
            if entry.get("dtype") not in _NUMPY_DTYPES:
                raise MoecError(
                    f"{self.path}: tensor {name!r} has unsupported dtype {entry.get('dtype')!r}"
                )
            begin, end = entry["data_offsets"]
            count = int(np.prod(entry["shape"], dtype=np.int64))
            if (
                end - begin != count * _NUMPY_DTYPES[entry["dtype"]].itemsize
                or end + 8 + n > size
            ):
                raise MoecError(
                    f"{self.path}: tensor {name!r} has inconsistent data_offsets"
                )

    def keys(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __iter__(self):
        return iter(self._entries)

    def dtype(self, name: str) -> str:
        return self._entries[name]["dtype"]

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self._entries[name]["shape"])

    def get(self, name: str) -> np.ndarray:
        """The tensor as stored (BF16 decoded to float32)."""
        if name not in self._entries:
            raise MoecError(f"{self.path}: no tensor named {name!r}")
        entry = self._entries[name]
        dt = _NUMPY_DTYPES[entry["dtype"]]
        begin, _ = entry["data_offsets"]
        count = int(np.prod(entry["shape"], dtype=np.int64))
        a = np.fromfile(
            self.path, dtype=dt, count=count, offset=self._data_start + begin
        )
        a = a.reshape(entry["shape"])
        if entry["dtype"] == "BF16":
            a = bf16_bits_to_float32(a)
        return a


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
            weight_map = json.loads(index.read_text())["weight_map"]
        except (KeyError, json.JSONDecodeError) as exc:
            raise MoecError(f"{index}: not a safetensors index ({exc})") from None
        for name, shard in weight_map.items():
            self._where[name] = index.parent / shard

    def __contains__(self, name: str) -> bool:
        return name in self._where

    def get(self, name: str) -> np.ndarray:
        if name not in self._where:
            raise MoecError(f"checkpoint has no tensor named {name!r}")
        p = self._where[name]
        if str(p) not in self._files:
            self._files[str(p)] = SafetensorsFile(p)
        return self._files[str(p)].get(name)
