//===- A2ACostModel.cpp - alpha-beta model of flat/hierarchical a2a -------===//
//
// Part of moec.
//
//===----------------------------------------------------------------------===//

#include "moec/Dialect/MoE/Transforms/A2ACostModel.h"

#include <algorithm>

using namespace mlir::moe;

namespace {

constexpr double kCountBytes = 4;

/// `messages` messages carrying `bytes` in all over `link`.
LinkTraffic over(const LinkModel &link, double messages, double bytes) {
  return {messages, bytes,
          messages * link.latencySeconds + bytes / link.bytesPerSecond};
}

void add(LinkTraffic &into, const LinkTraffic &t) {
  into.messages += t.messages;
  into.bytes += t.bytes;
  into.seconds += t.seconds;
}

} // namespace

A2APrediction mlir::moe::predictFlatA2A(const A2ATopology &topo,
                                        double bytesPerRank,
                                        bool countsKnown) {
  double w = topo.worldSize, g = topo.ranksPerNode;
  A2APrediction p;
  // One round of counts, one of rows; both link classes work at once.
  auto round = [&](double intraBytes, double interBytes) {
    LinkTraffic intra = over(topo.intraNode, g - 1, intraBytes);
    LinkTraffic inter = over(topo.interNode, w - g, interBytes);
    add(p.intraNode, intra);
    add(p.interNode, inter);
    p.seconds += std::max(intra.seconds, inter.seconds);
  };
  if (!countsKnown)
    round((g - 1) * kCountBytes, (w - g) * kCountBytes);
  round(bytesPerRank * (g - 1) / w, bytesPerRank * (w - g) / w);
  return p;
}

A2APrediction mlir::moe::predictHierarchicalA2A(const A2ATopology &topo,
                                                double bytesPerRank,
                                                bool countsKnown) {
  double w = topo.worldSize, g = topo.ranksPerNode, n = w / g;
  A2APrediction p;
  auto stage = [&](LinkTraffic &into, const LinkModel &link, double messages,
                   double bytes) {
    LinkTraffic t = over(link, messages, bytes);
    add(into, t);
    p.seconds += t.seconds;
  };
  // Intra-node: n counts to every local peer, then the rows for each
  // destination local index; a rank then holds, in expectation, its own
  // volume again, for every node.
  stage(p.intraNode, topo.intraNode, g - 1, (g - 1) * n * kCountBytes);
  stage(p.intraNode, topo.intraNode, g - 1, bytesPerRank * (g - 1) / g);
  // Inter-node: g counts to every other node, then the rows.
  if (!countsKnown)
    stage(p.interNode, topo.interNode, n - 1, (n - 1) * g * kCountBytes);
  stage(p.interNode, topo.interNode, n - 1, bytesPerRank * (n - 1) / n);
  return p;
}
