#!/usr/bin/env python3
"""Expert-parallel runs with real MPI processes, against single-rank runs.

For Mixtral-, Qwen3- and DeepSeek-V3-shaped layers (E = 8, 16, 64), both
lowerings, W in {2, 4, 8} ranks (MOEC_RANKS_PER_NODE cycling through 1, 2, 4)
and several token counts (including T = 1, so most ranks get no token, and a
hot expert), this compiles the layer with --expert-parallel=W (flat
exchanges, and hierarchical ones with --ranks-per-node=G
--a2a=hierarchical), runs it under `mpirun -np W moe-run` and checks:

- dropless: the output is bitwise equal to the single-rank model's output,
  which itself matches the NumPy reference (normwise relative error <= 1e-5);
- with a capacity limit, capacity is per source rank (GShard groups): the
  output is bitwise equal to the single-rank model run on each rank's tokens
  separately, and matches the reference run per group;
- the statistics equal the reference's (summed over groups);
- every rank's reported messages and bytes equal moec.a2a_cost's prediction
  from the reference routing, per stage; hierarchically, a rank sends at
  most N - 1 inter-node messages per exchange (N = W / G nodes).

Then the fault cases: a mismatched world size, a missing expert tensor on one
rank, a rank killed mid-run and a rank stopped mid-run must each end every
process with a clear error within a bounded time.

Usage: check_expert_parallel.py --bin BUILD/bin [--jobs N] [--filter S]
Ends with the line `N passed, N failed`.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python"))

from moec import a2a_cost  # noqa: E402
from moec_cli import moec  # noqa: E402 - the command line, in this process
from moec.safetensors_io import load_file, save_file  # noqa: E402

TOLERANCE = 1e-5
MPI_ENV = {
    "OMPI_ALLOW_RUN_AS_ROOT": "1",
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OMPI_MCA_rmaps_base_oversubscribe": "1",
    # One process per core is oversubscribed here: do not busy-wait.
    "OMPI_MCA_mpi_yield_when_idle": "1",
    "OMP_NUM_THREADS": "1",
    # Open MPI 4.1's launcher can report a rank that called MPI_Finalize and
    # exited 0 as "exiting improperly" when the machine is loaded (a race
    # between the finalize notice and the exit, open-mpi/ompi#7833): a plain
    # MPI hello world did so in 2 of 25 loaded runs here and in none of 72
    # with this setting; CI hit it twice. A rank that fails still exits
    # non-zero or by a signal, which mpirun reports either way.
    "OMPI_MCA_orte_allowed_exit_without_sync": "1",
}

# Mixtral's sizes are multiples of 16, so its expert weights are packed in
# panels (moe-pack-expert-weights) and take the vector outer-product GEMM;
# the others' are not and take the register-blocked dot products.
FAMILIES = {
    "mixtral": {"D": 32, "F": 16, "E": 8, "k": 2, "normalize": True},
    "qwen3": {"D": 20, "F": 12, "E": 16, "k": 4, "normalize": True},
    "deepseek-v3": {
        "D": 20, "F": 10, "E": 64, "k": 6, "scoring": "sigmoid",
        "selection": "group_sum_top2", "n_group": 8, "topk_group": 4,
        "score_bias": True, "normalize": True, "routed_scaling_factor": 2.5,
        "shared_F": 10,
    },
    "mixtral-hot": {"D": 32, "F": 16, "E": 8, "k": 2, "normalize": True,
                    "router_bias": True, "hot_expert": 5},
    "mixtral-capacity": {"D": 32, "F": 16, "E": 8, "k": 2, "normalize": True,
                         "capacity_factor": 1.0},
}
# (family, lowering, W, G of a hierarchical exchange or None, token
# counts); traffic is checked at W = 4 and for every hierarchical case. The
# router variants (hot expert, capacity) run at W = 4 only: the sharding does
# not depend on the router.
CASES = []
for family in ("mixtral", "qwen3", "deepseek-v3"):
    CASES += [(family, "dynamic", 2, None, [1000]), (family, "dynamic", 4, None, [1, 7, 64]),
              (family, "dynamic", 8, None, [64]), (family, "static", 2, None, [7]),
              (family, "static", 4, None, [1, 64, 1000])]
for family in ("mixtral-hot", "mixtral-capacity"):
    CASES += [(family, "dynamic", 4, None, [7, 64]), (family, "static", 4, None, [64, 1000])]
CASES += [("mixtral-hot", "dynamic", 4, 2, [1, 7, 64]), ("qwen3", "dynamic", 8, 4, [64]),
          ("qwen3", "static", 4, 2, [64]), ("deepseek-v3", "dynamic", 8, 2, [1000]),
          ("mixtral-capacity", "static", 8, 4, [7])]


def run(cmd, env=None, timeout=300, check=True):
    full_env = dict(os.environ, **MPI_ENV, **(env or {}))
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                          env=full_env, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n"
                           f"{proc.stdout}{proc.stderr}")
    return proc


def shares(t: int, w: int) -> list[tuple[int, int]]:
    """(first, count) of each rank: the remainder goes to the first ranks."""
    base, rem = divmod(t, w)
    return [(r * base + min(r, rem), base + (r < rem)) for r in range(w)]


def session_dir_env(tmp: str) -> dict:
    """Open MPI 4.1 settings giving one mpirun a session directory of its own.

    Concurrent mpiruns share /tmp/ompi.HOST.UID by default and race to create
    it ("A call to mkdir was unable to create the desired directory ... File
    exists", open-mpi/ompi#8510); CI hit it once
    in 48 checks run two at a time."""
    return {"OMPI_MCA_orte_tmpdir_base": tmp}


def mpirun(w: int, per_node: int, args, timeout=300, check=True):
    with tempfile.TemporaryDirectory(prefix="moec-ompi-") as tmp:
        env = {"MOEC_RANKS_PER_NODE": str(per_node), **session_dir_env(tmp)}
        return run(["mpirun", "-np", w, *args], env=env, timeout=timeout, check=check)


class Layer:
    """A generated layer, its weights and its single-rank model."""

    def __init__(self, family: str, lowering: str, bindir: Path, work: Path):
        self.spec = dict(FAMILIES[family])
        self.lowering, self.bindir = lowering, bindir
        self.dir = work / f"{family}-{lowering}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.mlir, self.weights = self.dir / "layer.mlir", self.dir / "w.safetensors"
        self.models: dict[tuple, Path] = {}
        self.inputs: dict[int, Path] = {}
        self.expected: dict[tuple, tuple] = {}

    def spec_for(self, t: int) -> Path:
        path = self.dir / f"spec{t}.json"
        path.write_text(json.dumps(dict(self.spec, T_run=t)))
        return path

    def input(self, t: int) -> Path:
        if t not in self.inputs:
            x = self.dir / f"x{t}.npy"
            moec("gen-layer", "--spec", self.spec_for(t), "-o", self.mlir,
                 "--weights", self.weights, "--input", x, "--seed", "7")
            self.inputs[t] = x
        return self.inputs[t]

    def model(self, w: int, hier_g=None) -> Path:
        """The W-rank model; hierarchical over nodes of `hier_g` ranks."""
        if (w, hier_g) not in self.models:
            so = self.dir / f"model-w{w}{f'-g{hier_g}' if hier_g else ''}.so"
            extra = [f"--ranks-per-node={hier_g}", "--a2a=hierarchical"] if hier_g else []
            run([self.bindir / "moe-compile", self.mlir, "-o", so,
                 f"--lowering={self.lowering}", f"--expert-parallel={w}", *extra])
            self.models[(w, hier_g)] = so
        return self.models[(w, hier_g)]

    def single(self, x: Path, out: Path, stats: Path):
        run([self.bindir / "moe-run", self.model(1), "--weights", self.weights,
             "--input", x, "--output", out, "--stats-json", stats])

    def reference(self, x: Path, t: int, out: Path, stats: Path):
        moec("reference-spec", "--spec", self.spec_for(t), "--weights", self.weights,
             "--input", x, "-o", out, "--stats-json", stats)


def rel_err(out: np.ndarray, ref: np.ndarray) -> float:
    scale = max(float(np.max(np.abs(ref))), 1e-30) if ref.size else 1.0
    return float(np.max(np.abs(out.astype(np.float64) - ref), initial=0.0)) / scale


def expected_outputs(layer: Layer, xs: np.ndarray, groups, d: Path):
    """The single-rank model's and the reference's outputs over `groups` of
    the tokens, concatenated, and the reference statistics summed."""
    single, ref = [], []
    want_stats = {"expert_counts": 0, "expert_kept": 0}
    for g, (first, count) in enumerate(groups):
        xg = d / f"x-group{g}.npy"
        np.save(xg, xs[first:first + count])
        if count == 0:
            single.append(np.zeros((0, xs.shape[1]), np.float32))
            ref.append(np.zeros((0, xs.shape[1])))
            continue
        layer.single(xg, d / f"single{g}.npy", d / f"single-stats{g}.json")
        layer.reference(xg, count, d / f"ref{g}.npy", d / f"ref-stats{g}.json")
        single.append(np.load(d / f"single{g}.npy"))
        ref.append(np.load(d / f"ref{g}.npy"))
        rs = json.loads((d / f"ref-stats{g}.json").read_text())
        for key in want_stats:
            want_stats[key] = want_stats[key] + np.array(rs[key])
    return np.concatenate(single), np.concatenate(ref), want_stats


def check_case(layer: Layer, w: int, t: int, per_node: int, hier: bool,
               check_traffic: bool) -> tuple[bool, str]:
    x = layer.input(t)
    d = layer.dir / f"w{w}-g{per_node}{'h' if hier else ''}-t{t}"
    d.mkdir(exist_ok=True)
    capacity = "capacity_factor" in layer.spec
    xs = np.load(x)
    groups = shares(t, w) if capacity else [(0, t)]
    # Single-rank model and NumPy reference, per group when capacity is
    # per source rank (dropless: one group, the same for every W).
    key = (tuple(groups), capacity)
    if key not in layer.expected:
        layer.expected[key] = expected_outputs(layer, xs, groups, d)
    single_out, ref_out, want_stats = layer.expected[key]
    err = rel_err(single_out, ref_out)
    if err > TOLERANCE:
        return False, f"single-rank model vs reference: rel err {err:.2e}"

    y, stats = d / "y.npy", d / "stats.json"
    model = layer.model(w, per_node if hier else None)
    mpirun(w, per_node, [layer.bindir / "moe-run", model, "--weights",
                         layer.weights, "--input", x, "--output", y,
                         "--stats-json", stats, "--comm-timeout", "120"])
    out = np.load(y)
    if out.shape != single_out.shape or not np.array_equal(
            out.view(np.uint32), single_out.view(np.uint32)):
        diff = rel_err(out, single_out) if out.shape == single_out.shape else None
        return False, f"W={w} output differs from single rank (shape {out.shape}, rel {diff})"
    got = json.loads(stats.read_text())
    for key, want in want_stats.items():
        if list(got[key]) != list(np.asarray(want).tolist()):
            return False, f"{key} {got[key]} != reference {list(want)}"

    if not check_traffic:
        return True, f"bitwise equal, ref err {err:.1e}"
    # Traffic: per-rank routing from the reference of each rank's tokens.
    routing = []
    for r, (first, count) in enumerate(shares(t, w)):
        if count == 0:
            routing.append(a2a_cost.RankRouting(tokens=0, expert_counts=[0] * layer.spec["E"]))
            continue
        xr = d / f"x-rank{r}.npy"
        np.save(xr, xs[first:first + count])
        rs = d / f"ref-stats-rank{r}.json"
        layer.reference(xr, count, d / f"ref-rank{r}.npy", rs)
        routing.append(a2a_cost.RankRouting(
            tokens=count, expert_counts=json.loads(rs.read_text())["expert_counts"]))
    shape = dict(hidden=layer.spec["D"], top_k=layer.spec["k"], lowering=layer.lowering,
                 capacity_factor=layer.spec.get("capacity_factor"))
    if hier:
        predicted = a2a_cost.hierarchical_traffic(routing, per_node, **shape)
    else:
        predicted = [{"flat": p} for p in a2a_cost.flat_traffic(routing, **shape)]
    nodes = w // per_node
    for r, rank in enumerate(got["ranks"]):
        for stage in ("flat", "intra_node", "inter_node"):
            reported = rank["stages"].get(stage, {})
            have = {key: reported.get(key, 0) for key in a2a_cost.TRAFFIC_KEYS}
            want = predicted[r].get(stage, dict.fromkeys(a2a_cost.TRAFFIC_KEYS, 0))
            if have != want:
                return False, f"rank {r} {stage} traffic {have} != cost model {want}"
        inter = rank["stages"].get("inter_node", {"messages_sent": 0, "calls": 0})
        if hier and inter["messages_sent"] > (nodes - 1) * inter["calls"]:
            return False, (f"rank {r} sent {inter['messages_sent']} inter-node messages in "
                           f"{inter['calls']} exchanges (more than N - 1 = {nodes - 1} each)")
    return True, f"bitwise equal, ref err {err:.1e}, traffic = model"


def fault_cases(bindir: Path, work: Path) -> list[tuple[str, bool, str]]:
    """Each must end every process with a clear error in bounded time."""
    results = []
    layer = Layer("mixtral", "dynamic", bindir, work / "faults")
    x = layer.input(1000)
    so = layer.model(2)
    base = [bindir / "moe-run", so, "--weights", layer.weights, "--input", x,
            "--output", layer.dir / "y.npy"]

    def expect(label, proc, elapsed, *needles):
        text = proc.stdout + proc.stderr
        ok = proc.returncode != 0 and elapsed < 60 and all(n in text for n in needles)
        said = next((line.strip() for line in text.splitlines()
                     if "error:" in line or "noticed that" in line), "")
        results.append((label, ok, f"exit {proc.returncode} after {elapsed:.1f} s: {said}"
                        + ("" if ok else f"; output:\n{text[-1500:]}")))

    start = time.monotonic()
    proc = mpirun(3, 1, base, timeout=120, check=False)
    expect("fault: 3 processes for a 2-rank model", proc, time.monotonic() - start,
           "compiled for 2 rank(s)", "runs on 3 process(es)", "mpirun -np 2")

    start = time.monotonic()
    proc = run(base, timeout=120, check=False)
    expect("fault: a 2-rank model without mpirun", proc, time.monotonic() - start,
           "compiled for 2 rank(s)", "runs on 1 process(es)")

    start = time.monotonic()
    proc = mpirun(4, 1, [bindir / "moe-run", layer.model(4, 2), "--weights", layer.weights,
                         "--input", x, "--output", layer.dir / "y.npy"],
                  timeout=120, check=False)
    expect("fault: a 2-per-node hierarchical model on 1-rank nodes", proc,
           time.monotonic() - start, "hierarchical over nodes of 2 ranks",
           "MOEC_RANKS_PER_NODE=2")

    # Expert 5 lives on rank 1 (per-expert tensors, as checkpoints have
    # them): only rank 1 fails, and rank 0 must not hang.
    config = REPO / "examples/configs/mixtral-tiny.json"
    fdir = work / "faults-missing"
    fdir.mkdir()
    moec("import", config, "--layer", "0", "-o", fdir / "layer.mlir")
    moec("random-weights", config, "--layer", "0", "--seed", "1", "-o", fdir / "w.safetensors")
    tensors = {name: t for name, t in load_file(fdir / "w.safetensors").items()
               if ".experts.5." not in name}
    missing = fdir / "missing.safetensors"
    save_file(missing, tensors)
    np.save(fdir / "x.npy", np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32))
    pso = fdir / "model.so"
    run([bindir / "moe-compile", fdir / "layer.mlir", "-o", pso, "--expert-parallel=2"])
    start = time.monotonic()
    proc = mpirun(2, 1, [bindir / "moe-run", pso, "--weights", missing, "--input",
                         fdir / "x.npy", "--output", fdir / "y.npy", "--comm-timeout", "20"],
                  timeout=120, check=False)
    expect("fault: expert 5's tensor missing (rank 1)", proc, time.monotonic() - start,
           "rank 1", "experts.5.")

    for sig, label in ((signal.SIGKILL, "killed"), (signal.SIGSTOP, "stopped")):
        start = time.monotonic()
        session_tmp = tempfile.TemporaryDirectory(prefix="moec-ompi-")
        env = dict(os.environ, **MPI_ENV, **session_dir_env(session_tmp.name),
                   MOEC_RANKS_PER_NODE="1")
        proc = subprocess.Popen(
            ["mpirun", "-np", "2", *map(str, base), "--iters", "1000000",
             "--comm-timeout", "10"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
            start_new_session=True)
        victim = None
        deadline = time.monotonic() + 30
        while victim is None and time.monotonic() < deadline:
            time.sleep(0.5)
            # The ranks, not mpirun (whose command line contains theirs).
            ps = subprocess.run(["pgrep", "-f", f"^{bindir / 'moe-run'} {so}"],
                                capture_output=True, text=True).stdout.split()
            pids = sorted(int(p) for p in ps)
            if len(pids) == 2:
                time.sleep(4.0)  # Let them start MPI and reach the exchanges.
                victim = pids[-1]
        if victim is not None:
            os.kill(victim, sig)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            results.append((f"fault: a rank {label} mid-run", False, "hung"))
            continue
        finally:
            if victim is not None and sig == signal.SIGSTOP:
                try:
                    os.kill(victim, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            session_tmp.cleanup()
        needles = (["timed out", "rank(s) 1"] if sig == signal.SIGSTOP else [])
        expect(f"fault: a rank {label} mid-run",
               subprocess.CompletedProcess([], proc.returncode, out, err),
               time.monotonic() - start, *needles)
    return results


def run_layer(batch):
    """The cases of one layer, in order (they share its files)."""
    out = []
    for label, layer, w, t, per_node, hier in batch:
        try:
            ok, msg = check_case(layer, w, t, per_node, hier, check_traffic=w == 4 or hier)
        except Exception as exc:  # noqa: BLE001 - report and go on
            ok, msg = False, str(exc).strip()
        out.append((label, ok, msg))
        print(f"{'PASS' if ok else 'FAIL'}: {label}: {msg}", flush=True)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", required=True, type=Path)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--filter", default="")
    parser.add_argument("--no-faults", action="store_true")
    args = parser.parse_args()
    bindir = args.bin.resolve()
    with tempfile.TemporaryDirectory(prefix="moec-ep-") as tmp:
        work = Path(tmp)
        layers = {}
        jobs = []
        for n, (family, lowering, w, hier_g, tokens) in enumerate(CASES):
            key = (family, lowering)
            if key not in layers:
                layers[key] = Layer(family, lowering, bindir, work)
            # MOEC_RANKS_PER_NODE: the hierarchy's, or cycling (flat).
            per_node = hier_g or min([1, 2, 4][n % 3], w)
            kind = "hierarchical" if hier_g else "flat"
            for t in tokens:
                label = f"{family} [{lowering}, {kind}, W={w}, G={per_node}, T={t}]"
                if args.filter in label:
                    jobs.append((label, layers[key], w, t, per_node, bool(hier_g)))
        results = []
        # Layers share files per (family, lowering): one worker per layer.
        by_layer: dict[int, list] = {}
        for job in jobs:
            by_layer.setdefault(id(job[1]), []).append(job)

        # Processes, not threads: the moec command line runs inside the workers.
        with concurrent.futures.ProcessPoolExecutor(
                args.jobs, mp_context=multiprocessing.get_context("fork")) as pool:
            for batch in pool.map(run_layer, by_layer.values()):
                results.extend(batch)
        if not args.no_faults and "fault" in "fault" + args.filter:
            results.extend(fault_cases(bindir, work))
    passed = sum(ok for _, ok, _ in results)
    for label, ok, msg in results[len(jobs):]:
        print(f"{'PASS' if ok else 'FAIL'}: {label}: {msg}")
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
