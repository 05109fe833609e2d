"""Command line: ``python -m moec {import,random-weights,reference,gen-layer,reference-spec}``.

Every user error prints one line ``moec: error: ...`` on stderr and exits with code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .configs import layer_spec_from_config
from .emit_mlir import emit_module
from .errors import MoecError
from .reference import reference_from_spec
from .safetensors_io import Checkpoint, save_file
from .spec import GEN_NAMES, LayerSpec, spec_from_json
from .weights import load_operands, random_input, random_weights


def _read_json(path: str) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise MoecError(f"{path}: invalid JSON: {exc}") from None


def _config_spec(args) -> LayerSpec:
    return layer_spec_from_config(
        _read_json(args.config),
        args.layer,
        tokens=getattr(args, "tokens", None),
        capacity_factor=getattr(args, "capacity_factor", None),
        min_capacity=getattr(args, "min_capacity", None),
    )


def _write_text(path: str, text: str) -> None:
    Path(path).write_text(text)


def _load_input(path: str) -> np.ndarray:
    x = np.load(path)
    if not np.issubdtype(x.dtype, np.floating):
        raise MoecError(f"{path}: input must be floating point, got {x.dtype}")
    return x


def _run_reference(
    spec: LayerSpec, weights: str, inp: str, out: str, stats: str | None
) -> None:
    operands = load_operands(spec, Checkpoint(weights))
    y, counts, kept = reference_from_spec(spec, operands, _load_input(inp))
    np.save(out, y.astype(np.float32))
    if stats:
        _write_text(
            stats,
            json.dumps({"expert_counts": counts.tolist(), "expert_kept": kept.tolist()})
            + "\n",
        )


def cmd_import(args) -> None:
    _write_text(args.output, emit_module(_config_spec(args)))


def cmd_random_weights(args) -> None:
    spec = _config_spec(args)
    tensors = random_weights(spec, args.seed, args.scale)
    save_file(
        args.output,
        tensors,
        dtype=args.dtype,
        metadata={"format": "pt", "generator": "moec"},
    )


def cmd_reference(args) -> None:
    _run_reference(
        _config_spec(args), args.weights, args.input, args.output, args.stats_json
    )


def cmd_gen_layer(args) -> None:
    raw = _read_json(args.spec)
    spec, t_run = spec_from_json(raw)
    _write_text(args.output, emit_module(spec))
    weights = random_weights(spec, args.seed, args.scale)
    if "hot_expert" in raw:
        # Every token's router logit for this expert dominates: all first
        # choices go to it (the "hot expert" load pattern).
        weights[GEN_NAMES["router_bias"]][int(raw["hot_expert"])] = 30.0
    if "nan_router_row" in raw:
        # A corrupt router row: its expert's score is NaN for every token,
        # which must rank below every number.
        weights[GEN_NAMES["router"]][int(raw["nan_router_row"])] = np.nan
    save_file(
        args.weights,
        weights,
        dtype=args.dtype,
        metadata={"format": "pt", "generator": "moec gen-layer"},
    )
    np.save(args.input, random_input(t_run, spec.hidden, args.seed))


def cmd_reference_spec(args) -> None:
    spec, _ = spec_from_json(_read_json(args.spec))
    _run_reference(spec, args.weights, args.input, args.output, args.stats_json)


def _nonneg_int(text: str) -> int:
    v = int(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {v}")
    return v


def _pos_int(text: str) -> int:
    v = int(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {v}")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="moec", description="MoE layer importer, weights and reference"
    )
    sub = p.add_subparsers(dest="command", required=True)

    def config_args(sp):
        sp.add_argument("config", help="Hugging Face config.json")
        sp.add_argument(
            "--layer", type=_nonneg_int, required=True, help="decoder layer index"
        )

    sp = sub.add_parser("import", help="emit the MoE block of a layer as MLIR")
    config_args(sp)
    sp.add_argument("-o", "--output", required=True)
    sp.add_argument(
        "--tokens", type=_pos_int, help="static token count T (default: dynamic)"
    )
    sp.add_argument(
        "--capacity-factor", type=float, help="add a capacity limit (drops give zero)"
    )
    sp.add_argument("--min-capacity", type=_nonneg_int)
    sp.set_defaults(func=cmd_import)

    sp = sub.add_parser(
        "random-weights", help="random checkpoint-named weights for a layer"
    )
    config_args(sp)
    sp.add_argument("--seed", type=int, required=True)
    sp.add_argument("-o", "--output", required=True)
    sp.add_argument("--dtype", choices=("f32", "bf16", "f16"), default="f32")
    sp.add_argument(
        "--scale", type=float, default=1.0, help="multiplies the 1/sqrt(fan_in) std"
    )
    sp.set_defaults(func=cmd_random_weights)

    sp = sub.add_parser("reference", help="NumPy reference output of a layer")
    config_args(sp)
    sp.add_argument(
        "--weights", required=True, help="safetensors file, index .json, or directory"
    )
    sp.add_argument("--input", required=True, help=".npy [T, D]")
    sp.add_argument("-o", "--output", required=True, help=".npy [T, D] float32")
    sp.add_argument("--stats-json")
    sp.add_argument("--capacity-factor", type=float)
    sp.add_argument("--min-capacity", type=_nonneg_int)
    sp.set_defaults(func=cmd_reference)

    sp = sub.add_parser(
        "gen-layer", help="module + random weights + input from a raw SPEC.json"
    )
    sp.add_argument("--spec", required=True)
    sp.add_argument("-o", "--output", required=True)
    sp.add_argument("--weights", required=True)
    sp.add_argument("--input", required=True)
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--dtype", choices=("f32", "bf16", "f16"), default="f32")
    sp.add_argument("--scale", type=float, default=1.0)
    sp.set_defaults(func=cmd_gen_layer)

    sp = sub.add_parser(
        "reference-spec", help="NumPy reference output for a raw SPEC.json"
    )
    sp.add_argument("--spec", required=True)
    sp.add_argument("--weights", required=True)
    sp.add_argument("--input", required=True)
    sp.add_argument("-o", "--output", required=True)
    sp.add_argument("--stats-json")
    sp.set_defaults(func=cmd_reference_spec)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except MoecError as exc:
        print(f"moec: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"moec: error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
