"""Checkpoint-named weights for a LayerSpec: random generation, and loading into stacked arrays.

Both directions go through an operand's ``Source`` list (``spec.Source``): loading takes the
first source whose tensor exists, exactly as the compiler's loader does; writing picks the
source of the requested layout and stores every operand in that on-disk form (transposed,
fused, interleaved), so loading it back through the sources gives the same stacked arrays.

Writing streams: the safetensors header (with every offset) is written first, then each
generated block goes straight to its place in the file, so a real-sized layer (DeepSeek-V3:
~45 GB in f32) never needs more memory than one expert's slice.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import MoecError
from .safetensors_io import FLOAT_DTYPES, MAX_HEADER, float32_to_bf16_bits
from .spec import LAYOUTS, LayerSpec, Operand, Source

BIAS_STD = 0.2  # router / score-correction / expert biases: large enough to matter
_STORAGE = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2")}


def expert_tensor_names(op: Operand, num_experts: int) -> list[str]:
    """The on-disk names of an operand's own name: one per expert for '{e}' names."""
    if op.stacked:
        return [op.name.replace("{e}", str(e)) for e in range(num_experts)]
    return [op.name]


def _std(op: Operand, scale: float) -> float:
    if op.role.endswith("_bias"):
        return BIAS_STD
    fan_in = op.shape[-1]
    return scale / np.sqrt(fan_in)


def pick_source(op: Operand, layout: str) -> Source:
    """The source ``random-weights --layout`` writes: the first one tagged with the layout,
    else the first one (GPT-OSS has only its stacked form; routers usually one name)."""
    if layout not in LAYOUTS:
        raise MoecError(
            f"unsupported layout {layout!r} (supported: {', '.join(LAYOUTS)})"
        )
    sources = op.effective_sources
    return next((s for s in sources if s.layout == layout), sources[0])


# --- the write plan -----------------------------------------------------------------------


@dataclass
class DiskTensor:
    """One tensor of the file being written, assembled from one or more operand parts."""

    name: str
    shape: tuple[int, ...]
    parts: int
    filled: set[int] = field(default_factory=set)

    @property
    def count(self) -> int:
        return int(np.prod(self.shape, dtype=object))


@dataclass(frozen=True)
class Piece:
    """One generated block: a whole operand, or expert ``expert``'s slice of it."""

    op: Operand
    expert: int | None
    src: Source
    tensor: str


def plan(spec: LayerSpec, layout: str) -> tuple[dict[str, DiskTensor], list[Piece]]:
    """The file's tensors (in write order) and the pieces in generation order (operand
    order, expert by expert), which fixes the values a seed gives."""
    tensors: dict[str, DiskTensor] = {}
    pieces: list[Piece] = []

    def register(name: str, shape: tuple[int, ...], src: Source) -> None:
        t = tensors.setdefault(name, DiskTensor(name, shape, src.parts))
        if t.shape != shape or t.parts != src.parts or src.part in t.filled:
            raise MoecError(f"inconsistent weight sources for tensor {name!r}")
        t.filled.add(src.part)

    for op in spec.operands():
        src = pick_source(op, layout)
        src.check(op.shape)
        disk = src.disk_shape(op.shape)
        experts = range(op.shape[0]) if op.has_expert_axis or src.per_expert else None
        if src.per_expert:
            for e in experts:
                name = src.name.replace("{e}", str(e))
                register(name, disk[1:], src)
                pieces.append(Piece(op, e, src, name))
            continue
        register(src.name, disk, src)
        if experts is None:
            pieces.append(Piece(op, None, src, src.name))
        else:
            pieces.extend(Piece(op, e, src, src.name) for e in experts)
    for t in tensors.values():
        if t.filled != set(range(t.parts)):
            raise MoecError(f"tensor {t.name!r} would be written only partly")
    return tensors, pieces


def _region(
    target: np.ndarray, src: Source, expert: int | None, slice_form: bool
) -> np.ndarray:
    """The view of ``target`` (an on-disk tensor) that holds an operand's values, in the
    operand's layout: expert ``expert``'s slice of a stacked tensor, or the whole operand.
    ``slice_form``: ``target`` is one expert's own tensor (a ``{e}`` source)."""
    if expert is not None and not slice_form:
        target, slice_form = target[expert], True
    axis = 0 if slice_form else 1  # axis 1 of the stacked form = axis 0 of a slice
    if src.transpose:
        target = np.swapaxes(target, -1, -2)
    if src.parts == 1:
        return target
    n = target.shape[axis] // src.parts
    sel = (
        slice(src.part, None, src.parts)
        if src.interleave
        else slice(src.part * n, (src.part + 1) * n)
    )
    return target[(slice(None),) * axis + (sel,)]


def _piece_region(target: np.ndarray, piece: Piece) -> np.ndarray:
    return _region(target, piece.src, piece.expert, piece.src.per_expert)


def _generate(
    pieces: list[Piece],
    seed: int,
    scale: float,
    postprocess: Callable[[str, np.ndarray], None] | None,
):
    """(piece, float32 values) in order. Expert slices come one at a time; the stream is the
    same as generating each stacked operand whole (NumPy fills arrays in C order)."""
    rng = np.random.default_rng(seed)
    for piece in pieces:
        op = piece.op
        shape = op.shape if piece.expert is None else op.shape[1:]
        values = (rng.standard_normal(shape) * _std(op, scale)).astype(np.float32)
        if postprocess is not None and piece.expert is None:
            postprocess(op.role, values)
        yield piece, values


def random_weights(
    spec: LayerSpec,
    seed: int,
    scale: float = 1.0,
    layout: str = "per-expert",
    postprocess: Callable[[str, np.ndarray], None] | None = None,
) -> dict[str, np.ndarray]:
    """float32 tensors named and shaped as on disk; N(0, scale/sqrt(fan_in)), biases N(0, 0.2).

    Generation order is the operand order, expert by expert, so a seed always gives the same
    operand values for the same spec, whichever layout stores them."""
    tensors, pieces = plan(spec, layout)
    out = {name: np.zeros(t.shape, np.float32) for name, t in tensors.items()}
    for piece, values in _generate(pieces, seed, scale, postprocess):
        _piece_region(out[piece.tensor], piece)[...] = values
    return out


def random_input(tokens: int, hidden: int, seed: int) -> np.ndarray:
    """x ~ N(0, 1), float32 [T, D]; uses a stream separate from the weights'."""
    check_allocation(tokens * hidden * 8, "the input")
    rng = np.random.default_rng([seed, 1])
    return rng.standard_normal((tokens, hidden)).astype(np.float32)


# Larger single allocations are refused up front (a clear error instead of an OOM kill).
MAX_ALLOCATION = 1 << 40


def check_allocation(nbytes: int, what: str) -> None:
    if nbytes > MAX_ALLOCATION:
        raise MoecError(
            f"{what} would need {format_size(nbytes)} of memory (more than {format_size(MAX_ALLOCATION)})"
        )


# --- streaming safetensors writer ---------------------------------------------------------


def format_size(nbytes: int) -> str:
    for unit, size in (
        ("TiB", 1 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ):
        if nbytes >= size:
            return f"{nbytes / size:.1f} {unit}"
    return f"{nbytes} bytes"


def _encode(values: np.ndarray, tag: str) -> np.ndarray:
    if tag == "BF16":
        return float32_to_bf16_bits(values)
    return values.astype(_STORAGE[tag])


@dataclass
class WritePlan:
    """Header bytes, tensor offsets and the total size of a file to be streamed."""

    header: bytes
    offsets: dict[str, int]  # tensor -> absolute file offset of its data
    total: int
    tag: str
    tensors: dict[str, DiskTensor]
    pieces: list[Piece]


def write_plan(
    spec: LayerSpec, dtype: str, layout: str, metadata: dict[str, str] | None = None
) -> WritePlan:
    tag = FLOAT_DTYPES.get(dtype)
    if tag is None:
        raise MoecError(
            f"unsupported dtype {dtype!r} (supported: {', '.join(FLOAT_DTYPES)})"
        )
    tensors, pieces = plan(spec, layout)
    itemsize = _STORAGE[tag].itemsize
    header: dict[str, object] = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    relative, offset = {}, 0
    for name, t in tensors.items():
        size = t.count * itemsize
        header[name] = {
            "dtype": tag,
            "shape": list(t.shape),
            "data_offsets": [offset, offset + size],
        }
        relative[name], offset = offset, offset + size
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    if len(text) > MAX_HEADER:
        raise MoecError(
            f"the safetensors header would be {len(text)} bytes, over the loaders' limit of "
            f"{MAX_HEADER}; use --layout stacked"
        )
    start = 8 + len(text)
    return WritePlan(
        header=struct.pack("<Q", len(text)) + text,
        offsets={name: start + off for name, off in relative.items()},
        total=start + offset,
        tag=tag,
        tensors=tensors,
        pieces=pieces,
    )


def data_bytes(spec: LayerSpec, dtype: str) -> int:
    """The size of the data section (every layout stores each operand value once)."""
    tag = FLOAT_DTYPES.get(dtype)
    if tag is None:
        raise MoecError(
            f"unsupported dtype {dtype!r} (supported: {', '.join(FLOAT_DTYPES)})"
        )
    count = sum(int(np.prod(op.shape, dtype=object)) for op in spec.operands())
    return count * _STORAGE[tag].itemsize


def check_tensor_count(spec: LayerSpec, layout: str) -> None:
    """One tensor per expert must still fit the loaders' header limit (100 MB)."""
    count = sum(
        op.shape[0] if pick_source(op, layout).per_expert else 1
        for op in spec.operands()
    )
    if count * 64 > MAX_HEADER:
        raise MoecError(
            f"{count} tensors do not fit one safetensors header (limit {MAX_HEADER} bytes); "
            "use --layout stacked"
        )


def check_disk_space(path: str | os.PathLike, nbytes: int) -> None:
    directory = Path(path).resolve().parent
    try:
        free = shutil.disk_usage(directory).free
    except OSError as exc:
        raise MoecError(
            f"{directory}: cannot check free disk space: {exc.strerror or exc}"
        ) from None
    if nbytes > free:
        raise MoecError(
            f"not enough free disk space for {path}: it needs {format_size(nbytes)}, "
            f"{directory} has {format_size(free)} free"
        )


class _FileSink:
    """Puts pieces into a pre-sized file: contiguous pieces with one write, strided ones
    (transposed or interleaved) through a memory map of their tensor."""

    def __init__(self, f, wp: WritePlan):
        self.f, self.wp = f, wp
        self.mapped: tuple[str, np.memmap] | None = None

    def put(self, piece: Piece, values: np.ndarray) -> None:
        if values.size == 0:
            return
        data = _encode(values, self.wp.tag)
        t = self.wp.tensors[piece.tensor]
        base = self.wp.offsets[piece.tensor]
        if piece.src.is_plain:
            if piece.expert is not None and not piece.src.per_expert:
                base += piece.expert * data.nbytes
            self.f.seek(base)
            self.f.write(data.tobytes())
            return
        if self.mapped is None or self.mapped[0] != piece.tensor:
            self.close()
            mm = np.memmap(
                self.f,
                dtype=_STORAGE[self.wp.tag],
                mode="r+",
                offset=base,
                shape=t.shape,
            )
            self.mapped = (piece.tensor, mm)
        _piece_region(self.mapped[1], piece)[...] = data

    def close(self) -> None:
        if self.mapped is not None:
            self.mapped[1].flush()
            self.mapped = None


def write_random_weights(
    path: str | os.PathLike,
    spec: LayerSpec,
    seed: int,
    *,
    scale: float = 1.0,
    dtype: str = "f32",
    layout: str = "per-expert",
    metadata: dict[str, str] | None = None,
    postprocess: Callable[[str, np.ndarray], None] | None = None,
    announce: Callable[[int], None] | None = None,
) -> int:
    """Stream random weights (the values of ``random_weights``) to a safetensors file.

    The free disk space is checked first; ``announce(total_bytes)`` is called before writing.
    The file appears under ``path`` only when complete. Returns its size."""
    # Cheap checks first: planning an absurd layer (millions of tensors) would take long.
    check_disk_space(path, data_bytes(spec, dtype))
    check_tensor_count(spec, layout)
    wp = write_plan(spec, dtype, layout, metadata)
    check_disk_space(path, wp.total)
    if announce is not None:
        announce(wp.total)
    path = Path(path)
    # A hidden sibling (same file system, so the rename is atomic), created with the usual
    # permissions (mkstemp would make it 0600).
    tmp = path.resolve().parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
    try:
        with open(tmp, "x+b") as f:
            f.write(wp.header)
            f.truncate(wp.total)
            sink = _FileSink(f, wp)
            for piece, values in _generate(wp.pieces, seed, scale, postprocess):
                sink.put(piece, values)
            sink.close()
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return wp.total


# --- loading ------------------------------------------------------------------------------


def _first_name(src: Source) -> str:
    return src.name.replace("{e}", "0")


def _quantized_form(checkpoint, src: Source) -> str | None:
    """The MXFP4 ``*_blocks`` tensor stored in place of ``src``, if any (gpt-oss checkpoints)."""
    for suffix in ("_blocks", "_scales"):
        name = _first_name(src) + suffix
        if name in checkpoint:
            return name
    return None


def _read_source(checkpoint, op: Operand, src: Source, num_experts: int) -> np.ndarray:
    """The operand (float64, stacked shape) from one source; on-disk shapes are checked."""
    disk = src.disk_shape(op.shape)
    if src.per_expert:
        names = [src.name.replace("{e}", str(e)) for e in range(num_experts)]
        want = disk[1:]
    else:
        names, want = [src.name], disk
    parts = []
    for name in names:
        raw = np.asarray(checkpoint.get(name))
        # As the runtime: weights widen from F32, F16 or BF16 (read as float32) only.
        if raw.dtype not in (np.float32, np.float16):
            raise MoecError(
                f"tensor {name!r} has dtype {raw.dtype}, which cannot be loaded as f32 "
                "(only F32, F16 and BF16 weights are)"
            )
        a = raw.astype(np.float64)
        if a.shape != tuple(want):
            slice_note = f" (expert slice of {src.name!r})" if src.per_expert else ""
            raise MoecError(
                f"tensor {name!r}{slice_note} has shape {list(a.shape)}, expected {list(want)}"
            )
        parts.append(a)
    full = np.stack(parts) if src.per_expert else parts[0]
    # Stacked, a per-expert source has the same layout as a whole-tensor one.
    return np.ascontiguousarray(_region(full, src, None, slice_form=False))


def resolve_sources(spec: LayerSpec, checkpoint) -> dict[str, Source]:
    """role -> the source each operand loads from: the first one whose tensor (expert 0's
    for ``{e}`` names) is in the checkpoint. Only names are looked at, nothing is read."""
    chosen: dict[str, Source] = {}
    for op in spec.operands():
        sources = op.effective_sources
        src = next((s for s in sources if _first_name(s) in checkpoint), None)
        if src is None:
            for s in sources:
                quantized = _quantized_form(checkpoint, s)
                if quantized:
                    raise MoecError(
                        f"unsupported quantized checkpoint: {quantized!r} (MXFP4 blocks/scales) "
                        f"is stored instead of {s.name!r}; use a dequantized (bf16/f32) checkpoint"
                    )
            if len(sources) == 1:
                checkpoint.get(_first_name(sources[0]))  # names the missing tensor
            looked = ", ".join(repr(_first_name(s)) for s in sources)
            raise MoecError(
                f"checkpoint has no tensor for weight {op.name!r} (looked for {looked})"
            )
        chosen[op.role] = src
    return chosen


def load_operands(
    spec: LayerSpec, checkpoint, chosen: dict[str, Source] | None = None
) -> dict[str, np.ndarray]:
    """role -> float64 array of the operand's full (stacked) shape, from a checkpoint with
    ``get(name)`` and ``name in checkpoint``, each from the source ``resolve_sources`` picks;
    on-disk shapes are checked."""
    if chosen is None:
        chosen = resolve_sources(spec, checkpoint)
    return {
        op.role: _read_source(checkpoint, op, chosen[op.role], spec.num_experts)
        for op in spec.operands()
    }
