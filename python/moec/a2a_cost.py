"""Traffic of moec's expert-parallel exchanges, predicted from the routing.

`flat_traffic` and `hierarchical_traffic` give, for every rank, the calls,
messages and bytes that `moe-run --stats-json` reports for one layer compiled
with `moe-compile --expert-parallel=W` (flat), or with `--ranks-per-node=G
--a2a=hierarchical` (stages intra_node and inter_node); docs/
expert-parallelism.md explains the exchanges. Messages are counted between
distinct ranks only, and only when they carry data; a rank's own rows are
copied locally.

A layer makes three flat exchanges.
Dropless (`--lowering=dynamic`):
  1. per-expert counts: E/W int32 to every other rank (counts are known);
  2. rows: to rank p the rows of p's experts (none: no message);
  3. the same rows back.
Padded (`--lowering=static`, GShard):
  1. rows: the [E/W, C_r, D] block of every destination, padding included,
     after one int32 to every other rank (the row count, as C differs per
     rank);
  2. the blocks back.
Hierarchically (rank (n, l) = world rank n * G + l), each exchange becomes:
  intra_node: N int32 to every other local rank (how many rows it forwards
  to each node), then to local rank l' the rows bound for (m, l'), every m;
  inter_node: G int32 to the rank of its local index on every other node
  (only when the counts are not known), then to (m, l) the rows every local
  source sent it for (m, l).
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


def _exchanges(routing: list[RankRouting], *, hidden: int, top_k: int, lowering: str,
               capacity_factor=None, expert_capacity=None, min_capacity: int = 0,
               elem_bytes: int = 4) -> list[tuple[list[list[int]], int, bool]]:
    """The layer's flat exchanges: (rows[s][d], bytes per row, counts known)."""
    w = len(routing)
    experts = len(routing[0].expert_counts)
    if experts % w:
        raise ValueError(f"{experts} experts do not split over {w} ranks")
    local = experts // w
    row = hidden * elem_bytes
    caps = [capacity(rr.tokens, top_k, experts, capacity_factor, expert_capacity, min_capacity)
            for rr in routing]
    if lowering == "dynamic":
        kept = [[c if cap is None else min(c, cap) for c in rr.expert_counts]
                for rr, cap in zip(routing, caps)]
        rows = [[sum(kept[s][p * local:(p + 1) * local]) for p in range(w)] for s in range(w)]
        back = [[rows[d][s] for d in range(w)] for s in range(w)]
        return [([[local] * w for _ in range(w)], COUNT_BYTES, True),
                (rows, row, True), (back, row, True)]
    if lowering != "static":
        raise ValueError(f"unknown lowering {lowering!r}")
    block = [local * (rr.tokens if cap is None else cap) for rr, cap in zip(routing, caps)]
    return [([[block[s]] * w for s in range(w)], row, False),
            ([[block[d] for d in range(w)] for _ in range(w)], row, True)]


def flat_traffic(routing: list[RankRouting], **layer) -> list[dict]:
    """Per-rank traffic of one layer's flat exchanges (see the module doc);
    `layer`: hidden, top_k, lowering and the capacity settings."""
    w = len(routing)
    out = [_empty() for _ in range(w)]
    for rows, row, known in _exchanges(routing, **layer):
        for s in range(w):
            out[s]["calls"] += 1 + (not known)
            for d in range(w):
                if not known:
                    _message(out, s, d, COUNT_BYTES)
                _message(out, s, d, rows[s][d] * row)
    return out


def hierarchical_traffic(routing: list[RankRouting], ranks_per_node: int,
                         **layer) -> list[dict]:
    """Per-rank traffic of the same exchanges made hierarchical, as
    {"intra_node": {...}, "inter_node": {...}} (see the module doc)."""
    w, g = len(routing), ranks_per_node
    if g < 1 or w % g:
        raise ValueError(f"{g} ranks per node do not divide {w} ranks")
    n = w // g
    intra = [_empty() for _ in range(w)]
    inter = [_empty() for _ in range(w)]
    for rows, row, known in _exchanges(routing, **layer):
        for s in range(w):
            intra[s]["calls"] += 2
            inter[s]["calls"] += 1 + (not known)
            node, mine = divmod(s, g)
            for peer in range(g):
                d = node * g + peer
                _message(intra, s, d, n * COUNT_BYTES)
                _message(intra, s, d, sum(rows[s][m * g + peer] for m in range(n)) * row)
            for m in range(n):
                d = m * g + mine
                if not known:
                    _message(inter, s, d, g * COUNT_BYTES)
                forwarded = sum(rows[node * g + src][d] for src in range(g))
                _message(inter, s, d, forwarded * row)
    return [{"intra_node": a, "inter_node": b} for a, b in zip(intra, inter)]


# --- The alpha-beta (Hockney) model the compiler's --a2a=auto uses -------
# Mirrors lib/Dialect/MoE/Transforms/A2ACostModel.cpp (both are checked
# against the same hand-worked values); docs/expert-parallelism.md derives it.

@dataclass
class Link:
    latency: float  # seconds per message
    bandwidth: float  # bytes per second


NVLINK = Link(3e-6, 450e9)
INFINIBAND = Link(10e-6, 50e9)


def _link(link: Link, messages: float, nbytes: float) -> dict:
    return {"messages": messages, "bytes": nbytes,
            "seconds": messages * link.latency + nbytes / link.bandwidth}


def _add(into: dict, t: dict) -> None:
    for key in ("messages", "bytes", "seconds"):
        into[key] += t[key]


def predict_flat(w: int, g: int, nbytes: float, counts_known: bool,
                 intra: Link = NVLINK, inter: Link = INFINIBAND) -> dict:
    """One rank's flat exchange of `nbytes` spread evenly over W ranks."""
    p = {"intra_node": dict.fromkeys(("messages", "bytes", "seconds"), 0.0),
         "inter_node": dict.fromkeys(("messages", "bytes", "seconds"), 0.0), "seconds": 0.0}

    def round_(intra_bytes, inter_bytes):
        a, b = _link(intra, g - 1, intra_bytes), _link(inter, w - g, inter_bytes)
        _add(p["intra_node"], a)
        _add(p["inter_node"], b)
        p["seconds"] += max(a["seconds"], b["seconds"])

    if not counts_known:
        round_((g - 1) * COUNT_BYTES, (w - g) * COUNT_BYTES)
    round_(nbytes * (g - 1) / w, nbytes * (w - g) / w)
    return p


def predict_hierarchical(w: int, g: int, nbytes: float, counts_known: bool,
                         intra: Link = NVLINK, inter: Link = INFINIBAND) -> dict:
    """The same exchange in two stages (moe-hierarchical-a2a)."""
    n = w / g
    p = {"intra_node": dict.fromkeys(("messages", "bytes", "seconds"), 0.0),
         "inter_node": dict.fromkeys(("messages", "bytes", "seconds"), 0.0), "seconds": 0.0}

    def stage(key, link, messages, nb):
        t = _link(link, messages, nb)
        _add(p[key], t)
        p["seconds"] += t["seconds"]

    stage("intra_node", intra, g - 1, (g - 1) * n * COUNT_BYTES)
    stage("intra_node", intra, g - 1, nbytes * (g - 1) / g)
    if not counts_known:
        stage("inter_node", inter, n - 1, (n - 1) * g * COUNT_BYTES)
    stage("inter_node", inter, n - 1, nbytes * (n - 1) / n)
    return p


def table(ranks_per_node: int = 8, hidden: int = 7168, top_k: int = 8, elem_bytes: int = 2,
          tokens=(16, 256, 4096)) -> str:
    """Markdown: flat vs hierarchical for EP = 8 .. 2048 (one rows exchange)."""
    head = "| EP (nodes) | inter-node msgs flat / hier |"
    rule = "|---|---|"
    for t in tokens:
        head += f" T={t}: flat | hier | speed-up |"
        rule += "---|---|---|"
    lines = [head, rule]
    w = ranks_per_node
    while w <= 2048:
        line = f"| {w} ({w // ranks_per_node}) | {w - ranks_per_node} / {w // ranks_per_node - 1} |"
        if w == ranks_per_node:  # One node: the pass keeps the flat exchange.
            lines.append(line + "".join(
                f" {predict_flat(w, w, t * top_k * hidden * elem_bytes, True)['seconds'] * 1e6:.0f} us"
                " | - | - |" for t in tokens))
            w *= 2
            continue
        for t in tokens:
            nbytes = t * top_k * hidden * elem_bytes
            f = predict_flat(w, ranks_per_node, nbytes, True)["seconds"]
            h = predict_hierarchical(w, ranks_per_node, nbytes, True)["seconds"]
            line += f" {f * 1e6:.0f} us | {h * 1e6:.0f} us | {f / h:.2f}x |"
        lines.append(line)
        w *= 2
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
