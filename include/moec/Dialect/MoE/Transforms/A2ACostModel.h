//===- A2ACostModel.h - alpha-beta model of flat/hierarchical a2a -*- C++ -*-===//
//
// Part of moec. Predicts one rank's messages, bytes and time for one
// all-to-all exchange, flat or hierarchical, under the Hockney (alpha-beta)
// model: a rank's messages over one class of link (intra-node or
// inter-node) cost latency + bytes / bandwidth each, one after another; the
// two classes of link work at the same time. docs/expert-parallelism.md
// derives the formulas and tabulates them from EP = 8 to EP = 2048.
//
//===----------------------------------------------------------------------===//

#ifndef MOEC_DIALECT_MOE_TRANSFORMS_A2ACOSTMODEL_H
#define MOEC_DIALECT_MOE_TRANSFORMS_A2ACOSTMODEL_H

#include <cstdint>

namespace mlir::moe {

/// One class of link: a message of b bytes costs latency + b / bandwidth.
struct LinkModel {
  double latencySeconds;
  double bytesPerSecond;
};

/// W ranks, G per node; the defaults are an H100 cluster's figures
/// (NVLink 4 within a node, one 400 Gb/s InfiniBand NIC per GPU across).
struct A2ATopology {
  int64_t worldSize = 1;
  int64_t ranksPerNode = 1;
  LinkModel intraNode{3e-6, 450e9};
  LinkModel interNode{10e-6, 50e9};
};

/// One rank's traffic over one class of link.
struct LinkTraffic {
  double messages = 0;
  double bytes = 0;
  double seconds = 0;
};

struct A2APrediction {
  LinkTraffic intraNode, interNode;
  double seconds = 0; // The whole exchange.
};

/// A flat exchange in which every rank sends `bytesPerRank` spread evenly
/// over the W ranks (its own share is copied locally), preceded by a 4-byte
/// count to every peer unless the receivers know the counts.
A2APrediction predictFlatA2A(const A2ATopology &topo, double bytesPerRank,
                             bool countsKnown);

/// The same exchange in two stages (moe-hierarchical-a2a): within the node,
/// by destination local index (after the N = W / G per-node counts), then
/// across nodes between ranks of the same local index (after G counts per
/// node unless the final counts are known).
A2APrediction predictHierarchicalA2A(const A2ATopology &topo,
                                     double bytesPerRank, bool countsKnown);

} // namespace mlir::moe

#endif // MOEC_DIALECT_MOE_TRANSFORMS_A2ACOSTMODEL_H
