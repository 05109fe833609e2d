"""The reference against hand-computed tiny cases."""

import math

import numpy as np
import pytest
from moec.reference import capacity, moe_layer_reference, route


def sig(z):
    return 1.0 / (1.0 + math.exp(-z))


def scaled_identity_experts(E, D, gated=False):
    """Non-gated relu experts with E_e(x) = (e + 2) * relu(x): easy to read off."""
    w_in = np.stack([np.eye(D)] * E)
    w_out = np.stack([(e + 2) * np.eye(D) for e in range(E)])
    return (w_in, w_out)


def run(logits, k, **kw):
    """Layer whose router logits equal x (router = I) and positive x."""
    x = np.asarray(logits, dtype=np.float64)
    _T, E = x.shape
    return moe_layer_reference(
        x, np.eye(E), scaled_identity_experts(E, E), top_k=k, activation="relu", **kw
    )


def test_softmax_top2_renormalized_weights():
    x = np.array([[1.0, 2.0, 3.0, 0.5], [4.0, 0.1, 0.2, 3.0], [0.3, 0.2, 0.1, 0.4]])
    idx, w = route(x, np.eye(4), top_k=2, normalize=True)
    assert idx.tolist() == [[2, 1], [0, 3], [3, 0]]
    e = math.exp
    np.testing.assert_allclose(
        w[0], [e(3) / (e(3) + e(2)), e(2) / (e(3) + e(2))], rtol=1e-14
    )
    np.testing.assert_allclose(
        w[1], [e(4) / (e(4) + e(3)), e(3) / (e(4) + e(3))], rtol=1e-14
    )
    # Without renormalization the weights are the plain softmax probabilities.
    _, w_raw = route(x, np.eye(4), top_k=2)
    z = sum(e(v) for v in x[0])
    np.testing.assert_allclose(w_raw[0], [e(3) / z, e(2) / z], rtol=1e-14)


def test_full_layer_output_by_hand():
    x = np.array([[1.0, 2.0, 3.0, 0.5]])
    y, counts, kept = run(x, 2, normalize=True)
    e = math.exp
    w2, w1 = e(3) / (e(3) + e(2)), e(2) / (e(3) + e(2))
    np.testing.assert_allclose(y[0], (w2 * 4 + w1 * 3) * x[0], rtol=1e-14)
    assert counts.tolist() == [0, 1, 1, 0] and kept.tolist() == [0, 1, 1, 0]


def test_ties_go_to_lower_index():
    x = np.array([[1.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 2.0]])
    idx, _w = route(x, np.eye(4), top_k=2)
    assert idx.tolist() == [[0, 1], [0, 1], [1, 3]]
    idx1, _ = route(x, np.eye(4), top_k=1)
    assert idx1.tolist() == [[0], [0], [1]]


def test_capacity_priority_is_choice_major():
    # t0 -> (1, 0), t1 -> (0, 2), t2 -> (0, 1); C = 2.
    logits = np.array([[2.0, 3.0, 0.0], [3.0, 0.0, 2.0], [3.0, 2.0, 0.0]])
    idx, w = route(logits, np.eye(3), top_k=2)
    assert idx.tolist() == [[1, 0], [0, 2], [0, 1]]
    y, counts, kept = run(logits, 2, expert_capacity=2)
    # First choices: t0->e1, t1->e0, t2->e0 (e0 full). Second: t0->e0 DROPPED, t1->e2, t2->e1.
    assert counts.tolist() == [3, 2, 1]
    assert kept.tolist() == [2, 2, 1]
    expected = np.zeros_like(logits)
    for t, j in [(0, 0), (1, 0), (2, 0), (1, 1), (2, 1)]:
        expected[t] += w[t, j] * (idx[t, j] + 2) * logits[t]
    np.testing.assert_allclose(y, expected, rtol=1e-14)
    # capacity_factor 1.0: C = ceil(1.0 * 3 * 2 / 3) = 2, the same drops.
    y2, _, kept2 = run(logits, 2, capacity_factor=1.0)
    np.testing.assert_array_equal(y2, y)
    assert kept2.tolist() == kept.tolist()
    # min_capacity 3 lifts the limit: dropless.
    y3, c3, k3 = run(logits, 2, capacity_factor=1.0, min_capacity=3)
    y4, _, _ = run(logits, 2)
    np.testing.assert_allclose(y3, y4, rtol=1e-14)
    assert c3.tolist() == k3.tolist()


def test_capacity_drop_order_in_token_order():
    # Every token's first choice is e0; C = 2 keeps t0 and t1, drops t2 and t3.
    logits = np.array([[3.0, 0.0], [2.0, 1.0], [5.0, 0.0], [1.0, 0.0]])
    y, counts, kept = run(logits, 1, expert_capacity=2)
    assert counts.tolist() == [4, 0] and kept.tolist() == [2, 0]
    assert np.all(y[2:] == 0.0) and np.all(np.any(y[:2] != 0.0, axis=1))


def test_passthrough_dropped_contributes_w_times_x():
    logits = np.array([[2.0, 3.0, 0.0], [3.0, 0.0, 2.0], [3.0, 2.0, 0.0]])
    _idx, w = route(logits, np.eye(3), top_k=2)
    y_zero, _, _ = run(logits, 2, expert_capacity=2)
    y_pass, _, kept = run(logits, 2, expert_capacity=2, drop_policy="passthrough")
    assert kept.tolist() == [2, 2, 1]
    # Only token 0 had a drop (choice j = 1, expert 0): it passes through scaled by its weight.
    np.testing.assert_allclose(y_pass[1:], y_zero[1:], rtol=1e-14)
    np.testing.assert_allclose(y_pass[0], y_zero[0] + w[0, 1] * logits[0], rtol=1e-14)


def test_switch_style_top1_passthrough():
    logits = np.array([[1.0, 0.0], [2.0, 0.0], [0.5, 0.0]])
    y, counts, kept = run(logits, 1, expert_capacity=1, drop_policy="passthrough")
    p = [
        1 / (1 + math.exp(-v)) for v in logits[:, 0]
    ]  # 2-way softmax = sigmoid of the difference
    assert counts.tolist() == [3, 0] and kept.tolist() == [1, 0]
    np.testing.assert_allclose(
        y[0], p[0] * 2 * logits[0], rtol=1e-14
    )  # expert 0: factor 2
    np.testing.assert_allclose(y[1], p[1] * logits[1], rtol=1e-14)  # dropped: p * x
    np.testing.assert_allclose(y[2], p[2] * logits[2], rtol=1e-14)


def test_group_max_filter_changes_the_choice():
    logits = np.array([[3.0, 0.0, 2.9, 2.8]])
    plain, _ = route(logits, np.eye(4), top_k=2)
    assert plain.tolist() == [[0, 2]]
    idx, w = route(
        logits,
        np.eye(4),
        top_k=2,
        selection="group_max",
        n_group=2,
        topk_group=1,
        routed_scaling_factor=16.0,
    )
    assert idx.tolist() == [[0, 1]]  # group {0, 1} wins by its max; e2, e3 are masked
    p = np.exp(logits[0]) / np.exp(logits[0]).sum()
    np.testing.assert_allclose(w[0], 16.0 * p[[0, 1]], rtol=1e-14)


def test_group_sum_top2_filter_changes_the_choice():
    logits = np.array([[3.0, 0.0, 2.9, 2.8]])
    plain, _ = route(logits, np.eye(4), top_k=2, scoring="sigmoid")
    assert plain.tolist() == [[0, 2]]
    idx, w = route(
        logits,
        np.eye(4),
        top_k=2,
        scoring="sigmoid",
        selection="group_sum_top2",
        n_group=2,
        topk_group=1,
        normalize=True,
        routed_scaling_factor=2.5,
    )
    # group sums: {0,1}: s(3)+s(0) = 1.45; {2,3}: s(2.9)+s(2.8) = 1.89 -> keep {2,3}
    assert idx.tolist() == [[2, 3]]
    s2, s3 = sig(2.9), sig(2.8)
    np.testing.assert_allclose(
        w[0], [2.5 * s2 / (s2 + s3 + 1e-20), 2.5 * s3 / (s2 + s3 + 1e-20)], rtol=1e-14
    )


def test_masked_groups_never_win_even_against_negative_biased_scores():
    # s = 0.5 everywhere; biased s' = [-0.1, -1.5, -4.5, -4.5]. Group {0,1} is kept; its scores
    # are negative, but the masked experts score -inf (transformers' masked_fill(..., -inf)), so
    # the kept experts are chosen. (A 0.0 mask, as in deepseek-ai's remote code, would pick 2, 3.)
    logits = np.array([[0.0, 0.0, 0.0, 0.0]])
    bias = np.array([-0.6, -2.0, -5.0, -5.0])
    idx, _ = route(
        logits,
        np.eye(4),
        top_k=2,
        scoring="sigmoid",
        score_bias=bias,
        selection="group_sum_top2",
        n_group=2,
        topk_group=1,
    )
    assert idx.tolist() == [[0, 1]]


def test_zero_group_mask_lets_masked_experts_win_over_negative_scores():
    # The same scores with group_mask "zero" (deepseek-ai's remote code, transformers < 5.6):
    # the masked experts score exactly 0.0 and beat the kept negative ones (lowest index first).
    logits = np.array([[0.0, 0.0, 0.0, 0.0]])
    bias = np.array([-0.6, -2.0, -5.0, -5.0])
    idx, _ = route(
        logits,
        np.eye(4),
        top_k=2,
        scoring="sigmoid",
        score_bias=bias,
        selection="group_sum_top2",
        n_group=2,
        topk_group=1,
        group_mask="zero",
    )
    assert idx.tolist() == [[2, 3]]


def test_sigmoid_bias_changes_selection_not_weights():
    logits = np.array([[2.0, 1.0, 0.0, -1.0]])
    bias = np.array([0.0, 0.0, 5.0, 0.0])
    idx0, w0 = route(logits, np.eye(4), top_k=2, scoring="sigmoid")
    assert idx0.tolist() == [[0, 1]]
    np.testing.assert_allclose(w0[0], [sig(2), sig(1)], rtol=1e-14)
    idx, w = route(logits, np.eye(4), top_k=2, scoring="sigmoid", score_bias=bias)
    assert idx.tolist() == [[2, 0]]
    np.testing.assert_allclose(w[0], [sig(0), sig(2)], rtol=1e-14)  # unbiased scores
    _, wn = route(
        logits, np.eye(4), top_k=2, scoring="sigmoid", score_bias=bias, normalize=True
    )
    np.testing.assert_allclose(
        wn[0], [sig(0) / (sig(0) + sig(2)), sig(2) / (sig(0) + sig(2))], rtol=1e-14
    )


def test_router_bias_is_added_to_logits():
    logits = np.array([[1.0, 2.0, 0.0]])
    idx, w = route(
        logits,
        np.eye(3),
        top_k=2,
        router_bias=np.array([0.0, 0.0, 3.0]),
        normalize=True,
    )
    assert idx.tolist() == [[2, 1]]
    e = math.exp
    np.testing.assert_allclose(
        w[0], [e(3) / (e(3) + e(2)), e(2) / (e(3) + e(2))], rtol=1e-14
    )


def test_shared_expert_with_gate():
    D = 2
    x = np.array([[1.0, -1.0]])
    experts = scaled_identity_experts(2, D)
    sg, su, sd = np.eye(D), np.eye(D), 3 * np.eye(D)
    gate = np.array([[0.5, 0.0]])
    y0, _, _ = moe_layer_reference(x, np.eye(D), experts, top_k=1, activation="relu")
    y, _, _ = moe_layer_reference(
        x,
        np.eye(D),
        experts,
        top_k=1,
        activation="relu",
        shared=(sg, su, sd),
        shared_gate=gate,
    )
    shared = 3 * np.maximum(x[0], 0) * x[0]
    np.testing.assert_allclose(y[0], y0[0] + sig(0.5) * shared, rtol=1e-14)


def test_gated_experts_and_activations():
    x = np.array([[0.5, -1.5]])
    gate = np.array([[[1.0, 0.0], [0.0, 1.0]]])
    up = np.array([[[2.0, 0.0], [0.0, 2.0]]])
    down = np.array([[[1.0, 0.0], [0.0, 1.0]]])
    for act, f in [
        ("silu", lambda v: v * sig(v)),
        ("relu", lambda v: max(v, 0.0)),
        ("gelu", lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2)))),
    ]:
        y, _, _ = moe_layer_reference(
            x, np.ones((1, 2)), (gate, up, down), top_k=1, activation=act
        )
        np.testing.assert_allclose(y[0], [f(v) * 2 * v for v in x[0]], rtol=1e-14)


def test_capacity_formula():
    assert capacity(8, 2, 8, capacity_factor=1.25) == 3  # ceil(2.5)
    assert capacity(8, 2, 8, capacity_factor=1.0) == 2
    assert capacity(8, 2, 8, capacity_factor=1.0, min_capacity=4) == 4
    assert capacity(8, 2, 8, expert_capacity=5) == 5
    assert capacity(8, 2, 8) is None


def test_dropless_equals_capacity_at_least_T():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 4))
    args = (x, rng.standard_normal((5, 4)), scaled_identity_experts(5, 4))
    y0, c0, _k0 = moe_layer_reference(*args, top_k=2)
    y1, c1, k1 = moe_layer_reference(*args, top_k=2, expert_capacity=6)
    np.testing.assert_array_equal(y0, y1)
    assert c0.tolist() == k1.tolist() == c1.tolist()


def test_bad_input_rank():
    with pytest.raises(Exception, match="input must be"):
        moe_layer_reference(
            np.zeros(3), np.eye(3), scaled_identity_experts(3, 3), top_k=1
        )
