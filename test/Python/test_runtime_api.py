"""moec.runtime.Model (the Python API over libmoert.so's C interface).

On the CPU: every example family's compiled model, called in one process on NumPy arrays of
several token counts (T = 0 after others included), against the NumPy reference
(`python -m moec reference`, max|y - ref| / max|ref| <= 1e-5, the demo's metric) with the
reference's expert counts; bitwise equal to moe-run on the same files; bad arguments raise
MoecError with the runtime's message.

On the stand-in CUDA driver (runtime/test/fake_cuda_driver.c; its kernels do nothing, so
these check the plumbing, not numbers; test/Integration/check_cuda.py checks numbers on a
GPU): NumPy arguments go through the model's device buffers and GPU arrays are used in place,
ordered against the caller's stream by events; nothing is allocated during a call.

Run by ctest (python-runtime-api) with MOEC_RUNTIME_LIB, MOEC_BIN and MOEC_FAKE_CUDA_DRIVER.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python"))

from moec.errors import MoecError  # noqa: E402
from moec.runtime import Model  # noqa: E402

BIN = Path(os.environ["MOEC_BIN"])
FAKE_DRIVER = os.environ["MOEC_FAKE_CUDA_DRIVER"]
# Read when the first CUDA model loads, in this process.
os.environ["MOERT_CUDA_DRIVER"] = FAKE_DRIVER
os.environ["FAKE_CUDA_KERNELS"] = "1"

TOLERANCE = 1e-5
# Each example family's tiny config, its first MoE layer, and the lowering compiled.
FAMILIES = {"mixtral": (0, "dynamic"), "qwen3-moe": (0, "static"),
            "deepseek-v3": (1, "dynamic"), "gpt-oss": (0, "static")}


def moec(*args):
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"))
    subprocess.run([sys.executable, "-m", "moec", *map(str, args)], check=True, env=env)


def compile_family(work: Path, family: str, target: str = "cpu") -> dict:
    layer, lowering = FAMILIES[family]
    config = REPO / "examples" / "configs" / f"{family}-tiny.json"
    d = work / family
    if not d.exists():
        d.mkdir()
        moec("import", config, "--layer", layer, "-o", d / "layer.mlir")
        moec("random-weights", config, "--layer", layer, "--seed", 3,
             "-o", d / "w.safetensors")
    so = d / f"model-{target}.so"
    if not so.exists():
        subprocess.run([BIN / "moe-compile", d / "layer.mlir", "-o", so,
                        f"--lowering={lowering}", f"--target={target}"], check=True)
    hidden = json.loads(config.read_text())["hidden_size"]
    return {"config": config, "layer": layer, "dir": d, "so": so,
            "weights": d / "w.safetensors", "hidden": hidden}


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("runtime-api")


def reference(fam: dict, x: np.ndarray, tag: str):
    d = fam["dir"]
    np.save(d / f"x-{tag}.npy", x)
    moec("reference", fam["config"], "--layer", fam["layer"], "--weights", fam["weights"],
         "--input", d / f"x-{tag}.npy", "-o", d / f"ref-{tag}.npy",
         "--stats-json", d / f"ref-{tag}.json")
    return (np.load(d / f"ref-{tag}.npy").astype(np.float64),
            json.loads((d / f"ref-{tag}.json").read_text()))


@pytest.mark.parametrize("family", FAMILIES)
def test_numpy_calls_match_the_reference(work, family):
    fam = compile_family(work, family)
    rng = np.random.default_rng(7)
    with Model(fam["so"], weights=fam["weights"]) as model:
        assert [s.name for s in model.inputs] == ["hidden_states"]
        # Several token counts on one loaded model, T = 0 between them.
        for t in (64, 1, 0, 7):
            x = rng.standard_normal((t, fam["hidden"])).astype(np.float32)
            y = model(x)
            assert y.shape == (t, fam["hidden"]) and y.dtype == np.float32
            ref, ref_stats = reference(fam, x, f"t{t}")
            if t:
                err = float(np.max(np.abs(y - ref)) / np.max(np.abs(ref)))
                assert err <= TOLERANCE, f"T={t}: error {err:.2e}"
            stats = model.stats()
            for name in ("expert_counts", "expert_kept"):
                assert stats[name].tolist() == ref_stats[name], f"T={t}: {name}"


def test_bitwise_equal_to_moe_run(work):
    fam = compile_family(work, "mixtral")
    x = np.random.default_rng(1).standard_normal((33, fam["hidden"])).astype(np.float32)
    d = fam["dir"]
    np.save(d / "x33.npy", x)
    subprocess.run([BIN / "moe-run", fam["so"], "--weights", fam["weights"],
                    "--input", d / "x33.npy", "--output", d / "y33.npy"], check=True,
                   capture_output=True)
    model = Model(fam["so"], weights=fam["weights"])
    y = model(hidden_states=x)
    assert np.array_equal(y.view(np.uint32), np.load(d / "y33.npy").view(np.uint32))
    # A strided view is copied to row-major first; out= receives the result in place.
    out = np.full((17, fam["hidden"]), np.nan, dtype=np.float32)
    assert model(x[::2], out=out) is out
    assert np.array_equal(out.view(np.uint32),
                          np.load(d / "y33.npy")[::2].view(np.uint32))


def test_bad_arguments_are_errors(work):
    fam = compile_family(work, "mixtral")
    D = fam["hidden"]
    model = Model(fam["so"], weights=fam["weights"])
    x = np.zeros((4, D), np.float32)
    cases = [
        (lambda: model(x.astype(np.float64)), "unsupported NumPy dtype float64"),
        (lambda: model(x.astype(np.float16)), "input 'hidden_states': expected dtype f32, got f16"),
        (lambda: model(x[:, :5]), f"expected shape [T, {D}], got [4, 5]"),
        (lambda: model(), "missing input(s): hidden_states"),
        (lambda: model(x, x), "takes 1 input(s) (hidden_states), got 2 positional"),
        (lambda: model(x, foo=x), "model has no input 'foo'"),
        (lambda: model([[1.0]]), "expected a NumPy array"),
        (lambda: model(x, out=np.empty((5, D), np.float32)),
         f"output 'output': expected shape [T=4, {D}], got [5, {D}]"),
        (lambda: model(x, out={"y": x}), "model has no output(s) y"),
        (lambda: Model(fam["so"]), "but no weights file was given"),
        (lambda: Model(fam["so"], weights=fam["weights"], device="tpu"),
         "expected cpu, cuda or cuda:N, got 'tpu'"),
        (lambda: Model(fam["so"], weights=fam["weights"], device="cuda"),
         "holds CPU code: load it with device='cpu'"),
        (lambda: Model(fam["dir"] / "missing.so"), "No such file or directory"),
        (lambda: Model(fam["weights"]), "cannot load model"),
        (lambda: Model(fam["so"], weights=fam["dir"] / "layer.mlir"), "layer.mlir"),
    ]
    for call, needle in cases:
        with pytest.raises(MoecError) as e:
            call()
        assert needle in str(e.value)
    model.close()
    with pytest.raises(MoecError, match="the model is closed"):
        model(x)


class FakeGpuArray:
    """Memory of the stand-in driver (host memory behind its cuMemAlloc), exposed as
    CuPy and Numba expose GPU arrays."""

    driver = None

    def __init__(self, shape, stream=7):
        if FakeGpuArray.driver is None:
            FakeGpuArray.driver = ctypes.CDLL(FAKE_DRIVER)
        ptr = ctypes.c_uint64()
        nbytes = int(np.prod(shape)) * 4
        assert FakeGpuArray.driver.cuMemAlloc_v2(ctypes.byref(ptr), ctypes.c_size_t(nbytes)) == 0
        self.ptr, self.nbytes = ptr.value, nbytes
        self.__cuda_array_interface__ = {"shape": tuple(shape), "typestr": "<f4",
                                         "data": (ptr.value, False), "strides": None,
                                         "version": 3, "stream": stream}


def trace_of(capfd, call):
    os.environ["FAKE_CUDA_TRACE"] = "1"
    capfd.readouterr()
    try:
        result = call()
    finally:
        del os.environ["FAKE_CUDA_TRACE"]
    calls = [line.removeprefix("fake-cuda: ") for line in capfd.readouterr().err.splitlines()
             if line.startswith("fake-cuda: ")]
    return result, calls


def test_cuda_model_on_the_stand_in_driver(work, capfd):
    fam = compile_family(work, "mixtral", target="cuda")
    D = fam["hidden"]
    with pytest.raises(MoecError, match="holds CUDA kernels .* device='cuda'"):
        Model(fam["so"], weights=fam["weights"])
    model = Model(fam["so"], weights=fam["weights"], device="cuda", max_tokens=16)
    assert model.workspace_bytes > 0
    x = np.random.default_rng(2).standard_normal((5, D)).astype(np.float32)

    # NumPy: the input is copied in before the first launch, the output out after the
    # last, and the call allocates nothing.
    y, calls = trace_of(capfd, lambda: model(x))
    assert y.shape == (5, D)
    launches = [i for i, c in enumerate(calls) if c.startswith("cuLaunchKernel")]
    assert launches, calls
    assert f"cuMemcpyAsync {x.nbytes}" in calls[:launches[0]]
    assert f"cuMemcpyAsync {x.nbytes}" in calls[launches[-1]:]
    assert not any(c.startswith(("cuMemAlloc", "cuMemFree", "cuModuleLoad")) for c in calls)
    assert not any("caller-stream" in c for c in calls)

    # GPU arrays: used in place (the input is never copied), ordered after the caller's
    # stream and before its later work.
    xd, yd = FakeGpuArray((5, D)), FakeGpuArray((5, D))
    ctypes.memmove(xd.ptr, x.ctypes.data, x.nbytes)
    r, calls = trace_of(capfd, lambda: model(xd, out=yd))
    assert r is yd
    launches = [i for i, c in enumerate(calls) if c.startswith("cuLaunchKernel")]
    before, after = calls[:launches[0]], calls[launches[-1] + 1:]
    assert before[:2] == ["cuEventRecord caller-stream", "cuStreamWaitEvent model-stream"]
    assert not any(c.startswith("cuMemcpyAsync") for c in before)
    assert after[-2:] == ["cuEventRecord model-stream", "cuStreamWaitEvent caller-stream"]
    assert not any(c.startswith(("cuMemAlloc", "cuMemFree", "cuModuleLoad")) for c in calls)

    with pytest.raises(MoecError, match=r"T=17 tokens, more than the 16 .* \(raise max_tokens\)"):
        model(np.zeros((17, D), np.float32))
    with pytest.raises(MoecError, match="pass out= for GPU arrays other than torch tensors"):
        model(xd)
    with pytest.raises(MoecError, match="different streams"):
        model(xd, out=FakeGpuArray((5, D), stream=9))
    # The kernels read rows in 16-byte pieces: an array starting mid-allocation is refused.
    shifted = FakeGpuArray((6, D))
    cai = shifted.__cuda_array_interface__
    cai["shape"], cai["data"] = (5, D), (shifted.ptr + 4, False)
    with pytest.raises(MoecError, match="not a multiple of 16 bytes"):
        model(shifted, out=yd)
    assert set(model.stats()) == {"expert_counts", "expert_kept"}

    cpu = Model(compile_family(work, "mixtral")["so"], weights=fam["weights"])
    with pytest.raises(MoecError, match="is in GPU memory but .* runs on the CPU"):
        cpu(xd)
    with pytest.raises(MoecError, match="max_tokens must be positive, got 0"):
        Model(fam["so"], weights=fam["weights"], device="cuda", max_tokens=0)
    # The stand-in driver has one device: another ordinal is refused.
    with pytest.raises(MoecError, match=re.escape("cuda:1")):
        Model(fam["so"], weights=fam["weights"], device="cuda:1")
