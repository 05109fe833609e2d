#!/usr/bin/env python3
"""CPU benchmark: moec's compiled layer (both lowerings) vs NumPy and PyTorch.

One run measures, on the same machine and the same weights/inputs:
  - moec dynamic: moe-compile --lowering=dynamic (dropless sorted segments)
  - moec static:  moe-compile --lowering=static (padded [E, C, D], dropless
                  C = T, so every expert runs over T rows: the GShard layout's
                  cost without a capacity limit)
  - numpy-ref:    the float64 NumPy reference (python -m moec reference-spec)
  - torch-eager:  a Hugging Face-style block in PyTorch eager mode: router,
                  top-k, then a Python loop over experts with index_select /
                  index_add_ (what transformers' MixtralSparseMoeBlock does)
It prints a Markdown table (median ms per forward pass and useful GFLOP/s,
counting 2 FLOPs per multiply-add of the router and the selected experts only).
It also times OpenBLAS's sgemm (through PyTorch) on one expert's gate
projection at the average rows per expert, T·k/E, and gives moec's whole-layer
rate as a share of it: a lower bound on its expert GEMMs' share, since the
layer's time also holds routing, dispatch, activation and combine.
For T <= 32 it gives the rate at which moec reads the weights a forward
needs (router, chosen experts, shared expert) as a share of the machine's
memory read rate, PyTorch's sum over 512 MiB measured in the same run. Those
forwards repeat one input, so the chosen experts' weights can stay in L3; at
T = 1 it also runs moec (through moec.runtime, in this process) over
COLD_FORWARDS different inputs in turn, the experts changing from one
forward to the next as in decoding, and gives that rate too.

Run with a Python that has NumPy and PyTorch (Debian: /usr/bin/python3 with
python3-torch; install libopenblas0-pthread first, see docs/performance.md):
  /usr/bin/python3 bench/cpu/bench.py --bin build/bin [--tokens 1 32 512 4096]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python"))

from moec.reference import reference_from_spec
from moec.safetensors_io import Checkpoint
from moec.spec import spec_from_json
from moec.weights import load_operands

MODELS = {
    "mixtral-like": {"D": 1024, "F": 3584, "E": 8, "k": 2, "normalize": True},
    "qwen3-like": {"D": 1024, "F": 768, "E": 64, "k": 8, "normalize": True},
    "deepseek-like": {
        "D": 1024,
        "F": 512,
        "E": 64,
        "k": 6,
        "scoring": "sigmoid",
        "selection": "group_sum_top2",
        "n_group": 8,
        "topk_group": 4,
        "score_bias": True,
        "normalize": True,
        "routed_scaling_factor": 2.5,
        "shared_F": 512,
    },
}


def useful_flops(spec: dict, tokens: int) -> float:
    d, f, e, k = spec["D"], spec["F"], spec["E"], spec["k"]
    per_token = 2 * e * d + k * 3 * 2 * d * f + 3 * 2 * d * spec.get("shared_F", 0)
    return float(per_token * tokens)


def median_time(fn, iters: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3


def sgemm_rate(rows: int, depth: int, cols: int, iters: int) -> float:
    """OpenBLAS's (through PyTorch) GFLOP/s on one expert's gate projection:
    [rows, D] x [D, F], rows = T·k/E, the average rows per expert."""
    import torch

    a = torch.randn(rows, depth)
    b = torch.randn(cols, depth)
    ms = median_time(lambda: a @ b.T, iters, 1)
    return 2.0 * rows * depth * cols / (ms / 1e3) / 1e9


def read_bandwidth(iters: int = 7) -> float:
    """The machine's memory read rate (GB/s): PyTorch's multithreaded sum
    over 512 MiB of f32, far larger than any cache, median of `iters`."""
    import torch

    a = torch.ones(128 << 20)
    ms = median_time(lambda: a.sum(), iters, 1)
    return a.numel() * 4 / (ms / 1e3) / 1e9


def weight_bytes_read(spec: dict, counts) -> int:
    """Bytes of weights a forward reads at least once: the router, the
    experts some token chose (per-expert `counts` > 0; three [F, D] f32
    matrices each) and the shared expert."""
    d, f = spec["D"], spec["F"]
    experts = int(np.count_nonzero(counts))
    return 4 * (
        spec["E"] * d + experts * 3 * f * d + 3 * spec.get("shared_F", 0) * d
    )


# Forwards of the T = 1 run over different inputs.
COLD_FORWARDS = 64


def cold_read_rate(lib: Path, weights: Path, spec: dict, tokens: int,
                   runtime: Path, count: int = COLD_FORWARDS) -> tuple[float, float]:
    """moec's forward over `count` different random inputs in turn, so the
    chosen experts change from one forward to the next and their weights
    mostly come from memory, not from L3. Returns the weight bytes those
    forwards read (each forward's own routing, from the model's
    expert_counts) and the seconds they took, Python's call overhead
    included."""
    from moec.runtime import Model

    rng = np.random.default_rng(tokens + 1000)
    xs = [
        rng.standard_normal((tokens, spec["D"])).astype(np.float32)
        for _ in range(count + 3)
    ]
    total_bytes, total_s = 0, 0.0
    with Model(lib, weights, library=runtime) as model:
        y = np.empty_like(xs[0])
        for x in xs[:3]:  # warm-up: code, workspace
            model(x, out=y)
        for x in xs[3:]:
            start = time.perf_counter()
            model(x, out=y)
            total_s += time.perf_counter() - start
            total_bytes += weight_bytes_read(spec, model.stats()["expert_counts"])
    return float(total_bytes), total_s


def torch_block(spec: dict, ops: dict):
    """A Hugging Face-style MoE block in PyTorch eager mode."""
    import torch

    t = {
        name: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32))
        for name, v in ops.items()
    }
    k, e = spec["k"], spec["E"]
    sigmoid = spec.get("scoring") == "sigmoid"

    def forward(x):
        logits = x @ t["router"].T
        scores = logits.sigmoid() if sigmoid else logits.softmax(dim=-1)
        choice = scores + t["score_bias"] if "score_bias" in t else scores
        if spec.get("selection") == "group_sum_top2":
            g = spec["n_group"]
            group = choice.view(x.shape[0], g, -1).topk(2, dim=-1)[0].sum(-1)
            keep = group.topk(spec["topk_group"], dim=-1)[1]
            mask = torch.zeros_like(group).scatter_(1, keep, 1.0)
            mask = mask.unsqueeze(-1).expand(-1, g, e // g).reshape(x.shape[0], e)
            choice = choice.masked_fill(mask == 0, 0.0)
        _, idx = choice.topk(k, dim=-1)
        w = scores.gather(1, idx)
        if spec.get("normalize"):
            w = w / (w.sum(-1, keepdim=True) + (1e-20 if sigmoid else 0.0))
        w = w * spec.get("routed_scaling_factor", 1.0)
        out = torch.zeros_like(x)
        mask = torch.nn.functional.one_hot(idx, e).permute(2, 1, 0)
        for ex in range(e):
            slot, tok = torch.where(mask[ex])
            if tok.numel() == 0:
                continue
            h = x[tok]
            h = torch.nn.functional.silu(h @ t["gate"][ex].T) * (h @ t["up"][ex].T)
            out.index_add_(0, tok, (h @ t["down"][ex].T) * w[tok, slot, None])
        if "shared_gate" in t:
            s = torch.nn.functional.silu(x @ t["shared_gate"].T) * (
                x @ t["shared_up"].T
            )
            out = out + s @ t["shared_down"].T
        return out

    return forward


def run(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", type=Path, default=REPO / "build" / "bin")
    parser.add_argument("--tokens", type=int, nargs="+", default=[1, 32, 512, 4096])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"))
    rows = []
    with tempfile.TemporaryDirectory(prefix="moec-bench-") as tmp:
        tmp = Path(tmp)
        for name in args.models:
            spec = MODELS[name]
            spec_path = tmp / f"{name}.json"
            spec_path.write_text(json.dumps(spec))
            mlir, weights = tmp / f"{name}.mlir", tmp / f"{name}.safetensors"
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "moec",
                    "gen-layer",
                    "--spec",
                    spec_path,
                    "-o",
                    mlir,
                    "--weights",
                    weights,
                    "--input",
                    tmp / "unused.npy",
                    "--seed",
                    "1",
                ],
                check=True,
                env=env,
            )
            libs = {}
            for lowering in ("dynamic", "static"):
                libs[lowering] = tmp / f"{name}-{lowering}.so"
                run(
                    [
                        args.bin / "moe-compile",
                        mlir,
                        "-o",
                        libs[lowering],
                        f"--lowering={lowering}",
                    ]
                )
            layer, _ = spec_from_json(spec)
            ops = load_operands(layer, Checkpoint(weights))
            forward = torch_block(spec, ops)  # operands keyed by role
            for tokens in args.tokens:
                x = (
                    np.random.default_rng(tokens)
                    .standard_normal((tokens, spec["D"]))
                    .astype(np.float32)
                )
                xin, yout = tmp / "x.npy", tmp / "y.npy"
                np.save(xin, x)
                flops = useful_flops(spec, tokens)
                iters = 20 if tokens <= 32 else (5 if tokens <= 512 else 2)
                result = {"model": name, "T": tokens}
                ref, counts, _ = reference_from_spec(layer, ops, x)
                result["weight-bytes"] = weight_bytes_read(spec, counts)
                for lowering, lib in libs.items():
                    out = run(
                        [
                            args.bin / "moe-run",
                            lib,
                            "--weights",
                            weights,
                            "--input",
                            xin,
                            "--output",
                            yout,
                            "--iters",
                            str(iters),
                            "--warmup",
                            "1",
                        ]
                    )
                    ms = float(re.search(r"median ([0-9.]+) ms", out).group(1))
                    y = np.load(yout)
                    result[f"moec-{lowering}"] = ms
                    result[f"moec-{lowering}-err"] = float(
                        np.max(np.abs(y - ref)) / np.max(np.abs(ref))
                    )
                result["numpy-ref"] = median_time(
                    lambda layer=layer, ops=ops, x=x: reference_from_spec(
                        layer, ops, x
                    ),
                    max(1, iters // 4),
                    0,
                )
                xt = torch.from_numpy(x)
                with torch.no_grad():
                    result["torch-eager"] = median_time(
                        lambda forward=forward, xt=xt: forward(xt), iters, 1
                    )
                    yt = forward(xt).numpy()
                result["torch-err"] = float(
                    np.max(np.abs(yt - ref)) / np.max(np.abs(ref))
                )
                result["gflop"] = flops / 1e9
                expert_rows = max(1, tokens * spec["k"] // spec["E"])
                result["sgemm-gflops"] = sgemm_rate(
                    expert_rows, spec["D"], spec["F"], max(5, iters)
                )
                if tokens == 1:
                    # This VM's read rate drifts over minutes (25 to 50 GB/s
                    # seen): measure it right before the forwards it scales.
                    result["cold-read-rate-gbs"] = read_bandwidth(iters=5)
                    cold_bytes, cold_s = cold_read_rate(
                        libs["dynamic"], weights, spec, tokens,
                        # the runtime of the build whose moe-run is timed
                        args.bin.parent / "lib" / "libmoert.so",
                    )
                    result["cold-forwards"] = COLD_FORWARDS
                    result["cold-weight-bytes"] = cold_bytes
                    result["cold-seconds"] = cold_s
                rows.append(result)
                print(json.dumps(result), file=sys.stderr, flush=True)

    print(
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"numpy {np.__version__}; moec with OpenMP, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset (all cores)')}.\n"
    )
    bandwidth = read_bandwidth()
    peers = ["moec-dynamic", "moec-static", "numpy-ref", "torch-eager"]
    print(
        "| model | T | "
        + " | ".join(f"{p} ms (GFLOP/s)" for p in peers)
        + " | torch / moec-dynamic | moec-dynamic / sgemm rate"
        + " | max rel err (dyn, static, torch) |"
    )
    print("|---|---|" + "---|" * (len(peers) + 3))
    for r in rows:
        cells = [f"{r[p]:.2f} ({r['gflop'] / (r[p] / 1e3):.1f})" for p in peers]
        print(
            f"| {r['model']} | {r['T']} | "
            + " | ".join(cells)
            + f" | {r['torch-eager'] / r['moec-dynamic']:.2f}x"
            + f" | {r['gflop'] / (r['moec-dynamic'] / 1e3) / r['sgemm-gflops']:.0%}"
            + f" of {r['sgemm-gflops']:.0f}"
            + f" | {r['moec-dynamic-err']:.1e}, {r['moec-static-err']:.1e},"
            f" {r['torch-err']:.1e} |"
        )
    print(
        f"\nSmall batches against the memory read rate ({bandwidth:.1f} GB/s, "
        "PyTorch's sum over 512 MiB in this run): the weights a forward reads "
        "(router, chosen experts, shared expert) over moec-dynamic's time.\n"
    )
    print("| model | T | weights read (MB) | moec-dynamic GB/s | share of read rate |")
    print("|---|---|---|---|---|")
    for r in rows:
        if r["T"] > 32:
            continue
        rate = r["weight-bytes"] / (r["moec-dynamic"] / 1e3) / 1e9
        print(
            f"| {r['model']} | {r['T']} | {r['weight-bytes'] / 1e6:.1f} | "
            f"{rate:.1f} | {rate / bandwidth:.0%} |"
        )
    cold = [r for r in rows if "cold-seconds" in r]
    if cold:
        print(
            f"\nT = 1 over {COLD_FORWARDS} different inputs in turn (the chosen "
            "experts change from one forward to the next; moec.runtime in this "
            "process, Python's call overhead included), against the read rate "
            "measured right before:\n"
        )
        print(
            "| model | weights read per forward (MB, mean) | ms per forward (mean) "
            "| moec-dynamic GB/s | read rate measured just before (GB/s) "
            "| share of read rate |"
        )
        print("|---|---|---|---|---|---|")
        for r in cold:
            forwards = r["cold-forwards"]
            rate = r["cold-weight-bytes"] / r["cold-seconds"] / 1e9
            probe = r["cold-read-rate-gbs"]
            print(
                f"| {r['model']} | {r['cold-weight-bytes'] / forwards / 1e6:.1f} | "
                f"{r['cold-seconds'] / forwards * 1e3:.2f} | {rate:.1f} | "
                f"{probe:.1f} | {rate / probe:.0%} |"
            )
    if args.json:
        args.json.write_text(
            json.dumps({"read-bandwidth-gbs": bandwidth, "rows": rows}, indent=1)
        )


if __name__ == "__main__":
    main()
