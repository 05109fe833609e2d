#!/usr/bin/env python3
"""Writes the transformers-made fixtures that check_transformers.py tests moec against.

For each family, transformers itself builds a tiny randomly initialised model from its own
config class, writes it with ``save_pretrained`` (config.json and model.safetensors exactly as
transformers writes them), and records what the model's own MoE block returns for a few inputs:
T = 1, T = 13, and T = 300 whose tokens all lean towards one expert (its router row is set to the
tokens' shared direction before saving). Nothing of moec is used here: this is the oracle.

Needs torch and transformers (not moec's dependencies); run by hand, e.g.
    python -m venv /tmp/oracle && /tmp/oracle/bin/pip install torch transformers
    /tmp/oracle/bin/python test/Integration/make_transformers_fixtures.py test/Integration/transformers
It runs on a CPU in about a minute. Commit the output (a few hundred KB). Switch Transformers'
block changed between transformers versions (docs/semantics.md), so it is also recorded with
older releases, each installed into its own folder:
    pip install --target /tmp/tf-4.51.3 transformers==4.51.3
    PYTHONPATH=/tmp/tf-4.51.3 python make_transformers_fixtures.py OUT switch_transformers --tag 4.51.3
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
import transformers
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM

D = 32  # hidden size of every fixture
TOKENS = (1, 13, 300)
HOT_TOKENS = 300
INIT = 0.25  # initializer_range: large enough that routing and the clamps are not trivial

ATTENTION = dict(num_attention_heads=4, num_key_value_heads=2, vocab_size=64)
MLA = dict(  # DeepSeek's multi-head latent attention, tiny
    num_attention_heads=4,
    num_key_value_heads=4,
    vocab_size=64,
    kv_lora_rank=16,
    q_lora_rank=None,
    qk_rope_head_dim=8,
    qk_nope_head_dim=8,
    v_head_dim=8,
)

DEEPSEEK_V3 = dict(
    MLA, num_hidden_layers=2, first_k_dense_replace=1, n_routed_experts=8, num_experts_per_tok=3,
    moe_intermediate_size=16, intermediate_size=24, n_shared_experts=1, n_group=4, topk_group=2,
    routed_scaling_factor=2.5, norm_topk_prob=True,
)

# family -> (model_type, config kwargs, MoE layer index, path of the MoE block, seq2seq)
FAMILIES = {
    "mixtral": (
        "mixtral",
        dict(ATTENTION, num_hidden_layers=1, num_local_experts=4, num_experts_per_tok=2,
             intermediate_size=16),
        0, "model.layers.0.mlp", False,
    ),
    "qwen2_moe": (
        "qwen2_moe",
        dict(ATTENTION, num_hidden_layers=1, num_experts=6, num_experts_per_tok=2,
             moe_intermediate_size=16, shared_expert_intermediate_size=24,
             intermediate_size=24, norm_topk_prob=False),
        0, "model.layers.0.mlp", False,
    ),
    "qwen3_moe": (
        "qwen3_moe",
        dict(ATTENTION, num_hidden_layers=1, num_experts=8, num_experts_per_tok=3,
             moe_intermediate_size=16, intermediate_size=24, norm_topk_prob=True, head_dim=8),
        0, "model.layers.0.mlp", False,
    ),
    "olmoe": (
        "olmoe",
        dict(ATTENTION, num_hidden_layers=1, num_experts=8, num_experts_per_tok=2,
             intermediate_size=16),
        0, "model.layers.0.mlp", False,
    ),
    "deepseek_v2": (
        "deepseek_v2",
        dict(MLA, num_hidden_layers=2, first_k_dense_replace=1, n_routed_experts=8,
             num_experts_per_tok=3, moe_intermediate_size=16, intermediate_size=24,
             n_shared_experts=1, topk_method="group_limited_greedy", n_group=4, topk_group=2,
             routed_scaling_factor=1.5),
        1, "model.layers.1.mlp", False,
    ),
    "deepseek_v3": ("deepseek_v3", DEEPSEEK_V3, 1, "model.layers.1.mlp", False),
    # Every biased selection score below zero: with a -inf mask (transformers >= 5.6) the
    # experts of the dropped groups never win, with a 0.0 mask (< 5.6) they all do. k = 4 is
    # exactly the 4 experts of the dropped groups, so the choice has no ties either way.
    "deepseek_v3_negative_bias": (
        "deepseek_v3", dict(DEEPSEEK_V3, num_experts_per_tok=4), 1, "model.layers.1.mlp", False,
    ),
    "gpt_oss": (
        "gpt_oss",
        dict(ATTENTION, num_hidden_layers=1, num_local_experts=4, num_experts_per_tok=2,
             intermediate_size=16, head_dim=8, layer_types=["full_attention"],
             swiglu_limit=3.0),
        0, "model.layers.0.mlp", False,
    ),
    "switch_transformers": (
        "switch_transformers",
        dict(d_model=D, d_ff=16, d_kv=8, num_heads=4, num_layers=2, num_decoder_layers=2,
             num_experts=4, expert_capacity=8, num_sparse_encoder_layers=1,
             num_sparse_decoder_layers=1, vocab_size=64),
        1, "encoder.block.1.layer.1.mlp", True,
    ),
}


def module_at(model, path: str):
    m = model
    for part in path.split("."):
        m = m[int(part)] if part.isdigit() else getattr(m, part)
    return m


def router_weight(block) -> torch.Tensor:
    """The [E, D] router weight of a transformers MoE block."""
    for name in ("gate", "router"):
        r = getattr(block, name, None)
        if r is None:
            continue
        if hasattr(r, "classifier"):  # Switch
            return r.classifier.weight
        return r.weight
    raise SystemExit(f"no router in {type(block).__name__}")


def randomize_biases(block, shift: float = 0.0) -> None:
    """Zero-initialised biases (router, score correction) get values that matter; `shift` is
    added to the score-correction bias."""
    g = torch.Generator().manual_seed(1)
    tensors = [(n, p) for n, p in block.named_parameters()] + list(block.named_buffers())
    for name, p in tensors:
        correction = "e_score_correction_bias" in name
        if name.endswith("bias") or correction:
            with torch.no_grad():
                p.copy_(torch.randn(p.shape, generator=g) * 0.5 + (shift if correction else 0.0))


def block_output(block, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        out = block(torch.from_numpy(x)[None])
    while isinstance(out, tuple):
        out = out[0]
    return out[0].float().numpy()


def make(family: str, root: Path, tag: str = "") -> None:
    model_type, kwargs, layer, path, seq2seq = FAMILIES[family]
    hidden = {"hidden_size": D} if "d_model" not in kwargs else {}
    cfg = AutoConfig.for_model(model_type, initializer_range=INIT, **hidden, **kwargs)
    torch.manual_seed(0)
    auto = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
    model = auto.from_config(cfg).float().eval()
    block = module_at(model, path)
    randomize_biases(block, shift=-1.5 if family.endswith("negative_bias") else 0.0)
    rng = np.random.default_rng(2026)
    u = rng.standard_normal(D)
    u /= np.linalg.norm(u)
    w = router_weight(block)
    with torch.no_grad():  # the last expert's router row points along u
        w[-1].copy_(torch.from_numpy(3.0 * u).to(w.dtype))
    out = root / (f"{family}-{tag}" if tag else family)
    shutil.rmtree(out, ignore_errors=True)
    model.save_pretrained(out)
    (out / "generation_config.json").unlink(missing_ok=True)
    for t in TOKENS:
        x = 2.0 * rng.standard_normal((t, D))
        if t == HOT_TOKENS:
            x += 4.0 * u
        x = x.astype(np.float32)
        np.save(out / f"x{t}.npy", x)
        np.save(out / f"y{t}.npy", block_output(block, x))
    info = {
        "layer": layer,
        "block": path,
        "block_class": type(block).__name__,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "tokens": list(TOKENS),
        "hot_tokens": HOT_TOKENS,
    }
    (out / "info.json").write_text(json.dumps(info, indent=1) + "\n")
    print(f"{family}: {type(block).__name__} at {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, nargs="?", default=Path(__file__).parent / "transformers")
    parser.add_argument("families", nargs="*", default=list(FAMILIES))
    parser.add_argument(
        "--tag", default="", help="suffix of the fixture folders (e.g. the transformers version)"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for family in args.families:
        make(family, args.out, args.tag)
    return 0


if __name__ == "__main__":
    sys.exit(main())
