#!/usr/bin/env python3
"""CUDA models against the NumPy reference, in two steps for two machines.

The GPU machine has no MLIR, so this script packs everything a GPU run needs
into one folder on the build machine, and checks it on the GPU machine:

  prepare (build machine: moe-compile, the moec package):
    check_cuda.py prepare --bin build/bin --moe-run build-gpu/moe-run --out gpu-bundle
    For every example family (the tiny configs of examples/configs), both
    lowerings and five variants (VARIANTS: f32 expert weights on the scalar
    tile list; bf16 expert weights on the scalar tile list; bf16 expert
    weights on tensor cores; the same without the gather and activation
    fusions, so a failure of the fused kernels shows next to the plain
    ones; the same with the operands staged in shared memory,
    --mma-stages=2): a model compiled with --target=cuda, random
    weights (f32, or bf16 for the bf16 variants), and for every T an input,
    the reference output and the reference's routing statistics. --moe-run
    and --libmoert name the moe-run and libmoert.so to copy in: ones built
    without MPI (cmake -S runtime -B build-gpu -DMOERT_WITH_MPI=OFF), since
    the GPU machine has no MPI libraries.

  run (GPU machine: NumPy, the NVIDIA driver):
    python3 gpu-bundle/check_cuda.py run --bundle gpu-bundle [--sanitize]
    Runs every case with moe-run --device=cuda and compares. The output must
    satisfy ||y - ref|| / ||ref|| <= the variant's tolerance: 2e-3 on the
    scalar paths, which widen bf16 weights exactly and accumulate in f32, so
    their error should be near 1e-6; 2e-2 on tensor cores, which also round
    the rows (tokens, hidden activations) to bf16 before multiplying, as a
    bf16 model does (the reference does not round them). expert_counts and
    expert_kept must equal the reference's, because routing is f32 on both
    sides. moe-run poisons the output buffers
    (NaN) before the first forward, so a row no kernel writes fails.
    --sanitize also runs one case per family and variant under
    compute-sanitizer (and, for the staged variant, its racecheck tool, since
    its threads share memory). --variants V.. runs only those variants. Every T = 64 case runs a second time as CUDA-graph
    replays (moe-run --graph) with its workspace sized for 4096 tokens, and
    a third time in this process through the Python API (moec.runtime.Model
    over the bundle's libmoert.so, built like moe-run) on a NumPy array and,
    where PyTorch is installed, on a torch CUDA tensor used in place; each
    must pass the same checks.

Prints one line per case and ends with "N passed, N failed"; exits non-zero on
any failure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Each family's tiny config and its first MoE layer.
FAMILIES = {"mixtral": 0, "qwen3-moe": 0, "deepseek-v3": 1, "gpt-oss": 0}
LOWERINGS = ["dynamic", "static"]
# name: (expert weight dtype, extra moe-compile flags, tolerance)
VARIANTS = {
    "f32": ("f32", [], 2e-3),
    "bf16-scalar": ("bf16", ["--no-tensor-cores"], 2e-3),
    "bf16-mma": ("bf16", [], 2e-2),
    "bf16-mma-unfused": ("bf16", ["--fuse-gated-activation=false",
                                  "--fuse-dispatch-gather=false"], 2e-2),
    "bf16-mma-staged": ("bf16", ["--mma-stages=2"], 2e-2),
}


def run(cmd, **kw):
    return subprocess.run(
        [str(c) for c in cmd], check=True, capture_output=True, text=True, **kw
    )


def prepare(args) -> int:
    import numpy as np

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"))
    moec = [sys.executable, "-m", "moec"]
    cases = []
    for fam, layer in FAMILIES.items():
        config = REPO / "examples" / "configs" / f"{fam}-tiny.json"
        hidden = json.loads(config.read_text())["hidden_size"]
        for dtype in ("f32", "bf16"):
            mlir, weights = out / f"{fam}-{dtype}.mlir", out / f"{fam}-{dtype}.safetensors"
            run([*moec, "import", config, "--layer", layer, "--expert-dtype", dtype,
                 "-o", mlir], env=env)
            run([*moec, "random-weights", config, "--layer", layer, "--seed", 1,
                 "--dtype", dtype, "-o", weights], env=env)
        for variant, (dtype, flags, _) in VARIANTS.items():
            for lowering in LOWERINGS:
                so = out / f"{fam}-{lowering}-{variant}.so"
                run([args.bin / "moe-compile", out / f"{fam}-{dtype}.mlir", "--target=cuda",
                     f"--lowering={lowering}", f"--gpu-arch={args.gpu_arch}", *flags,
                     "-o", so])
        for t in args.tokens:
            x = out / f"{fam}-x{t}.npy"
            np.save(x, np.random.default_rng(t).standard_normal((t, hidden)).astype(np.float32))
            for dtype in ("f32", "bf16"):
                ref = out / f"{fam}-{dtype}-ref{t}.npy"
                stats = out / f"{fam}-{dtype}-ref{t}.json"
                run([*moec, "reference", config, "--layer", layer, "--weights",
                     out / f"{fam}-{dtype}.safetensors", "--input", x, "-o", ref,
                     "--stats-json", stats], env=env)
            for variant, (dtype, _, tolerance) in VARIANTS.items():
                for lowering in LOWERINGS:
                    cases.append(
                        {"family": fam, "lowering": lowering, "variant": variant,
                         "T": t, "tolerance": tolerance,
                         "model": f"{fam}-{lowering}-{variant}.so",
                         "weights": f"{fam}-{dtype}.safetensors", "input": x.name,
                         "reference": f"{fam}-{dtype}-ref{t}.npy",
                         "stats": f"{fam}-{dtype}-ref{t}.json"}
                    )
    (out / "bin").mkdir(exist_ok=True)
    shutil.copy2(args.moe_run, out / "bin" / "moe-run")
    (out / "lib").mkdir(exist_ok=True)
    shutil.copy2(args.libmoert, out / "lib" / "libmoert.so")
    shutil.copy2(__file__, out / "check_cuda.py")
    (out / "cases.json").write_text(json.dumps(cases, indent=1))
    print(f"{len(cases)} cases in {out}")
    return 0


# The workspace of the graph-replay runs is sized for more tokens than the
# case has, as a server sizes it once for its largest batch.
GRAPH_MAX_TOKENS = 4096


def check_case(bundle: Path, case: dict, work: Path, mode: str) -> tuple[bool, str]:
    """Runs CASE with moe-run; MODE is "plain", "sanitize" (one forward under
    compute-sanitizer's memcheck), "racecheck" (one forward under its
    shared-memory hazard check) or "graph" (CUDA-graph replays, workspace
    sized for GRAPH_MAX_TOKENS)."""
    import numpy as np

    y, stats = work / "y.npy", work / "stats.json"
    for f in (y, stats):
        f.unlink(missing_ok=True)
    # Under compute-sanitizer one forward: every access is checked, slowly.
    sanitizing = mode in ("sanitize", "racecheck")
    iters = ["--warmup", "0", "--iters", "1"] if sanitizing else ["--warmup", "1", "--iters", "5"]
    cmd = [bundle / "bin" / "moe-run", bundle / case["model"], "--device=cuda",
           "--weights", bundle / case["weights"], "--input", bundle / case["input"],
           "--output", y, "--stats-json", stats, *iters]
    if mode == "graph":
        cmd += ["--graph", "--max-tokens", str(max(GRAPH_MAX_TOKENS, case["T"]))]
    if sanitizing:
        tool = ["--tool", "racecheck"] if mode == "racecheck" else []
        cmd = ["compute-sanitizer", *tool, "--error-exitcode", "99", *cmd]
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if proc.returncode != 0:
        return False, (proc.stderr.strip() or proc.stdout.strip())[-600:]
    ok, msg = compare(case, bundle, np.load(y), json.loads(stats.read_text()))
    ms = re.search(r"median ([0-9.]+) ms", proc.stdout)
    return ok, msg + (f", {float(ms.group(1)):.3f} ms" if ms else "")


def compare(case: dict, bundle: Path, out, got_stats: dict) -> tuple[bool, str]:
    """The case's checks on an output array and its stats (lists by name)."""
    import numpy as np

    out = np.asarray(out, dtype=np.float64)
    ref = np.load(bundle / case["reference"]).astype(np.float64)
    if out.shape != ref.shape:
        return False, f"shape {out.shape} != {ref.shape}"
    err = float(np.linalg.norm(out - ref) / max(np.linalg.norm(ref), 1e-30))
    want = json.loads((bundle / case["stats"]).read_text())
    msg = f"rel err {err:.2e}"
    if not np.all(np.isfinite(out)):
        return False, msg + "; non-finite outputs (an unwritten row?)"
    stats_ok = all(list(got_stats.get(k, [])) == list(want[k])
                   for k in ("expert_counts", "expert_kept"))
    if not stats_ok:
        msg += f"; stats {got_stats} != {want}"
    return err <= case["tolerance"] and stats_ok, msg


def check_api(bundle: Path, case: dict) -> tuple[bool, str]:
    """CASE through moec.runtime.Model in this process: NumPy, then torch if present."""
    import numpy as np

    os.environ.setdefault("MOEC_RUNTIME_LIB", str(bundle / "lib" / "libmoert.so"))
    if str(REPO / "python") not in sys.path:  # once per process, not per case
        sys.path.insert(0, str(REPO / "python"))
    from moec.runtime import Model

    try:
        import torch
    except ImportError:
        torch = None
    x = np.load(bundle / case["input"])
    msgs, ok = [], True
    try:
        with Model(bundle / case["model"], weights=bundle / case["weights"], device="cuda",
                   max_tokens=GRAPH_MAX_TOKENS) as model:
            runs = [("numpy", lambda: model(x))]
            if torch is not None:
                xt = torch.from_numpy(x).cuda()
                runs.append(("torch", lambda: model(xt).cpu().numpy()))
            for kind, call in runs:
                y = call()
                stats = {k: v.tolist() for k, v in model.stats().items()}
                kok, kmsg = compare(case, bundle, y, stats)
                ok &= kok
                msgs.append(f"{kind} {kmsg}")
    except Exception as e:  # noqa: BLE001 - reported as the case's failure
        return False, f"{type(e).__name__}: {e}"
    return ok, ", ".join(msgs)


def run_bundle(args) -> int:
    bundle = args.bundle.resolve()
    cases = json.loads((bundle / "cases.json").read_text())
    work = bundle / "work"
    work.mkdir(exist_ok=True)
    passed = failed = 0
    sanitized = set()
    for case in cases:
        if args.variants and case["variant"] not in args.variants:
            continue
        label = f"{case['family']} {case['lowering']} {case['variant']} T={case['T']}"
        ok, msg = check_case(bundle, case, work, "plain")
        kind = (case["family"], case["variant"])
        if ok and args.sanitize and kind not in sanitized:
            sanitized.add(kind)
            sok, smsg = check_case(bundle, case, work, "sanitize")
            ok, msg = sok, msg + ("; compute-sanitizer clean" if sok else f"; compute-sanitizer: {smsg}")
            # Kernels that share memory between threads: check for races too.
            if ok and "staged" in case["variant"]:
                rok, rmsg = check_case(bundle, case, work, "racecheck")
                ok, msg = rok, msg + ("; racecheck clean" if rok else f"; racecheck: {rmsg}")
        if ok and case["T"] == 64:
            gok, gmsg = check_case(bundle, case, work, "graph")
            ok, msg = gok, msg + (f"; graph replays {gmsg}" if gok else f"; graph replays: {gmsg}")
        if ok and case["T"] == 64:
            aok, amsg = check_api(bundle, case)
            ok, msg = aok, msg + f"; Python API: {amsg}"
        print(f"{'PASS' if ok else 'FAIL'} {label}: {msg}", flush=True)
        passed += ok
        failed += not ok
    print(f"{passed} passed, {failed} failed")
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
    p.add_argument("--tokens", type=int, nargs="+", default=[1, 7, 64, 1000, 4096])
    r = sub.add_parser("run")
    r.add_argument("--bundle", type=Path, required=True)
    r.add_argument("--sanitize", action="store_true")
    r.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=[],
                   help="run only these variants (default: all)")
    args = parser.parse_args()
    return prepare(args) if args.cmd == "prepare" else run_bundle(args)


if __name__ == "__main__":
    sys.exit(main())
