#!/usr/bin/env python3
"""Compile-and-run check of moec against the NumPy reference.

For each layer spec below and each lowering (static, dynamic), and for the
AUTO_SPECS in the default lowering (auto, which may choose per T), this generates
a layer with random weights (`python -m moec gen-layer`), compiles it with
moe-compile, runs it with moe-run on one or more token counts, and compares
the output and the routing statistics with `python -m moec reference-spec`
(an independent float64 NumPy implementation of docs/semantics.md).
The moec command line runs inside the worker processes (moec_cli.py).

Metric: normwise relative error  max|y - ref| / max|ref|  <= 1e-5 (fp32
compute vs. a float64 reference); statistics must match exactly.

Usage: check_layers.py --bin BUILD/bin [--jobs N] [--filter SUBSTR] [--quick] [--keep DIR]
                       [--grouped-gemm per-expert|tile-list]
--quick (the sanitizer build's run) leaves out the random specs, compiles each spec and family
in one lowering (alternating) and runs each family in one on-disk layout.
--grouped-gemm is passed to moe-compile: tile-list checks the GPU's expert GEMM schedule
(moe-tile-grouped-matmul) on the CPU.
Ends with the line `N passed, N failed`.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from moec_cli import moec  # the command line, in this process

TOLERANCE = 1e-5
GROUPED_GEMM = "per-expert"  # --grouped-gemm; set in main() before the workers fork
REPO = Path(__file__).resolve().parents[2]

# name -> (spec, token counts to run). "T": "dynamic" specs are compiled once
# and run at every listed token count.
HAND_WRITTEN = {
    "mixtral-like": ({"D": 67, "F": 93, "E": 8, "k": 2, "normalize": True}, [1, 7, 64]),
    # Multiples of 16: weights packed in panels, the vector outer-product
    # GEMM; D > 256 gives the gate and up projections two k chunks, and the
    # token counts leave 1 to 5 rows past an expert's blocks of 6.
    "packed-panels": ({"D": 272, "F": 48, "E": 8, "k": 2, "normalize": True},
                      [1, 7, 64, 301]),
    "single-expert": ({"T": 7, "D": 33, "F": 21, "E": 1, "k": 1}, [7]),
    "two-experts-k2": ({"D": 45, "F": 17, "E": 2, "k": 2}, [1, 64]),
    "qwen2-shared-gate": (
        {"D": 70, "F": 30, "E": 60, "k": 4, "shared_F": 50, "shared_gate": True},
        [7, 64],
    ),
    "qwen3-like": (
        {"T": 64, "D": 65, "F": 27, "E": 64, "k": 8, "normalize": True},
        [64],
    ),
    "deepseek-v2-group-max": (
        {
            "D": 71,
            "F": 23,
            "E": 64,
            "k": 6,
            "selection": "group_max",
            "n_group": 8,
            "topk_group": 3,
            "routed_scaling_factor": 16.0,
            "shared_F": 46,
        },
        [7, 64],
    ),
    "deepseek-v3-like": (
        {
            "D": 61,
            "F": 19,
            "E": 128,
            "k": 8,
            "scoring": "sigmoid",
            "selection": "group_sum_top2",
            "n_group": 8,
            "topk_group": 4,
            "score_bias": True,
            "normalize": True,
            "routed_scaling_factor": 2.5,
            "shared_F": 19,
        },
        [1, 64],
    ),
    "switch-capacity-passthrough": (
        {
            "T": 64,
            "D": 35,
            "F": 43,
            "E": 8,
            "k": 1,
            "gated": False,
            "activation": "relu",
            "expert_capacity": 3,
            "drop_policy": "passthrough",
            "router_bias": True,
        },
        [64],
    ),
    "capacity-overflow": (
        {
            "T": 64,
            "D": 39,
            "F": 25,
            "E": 8,
            "k": 2,
            "capacity_factor": 0.5,
            "normalize": True,
        },
        [64],
    ),
    "capacity-dynamic-T": (
        {"D": 29, "F": 15, "E": 8, "k": 2, "capacity_factor": 1.25, "min_capacity": 4},
        [1, 7, 64, 1000, 4096],
    ),
    # 1.1 * T * 1 / 10 is 11.000000000000002 in f64 at T = 100 and 50: C = 12,
    # not 11, only if the compiler rounds exactly like the reference.
    "capacity-rounding": (
        {"D": 21, "F": 11, "E": 10, "k": 1, "capacity_factor": 1.1},
        [50, 100],
    ),
    # A factor so large that cf * T * k / E overflows int64: C must clamp to T.
    "huge-capacity-factor": (
        {"D": 16, "F": 8, "E": 4, "k": 2, "capacity_factor": 1e19},
        [8],
    ),
    # NaN sigmoid scores rank below every number (NumPy sorts NaN last).
    "nan-router-row": (
        {"D": 16, "F": 8, "E": 4, "k": 2, "scoring": "sigmoid", "nan_router_row": 0},
        [7],
    ),
    # A NaN score makes its group's group_max NaN, which ranks the group last.
    "nan-router-row-group-max": (
        {
            "D": 16,
            "F": 8,
            "E": 8,
            "k": 2,
            "scoring": "sigmoid",
            "selection": "group_max",
            "n_group": 4,
            "topk_group": 2,
            "nan_router_row": 1,
        },
        [7, 64],
    ),
    "hot-expert-overflow": (
        {
            "T": 64,
            "D": 41,
            "F": 21,
            "E": 8,
            "k": 2,
            "router_bias": True,
            "hot_expert": 3,
            "capacity_factor": 1.0,
        },
        [64],
    ),
    "hot-expert-dropless": (
        {"D": 23, "F": 9, "E": 16, "k": 1, "router_bias": True, "hot_expert": 0},
        [1000],
    ),
    "gelu-nongated": (
        {"D": 37, "F": 29, "E": 4, "k": 2, "gated": False, "activation": "gelu"},
        [7],
    ),
    "gelu-gated-k4": ({"D": 43, "F": 27, "E": 8, "k": 4, "activation": "gelu"}, [64]),
    "large-T": ({"D": 31, "F": 13, "E": 64, "k": 6, "normalize": True}, [1000]),
    "gpt-oss-style": (
        {"D": 53, "F": 35, "E": 32, "k": 4, "router_bias": True, "normalize": True},
        [7, 64],
    ),
    # GPT-OSS's block with a limit small enough that both clamps bind for
    # many elements, stacked tensors (fused gate/up) on disk.
    "clamped-swiglu-biases": (
        {
            "D": 37,
            "F": 19,
            "E": 8,
            "k": 2,
            "router_bias": True,
            "normalize": True,
            "expert_bias": True,
            "activation": "clamped_swiglu",
            "swiglu_limit": 0.25,
            "swiglu_alpha": 1.3,
            "layout": "stacked",
        },
        [1, 13, 64],
    ),
    "clamped-swiglu-capacity": (
        {
            "T": 64,
            "D": 29,
            "F": 11,
            "E": 4,
            "k": 2,
            "expert_bias": True,
            "activation": "clamped_swiglu",
            "swiglu_limit": 0.5,
            "capacity_factor": 0.75,
        },
        [64],
    ),
    "nongated-biases": (
        {
            "D": 23,
            "F": 13,
            "E": 4,
            "k": 1,
            "gated": False,
            "activation": "gelu",
            "expert_bias": True,
            "layout": "stacked",
        },
        [7, 64],
    ),
    "sigmoid-score-bias": (
        {"D": 27, "F": 11, "E": 16, "k": 2, "scoring": "sigmoid", "score_bias": True},
        [64],
    ),
    "k-equals-E": ({"D": 19, "F": 7, "E": 4, "k": 4, "normalize": True}, [7]),
    "capacity-passthrough-gated": (
        {
            "T": 64,
            "D": 33,
            "F": 17,
            "E": 8,
            "k": 2,
            "capacity_factor": 0.5,
            "drop_policy": "passthrough",
        },
        [64],
    ),
    # The dropped groups' experts score 0.0 (DeepSeek-V3 before transformers 5.6).
    "group-top2-zero-mask": (
        {
            "D": 33,
            "F": 13,
            "E": 16,
            "k": 4,
            "scoring": "sigmoid",
            "selection": "group_sum_top2",
            "n_group": 4,
            "topk_group": 2,
            "score_bias": True,
            "group_mask": "zero",
            "normalize": True,
        },
        [1, 64],
    ),
    "group-top2-no-bias": (
        {
            "T": 64,
            "D": 47,
            "F": 11,
            "E": 64,
            "k": 6,
            "scoring": "sigmoid",
            "selection": "group_sum_top2",
            "n_group": 8,
            "topk_group": 2,
            "normalize": True,
        },
        [64],
    ),
}


def random_specs(count: int, seed: int = 2026):
    """Seeded random specs over the sizes the issue asks for."""
    rng = random.Random(seed)
    specs = {}
    for i in range(count):
        e = rng.choice([1, 2, 8, 60, 64, 128])
        k = rng.choice([k for k in (1, 2, 4, 6, 8) if k <= e])
        spec = {
            "D": rng.choice([13, 29, 47, 61, 75]),
            "F": rng.choice([9, 21, 35, 51]),
            "E": e,
            "k": k,
            "normalize": rng.random() < 0.5,
            "activation": rng.choice(["silu", "gelu", "relu"]),
            "gated": rng.random() < 0.7,
        }
        if rng.random() < 0.3:
            spec["capacity_factor"] = rng.choice([0.5, 1.0, 1.5])
        if rng.random() < 0.3:
            spec["router_bias"] = True
        tokens = [rng.choice([1, 7, 64, 1000])]
        if rng.random() < 0.5:
            spec["T"] = tokens[0]
        specs[f"random-{i}"] = (spec, tokens)
    return specs


# `--lowering=auto` (the default) where its choice depends on T: each chain is
# compiled in both layouts behind a run-time branch on E·C < T·k, so these run
# on both sides of the point where the padded layout starts to reserve fewer rows.
AUTO_SPECS = {
    # E·C0/k = 8·3/1 = 24: sorted up to T = 24, padded from T = 25.
    "auto-fixed-capacity": (
        {"D": 19, "F": 13, "E": 8, "k": 1, "expert_capacity": 3,
         "gated": False, "activation": "relu"},
        [1, 24, 25, 300],
    ),
    # C = max(ceil(0.5·T·2/8), 4): sorted while 8·C ≥ 2T (T ≤ 16), padded after.
    "auto-factor-below-one": (
        {"D": 23, "F": 11, "E": 8, "k": 2, "capacity_factor": 0.5, "min_capacity": 4,
         "normalize": True},
        [1, 16, 17, 1000],
    ),
}


# Hugging Face configs through the user's path: import (checkpoint names),
# random-weights in both on-disk layouts and a stored dtype, compile once per
# lowering, run at T = 1, 13 and 300 (the last with a hot expert), and compare
# with the config-level reference. The configs are written in the style of
# transformers 4 (`-t4`) and 5 (`-t5`) for every family; configs that import to
# the same module are compiled and run once (python/tests checks the importer
# on each of them).
FAMILY_CONFIGS = sorted((REPO / "python" / "tests" / "configs").glob("*.json"))
FAMILY_TOKENS = (1, 13, 300)
HOT_TOKENS = 300  # this run's tokens all lean towards one expert

_ST_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16}


def make_expert_hot(path: Path, routers: list[str], expert: int, direction: np.ndarray):
    """Rewrites row `expert` of the [E, D] router tensor (the first of the candidate names
    `routers` in the file) in a safetensors file (any stored float dtype) to 3 * direction,
    in place."""
    raw = bytearray(path.read_bytes())
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    entry = header[next(name for name in routers if name in header)]
    begin = 8 + n + entry["data_offsets"][0]
    rows, cols = entry["shape"]
    dtype = _ST_DTYPES[entry["dtype"]]
    row = (3.0 * direction).astype(np.float32)
    if entry["dtype"] == "BF16":
        row = (row.view(np.uint32) >> 16).astype(np.uint16)
    else:
        row = row.astype(dtype)
    itemsize = np.dtype(dtype).itemsize
    at = begin + expert * cols * itemsize
    raw[at : at + cols * itemsize] = row.tobytes()
    path.write_bytes(bytes(raw))


def first_moe_layer(config: Path) -> int:
    cfg = json.loads(config.read_text())
    if "deepseek" in config.name:
        return int(cfg.get("first_k_dense_replace", 0))
    return 1 if cfg.get("model_type") == "switch_transformers" else 0


def family_layouts(config: Path):
    """The on-disk layouts a family has: GPT-OSS is stacked only, Switch per-expert only."""
    model_type = json.loads(config.read_text()).get("model_type")
    if model_type == "gpt_oss":
        return ("stacked",)
    if model_type == "switch_transformers":
        return ("per-expert",)
    return ("per-expert", "stacked")


def distinct_family_configs(configs: list[Path]) -> list[tuple[Path, list[Path]]]:
    """(config, the other configs whose first MoE layer imports to the same module)."""
    from moec.configs import layer_spec_from_config
    from moec.emit_mlir import emit_module

    groups: dict[str, list[Path]] = {}
    for config in configs:
        try:
            cfg = json.loads(config.read_text())
            module = emit_module(layer_spec_from_config(cfg, first_moe_layer(config)))
        except Exception:  # noqa: BLE001 - check_family reports it
            module = str(config)
        groups.setdefault(module, []).append(config)
    return [(same[0], same[1:]) for same in groups.values()]


def compile_flags(lowering: str) -> list[str]:
    return [f"--lowering={lowering}", f"--grouped-gemm={GROUPED_GEMM}"]


def check_family(config: Path, same: list[Path], lowering, quick: bool, bindir: Path,
                 workdir: Path):
    """One compile of `config`'s first MoE layer; every layout and T against it."""
    from moec.configs import layer_spec_from_config

    name = config.stem + "".join(f" = {c.stem}" for c in same)
    case_dir = workdir / f"{config.stem}-{lowering}"
    case_dir.mkdir(parents=True, exist_ok=True)
    dtype = "f32" if lowering == "static" else "bf16"
    layer = str(first_moe_layer(config))
    cfg = json.loads(config.read_text())
    mlir, so = case_dir / "m.mlir", case_dir / "m.so"
    try:
        moec("import", config, "--layer", layer, "-o", mlir)
        run([bindir / "moe-compile", mlir, "-o", so, *compile_flags(lowering)])
        spec = layer_spec_from_config(cfg, int(layer))
    except Exception as exc:  # noqa: BLE001 - report every failure, keep going
        return [(f"{name} [{lowering}]", False, str(exc).strip())]
    results = []
    for layout in family_layouts(config)[: 1 if quick else None]:
        for t in FAMILY_TOKENS:
            label = f"{name} [{lowering}, {layout} {dtype} weights, T={t}]"
            try:
                w = case_dir / f"w-{layout}-{t}.safetensors"
                x, y, ref = (case_dir / f"{n}-{layout}-{t}.npy" for n in ("x", "y", "ref"))
                stats, ref_stats = (
                    case_dir / f"{n}-{layout}-{t}.json" for n in ("stats", "ref-stats")
                )
                moec(
                    *["random-weights", config, "--layer", layer, "--seed", "3"],
                    *["--dtype", dtype, "--layout", layout, "-o", w],
                )
                rng = np.random.default_rng(5 + t)
                xs = rng.standard_normal((t, spec.hidden))
                if t == HOT_TOKENS:
                    u = rng.standard_normal(spec.hidden)
                    u /= np.linalg.norm(u)
                    xs += 4.0 * u
                    router = next(op for op in spec.operands() if op.role == "router")
                    names = [src.name for src in router.effective_sources]
                    make_expert_hot(w, names, spec.num_experts - 1, u)
                np.save(x, xs.astype(np.float32))
                run(
                    [bindir / "moe-run", so, "--weights", w, "--input", x]
                    + ["--output", y, "--stats-json", stats]
                )
                moec(
                    *["reference", config, "--layer", layer, "--weights", w],
                    *["--input", x, "-o", ref, "--stats-json", ref_stats],
                )
                out, expected = np.load(y), np.load(ref).astype(np.float64)
                err = float(np.max(np.abs(out - expected))) / max(
                    float(np.max(np.abs(expected))), 1e-30
                )
                got, want = json.loads(stats.read_text()), json.loads(ref_stats.read_text())
                stats_ok = all(
                    list(got.get(k, [])) == list(want[k])
                    for k in ("expert_counts", "expert_kept")
                )
                hot = max(want["expert_counts"]) if t == HOT_TOKENS else None
                msg = f"rel err {err:.2e}" + (f", hot expert {hot}/{t}" if hot else "")
                if not stats_ok:
                    msg += f"; stats {got} != {want}"
                results.append((label, err <= TOLERANCE and stats_ok, msg))
            except Exception as exc:  # noqa: BLE001 - report every failure, keep going
                results.append((label, False, str(exc).strip()))
    return results


def run(cmd, cwd=None):
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n"
            f"{proc.stdout}{proc.stderr}"
        )
    return proc.stdout


def check_case(name, spec, tokens, lowering, bindir: Path, workdir: Path):
    """Returns a list of (label, ok, message)."""
    case_dir = workdir / f"{name}-{lowering}"
    case_dir.mkdir(parents=True, exist_ok=True)
    results = []
    so = case_dir / "model.so"
    for t in tokens:
        label = f"{name} [{lowering}, T={t}]"
        try:
            s = dict(spec)
            if s.get("T", "dynamic") == "dynamic":
                s["T_run"] = t
            spec_path = case_dir / f"spec-{t}.json"
            spec_path.write_text(json.dumps(s))
            mlir, w = case_dir / "model.mlir", case_dir / "w.safetensors"
            x, y, ref = (
                case_dir / f"x{t}.npy",
                case_dir / f"y{t}.npy",
                case_dir / f"ref{t}.npy",
            )
            stats, ref_stats = (
                case_dir / f"stats{t}.json",
                case_dir / f"ref-stats{t}.json",
            )
            moec(
                *["gen-layer", "--spec", spec_path, "-o", mlir],
                *["--weights", w, "--input", x, "--seed", "7"],
            )
            if not so.exists():
                run([bindir / "moe-compile", mlir, "-o", so, *compile_flags(lowering)])
            run(
                [
                    bindir / "moe-run",
                    so,
                    "--weights",
                    w,
                    "--input",
                    x,
                    "--output",
                    y,
                    "--stats-json",
                    stats,
                ]
            )
            moec(
                *["reference-spec", "--spec", spec_path, "--weights", w],
                *["--input", x, "-o", ref, "--stats-json", ref_stats],
            )
            out, expected = np.load(y), np.load(ref)
            if out.shape != expected.shape:
                results.append((label, False, f"shape {out.shape} != {expected.shape}"))
                continue
            scale = max(float(np.max(np.abs(expected))), 1e-30)
            err = float(np.max(np.abs(out.astype(np.float64) - expected))) / scale
            got_stats = json.loads(stats.read_text())
            want_stats = json.loads(ref_stats.read_text())
            stats_ok = all(
                list(got_stats.get(key, [])) == list(want_stats[key])
                for key in ("expert_counts", "expert_kept")
            )
            ok = err <= TOLERANCE and stats_ok
            dropped = sum(want_stats["expert_counts"]) - sum(want_stats["expert_kept"])
            msg = f"rel err {err:.2e}, {dropped} dropped" + (
                "" if stats_ok else f"; stats {got_stats} != {want_stats}"
            )
            results.append((label, ok, msg))
        except Exception as exc:  # noqa: BLE001 - report every failure, keep going
            results.append((label, False, str(exc).strip()))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", required=True, type=Path)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--filter", default="")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--keep", type=Path)
    parser.add_argument("--grouped-gemm", choices=("per-expert", "tile-list"),
                        default="per-expert")
    args = parser.parse_args()
    global GROUPED_GEMM
    GROUPED_GEMM = args.grouped_gemm
    os.environ["PYTHONPATH"] = (
        str(REPO / "python") + os.pathsep + os.environ.get("PYTHONPATH", "")
    )
    sys.path.insert(0, str(REPO / "python"))

    cases = {**HAND_WRITTEN, **({} if args.quick else random_specs(12))}
    both = ("static", "dynamic")
    # --quick: each spec and family in one lowering, the two alternating.
    jobs = [
        (n, s, t, lowering)
        for i, (n, (s, t)) in enumerate(cases.items())
        if args.filter in n
        for lowering in ((both[i % 2],) if args.quick else both)
    ]
    jobs += [(n, s, t, "auto") for n, (s, t) in AUTO_SPECS.items() if args.filter in n]
    families = [
        (c, same, lowering, args.quick)
        for i, (c, same) in enumerate(
            distinct_family_configs([c for c in FAMILY_CONFIGS if args.filter in c.stem])
        )
        for lowering in ((both[i % 2],) if args.quick else both)
    ]
    with tempfile.TemporaryDirectory(prefix="moec-check-") as tmp:
        workdir = args.keep or Path(tmp)
        # Processes, not threads: the moec command line runs inside the workers.
        with concurrent.futures.ProcessPoolExecutor(
            max_workers=args.jobs, mp_context=multiprocessing.get_context("fork")
        ) as pool:
            futures = [pool.submit(check_case, *job, args.bin, workdir) for job in jobs]
            futures += [
                pool.submit(check_family, *f, args.bin, workdir) for f in families
            ]
            results = [r for f in futures for r in f.result()]
    passed = sum(ok for _, ok, _ in results)
    for label, ok, msg in results:
        print(f"{'PASS' if ok else 'FAIL'}: {label}: {msg}")
    print(f"{len(jobs) + len(families)} compiled configurations, {len(results)} runs")
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if passed == len(results) and results else 1


if __name__ == "__main__":
    sys.exit(main())
