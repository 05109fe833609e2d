"""The reference against a deliberately naive, per-token, pure-Python loop implementation."""

import itertools
import math

import numpy as np
import pytest
from moec.reference import moe_layer_reference


def naive_act(v, act):
    if act == "silu":
        return v / (1.0 + math.exp(-v))
    if act == "relu":
        return v if v > 0 else 0.0
    return 0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0)))


def naive_matvec(m, v):
    return [sum(m[r][c] * v[c] for c in range(len(v))) for r in range(len(m))]


def naive_expert(x, ws, act, bs=None, alpha=1.702, limit=None):
    """One expert; ``bs`` biases per projection; clamped_swiglu spelled out per element."""
    bs = bs or [[0.0] * len(w) for w in ws]

    def proj(w, b, v):
        return [a + c for a, c in zip(naive_matvec(w, v), b)]

    if len(ws) == 3:
        (g, u, d), (bg, bu, bd) = ws, bs
        h = []
        for a, b in zip(proj(g, bg, x), proj(u, bu, x)):
            if act == "clamped_swiglu":
                a = min(limit, a)
                b = -limit if b < -limit else (min(b, limit))
                h.append((b + 1.0) * a / (1.0 + math.exp(-alpha * a)))
            else:
                h.append(naive_act(a, act) * b)
        return proj(d, bd, h)
    (wi, wo), (bi, bo) = ws, bs
    return proj(wo, bo, [naive_act(a, act) for a in proj(wi, bi, x)])


def naive_best(values, n):
    """Indices of the n largest values; ties -> lower index (explicit selection loop)."""
    chosen = []
    for _ in range(n):
        best = None
        for i, v in enumerate(values):
            if i in chosen:
                continue
            if best is None or v > values[best]:
                best = i
        chosen.append(best)
    return chosen


def naive_route(xt, router, p):
    E = len(router)
    logits = naive_matvec(router, xt)
    if p.get("router_bias") is not None:
        logits = [a + b for a, b in zip(logits, p["router_bias"])]
    if p["scoring"] == "softmax":
        m = max(logits)
        ex = [math.exp(v - m) for v in logits]
        s = [v / sum(ex) for v in ex]
    else:
        s = [1.0 / (1.0 + math.exp(-v)) for v in logits]
    c = (
        list(s)
        if p.get("score_bias") is None
        else [a + b for a, b in zip(s, p["score_bias"])]
    )
    if p["selection"] != "plain":
        size = E // p["n_group"]
        gscores = []
        for g in range(p["n_group"]):
            members = c[g * size : (g + 1) * size]
            if p["selection"] == "group_max":
                gscores.append(max(members))
            else:
                top = sorted(members, reverse=True)
                gscores.append(top[0] + top[1])
        keep = naive_best(gscores, p["topk_group"])
        c = [v if (i // size) in keep else 0.0 for i, v in enumerate(c)]
    chosen = naive_best(c, p["k"])
    w = [s[i] for i in chosen]
    if p["normalize"]:
        total = sum(w) + (1e-20 if p["scoring"] == "sigmoid" else 0.0)
        w = [v / total for v in w]
    return chosen, [v * p["rsf"] for v in w]


def naive_layer(x, router, experts, p, shared=None, shared_gate=None):
    T, D = len(x), len(x[0])
    E = len(router)
    routes = [naive_route(x[t], router, p) for t in range(T)]
    cap = None
    if p.get("capacity_factor") is not None:
        cap = max(
            math.ceil(p["capacity_factor"] * T * p["k"] / E), p.get("min_capacity", 0)
        )
    # Admission: list all assignments, order them by (choice rank, token).
    order = sorted((j, t) for t in range(T) for j in range(p["k"]))
    load = [0] * E
    dropped = set()
    counts = [0] * E
    for j, t in order:
        e = routes[t][0][j]
        counts[e] += 1
        if cap is not None and load[e] >= cap:
            dropped.add((t, j))
        else:
            load[e] += 1
    y = []
    for t in range(T):
        acc = [0.0] * D
        idx, w = routes[t]
        for j in range(p["k"]):
            if (t, j) in dropped:
                if p.get("drop_policy") == "passthrough":
                    acc = [a + w[j] * b for a, b in zip(acc, x[t])]
                continue
            bs = None if p.get("biases") is None else [b[idx[j]] for b in p["biases"]]
            out = naive_expert(
                x[t],
                [m[idx[j]] for m in experts],
                p["act"],
                bs,
                p.get("alpha", 1.702),
                p.get("limit"),
            )
            acc = [a + w[j] * b for a, b in zip(acc, out)]
        if shared is not None:
            out = naive_expert(
                x[t], shared, p["act"], None, p.get("alpha", 1.702), p.get("limit")
            )
            gate = 1.0
            if shared_gate is not None:
                gate = 1.0 / (1.0 + math.exp(-naive_matvec(shared_gate, x[t])[0]))
            acc = [a + gate * b for a, b in zip(acc, out)]
        y.append(acc)
    return np.array(y), counts, load


CASES = [
    {
        "scoring": "softmax",
        "selection": "plain",
        "normalize": True,
        "rsf": 1.0,
        "act": "silu",
        "k": 2,
        "E": 8,
    },
    {
        "scoring": "softmax",
        "selection": "plain",
        "normalize": False,
        "rsf": 1.0,
        "act": "gelu",
        "k": 3,
        "E": 6,
    },
    {
        "scoring": "softmax",
        "selection": "group_max",
        "n_group": 4,
        "topk_group": 2,
        "normalize": False,
        "rsf": 16.0,
        "act": "silu",
        "k": 3,
        "E": 8,
    },
    {
        "scoring": "sigmoid",
        "selection": "group_sum_top2",
        "n_group": 4,
        "topk_group": 2,
        "normalize": True,
        "rsf": 2.5,
        "act": "silu",
        "k": 4,
        "E": 16,
        "score_bias": True,
        "shared": True,
    },
    {
        "scoring": "sigmoid",
        "selection": "plain",
        "normalize": False,
        "rsf": 1.0,
        "act": "relu",
        "k": 2,
        "E": 4,
        "gated": False,
    },
    {
        "scoring": "softmax",
        "selection": "plain",
        "normalize": False,
        "rsf": 1.0,
        "act": "silu",
        "k": 2,
        "E": 6,
        "capacity_factor": 0.75,
        "shared": True,
        "shared_gate": True,
    },
    {
        "scoring": "softmax",
        "selection": "plain",
        "normalize": True,
        "rsf": 1.0,
        "act": "silu",
        "k": 2,
        "E": 4,
        "capacity_factor": 0.5,
        "min_capacity": 2,
        "router_bias": True,
    },
    {
        "scoring": "softmax",
        "selection": "plain",
        "normalize": False,
        "rsf": 1.0,
        "act": "relu",
        "k": 1,
        "E": 4,
        "gated": False,
        "capacity_factor": 0.5,
        "drop_policy": "passthrough",
    },
    {
        "scoring": "softmax",
        "selection": "plain",
        "normalize": True,
        "rsf": 1.0,
        "act": "silu",
        "k": 2,
        "E": 4,
        "capacity_factor": 0.6,
        "drop_policy": "passthrough",
        "router_bias": True,
    },
    {  # GPT-OSS-like: router bias, expert biases, clamped SwiGLU hitting both clamps
        "scoring": "softmax",
        "selection": "plain",
        "normalize": True,
        "rsf": 1.0,
        "act": "clamped_swiglu",
        "alpha": 1.702,
        "limit": 1.5,
        "k": 2,
        "E": 6,
        "router_bias": True,
        "expert_bias": True,
    },
    {  # clamped SwiGLU with capacity, a shared expert (same activation, no biases)
        "scoring": "softmax",
        "selection": "plain",
        "normalize": False,
        "rsf": 1.0,
        "act": "clamped_swiglu",
        "alpha": 0.9,
        "limit": 0.7,
        "k": 2,
        "E": 4,
        "expert_bias": True,
        "capacity_factor": 0.5,
        "shared": True,
    },
    {  # non-gated experts with biases, passthrough drops
        "scoring": "softmax",
        "selection": "plain",
        "normalize": False,
        "rsf": 1.0,
        "act": "relu",
        "k": 1,
        "E": 4,
        "gated": False,
        "expert_bias": True,
        "capacity_factor": 0.5,
        "drop_policy": "passthrough",
    },
]


@pytest.mark.parametrize(
    "case,seed", list(itertools.product(range(len(CASES)), (0, 1)))
)
def test_reference_matches_naive(case, seed):
    p = dict(CASES[case])
    rng = np.random.default_rng(100 * case + seed)
    T, D, F, E = 9, 6, 5, p["E"]
    x = rng.standard_normal((T, D))
    router = rng.standard_normal((E, D))
    if p.get("gated", True):
        experts = (
            rng.standard_normal((E, F, D)),
            rng.standard_normal((E, F, D)),
            rng.standard_normal((E, D, F)),
        )
    else:
        experts = (rng.standard_normal((E, F, D)), rng.standard_normal((E, D, F)))
    rb = rng.standard_normal(E) if p.get("router_bias") else None
    sb = rng.standard_normal(E) * 0.3 if p.get("score_bias") else None
    shared = None
    if p.get("shared"):
        shared = (
            rng.standard_normal((4, D)),
            rng.standard_normal((4, D)),
            rng.standard_normal((D, 4)),
        )
    sgate = rng.standard_normal((1, D)) if p.get("shared_gate") else None
    biases = None
    if p.get("expert_bias"):
        widths = (F, F, D) if p.get("gated", True) else (F, D)
        biases = tuple(rng.standard_normal((E, w)) for w in widths)
    p["router_bias"], p["score_bias"] = rb, sb
    p["biases"] = None if biases is None else [b.tolist() for b in biases]

    y, counts, kept = moe_layer_reference(
        x,
        router,
        experts,
        top_k=p["k"],
        scoring=p["scoring"],
        selection=p["selection"],
        n_group=p.get("n_group"),
        topk_group=p.get("topk_group"),
        normalize=p["normalize"],
        routed_scaling_factor=p["rsf"],
        activation=p["act"],
        router_bias=rb,
        score_bias=sb,
        capacity_factor=p.get("capacity_factor"),
        min_capacity=p.get("min_capacity", 0),
        drop_policy=p.get("drop_policy", "zero"),
        shared=shared,
        shared_gate=sgate,
        expert_biases=biases,
        swiglu_alpha=p.get("alpha", 1.702),
        swiglu_limit=p.get("limit"),
    )
    y_naive, counts_naive, kept_naive = naive_layer(
        x.tolist(),
        router.tolist(),
        [m.tolist() for m in experts],
        p,
        shared=None if shared is None else [m.tolist() for m in shared],
        shared_gate=None if sgate is None else sgate.tolist(),
    )
    np.testing.assert_allclose(y, y_naive, rtol=1e-10, atol=1e-12)
    assert counts.tolist() == counts_naive
    assert kept.tolist() == kept_naive
    if p.get("capacity_factor") is not None and case != 6:
        assert sum(counts_naive) > sum(kept_naive), "case meant to exercise drops"
