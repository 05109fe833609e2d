"""Command line: ``python -m moec {import,random-weights,reference,gen-layer,reference-spec}``.

Every failure, usage errors included, prints one line ``moec: error: ...`` on stderr and exits
with code 2; no traceback reaches the user. ``MOEC_TRACEBACK=1`` re-raises unexpected
exceptions (for debugging moec itself; the tests set it).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import numpy as np

from .configs import SWITCH_SEMANTICS, layer_spec_from_config
from .emit_mlir import EXPERT_DTYPES, emit_module
from .errors import MoecError
from .reference import reference_from_spec
from .safetensors_io import Checkpoint
from .spec import LAYOUTS, LayerSpec, spec_from_json
from .weights import (
    format_size,
    load_operands,
    random_input,
    resolve_sources,
    write_random_weights,
)


def _read_json(path: str) -> dict:
    """A config or SPEC.json: UTF-8 JSON without duplicate keys; errors name the file."""
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MoecError(
            f"{path}: not UTF-8 text (invalid byte at offset {exc.start})"
        ) from None
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise MoecError(f"{path}: invalid JSON: {exc}") from None
    except RecursionError:
        raise MoecError(f"{path}: invalid JSON: nested too deeply") from None
    except MoecError as exc:
        raise MoecError(f"{path}: invalid JSON: {exc}") from None


def _no_duplicate_keys(pairs: list) -> dict:
    seen = set()
    for key, _ in pairs:
        if key in seen:
            raise MoecError(f"duplicate key {key!r}")
        seen.add(key)
    return dict(pairs)


def _config_spec(args) -> LayerSpec:
    return layer_spec_from_config(
        _read_json(args.config),
        args.layer,
        tokens=getattr(args, "tokens", None),
        capacity_factor=getattr(args, "capacity_factor", None),
        min_capacity=getattr(args, "min_capacity", None),
        switch_semantics=getattr(args, "switch_semantics", "auto"),
    )


def _write_text(path: str, text: str) -> None:
    Path(path).write_text(text)


def _save_npy(path: str, a: np.ndarray) -> None:
    """Exactly ``path`` (np.save on a name would append '.npy')."""
    with open(path, "wb") as f:
        np.save(f, a)


def _load_input(path: str) -> np.ndarray:
    """A .npy file of floats; never unpickles, and malformed files are one-line errors."""
    with open(path, "rb") as f:
        try:
            x = np.lib.format.read_array(f, allow_pickle=False)
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - NumPy's header parser raises many kinds
            # (ValueError, EOFError, tokenize.TokenError, SyntaxError, ...) on bad files
            raise MoecError(
                f"{path}: not a valid .npy array ({type(exc).__name__}: {exc})"
            ) from None
    if not np.issubdtype(x.dtype, np.floating):
        raise MoecError(f"{path}: input must be floating point, got {x.dtype}")
    return x


def _run_reference(
    spec: LayerSpec, weights: str, inp: str, out: str, stats: str | None
) -> None:
    checkpoint = Checkpoint(weights)
    chosen = resolve_sources(spec, checkpoint)  # missing tensors before any reading
    x = _load_input(inp)
    if x.ndim != 2 or x.shape[1] != spec.hidden:
        raise MoecError(
            f"{inp}: input must be [T, {spec.hidden}], got shape {list(x.shape)}"
        )
    operands = load_operands(spec, checkpoint, chosen)
    y, counts, kept = reference_from_spec(spec, operands, x)
    _save_npy(out, y.astype(np.float32))
    if stats:
        _write_text(
            stats,
            json.dumps({"expert_counts": counts.tolist(), "expert_kept": kept.tolist()})
            + "\n",
        )


def cmd_import(args) -> None:
    _write_text(args.output, emit_module(_config_spec(args), args.expert_dtype))


def _announce(path: str):
    def announce(nbytes: int) -> None:
        print(
            f"moec: writing {format_size(nbytes)} to {path}",
            file=sys.stderr,
            flush=True,
        )

    return announce


def cmd_random_weights(args) -> None:
    write_random_weights(
        args.output,
        _config_spec(args),
        args.seed,
        scale=args.scale,
        dtype=args.dtype,
        layout=args.layout,
        metadata={"format": "pt", "generator": "moec"},
        announce=_announce(args.output),
    )


def cmd_reference(args) -> None:
    _run_reference(
        _config_spec(args), args.weights, args.input, args.output, args.stats_json
    )


def _test_patterns(raw: dict):
    """gen-layer's load patterns, applied to the router tensors as they are generated."""

    def postprocess(role: str, values: np.ndarray) -> None:
        if role == "router_bias" and "hot_expert" in raw:
            # Every token's router logit for this expert dominates: all first
            # choices go to it (the "hot expert" load pattern).
            values[raw["hot_expert"]] = 30.0
        if role == "router" and "nan_router_row" in raw:
            # A corrupt router row: its expert's score is NaN for every token,
            # which must rank below every number.
            values[raw["nan_router_row"]] = np.nan

    return postprocess


def cmd_gen_layer(args) -> None:
    raw = _read_json(args.spec)
    spec, t_run = spec_from_json(raw)
    x = random_input(t_run, spec.hidden, args.seed)
    _write_text(args.output, emit_module(spec, args.expert_dtype))
    write_random_weights(
        args.weights,
        spec,
        args.seed,
        scale=args.scale,
        dtype=args.dtype,
        metadata={"format": "pt", "generator": "moec gen-layer"},
        postprocess=_test_patterns(raw),
    )
    _save_npy(args.input, x)


def cmd_reference_spec(args) -> None:
    spec, _ = spec_from_json(_read_json(args.spec))
    _run_reference(spec, args.weights, args.input, args.output, args.stats_json)


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _nonneg_int(text: str) -> int:
    v = _int(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {v}")
    return v


def _pos_int(text: str) -> int:
    v = _int(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {v}")
    return v


def _pos_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return v


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are the same one line as every other error."""

    def error(self, message: str):
        self.exit(2, f"moec: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="moec", description="MoE layer importer, weights and reference")
    sub = p.add_subparsers(dest="command", required=True)

    def config_args(sp, switch: bool = True):
        sp.add_argument("config", help="Hugging Face config.json")
        sp.add_argument(
            "--layer", type=_nonneg_int, required=True, help="decoder layer index"
        )
        if switch:
            sp.add_argument(
                "--switch-semantics",
                choices=SWITCH_SEMANTICS,
                default="auto",
                help="Switch Transformers: what a token past expert_capacity contributes: "
                "passthrough (p·x; alias v4: transformers < 4.52), zero (4.52-4.x, >= 5.18) or "
                "dropless (no capacity; alias v5: 5.0-5.17); auto (default) follows the "
                "config's transformers_version",
            )

    def expert_dtype_arg(sp):
        sp.add_argument(
            "--expert-dtype",
            choices=EXPERT_DTYPES,
            default="f32",
            help="element type the model stores the expert projections in (bf16: half the "
            "memory; an f32 or f16 checkpoint is rounded to bf16 at load)",
        )

    sp = sub.add_parser("import", help="emit the MoE block of a layer as MLIR")
    config_args(sp)
    sp.add_argument("-o", "--output", required=True)
    sp.add_argument(
        "--tokens", type=_pos_int, help="static token count T (default: dynamic)"
    )
    sp.add_argument(
        "--capacity-factor",
        type=_pos_float,
        help="add a capacity limit (drops give zero)",
    )
    sp.add_argument("--min-capacity", type=_nonneg_int)
    expert_dtype_arg(sp)
    sp.set_defaults(func=cmd_import)

    def weight_args(sp):
        sp.add_argument("--seed", type=_nonneg_int, required=True)
        sp.add_argument("--dtype", choices=("f32", "bf16", "f16"), default="f32")
        sp.add_argument(
            "--scale",
            type=_pos_float,
            default=1.0,
            help="multiplies the 1/sqrt(fan_in) std",
        )

    sp = sub.add_parser(
        "random-weights", help="random checkpoint-named weights for a layer"
    )
    config_args(sp)
    sp.add_argument("-o", "--output", required=True)
    weight_args(sp)
    sp.add_argument(
        "--layout",
        choices=LAYOUTS,
        default="per-expert",
        help="per-expert tensors (Hub checkpoints, save_pretrained) or the fused tensors "
        "transformers 5 holds in memory; GPT-OSS and Switch have one form only",
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
    sp.add_argument("--capacity-factor", type=_pos_float)
    sp.add_argument("--min-capacity", type=_nonneg_int)
    sp.set_defaults(func=cmd_reference)

    sp = sub.add_parser(
        "gen-layer", help="module + random weights + input from a raw SPEC.json"
    )
    sp.add_argument("--spec", required=True)
    sp.add_argument("-o", "--output", required=True)
    sp.add_argument("--weights", required=True)
    sp.add_argument("--input", required=True)
    sp.add_argument("--seed", type=_nonneg_int, default=0)
    sp.add_argument("--dtype", choices=("f32", "bf16", "f16"), default="f32")
    sp.add_argument("--scale", type=_pos_float, default=1.0)
    expert_dtype_arg(sp)
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


def _fail(message: str) -> int:
    print(f"moec: error: {' '.join(message.split())}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except MoecError as exc:
        return _fail(str(exc))
    except OSError as exc:
        if exc.filename is not None:
            return _fail(f"{exc.filename}: {exc.strerror or exc}")
        return _fail(str(exc))
    except MemoryError:
        return _fail(
            "out of memory (the layer or the input is too large for this machine)"
        )
    except Exception as exc:
        if os.environ.get("MOEC_TRACEBACK"):
            raise
        return _fail(f"internal error: {type(exc).__name__}: {exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
