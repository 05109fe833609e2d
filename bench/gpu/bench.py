#!/usr/bin/env python3
"""GPU benchmark: moec's compiled layers against PyTorch MoE blocks, one run.

Two steps on two machines, because the GPU machine has no MLIR:

  prepare (build machine: moe-compile and the moec package):
    python3 bench/gpu/bench.py prepare --bin build/bin \
        --moe-run build-gpu/bin/moe-run --out build-gpu/bench
    (or `make gpu-bundle`, which also builds that MPI-free moe-run). For each
    real layer shape of LAYERS, bf16 expert weights: the layer's MLIR
    (emitted from the moec spec, checkpoint layout "stacked") compiled with
    --target=cuda --lowering=dynamic (dropless, as every peer here is).

  run (GPU machine: PyTorch with CUDA, NumPy, safetensors):
    python3 build-gpu/bench/bench.py run --bundle build-gpu/bench \
        [--layers mixtral-8x7b ...] [--tokens 1 8 ...] [--json out.json]
    For each layer: random weights drawn there (the bf16 experts of DeepSeek-V3
    are 22 GB: too large to carry), saved as the safetensors moe-run reads;
    for each T, bf16-representable tokens, and in the same process:
      - reference: float32 routing and experts, TF32 off (the check);
      - torch-eager: the Hugging Face-style loop over hit experts in bf16
        (index, two GEMMs, index_add_); not capturable (it syncs to find the
        hit experts), so timed eagerly;
      - torch-grouped-mm: tokens sorted by expert, segments padded to 16 rows,
        torch._grouped_mm for gate/up and down (what torchtitan does), no
        host synchronization, timed as a replayed CUDA graph;
      - moec and moec-graph: the compiled layer run by moe-run
        --device=cuda, plain forwards and --graph replays, in a child process
        on the same GPU (moe-run times with CUDA events and reports the
        median);
      - moec-staged-graph: the same layer compiled with --mma-stages=2 (the
        tensor-core GEMMs' operands through shared memory), graph replays;
      - moec-api: the same layer in this process through the Python API
        (moec.runtime.Model over the bundle's libmoert.so) on torch tensors,
        timed here like the peers. It runs after the layer's other rows, with
        the model loaded once for the largest T, so that its copy of the
        weights and moe-run's are never on the GPU together.
    Every implementation uses the same float32 router, so all route alike.
    Each output is checked against the reference: ||y - ref|| / ||ref|| must
    be at most 2e-2 (bf16 operands); a failed check marks the row FAIL.
    Times are medians of CUDA-event-timed iterations after warm-up. The
    floor is max(FLOPs / 790 TFLOP/s, bytes / 3.0 TB/s): the H100's bf16 dense
    GEMM rate and device copy bandwidth (PEAK_FLOPS); FLOPs count the router and
    the chosen experts (2 per multiply-add), bytes the weights of the experts
    actually hit (and the shared expert's and the router's) plus x and y in
    bf16.

Prints a Markdown table per layer (the format of docs/performance-gpu.md) and
ends with "N passed, N failed".
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# The layer shapes of issue 7's bar: Mixtral-8x7B, Qwen3-30B-A3B, DeepSeek-V3.
LAYERS = {
    "mixtral-8x7b": {"D": 4096, "F": 14336, "E": 8, "k": 2, "normalize": True},
    "qwen3-30b-a3b": {"D": 2048, "F": 768, "E": 128, "k": 8, "normalize": True},
    "deepseek-v3": {
        "D": 7168,
        "F": 2048,
        "E": 256,
        "k": 8,
        "scoring": "sigmoid",
        "selection": "group_sum_top2",
        "n_group": 8,
        "topk_group": 4,
        "score_bias": True,
        "normalize": True,
        "routed_scaling_factor": 2.5,
        "shared_F": 2048,
    },
}
TOKENS = [1, 8, 64, 512, 4096, 16384]
# The models compiled per layer: file suffix -> extra moe-compile flags.
MODELS = {"": [], "-staged": ["--mma-stages=2"]}
# The lent H100's ceilings, as measured there on 2026-11-13 (not by this
# script): a bf16 8192^3 GEMM at 798 TFLOP/s, a device-to-device copy at
# 3.0 TB/s counting bytes read and written.
PEAK_FLOPS = 790e12
PEAK_BYTES = 3.0e12
TOLERANCE = 2e-2
ALIGN = 16  # rows per expert segment for torch._grouped_mm
DEVICE = "cuda"


# --- prepare (build machine) -------------------------------------------------


def prepare(args) -> int:
    sys.path.insert(0, str(REPO / "python"))
    from moec.emit_mlir import emit_module
    from moec.spec import spec_from_json

    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    for name, d in LAYERS.items():
        spec, _ = spec_from_json({**d, "layout": "stacked"})
        mlir = out / f"{name}.mlir"
        mlir.write_text(emit_module(spec, "bf16"))
        for suffix, flags in MODELS.items():
            cmd = [str(args.bin / "moe-compile"), str(mlir), "--target=cuda",
                   f"--gpu-arch={args.gpu_arch}", "--lowering=dynamic", *flags, "-o",
                   str(out / f"{name}{suffix}.so")]
            subprocess.run(cmd, check=True)
        print(f"compiled {name}", flush=True)
    (out / "bin").mkdir(exist_ok=True)
    shutil.copy2(args.moe_run, out / "bin" / "moe-run")
    (out / "lib").mkdir(exist_ok=True)
    shutil.copy2(args.libmoert, out / "lib" / "libmoert.so")
    shutil.copy2(__file__, out / "bench.py")
    (out / "layers.json").write_text(json.dumps(LAYERS, indent=1))
    print(f"{len(LAYERS)} layers in {out}")
    return 0


# --- run (GPU machine) ---------------------------------------------------------


def make_weights(torch, d: dict, seed: int) -> dict:
    """Checkpoint tensors in the "stacked" layout moec's spec names: router
    [E, D] and score_bias [E] in f32, experts.gate_up [E, 2F, D] (gate rows
    first) and experts.down [E, D, F] in bf16, shared.{gate,up} [Fs, D] and
    shared.down [D, Fs] in bf16. Scaled so activations stay O(1)."""
    g = torch.Generator(device=DEVICE).manual_seed(seed)
    D, F, E = d["D"], d["F"], d["E"]

    def randn(*shape, std, dtype=torch.bfloat16):
        return (torch.randn(*shape, generator=g, device=DEVICE) * std).to(dtype)

    w = {
        "router": randn(E, D, std=D**-0.5, dtype=torch.float32),
        "experts.gate_up": randn(E, 2 * F, D, std=D**-0.5),
        "experts.down": randn(E, D, F, std=F**-0.5),
    }
    if d.get("score_bias"):
        w["score_bias"] = randn(E, std=0.1, dtype=torch.float32)
    if d.get("shared_F"):
        Fs = d["shared_F"]
        w["shared.gate"] = randn(Fs, D, std=D**-0.5)
        w["shared.up"] = randn(Fs, D, std=D**-0.5)
        w["shared.down"] = randn(D, Fs, std=Fs**-0.5)
    return w


def route(torch, d: dict, w: dict, x32):
    """(idx [T, k], weights [T, k]) in float32, as moec routes (ties aside:
    moec breaks them towards the lower expert, torch.topk does not promise
    to; random data has none)."""
    logits = x32 @ w["router"].T
    s = torch.sigmoid(logits) if d.get("scoring") == "sigmoid" else torch.softmax(logits, -1)
    choice = s + w["score_bias"] if "score_bias" in w else s
    if d.get("selection") == "group_sum_top2":
        T, E, G = s.shape[0], d["E"], d["n_group"]
        gscore = choice.view(T, G, E // G).topk(2, dim=-1).values.sum(-1)
        keep = gscore.topk(d["topk_group"], dim=-1).indices
        mask = torch.zeros(T, G, dtype=torch.bool, device=s.device).scatter_(1, keep, True)
        choice = choice.masked_fill(~mask.repeat_interleave(E // G, dim=1), float("-inf"))
    idx = choice.topk(d["k"], dim=-1).indices
    wts = s.gather(1, idx)
    if d.get("normalize"):
        denom = wts.sum(-1, keepdim=True)
        wts = wts / (denom + 1e-20 if d.get("scoring") == "sigmoid" else denom)
    return idx, wts * d.get("routed_scaling_factor", 1.0)


def shared_expert(torch, w, x):
    F_ = torch.nn.functional
    return (F_.silu(x @ w["shared.gate"].T.to(x.dtype)) * (x @ w["shared.up"].T.to(x.dtype))) @ w[
        "shared.down"
    ].T.to(x.dtype)


def reference(torch, d, w, x32):
    """Float32 throughout (the bf16 weights widened exactly)."""
    F = d["F"]
    idx, wts = route(torch, d, w, x32)
    y = torch.zeros_like(x32)
    for e in torch.unique(idx).tolist():
        t, j = torch.where(idx == e)
        gu = x32[t] @ w["experts.gate_up"][e].float().T
        h = torch.nn.functional.silu(gu[:, :F]) * gu[:, F:]
        y.index_add_(0, t, (h @ w["experts.down"][e].float().T) * wts[t, j, None])
    if d.get("shared_F"):
        # Only the shared expert's weights widened: all of DeepSeek-V3's
        # experts in f32 would be 44 GB.
        y += shared_expert(torch, {k: w[k].float() for k in ("shared.gate", "shared.up",
                                                             "shared.down")}, x32)
    return y, idx


def torch_eager(torch, d, w, xb):
    """transformers' MixtralSparseMoeBlock loop, bf16 experts."""
    F = d["F"]
    idx, wts = route(torch, d, w, xb.float())
    y = torch.zeros_like(xb)
    mask = torch.nn.functional.one_hot(idx, d["E"]).permute(2, 1, 0)  # [E, k, T]
    for e in (mask.sum(dim=(-1, -2)) > 0).nonzero().flatten().tolist():
        j, t = torch.where(mask[e])
        gu = xb[t] @ w["experts.gate_up"][e].T
        h = torch.nn.functional.silu(gu[:, :F]) * gu[:, F:]
        y.index_add_(0, t, ((h @ w["experts.down"][e].T) * wts[t, j, None]).to(xb.dtype))
    if d.get("shared_F"):
        y += shared_expert(torch, w, xb)
    return y


def torch_grouped_mm(torch, d, w, xb):
    """Sorted tokens and torch._grouped_mm, each expert's segment padded to
    ALIGN rows; static shapes and no host synchronization."""
    T, D, F, E, k = xb.shape[0], d["D"], d["F"], d["E"], d["k"]
    idx, wts = route(torch, d, w, xb.float())
    flat = idx.reshape(-1)
    order = torch.argsort(flat, stable=True)
    counts = torch.zeros(E, dtype=torch.int64, device=xb.device).scatter_add_(
        0, flat, torch.ones_like(flat))
    padded = (counts + ALIGN - 1) // ALIGN * ALIGN
    start = torch.cumsum(counts, 0) - counts
    pstart = torch.cumsum(padded, 0) - padded
    offs = torch.cumsum(padded, 0).to(torch.int32)
    sorted_e = flat[order]
    rank = torch.arange(T * k, device=xb.device) - start[sorted_e]
    dest = pstart[sorted_e] + rank
    rows = T * k + E * (ALIGN - 1)
    xs = torch.zeros(rows, D, dtype=xb.dtype, device=xb.device)
    xs[dest] = xb[order // k]
    gu = torch._grouped_mm(xs, w["experts.gate_up"].transpose(-2, -1), offs=offs)
    h = torch.nn.functional.silu(gu[:, :F]) * gu[:, F:]
    ys = torch._grouped_mm(h, w["experts.down"].transpose(-2, -1), offs=offs)[dest]
    ys = ys * wts.reshape(-1)[order, None].to(ys.dtype)
    y = torch.zeros_like(xb).index_add_(0, order // k, ys)
    if d.get("shared_F"):
        y += shared_expert(torch, w, xb)
    return y


def time_fn(torch, fn, iters: int, warmup: int = 3):
    """Median ms of fn() between CUDA events."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    times.sort()
    n = len(times)
    return times[n // 2] if n % 2 else (times[n // 2 - 1] + times[n // 2]) / 2


def graphed(torch, fn, x):
    """(replay, static output) of fn(x) captured as a CUDA graph."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(2):
            fn(x)
    torch.cuda.current_stream().wait_stream(side)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        out = fn(x)
    return g.replay, out


def rel_err(torch, y, ref) -> float:
    return float(torch.linalg.norm(y.float() - ref) / torch.linalg.norm(ref).clamp_min(1e-30))


def run_moec(bundle: Path, so: Path, weights: Path, x_npy: Path, y_npy: Path, graph: bool,
             iters: int) -> tuple[float | None, str]:
    cmd = [str(bundle / "bin" / "moe-run"), str(so), "--device=cuda", "--weights", str(weights),
           "--input", str(x_npy), "--output", str(y_npy), "--warmup", "3", "--iters", str(iters)]
    if graph:
        cmd.append("--graph")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return None, (proc.stderr.strip() or proc.stdout.strip())[-400:]
    m = re.search(r"median ([0-9.]+) ms", proc.stdout)
    return (float(m.group(1)) if m else None), proc.stdout.strip()


def floor_ms(d: dict, T: int, hit: int) -> tuple[float, float]:
    """(floor ms, GFLOP) of one forward over T tokens hitting `hit` experts."""
    D, F, E, k, Fs = d["D"], d["F"], d["E"], d["k"], d.get("shared_F", 0)
    flops = 2 * T * (D * E + k * 3 * D * F + 3 * D * Fs)
    nbytes = 2 * (hit * 3 * D * F + 3 * D * Fs) + 4 * E * D + 2 * 2 * T * D
    return max(flops / PEAK_FLOPS, nbytes / PEAK_BYTES) * 1e3, flops / 1e9


def run_layer(torch, np, bundle: Path, name: str, d: dict, tokens: list[int], work: Path,
              results: list) -> None:
    from safetensors.torch import save_file

    w = make_weights(torch, d, seed=1)
    wpath = work / f"{name}.safetensors"
    save_file({k: v.contiguous().cpu() for k, v in w.items()}, str(wpath))
    gen = torch.Generator(device="cuda").manual_seed(2)
    kept = []  # (row, x, reference) on the host, for the in-process pass
    for T in tokens:
        xb = torch.randn(T, d["D"], generator=gen, device="cuda").to(torch.bfloat16)
        x32 = xb.float()
        ref, idx = reference(torch, d, w, x32)
        hit = int(torch.unique(idx).numel())
        floor, gflop = floor_ms(d, T, hit)
        iters = 20 if T <= 4096 else 10
        row = {"layer": name, "T": T, "hit_experts": hit, "floor_ms": floor, "gflop": gflop}
        impls = {}
        y = torch_eager(torch, d, w, xb)
        impls["torch-eager"] = (time_fn(torch, lambda: torch_eager(torch, d, w, xb), iters),
                                rel_err(torch, y, ref), "eager")
        try:
            replay, out = graphed(torch, lambda x: torch_grouped_mm(torch, d, w, x), xb)
            replay()
            torch.cuda.synchronize()
            impls["torch-grouped-mm"] = (time_fn(torch, replay, iters), rel_err(torch, out, ref),
                                         "graph")
        except Exception as e:  # noqa: BLE001 - reported in the table
            impls["torch-grouped-mm"] = (None, None, f"failed: {e}"[:200])
        np.save(work / "x.npy", x32.cpu().numpy())
        torch.cuda.empty_cache()  # room for moe-run's own copy of the weights
        for label, suffix, graph in (("moec", "", False), ("moec-graph", "", True),
                                     ("moec-staged-graph", "-staged", True)):
            so = bundle / f"{name}{suffix}.so"
            if not so.exists():
                continue
            (work / "y.npy").unlink(missing_ok=True)
            ms, msg = run_moec(bundle, so, wpath, work / "x.npy",
                               work / "y.npy", graph, iters)
            err = None
            if ms is not None:
                y = torch.from_numpy(np.load(work / "y.npy")).cuda()
                err = rel_err(torch, y, ref) if torch.isfinite(y).all() else float("inf")
            impls[label] = (ms, err, msg if ms is None else ("graph" if graph else "forwards"))
        row["impls"] = {k: {"ms": v[0], "rel_err": v[1], "note": v[2]} for k, v in impls.items()}
        results.append(row)
        print(json.dumps(row), flush=True)
        kept.append((row, x32.cpu(), ref.cpu(), iters))
        del y, ref, xb, x32
    torch.cuda.empty_cache()
    run_api(torch, bundle, name, wpath, kept)
    del w
    wpath.unlink()
    torch.cuda.empty_cache()


def run_api(torch, bundle: Path, name: str, wpath: Path, kept: list) -> None:
    """The moec-api cells of a layer's rows: moec.runtime.Model in this process, loaded once
    for the largest T, called on torch CUDA tensors in place (float32 in and out)."""
    os.environ.setdefault("MOEC_RUNTIME_LIB", str(bundle / "lib" / "libmoert.so"))
    if str(REPO / "python") not in sys.path:  # once per process, not per case
        sys.path.insert(0, str(REPO / "python"))

    def record(row, ms, err, note):
        row["impls"]["moec-api"] = {"ms": ms, "rel_err": err, "note": note}
        line = {"layer": row["layer"], "T": row["T"], "moec-api": row["impls"]["moec-api"]}
        print(json.dumps(line), flush=True)

    try:
        from moec.runtime import Model

        model = Model(bundle / f"{name}.so", weights=wpath, device="cuda",
                      max_tokens=max(row["T"] for row, *_ in kept))
    except Exception as e:  # noqa: BLE001 - reported in the table
        for row, *_ in kept:
            record(row, None, None, f"failed: {e}"[:200])
        return
    with model:
        for row, x_host, ref_host, iters in kept:
            try:
                x = x_host.cuda()
                out = torch.empty_like(x)
                model(x, out=out)
                ref = ref_host.cuda()
                err = rel_err(torch, out, ref) if torch.isfinite(out).all() else float("inf")
                ms = time_fn(torch, lambda: model(x, out=out), iters)
                record(row, ms, err, "in-process")
                del x, out, ref
            except Exception as e:  # noqa: BLE001 - reported in the table
                record(row, None, None, f"failed: {e}"[:200])


def passes(impl: dict) -> bool:
    """An implementation's run counts when it ran and matched the reference."""
    return impl["ms"] is not None and impl["rel_err"] is not None and impl["rel_err"] <= TOLERANCE


def cell(impl: dict) -> str:
    if impl["ms"] is None:
        return "error"
    if passes(impl):
        return f"{impl['ms']:.3f} ms"
    return f"{impl['ms']:.3f} ms FAIL (err {impl['rel_err']:.1e})"


def ms_or_dash(v: float | None, fmt: str) -> str:
    return fmt.format(v) if v is not None else "-"


def markdown(results: list) -> str:
    lines = []
    for name in dict.fromkeys(r["layer"] for r in results):
        lines += [f"### {name}", "",
                  "| T | moec | moec graph | moec staged graph | moec in-process | torch eager | "
                  "torch grouped_mm (graph) | best peer | moec graph / best peer | floor | "
                  "moec graph % of floor |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in (r for r in results if r["layer"] == name):
            im = r["impls"]
            peers = [im[k]["ms"] for k in ("torch-eager", "torch-grouped-mm") if passes(im[k])]
            best = min(peers) if peers else None
            mg = im["moec-graph"]["ms"]
            ratio = mg / best if mg and best else None
            pct = 100 * r["floor_ms"] / mg if mg else None
            api = im.get("moec-api", {"ms": None, "rel_err": None})
            staged = im.get("moec-staged-graph", {"ms": None, "rel_err": None})
            lines.append(f"| {r['T']} | {cell(im['moec'])} | {cell(im['moec-graph'])} | "
                         f"{cell(staged)} | {cell(api)} | {cell(im['torch-eager'])} | "
                         f"{cell(im['torch-grouped-mm'])} | "
                         f"{ms_or_dash(best, '{:.3f} ms')} | {ms_or_dash(ratio, '{:.2f}x')} | "
                         f"{r['floor_ms']:.3f} ms | {ms_or_dash(pct, '{:.0f} %')} |")
        lines.append("")
    return "\n".join(lines)


def run_bench(args) -> int:
    import numpy as np
    import torch

    if not torch.cuda.is_available():
        print("bench.py run: error: PyTorch sees no CUDA device", file=sys.stderr)
        return 1
    torch.backends.cuda.matmul.allow_tf32 = False  # the float32 reference
    torch.backends.cudnn.allow_tf32 = False
    bundle = args.bundle.resolve()
    layers = json.loads((bundle / "layers.json").read_text())
    unknown = [n for n in args.layers if n not in layers]
    if unknown:
        print(f"bench.py run: error: unknown layer(s) {unknown} (have {list(layers)})",
              file=sys.stderr)
        return 2
    print(f"# {torch.cuda.get_device_name()}, torch {torch.__version__}, "
          f"CUDA {torch.version.cuda}", flush=True)
    results: list = []
    with tempfile.TemporaryDirectory(prefix="moec-bench-", dir=args.work) as tmp:
        for name in args.layers or list(layers):
            run_layer(torch, np, bundle, name, layers[name], args.tokens, Path(tmp), results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print(markdown(results))
    checks = [v for r in results for v in r["impls"].values()]
    passed = sum(passes(v) for v in checks)
    print(f"{passed} passed, {len(checks) - passed} failed")
    return 0 if passed == len(checks) else 1


def run_profile(args) -> int:
    """One forward per (layer, T) under Nsight Compute: each kernel's duration
    and launch shape, so a slow forward can be split by kernel. ncu serializes
    and replays kernels, so the sum is kernel time, not the forward's time."""
    import csv
    import io

    import numpy as np
    import torch
    from safetensors.torch import save_file

    bundle = args.bundle.resolve()
    layers = json.loads((bundle / "layers.json").read_text())
    ncu = shutil.which("ncu")
    if ncu is None:
        print("bench.py profile: error: ncu (Nsight Compute) is not on PATH", file=sys.stderr)
        return 1
    failed = 0
    with tempfile.TemporaryDirectory(prefix="moec-prof-", dir=args.work) as tmp:
        tmp = Path(tmp)
        for name in args.layers or list(layers):
            d = layers[name]
            wpath = tmp / f"{name}.safetensors"
            w = make_weights(torch, d, seed=1)
            save_file({k: v.contiguous().cpu() for k, v in w.items()}, str(wpath))
            del w
            torch.cuda.empty_cache()
            for T in args.tokens:
                gen = torch.Generator(device="cuda").manual_seed(2)
                x = torch.randn(T, d["D"], generator=gen, device="cuda").to(torch.bfloat16)
                np.save(tmp / "x.npy", x.float().cpu().numpy())
                cmd = [ncu, "--clock-control", "none", "--csv", "--metrics",
                       "gpu__time_duration.sum,launch__grid_size,launch__block_size,"
                       "launch__registers_per_thread",
                       str(bundle / "bin" / "moe-run"),
                       str(bundle / f"{name}{'-staged' if args.staged else ''}.so"),
                       "--device=cuda", "--weights", str(wpath), "--input", str(tmp / "x.npy"),
                       "--output", str(tmp / "y.npy"), "--warmup", "0", "--iters", "1"]
                proc = subprocess.run(cmd, capture_output=True, text=True)
                if proc.returncode != 0:
                    print(f"{name} T={T}: ncu failed: {proc.stderr.strip()[-400:]}")
                    failed += 1
                    continue
                text = proc.stdout[proc.stdout.find('"ID"'):]
                kernels: dict = {}
                for rec in csv.DictReader(io.StringIO(text)):
                    k = kernels.setdefault((int(rec["ID"]), rec["Kernel Name"]), {})
                    k[rec["Metric Name"]] = rec["Metric Value"].replace(",", "")
                total = sum(float(v["gpu__time_duration.sum"]) for v in kernels.values())
                print(f"### {name} T={T}: {len(kernels)} kernels, {total / 1e3:.3f} us total"
                      if total < 1e3 else
                      f"### {name} T={T}: {len(kernels)} kernels, {total / 1e6:.3f} ms total")
                print("| # | kernel | grid | block | regs | time | share |")
                print("|---|---|---|---|---|---|---|")
                for (i, kname), v in sorted(kernels.items()):
                    ns = float(v["gpu__time_duration.sum"])
                    print(f"| {i} | {kname} | {v['launch__grid_size']} | "
                          f"{v['launch__block_size']} | {v['launch__registers_per_thread']} | "
                          f"{ns / 1e3:.1f} us | {100 * ns / total:.0f} % |")
                print(flush=True)
            wpath.unlink()
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--bin", type=Path, default=REPO / "build" / "bin")
    p.add_argument("--moe-run", type=Path, required=True)
    p.add_argument("--libmoert", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--gpu-arch", default="sm_90a")
    r = sub.add_parser("run")
    r.add_argument("--bundle", type=Path, required=True)
    r.add_argument("--layers", nargs="+", default=[])
    r.add_argument("--tokens", type=int, nargs="+", default=TOKENS)
    r.add_argument("--json", type=Path)
    r.add_argument("--work", default=None, help="folder for the weights file (default: $TMPDIR)")
    f = sub.add_parser("profile", help="kernel times of one forward under Nsight Compute")
    f.add_argument("--bundle", type=Path, required=True)
    f.add_argument("--layers", nargs="+", default=[])
    f.add_argument("--tokens", type=int, nargs="+", default=[1, 4096])
    f.add_argument("--work", default=None, help="folder for the weights file (default: $TMPDIR)")
    f.add_argument("--staged", action="store_true",
                   help="profile the --mma-stages=2 model instead of the default one")
    args = parser.parse_args()
    return {"prepare": prepare, "run": run_bench, "profile": run_profile}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
