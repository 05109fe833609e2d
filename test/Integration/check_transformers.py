#!/usr/bin/env python3
"""moec against transformers itself, on checkpoints transformers wrote.

Each folder of test/Integration/transformers/ holds what make_transformers_fixtures.py recorded
with transformers and torch: config.json and model.safetensors from ``save_pretrained`` of a
tiny random model, and the MoE block's own output ``y{T}.npy`` for inputs ``x{T}.npy`` (T = 1,
13, and 300 leaning towards one expert). This imports the config (`moec import`), compiles the
layer with both lowerings, runs it with moe-run on the whole-model checkpoint, and compares with
transformers' output; the NumPy reference (`moec reference`) is compared too.

Metric: max|y - y_transformers| / max|y_transformers| <= 2e-5 (both compute in fp32, in
different orders). Ends with the line `N passed, N failed`.

Usage: check_transformers.py --bin BUILD/bin [--filter SUBSTR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from moec_cli import moec  # the command line, in this process

TOLERANCE = 2e-5
REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "transformers"


def run(cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
        )


def rel_err(got: np.ndarray, want: np.ndarray) -> float:
    want = want.astype(np.float64)
    return float(np.max(np.abs(got - want))) / max(float(np.max(np.abs(want))), 1e-30)


def check(fixture: Path, bindir: Path, workdir: Path):
    info = json.loads((fixture / "info.json").read_text())
    config, weights = fixture / "config.json", fixture / "model.safetensors"
    layer = str(info["layer"])
    results = []
    mlir = workdir / f"{fixture.name}.mlir"
    try:
        moec("import", config, "--layer", layer, "-o", mlir)
    except RuntimeError as exc:
        return [(f"{fixture.name} [import]", False, str(exc).strip())]
    for t in info["tokens"]:
        x, want = fixture / f"x{t}.npy", np.load(fixture / f"y{t}.npy")
        label = f"{fixture.name} [reference, T={t}]"
        try:
            ref = workdir / f"{fixture.name}-ref{t}.npy"
            moec("reference", config, "--layer", layer, "--weights", weights,
                 "--input", x, "-o", ref)
            err = rel_err(np.load(ref), want)
            results.append((label, err <= TOLERANCE, f"rel err {err:.2e}"))
        except RuntimeError as exc:
            results.append((label, False, str(exc).strip()))
    for lowering in ("static", "dynamic"):
        so = workdir / f"{fixture.name}-{lowering}.so"
        try:
            run([bindir / "moe-compile", mlir, "-o", so, f"--lowering={lowering}"])
        except RuntimeError as exc:
            results.append((f"{fixture.name} [{lowering}]", False, str(exc).strip()))
            continue
        for t in info["tokens"]:
            label = f"{fixture.name} [{lowering}, T={t}]"
            try:
                y = workdir / f"{fixture.name}-{lowering}-y{t}.npy"
                run([bindir / "moe-run", so, "--weights", weights,
                     "--input", fixture / f"x{t}.npy", "--output", y])
                err = rel_err(np.load(y), np.load(fixture / f"y{t}.npy"))
                results.append((label, err <= TOLERANCE, f"rel err {err:.2e}"))
            except RuntimeError as exc:
                results.append((label, False, str(exc).strip()))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", required=True, type=Path)
    parser.add_argument("--filter", default="")
    args = parser.parse_args()
    os.environ["PYTHONPATH"] = str(REPO / "python") + os.pathsep + os.environ.get("PYTHONPATH", "")
    fixtures = sorted(p for p in FIXTURES.iterdir() if p.is_dir() and args.filter in p.name)
    results = []
    with tempfile.TemporaryDirectory(prefix="moec-transformers-") as tmp:
        for fixture in fixtures:
            results += check(fixture, args.bin, Path(tmp))
    passed = sum(ok for _, ok, _ in results)
    for label, ok, msg in results:
        print(f"{'PASS' if ok else 'FAIL'}: {label}: {msg}")
    made_by = {json.loads((f / 'info.json').read_text())['transformers'] for f in fixtures}
    print(f"{len(fixtures)} families, fixtures made by transformers {', '.join(sorted(made_by))}")
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if results and passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
