"""Run a compiled model from Python, on NumPy arrays or on GPU tensors in place.

    from moec.runtime import Model
    model = Model("model.so", weights="w.safetensors")           # a CPU model
    y = model(x)                     # x: float32 NumPy [T, D] -> y: NumPy [T, D]

    gpu = Model("model-cuda.so", weights="w.safetensors", device="cuda", max_tokens=4096)
    y = gpu(x_cuda)                  # a torch CUDA tensor in, a torch CUDA tensor out

The weights are read once, when the model loads (onto the GPU for a CUDA model). Each call
checks its arguments against the model's metadata (names, dtypes, shapes, one token count T)
and raises MoecError with the runtime's message on any mismatch.

GPU tensors (torch, or any object with ``__cuda_array_interface__``) are used in place: no
copy, and the model's kernels are ordered after the work already queued on the caller's
current stream (torch's, or the interface's ``stream``), and that stream's later work after
them, without blocking the host. NumPy arrays given to a CUDA model are copied through the
model's own device buffers and the call returns when the outputs are in host memory.

This module loads ``libmoert.so`` (the runtime's C interface, runtime/include/moert/c_api.h):
``$MOEC_RUNTIME_LIB`` if set, else the build tree's ``build/lib/libmoert.so``.
docs/python-api.md is the full description.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from moec.errors import MoecError

__all__ = ["Model", "ArgSpec", "load_library"]

# The metadata's dtype spellings and their NumPy and torch names.
_NUMPY_DTYPES = {"f32": "float32", "f16": "float16", "bf16": "bfloat16", "i32": "int32",
                 "i64": "int64"}
# The compiled kernels read rows in 8- and 16-byte pieces (cp.async), so GPU
# arrays must start at an address aligned to this; allocators align far more.
_GPU_ALIGNMENT = 16


def _misaligned(what: str, ptr: int) -> str:
    return (f"{what}: the GPU array starts at 0x{ptr:x}, not a multiple of "
            f"{_GPU_ALIGNMENT} bytes; pass a copy (a fresh allocation is aligned)")


_CAI_TYPESTRS = {"<f4": "f32", "<f2": "f16", "<i4": "i32", "<i8": "i64"}
_TORCH_DTYPES = {"float32": "f32", "float16": "f16", "bfloat16": "bf16", "int32": "i32",
                 "int64": "i64"}


class _Buffer(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("data", ctypes.c_void_p),
                ("dtype", ctypes.c_char_p), ("rank", ctypes.c_int32),
                ("shape", ctypes.POINTER(ctypes.c_int64)), ("on_host", ctypes.c_int32)]


_LIB = None


def _default_library() -> Path:
    env = os.environ.get("MOEC_RUNTIME_LIB")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "build" / "lib" / "libmoert.so"


def load_library(path: str | os.PathLike | None = None) -> ctypes.CDLL:
    """Loads libmoert.so once per process (RTLD_GLOBAL: models call into it)."""
    global _LIB
    if _LIB is not None:
        return _LIB
    lib_path = Path(path) if path else _default_library()
    if not lib_path.is_file():
        raise MoecError(f"moec runtime library not found at {lib_path}: build it (make build) "
                        "or set MOEC_RUNTIME_LIB to libmoert.so")
    try:
        lib = ctypes.CDLL(str(lib_path), mode=ctypes.RTLD_GLOBAL)
    except OSError as e:
        raise MoecError(f"cannot load the moec runtime library {lib_path}: {e}") from None
    lib.moert_last_error.restype = ctypes.c_char_p
    lib.moert_session_open.restype = ctypes.c_void_p
    lib.moert_session_open.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int,
                                       ctypes.c_int64]
    lib.moert_session_close.argtypes = [ctypes.c_void_p]
    lib.moert_session_metadata_json.restype = ctypes.c_char_p
    lib.moert_session_metadata_json.argtypes = [ctypes.c_void_p]
    lib.moert_session_workspace_bytes.restype = ctypes.c_uint64
    lib.moert_session_workspace_bytes.argtypes = [ctypes.c_void_p]
    lib.moert_session_run.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Buffer), ctypes.c_size_t,
                                      ctypes.c_void_p]
    lib.moert_session_read_stat.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p,
                                            ctypes.c_size_t]
    _LIB = lib
    return lib


def _last_error(lib) -> str:
    return lib.moert_last_error().decode("utf-8", "replace")


@dataclass(frozen=True)
class ArgSpec:
    """One argument of the model: shape entries of -1 are the token count T."""

    name: str
    dtype: str
    shape: tuple[int, ...]

    def shape_with(self, tokens: int) -> tuple[int, ...]:
        return tuple(tokens if d == -1 else d for d in self.shape)


def _parse_device(device: str) -> int:
    """-1 for "cpu", N for "cuda" (0) or "cuda:N"."""
    if device == "cpu":
        return -1
    if device == "cuda":
        return 0
    if device.startswith("cuda:") and device[5:].isdigit():
        return int(device[5:])
    raise MoecError(f"device: expected cpu, cuda or cuda:N, got {device!r}")


def _torch_module(x):
    """The torch module if ``x`` is a torch tensor (torch is never imported here)."""
    torch = sys.modules.get("torch")
    return torch if torch is not None and isinstance(x, torch.Tensor) else None


@dataclass
class _Arg:
    """A caller's buffer as the C interface takes it, and what keeps it alive."""

    data: int
    dtype: str
    shape: tuple[int, ...]
    on_host: bool
    owner: object
    stream: int | None = None  # The GPU stream its producer queued work on.


class Model:
    """A compiled model (``moe-compile`` output) with its weights, ready to call."""

    def __init__(self, path: str | os.PathLike, weights: str | os.PathLike | None = None,
                 device: str = "cpu", max_tokens: int = 4096, library=None):
        """Loads ``path`` and its ``weights`` (safetensors) on ``device`` ("cpu", "cuda",
        "cuda:N"). A CUDA model's workspace is sized for ``max_tokens`` tokens per call."""
        self._lib = load_library(library)
        self._ordinal = _parse_device(device)
        self.device = device
        if self._ordinal >= 0 and max_tokens <= 0:
            raise MoecError(f"max_tokens must be positive, got {max_tokens}")
        self._session = self._lib.moert_session_open(
            os.fsencode(path), os.fsencode(weights) if weights is not None else None,
            self._ordinal, max_tokens)
        if not self._session:
            raise MoecError(_last_error(self._lib))
        self.path = str(path)
        self.max_tokens = max_tokens if self._ordinal >= 0 else None
        meta = json.loads(self._lib.moert_session_metadata_json(self._session))
        self.metadata = meta
        by_role: dict[str, list[ArgSpec]] = {"input": [], "output": [], "stat": []}
        for a in meta["args"]:
            if a["role"] in by_role:
                by_role[a["role"]].append(ArgSpec(a["name"], a["dtype"], tuple(a["shape"])))
        self.inputs, self.outputs = by_role["input"], by_role["output"]
        self._stats = by_role["stat"]
        self._tokens = 0

    @property
    def workspace_bytes(self) -> int:
        """Bytes of the GPU workspace (0 for a CPU model)."""
        return int(self._lib.moert_session_workspace_bytes(self._require_open()))

    def close(self) -> None:
        """Frees the model's memory (also done when it is garbage-collected)."""
        if getattr(self, "_session", None):
            self._lib.moert_session_close(self._session)
            self._session = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def _require_open(self):
        if not self._session:
            raise MoecError(f"{self.path}: the model is closed")
        return self._session

    def __call__(self, *args, out=None, **kwargs):
        """Runs the model: inputs by position (metadata order) or by name. Returns the output
        (a dict by name if the model has several), in the memory of the inputs: NumPy for
        host inputs, a tensor of the same library for GPU ones. ``out`` (an array, or a dict
        by name) receives the outputs instead."""
        session = self._require_open()
        named = self._name_inputs(args, kwargs)
        bufs = {spec.name: self._wrap(spec, named[spec.name], "input", writable=False)
                for spec in self.inputs}
        tokens = self._tokens_of(bufs)
        like = named[self.inputs[0].name] if self.inputs else None
        outs = self._outputs(out, tokens, like)
        for spec in self.outputs:
            bufs[spec.name] = self._wrap(spec, outs[spec.name], "output", writable=True)
        streams = {b.stream for b in bufs.values() if not b.on_host and b.stream is not None}
        if len(streams) > 1:
            raise MoecError("the GPU arguments come from different streams: synchronize them "
                            "first")
        stream = streams.pop() if streams else None

        names, shapes = [], []
        table = (_Buffer * len(bufs))()
        for i, (name, b) in enumerate(bufs.items()):
            names.append(name.encode())
            shapes.append((ctypes.c_int64 * max(1, len(b.shape)))(*b.shape))
            table[i] = _Buffer(names[-1], b.data, b.dtype.encode(), len(b.shape), shapes[-1],
                               1 if b.on_host else 0)
        if self._lib.moert_session_run(session, table, len(bufs), stream) != 0:
            raise MoecError(_last_error(self._lib))
        self._tokens = tokens
        result = {spec.name: outs[spec.name] for spec in self.outputs}
        return next(iter(result.values())) if len(result) == 1 else result

    def stats(self) -> dict[str, np.ndarray]:
        """The stats of the last call (``expert_counts``, ``expert_kept``, ...) as NumPy."""
        session = self._require_open()
        result = {}
        for spec in self._stats:
            a = np.empty(spec.shape_with(self._tokens), dtype=_NUMPY_DTYPES[spec.dtype])
            if self._lib.moert_session_read_stat(session, spec.name.encode(),
                                                 a.ctypes.data, a.nbytes) != 0:
                raise MoecError(_last_error(self._lib))
            result[spec.name] = a
        return result

    # -- arguments ------------------------------------------------------------------------

    def _name_inputs(self, args, kwargs) -> dict:
        names = [s.name for s in self.inputs]
        if len(args) > len(names):
            raise MoecError(f"{self.path} takes {len(names)} input(s) ({', '.join(names)}), "
                            f"got {len(args)} positional")
        named = dict(zip(names, args))
        for k, v in kwargs.items():
            if k not in names:
                raise MoecError(f"model has no input {k!r} (inputs: {', '.join(names)})")
            if k in named:
                raise MoecError(f"input {k!r} given twice")
            named[k] = v
        missing = [n for n in names if n not in named]
        if missing:
            raise MoecError(f"missing input(s): {', '.join(missing)}")
        return named

    def _tokens_of(self, bufs: dict) -> int:
        """T as the inputs bind it (the runtime checks them again, with its messages)."""
        for spec in self.inputs:
            b = bufs[spec.name]
            for want, got in zip(spec.shape, b.shape):
                if want == -1:
                    return got
        return 0

    def _wrap(self, spec: ArgSpec, x, role: str, writable: bool) -> _Arg:
        what = f"{role} {spec.name!r}"
        torch = _torch_module(x)
        if torch is not None:
            return self._wrap_torch(torch, spec, x, what, writable)
        cai = getattr(x, "__cuda_array_interface__", None)
        if cai is not None:
            return self._wrap_cai(cai, x, what, writable)
        if not isinstance(x, np.ndarray):
            raise MoecError(f"{what}: expected a NumPy array, a torch tensor or a GPU array "
                            f"(__cuda_array_interface__), got {type(x).__name__}")
        dtype = next((k for k, v in _NUMPY_DTYPES.items() if x.dtype.name == v), None)
        if dtype is None:
            raise MoecError(f"{what}: unsupported NumPy dtype {x.dtype.name} (the model takes "
                            f"{_NUMPY_DTYPES[spec.dtype]})")
        if writable and not (x.flags.c_contiguous and x.flags.writeable):
            raise MoecError(f"{what}: the array must be C-contiguous and writable")
        if not x.flags.c_contiguous:
            x = np.ascontiguousarray(x)  # A row-major copy of a strided view.
        return _Arg(x.ctypes.data, dtype, tuple(x.shape), True, x)

    def _wrap_torch(self, torch, spec, x, what, writable) -> _Arg:
        dtype = _TORCH_DTYPES.get(str(x.dtype).removeprefix("torch."))
        if dtype is None:
            raise MoecError(f"{what}: unsupported torch dtype {x.dtype}")
        if not x.is_contiguous():
            if writable:
                raise MoecError(f"{what}: the tensor must be contiguous")
            x = x.contiguous()
        stream = None
        if x.is_cuda:
            self._check_gpu(what, x.device.index)
            if x.data_ptr() % _GPU_ALIGNMENT:
                if writable:
                    raise MoecError(_misaligned(what, x.data_ptr()))
                x = x.clone()  # A fresh allocation, aligned.
            stream = torch.cuda.current_stream(x.device).cuda_stream
        elif x.device.type != "cpu":
            raise MoecError(f"{what}: tensors on {x.device.type} are not supported")
        return _Arg(x.data_ptr(), dtype, tuple(x.shape), not x.is_cuda, x, stream)

    def _wrap_cai(self, cai: dict, x, what, writable) -> _Arg:
        dtype = _CAI_TYPESTRS.get(cai["typestr"])
        if dtype is None:
            raise MoecError(f"{what}: unsupported __cuda_array_interface__ typestr "
                            f"{cai['typestr']!r}")
        shape = tuple(int(d) for d in cai["shape"])
        strides = cai.get("strides")
        if strides is not None:
            row_major, step = [], np.dtype(cai["typestr"]).itemsize
            for d in reversed(shape):
                row_major.insert(0, step)
                step *= d
            if tuple(strides) != tuple(row_major):
                raise MoecError(f"{what}: the GPU array must be C-contiguous")
        ptr, readonly = cai["data"]
        if writable and readonly:
            raise MoecError(f"{what}: the GPU array is read-only")
        index = None
        if hasattr(x, "__dlpack_device__"):
            kind, dev = x.__dlpack_device__()
            index = int(dev) if int(kind) == 2 else None  # 2: kDLCUDA
        self._check_gpu(what, index)
        if int(ptr) % _GPU_ALIGNMENT:
            raise MoecError(_misaligned(what, int(ptr)))
        # Version 3's stream: None means no synchronization needed (the legacy one is safe).
        return _Arg(int(ptr), dtype, shape, False, x, cai.get("stream") or 0)

    def _check_gpu(self, what: str, index: int | None) -> None:
        if self._ordinal < 0:
            raise MoecError(f"{what} is in GPU memory but {self.path} runs on the CPU")
        if index is not None and index != self._ordinal:
            raise MoecError(f"{what} is on cuda:{index} but the model runs on "
                            f"cuda:{self._ordinal}")

    def _outputs(self, out, tokens: int, like) -> dict:
        """The caller's ``out`` by name, or new buffers in the memory of ``like``."""
        if out is not None:
            if not isinstance(out, dict):
                if len(self.outputs) != 1:
                    raise MoecError(f"the model has {len(self.outputs)} outputs: pass out= as a "
                                    "dict by name")
                out = {self.outputs[0].name: out}
            unknown = set(out) - {s.name for s in self.outputs}
            if unknown:
                raise MoecError(f"model has no output(s) {', '.join(sorted(unknown))}")
            missing = [s.name for s in self.outputs if s.name not in out]
            if missing:
                raise MoecError(f"out= lacks output(s) {', '.join(missing)}")
            return out
        torch = _torch_module(like)
        result = {}
        for spec in self.outputs:
            shape = spec.shape_with(tokens)
            if torch is not None:
                tdtype = getattr(torch, _NUMPY_DTYPES[spec.dtype])
                result[spec.name] = torch.empty(shape, dtype=tdtype, device=like.device)
            elif hasattr(like, "__cuda_array_interface__"):
                raise MoecError(f"pass out= for GPU arrays other than torch tensors "
                                f"(output {spec.name!r}: {spec.dtype} {list(shape)})")
            else:
                if spec.dtype == "bf16":
                    raise MoecError(f"output {spec.name!r} is bf16, which NumPy lacks: pass "
                                    "torch tensors")
                result[spec.name] = np.empty(shape, dtype=_NUMPY_DTYPES[spec.dtype])
        return result
