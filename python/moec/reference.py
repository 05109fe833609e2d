"""Independent NumPy reference for the MoE semantics of docs/semantics.md (float64 throughout).

Conventions (see docs/python.md):
- Ties in every top-k (experts and groups) go to the lower index (stable sort on -score).
- Group selection: choice scores c = s (+ score_bias); group score = max c (group_max) or the
  sum of the top-2 c (group_sum_top2); the ``topk_group`` best groups are kept and c of the
  experts in the other groups is set to -inf (``group_mask`` "neg_inf": they never win) or
  0.0 ("zero": they win over negative biased scores); then top-k of c. Weights are the unbiased scores s at the chosen experts.
- normalize: w /= Σw (softmax) or w /= (Σw + 1e-20) (sigmoid); then w *= routed_scaling_factor.
- Capacity: C = max(ceil(capacity_factor * T * k / E), min_capacity) evaluated in float64 as
  ((capacity_factor * T) * k) / E, or C = max(expert_capacity, min_capacity). Assignments are
  admitted choice-major (all j = 0 in token order, then j = 1, ...); an assignment to a full
  expert is dropped. drop_policy "zero": contributes nothing; "passthrough" (HF Switch 4.x):
  contributes w * x[t].
- Expert biases (GPT-OSS) are added to each projection's output, before any activation or
  clamp. clamped_swiglu: g = min(h, L), u = clip(u, -L, L), (u + 1) * g * sigmoid(alpha * g).
"""

from __future__ import annotations

import math

import numpy as np

from .errors import MoecError


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    ez = np.exp(z)
    return ez / ez.sum(axis=-1, keepdims=True)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    with np.errstate(
        invalid="ignore"
    ):  # NaN in (a corrupt router row), NaN out: no warning
        return np.exp(-np.logaddexp(0.0, -z))


_erf = np.frompyfunc(math.erf, 1, 1)


def activate(z: np.ndarray, activation: str) -> np.ndarray:
    if activation == "silu":
        return z * _sigmoid(z)
    if activation == "gelu":  # exact (erf) GELU
        return 0.5 * z * (1.0 + _erf(z / math.sqrt(2.0)).astype(np.float64))
    if activation == "relu":
        return np.maximum(z, 0.0)
    raise MoecError(
        f"unsupported activation {activation!r} (supported: silu, gelu, relu, clamped_swiglu)"
    )


def clamped_swiglu(
    h: np.ndarray, u: np.ndarray, alpha: float, limit: float
) -> np.ndarray:
    """GPT-OSS's gate: the gate clamped from above, the up projection on both sides (NaN stays
    NaN, as with torch.clamp), then (u + 1) * g * sigmoid(alpha * g)."""
    g = np.minimum(h, limit)
    u = np.clip(u, -limit, limit)
    return (u + 1.0) * (g * _sigmoid(alpha * g))


def topk_lower_index(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest entries per row, best first; ties -> lower index."""
    return np.argsort(-scores, axis=-1, kind="stable")[..., :k]


def capacity(
    T: int, k: int, E: int, capacity_factor=None, expert_capacity=None, min_capacity=0
):
    """Per-expert capacity, or None for dropless."""
    if expert_capacity is not None:
        return max(int(expert_capacity), int(min_capacity))
    if capacity_factor is not None:
        return max(math.ceil(float(capacity_factor) * T * k / E), int(min_capacity))
    return None


def route(
    x: np.ndarray,
    router_w: np.ndarray,
    *,
    top_k: int,
    scoring: str = "softmax",
    selection: str = "plain",
    n_group: int | None = None,
    topk_group: int | None = None,
    normalize: bool = False,
    routed_scaling_factor: float = 1.0,
    router_bias: np.ndarray | None = None,
    score_bias: np.ndarray | None = None,
    group_mask: str = "neg_inf",
) -> tuple[np.ndarray, np.ndarray]:
    """(indices [T,k] best first, weights [T,k]) for float64 x [T,D], router [E,D]."""
    logits = x @ router_w.T
    if router_bias is not None:
        logits = logits + router_bias
    if scoring == "softmax":
        s = _softmax(logits)
    elif scoring == "sigmoid":
        s = _sigmoid(logits)
    else:
        raise MoecError(
            f"unsupported scoring {scoring!r} (supported: softmax, sigmoid)"
        )
    choice = s if score_bias is None else s + score_bias
    T, E = s.shape
    if selection != "plain":
        if not n_group or not topk_group or E % n_group:
            raise MoecError("group selection needs n_group dividing E and topk_group")
        grouped = choice.reshape(T, n_group, E // n_group)
        if selection == "group_max":
            gscore = grouped.max(axis=-1)
        elif selection == "group_sum_top2":
            gscore = -np.sort(-grouped, axis=-1)[..., :2].sum(axis=-1)
        else:
            raise MoecError(f"unsupported selection {selection!r}")
        keep_groups = topk_lower_index(gscore, topk_group)
        mask = np.zeros((T, n_group), dtype=bool)
        np.put_along_axis(mask, keep_groups, True, axis=-1)
        masked = 0.0 if group_mask == "zero" else -np.inf
        choice = np.where(np.repeat(mask, E // n_group, axis=-1), choice, masked)
    idx = topk_lower_index(choice, top_k)
    w = np.take_along_axis(s, idx, axis=-1)
    if normalize:
        denom = w.sum(axis=-1, keepdims=True)
        if scoring == "sigmoid":
            denom = denom + 1e-20
        w = w / denom
    return idx, w * float(routed_scaling_factor)


def admit(idx: np.ndarray, E: int, cap: int | None) -> np.ndarray:
    """keep [T,k]: choice-major, token-order admission against capacity ``cap``."""
    T, k = idx.shape
    keep = np.ones((T, k), dtype=bool)
    if cap is None:
        return keep
    fill = np.zeros(E, dtype=np.int64)
    for j in range(k):
        for t in range(T):
            e = idx[t, j]
            if fill[e] < cap:
                fill[e] += 1
            else:
                keep[t, j] = False
    return keep


def expert_forward(
    xs: np.ndarray,
    weights: tuple[np.ndarray, ...],
    activation: str,
    biases: tuple[np.ndarray, ...] | None = None,
    swiglu_alpha: float = 1.702,
    swiglu_limit: float | None = None,
) -> np.ndarray:
    """One expert on rows xs [n,D]: gated (gate [F,D], up [F,D], down [D,F]) or (in, out),
    with optional per-projection biases ([F], [F], [D] or [F], [D])."""
    if biases is None:
        biases = tuple(np.zeros(w.shape[0]) for w in weights)
    if len(weights) == 3:
        (gate, up, down), (bg, bu, bd) = weights, biases
        h, u = xs @ gate.T + bg, xs @ up.T + bu
        if activation == "clamped_swiglu":
            if swiglu_limit is None:
                raise MoecError("activation clamped_swiglu needs swiglu_limit")
            mid = clamped_swiglu(h, u, swiglu_alpha, swiglu_limit)
        else:
            mid = activate(h, activation) * u
        return mid @ down.T + bd
    if activation == "clamped_swiglu":
        raise MoecError("activation clamped_swiglu needs gated experts")
    (w_in, w_out), (b_in, b_out) = weights, biases
    return activate(xs @ w_in.T + b_in, activation) @ w_out.T + b_out


def _as_f64(a):
    return None if a is None else np.asarray(a, dtype=np.float64)


def moe_layer_reference(
    x,
    router_w,
    experts,
    *,
    top_k: int,
    scoring: str = "softmax",
    selection: str = "plain",
    n_group: int | None = None,
    topk_group: int | None = None,
    group_mask: str = "neg_inf",
    normalize: bool = False,
    routed_scaling_factor: float = 1.0,
    activation: str = "silu",
    router_bias=None,
    score_bias=None,
    capacity_factor: float | None = None,
    expert_capacity: int | None = None,
    min_capacity: int = 0,
    drop_policy: str = "zero",
    shared=None,
    shared_gate=None,
    expert_biases=None,
    swiglu_alpha: float = 1.702,
    swiglu_limit: float | None = None,
):
    """y [T,D] float64, expert_counts [E] int64, expert_kept [E] int64.

    ``experts``: stacked (gate [E,F,D], up [E,F,D], down [E,D,F]) or (in [E,F,D], out [E,D,F]).
    ``expert_biases``: stacked ([E,F], [E,F], [E,D]) or ([E,F], [E,D]), added to each
    projection. ``shared``: (gate [Fs,D], up [Fs,D], down [D,Fs]) always-on gated expert (same
    activation, no biases); ``shared_gate``: [1,D], scales the shared output by
    sigmoid(x · shared_gateᵀ). ``swiglu_alpha``/``swiglu_limit``: clamped_swiglu only.
    """
    f64 = _as_f64
    x = f64(x)
    if x.ndim != 2:
        raise MoecError(f"input must be [T, D], got shape {list(x.shape)}")
    router_w = f64(router_w)
    experts = tuple(f64(a) for a in experts)
    if len(experts) not in (2, 3):
        raise MoecError("experts must be (gate, up, down) or (in, out)")
    if expert_biases is not None:
        expert_biases = tuple(f64(b) for b in expert_biases)
        if len(expert_biases) != len(experts):
            raise MoecError(
                "expert_biases must match experts (one bias per projection)"
            )
    act = {"swiglu_alpha": swiglu_alpha, "swiglu_limit": swiglu_limit}
    if drop_policy not in ("zero", "passthrough"):
        raise MoecError(
            f"unsupported drop_policy {drop_policy!r} (supported: zero, passthrough)"
        )
    T, D = x.shape
    E = router_w.shape[0]
    idx, w = route(
        x,
        router_w,
        top_k=top_k,
        scoring=scoring,
        selection=selection,
        n_group=n_group,
        topk_group=topk_group,
        normalize=normalize,
        routed_scaling_factor=routed_scaling_factor,
        router_bias=f64(router_bias),
        score_bias=f64(score_bias),
        group_mask=group_mask,
    )
    cap = capacity(T, top_k, E, capacity_factor, expert_capacity, min_capacity)
    keep = admit(idx, E, cap)
    counts = np.bincount(idx.ravel(), minlength=E).astype(np.int64)
    kept = np.bincount(idx[keep], minlength=E).astype(np.int64)

    y = np.zeros((T, D), dtype=np.float64)
    for e in range(E):
        rows, cols = np.nonzero((idx == e) & keep)
        if rows.size:
            biases = (
                None if expert_biases is None else tuple(b[e] for b in expert_biases)
            )
            out = expert_forward(
                x[rows], tuple(a[e] for a in experts), activation, biases, **act
            )
            np.add.at(y, rows, w[rows, cols][:, None] * out)
    if drop_policy == "passthrough":
        rows, cols = np.nonzero(~keep)
        np.add.at(y, rows, w[rows, cols][:, None] * x[rows])
    if shared is not None:
        s_out = expert_forward(x, tuple(f64(a) for a in shared), activation, **act)
        if shared_gate is not None:
            s_out = _sigmoid(x @ f64(shared_gate).T) * s_out
        y += s_out
    return y, counts, kept


def reference_from_spec(
    spec, operands: dict[str, np.ndarray], x
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run the reference for a LayerSpec with weights from ``weights.load_operands``."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != spec.hidden:
        raise MoecError(f"input must be [T, {spec.hidden}], got shape {list(x.shape)}")
    if spec.tokens is not None and x.shape[0] != spec.tokens:
        raise MoecError(
            f"input has {x.shape[0]} tokens, the layer is static with T = {spec.tokens}"
        )
    expert_roles = spec.expert_roles
    expert_biases = None
    if spec.expert_bias_names:
        expert_biases = tuple(operands[f"{r}_bias"] for r in expert_roles)
    shared = None
    if spec.shared_ffn:
        shared = tuple(operands[r] for r in ("shared_gate", "shared_up", "shared_down"))
    return moe_layer_reference(
        x,
        operands["router"],
        tuple(operands[r] for r in expert_roles),
        top_k=spec.top_k,
        scoring=spec.scoring,
        selection=spec.selection,
        n_group=spec.n_group,
        topk_group=spec.topk_group,
        group_mask=spec.group_mask,
        normalize=spec.normalize,
        routed_scaling_factor=spec.routed_scaling_factor,
        activation=spec.activation,
        router_bias=operands.get("router_bias"),
        score_bias=operands.get("score_bias"),
        capacity_factor=spec.capacity_factor,
        expert_capacity=spec.expert_capacity,
        min_capacity=spec.min_capacity,
        drop_policy=spec.drop_policy,
        shared=shared,
        shared_gate=operands.get("shared_expert_gate"),
        expert_biases=expert_biases,
        swiglu_alpha=spec.swiglu_alpha,
        swiglu_limit=spec.swiglu_limit,
    )
