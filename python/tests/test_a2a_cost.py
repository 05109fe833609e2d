"""moec.a2a_cost: the alpha-beta model against values worked by hand, and the
traffic accounting against small routings counted by hand.

The same hand-worked model values pin the compiler's C++ model
(test/Dialect/MoE/Transforms/moe-hierarchical-a2a-cost-model.mlir).
"""

import pytest

from moec import a2a_cost

S = 65536 * 64 * 4  # bytes one rank sends


@pytest.mark.parametrize("w, g, known, flat_us, hier_us", [
    # W = 8 on 4 nodes, counts unknown: flat 60.0 us of counts + 311.66 us
    # of rows; hierarchical 3.0 + 21.64 + 30.0 + 281.66 us.
    (8, 2, False, 371.65872, 336.30011),
    # W = 4 on 2 nodes, counts known: flat 187.77 us; hierarchical 3.0 +
    # 21.64 + 177.77 us.
    (4, 2, True, 187.77216, 202.41353),
])
def test_model_matches_hand_values(w, g, known, flat_us, hier_us):
    assert a2a_cost.predict_flat(w, g, S, known)["seconds"] * 1e6 == pytest.approx(flat_us, abs=1e-4)
    assert a2a_cost.predict_hierarchical(w, g, S, known)["seconds"] * 1e6 == pytest.approx(
        hier_us, abs=1e-4)


def test_hierarchical_sends_n_minus_1_inter_node_messages():
    p = a2a_cost.predict_hierarchical(64, 8, 1e6, True)
    assert p["inter_node"]["messages"] == 7  # N - 1
    assert a2a_cost.predict_flat(64, 8, 1e6, True)["inter_node"]["messages"] == 56  # W - G


def test_traffic_by_hand():
    # 4 ranks, 4 experts (one each), 2 nodes of 2; rank r routes 1 row to
    # every expert but its own: 3 rows out, 3 in.
    routing = [a2a_cost.RankRouting(tokens=3, expert_counts=[int(e != r) for e in range(4)])
               for r in range(4)]
    layer = dict(hidden=2, top_k=1, lowering="dynamic")
    flat = a2a_cost.flat_traffic(routing, **layer)
    # counts (4 B to 3 peers), rows (8 B to 3 peers), rows back (3 peers).
    assert flat[0] == {"calls": 3, "messages_sent": 9, "messages_received": 9,
                       "bytes_sent": 3 * 4 + 3 * 8 + 3 * 8, "bytes_received": 60}
    hier = a2a_cost.hierarchical_traffic(routing, 2, **layer)[0]
    # Per exchange: 2 counts (8 B) and the rows for local index 1 to the
    # local peer; then to the other node what both local ranks sent it for
    # this rank's local index.
    # counts exchange: rows for (0,1),(1,1) = 1 + 1 int32 -> 8 B intra; to
    # node 1: rows of ranks 0 and 1 for rank 2 = 2 int32 -> 8 B.
    # rows: rank 0 sends rank 1 its rows for ranks 1 and 3 (2 rows, 16 B);
    # forwards to rank 2 the rows of ranks 0 and 1 for rank 2 (2 rows).
    # back: the same shape.
    assert hier["intra_node"] == {"calls": 6, "messages_sent": 6, "messages_received": 6,
                                  "bytes_sent": 3 * 8 + 8 + 16 + 16,
                                  "bytes_received": 3 * 8 + 8 + 16 + 16}
    assert hier["inter_node"] == {"calls": 3, "messages_sent": 3, "messages_received": 3,
                                  "bytes_sent": 8 + 16 + 16, "bytes_received": 8 + 16 + 16}
