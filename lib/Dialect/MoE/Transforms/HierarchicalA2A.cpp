//===- HierarchicalA2A.cpp - two-stage all-to-all over nodes --------------===//
//
// Part of moec. Implements the moe-hierarchical-a2a pass: a flat exchange
// among W ranks becomes an intra-node stage (rows regrouped by destination
// local index) and an inter-node stage between the ranks of one local index.
//
//===----------------------------------------------------------------------===//

#include "CountTensors.h"

#include "moec/Dialect/MoE/IR/MoE.h"
#include "moec/Dialect/MoE/Transforms/A2ACostModel.h"
#include "moec/Dialect/MoE/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include "llvm/Support/FormatVariadic.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEHIERARCHICALA2A
#include "moec/Dialect/MoE/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

/// The attribute on the entry function of a model with two-stage exchanges.
constexpr StringLiteral kRanksPerNodeAttr = "moe.ranks_per_node";

/// Builds the two stages of one exchange among W = N · G ranks. Rank
/// (node n, local index l) is world rank n · G + l.
class TwoStageBuilder {
public:
  TwoStageBuilder(OpBuilder &b, AllToAllOp flat, int64_t ranksPerNode)
      : b(b), loc(flat.getLoc()), flat(flat),
        worldSize(flat.getWorldSize()), perNode(ranksPerNode),
        nodes(worldSize / ranksPerNode) {}

  void build() {
    b.setInsertionPoint(flat);
    // The flat send counts, by destination (node m, local index l').
    Value sendNG = counts::reshape(b, loc, flat.getSendCounts(), nodes,
                                   perNode);
    Value sendGN = counts::transpose(b, loc, sendNG);
    // 1. Every local peer l' learns how many rows this rank forwards to it
    //    for each node: fine[l][m] = rows from local source l for (m, me).
    Value perPeer = counts::splat(b, loc, perNode, nodes);
    Value fine = counts::reshape(
        b, loc,
        exchange(counts::flatten(b, loc, sendGN), perPeer, perPeer,
                 A2AStage::IntraNode, worldSize)
            .getReceived(),
        perNode, nodes);
    // 2. Intra-node: to peer l' the rows for (m, l'), every m.
    Value byPeer = regroup(flat.getPayload(), sendNG, perNode);
    Value intra = exchange(byPeer, counts::rowSums(b, loc, sendGN),
                           counts::rowSums(b, loc, fine), A2AStage::IntraNode)
                      .getReceived();
    // 3. Inter-node: to node m the rows of every local source for (m, me).
    Value byNode = regroup(intra, fine, nodes);
    Value fineNG = counts::transpose(b, loc, fine);
    Value recvCounts = flat.getKnownRecvCounts();
    if (!recvCounts) {
      Value perNodeCounts = counts::splat(b, loc, nodes, perNode);
      recvCounts = exchange(counts::flatten(b, loc, fineNG), perNodeCounts,
                            perNodeCounts, A2AStage::InterNode, worldSize)
                       .getReceived();
    }
    // recvCounts is by source (node n, local index l): the flat order.
    Value fromNode = counts::rowSums(
        b, loc, counts::reshape(b, loc, recvCounts, nodes, perNode));
    Value received = exchange(byNode, counts::rowSums(b, loc, fineNG),
                              fromNode, A2AStage::InterNode)
                         .getReceived();
    if (received.getType() != flat.getReceived().getType())
      received = tensor::CastOp::create(b, loc, flat.getReceived().getType(),
                                        received);
    if (recvCounts.getType() != flat.getRecvCounts().getType())
      recvCounts = tensor::CastOp::create(
          b, loc, flat.getRecvCounts().getType(), recvCounts);
    flat.getReceived().replaceAllUsesWith(received);
    flat.getRecvCounts().replaceAllUsesWith(recvCounts);
    flat.erase();
  }

private:
  /// One stage: `send` / `known` have one count per rank of the stage.
  AllToAllOp exchange(Value payload, Value send, Value known, A2AStage stage,
                      int64_t receivedRows = ShapedType::kDynamic) {
    auto payloadType = cast<RankedTensorType>(payload.getType());
    SmallVector<int64_t> shape(payloadType.getShape());
    shape[0] = receivedRows;
    int64_t span = stage == A2AStage::IntraNode ? perNode : nodes;
    return AllToAllOp::create(
        b, loc, payloadType.clone(shape),
        RankedTensorType::get({span}, b.getI32Type()), payload, send, known,
        b.getI64IntegerAttr(worldSize), A2AStageAttr::get(b.getContext(), stage),
        b.getI64IntegerAttr(perNode));
  }

  /// The segments of `rows` laid out by `grid` [A, B], in (b, a) order.
  Value regroup(Value rows, Value grid, int64_t groups) {
    auto type = cast<RankedTensorType>(rows.getType());
    auto offsetsType = RankedTensorType::get({groups + 1}, b.getI32Type());
    return TransposeSegmentsOp::create(b, loc, type, offsetsType, rows, grid)
        .getResult();
  }

  OpBuilder &b;
  Location loc;
  AllToAllOp flat;
  int64_t worldSize, perNode, nodes;
};

/// Bytes one rank sends in `op`, for the cost model: static rows, or
/// `tokens` · k rows of a dynamic payload.
double bytesPerRank(AllToAllOp op, int64_t tokens) {
  auto type = cast<RankedTensorType>(op.getPayload().getType());
  double rowBytes = type.getElementTypeBitWidth() / 8.0;
  for (int64_t i = 1; i < type.getRank(); ++i)
    rowBytes *= type.getDimSize(i);
  if (!type.isDynamicDim(0))
    return rowBytes * type.getDimSize(0);
  int64_t topK = 1;
  if (auto fn = op->getParentOfType<func::FuncOp>())
    fn.walk([&](RouteOp route) { topK = route.getTopK(); });
  return rowBytes * tokens * topK;
}

std::string describe(const A2APrediction &p) {
  return llvm::formatv("{0:F1} us (intra-node {1} msgs, {2} B; inter-node "
                       "{3} msgs, {4} B)",
                       p.seconds * 1e6,
                       static_cast<int64_t>(p.intraNode.messages),
                       static_cast<int64_t>(p.intraNode.bytes),
                       static_cast<int64_t>(p.interNode.messages),
                       static_cast<int64_t>(p.interNode.bytes))
      .str();
}

struct MoEHierarchicalA2APass
    : public moe::impl::MoEHierarchicalA2ABase<MoEHierarchicalA2APass> {
  using MoEHierarchicalA2ABase::MoEHierarchicalA2ABase;

  void runOnOperation() override {
    if (policy != "always" && policy != "cost-model") {
      getOperation()->emitError()
          << "moe-hierarchical-a2a: unknown policy '" << policy
          << "' (always or cost-model)";
      return signalPassFailure();
    }
    if (ranksPerNode < 1) {
      getOperation()->emitError()
          << "moe-hierarchical-a2a: ranks-per-node must be at least 1, got "
          << ranksPerNode.getValue();
      return signalPassFailure();
    }
    SmallVector<AllToAllOp> flat;
    getOperation()->walk([&](AllToAllOp op) {
      if (op.getStage() == A2AStage::Flat)
        flat.push_back(op);
    });
    OpBuilder b(&getContext());
    for (AllToAllOp op : flat) {
      int64_t worldSize = op.getWorldSize();
      if (worldSize % ranksPerNode != 0) {
        op.emitOpError() << "moe-hierarchical-a2a: ranks-per-node = "
                         << ranksPerNode.getValue() << " does not divide world_size = "
                         << worldSize;
        return signalPassFailure();
      }
      if (ranksPerNode == 1 || ranksPerNode == worldSize)
        continue; // One node, or one rank per node: a single stage.
      int64_t rank = cast<RankedTensorType>(op.getPayload().getType())
                         .getRank();
      if (rank > 2) {
        op.emitOpError() << "moe-hierarchical-a2a: rows of rank " << rank
                         << " are not supported (rank 1 or 2)";
        return signalPassFailure();
      }
      if (!chooseTwoStages(op)) {
        ++numKeptFlat;
        continue;
      }
      auto fn = op->getParentOfType<func::FuncOp>();
      TwoStageBuilder(b, op, ranksPerNode).build();
      ++numRewritten;
      if (fn)
        fn->setAttr(kRanksPerNodeAttr, b.getI64IntegerAttr(ranksPerNode));
    }
  }

  /// Whether `op` becomes two stages, per the policy (reported if asked).
  bool chooseTwoStages(AllToAllOp op) {
    if (policy == "always" && !explain)
      return true;
    A2ATopology topo;
    topo.worldSize = op.getWorldSize();
    topo.ranksPerNode = ranksPerNode;
    topo.intraNode = {intraLatencyUs * 1e-6, intraGBps * 1e9};
    topo.interNode = {interLatencyUs * 1e-6, interGBps * 1e9};
    double bytes = bytesPerRank(op, tokensPerRank);
    bool known = static_cast<bool>(op.getKnownRecvCounts());
    A2APrediction flatCost = predictFlatA2A(topo, bytes, known);
    A2APrediction twoStage = predictHierarchicalA2A(topo, bytes, known);
    bool choose =
        policy == "always" || twoStage.seconds < flatCost.seconds;
    if (explain)
      op.emitRemark() << llvm::formatv(
          "all-to-all of {0} B per rank over {1} ranks, {2} per node: flat "
          "{3}; hierarchical {4}: {5}",
          static_cast<int64_t>(bytes), topo.worldSize, topo.ranksPerNode,
          describe(flatCost), describe(twoStage),
          policy == "always" ? "hierarchical (--a2a=hierarchical)"
          : choose           ? "hierarchical (faster)"
                             : "flat (faster)");
    return choose;
  }
};

} // namespace
