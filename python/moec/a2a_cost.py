"""Traffic of moec's flat expert-parallel exchange, predicted from the routing.

`flat_traffic` gives, for every rank, the calls, messages and bytes that
`moe-run --stats-json` reports for the flat stage of one layer compiled with
`moe-compile --expert-parallel=W` (docs/expert-parallelism.md explains the
exchange). Messages are counted between distinct ranks only, and only when
they carry data; a rank's own rows are copied locally.

Dropless (`--lowering=dynamic`), per layer:
  1. per-expert counts: E/W int32 to every other rank (counts are known);
  2. rows: to rank p the rows of p's experts (none: no message);
  3. the same rows back.
Padded (`--lowering=static`, GShard):
  1. one int32 to every other rank (the row count, as C differs per rank);
  2. rows: the [E/W, C_r, D] block of every destination, padding included;
  3. the blocks back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

TRAFFIC_KEYS = ("calls", "messages_sent", "messages_received", "bytes_sent", "bytes_received")
COUNT_BYTES = 4


@dataclass
class RankRouting:
    """One rank's tokens and the assignments they route to each expert."""

    tokens: int
    expert_counts: list[int]


def capacity(tokens: int, top_k: int, experts: int, capacity_factor=None,
             expert_capacity=None, min_capacity: int = 0) -> int | None:
    """The per-expert capacity over `tokens` as the compiled model computes it
    (clamped to the token count), or None when dropless."""
    if expert_capacity is not None:
        c = max(int(expert_capacity), int(min_capacity))
    elif capacity_factor is not None:
        c = max(math.ceil(float(capacity_factor) * tokens * top_k / experts), int(min_capacity))
    else:
        return None
    return min(c, tokens)


def _empty() -> dict:
    return dict.fromkeys(TRAFFIC_KEYS, 0)


def _message(out: list[dict], src: int, dst: int, nbytes: int) -> None:
    if src == dst or nbytes == 0:
        return
    out[src]["messages_sent"] += 1
    out[src]["bytes_sent"] += nbytes
    out[dst]["messages_received"] += 1
    out[dst]["bytes_received"] += nbytes


def flat_traffic(routing: list[RankRouting], *, hidden: int, top_k: int, lowering: str,
                 capacity_factor=None, expert_capacity=None, min_capacity: int = 0,
                 elem_bytes: int = 4) -> list[dict]:
    """Per-rank traffic of one layer's flat exchange (see the module doc)."""
    w = len(routing)
    experts = len(routing[0].expert_counts)
    if experts % w:
        raise ValueError(f"{experts} experts do not split over {w} ranks")
    local = experts // w
    row = hidden * elem_bytes
    out = [_empty() for _ in range(w)]
    for r in out:
        r["calls"] = 3
    caps = [capacity(rr.tokens, top_k, experts, capacity_factor, expert_capacity, min_capacity)
            for rr in routing]
    if lowering == "dynamic":
        kept = [[c if cap is None else min(c, cap) for c in rr.expert_counts]
                for rr, cap in zip(routing, caps)]
        rows = [[sum(kept[s][p * local:(p + 1) * local]) for p in range(w)] for s in range(w)]
        for s in range(w):
            for p in range(w):
                _message(out, s, p, local * COUNT_BYTES)
                _message(out, s, p, rows[s][p] * row)
                _message(out, p, s, rows[s][p] * row)
        return out
    if lowering != "static":
        raise ValueError(f"unknown lowering {lowering!r}")
    block = [local * (rr.tokens if cap is None else cap) for rr, cap in zip(routing, caps)]
    for s in range(w):
        for p in range(w):
            _message(out, s, p, COUNT_BYTES)
            _message(out, s, p, block[s] * row)
            _message(out, p, s, block[s] * row)
    return out
