//===- FuseExpertCombine.cpp - the experts add their rows into the tokens -===//
//
// Part of moec. Implements moe-fuse-expert-combine: a combine over the rows
// of experts that gather the tokens becomes a weight per row
// (moe.scatter_weights) and experts with `combine`, whose second projection
// weights each row and adds it into its token as it stores it. The experts'
// output rows are then never stored in full, and no pass reads them back.
//
//===----------------------------------------------------------------------===//

#include "moec/Dialect/MoE/IR/MoE.h"
#include "moec/Dialect/MoE/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEFUSEEXPERTCOMBINE
#include "moec/Dialect/MoE/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

/// The moe.experts that produces `rows`, gathers the tokens and has no other
/// reader; otherwise null, with `why` saying what stands in the way.
ExpertsOp gatheringExperts(Operation *combine, DropPolicy policy, Value rows,
                           std::string &why) {
  if (policy == DropPolicy::Passthrough) {
    why = "the passthrough drop policy adds the tokens of dropped "
          "assignments";
    return {};
  }
  auto experts = rows.getDefiningOp<ExpertsOp>();
  if (!experts) {
    why = "its rows do not come from moe.experts";
    return {};
  }
  if (!experts.getGather()) {
    why = "the experts read a copy of their rows, not the tokens through a "
          "gather (see moe-fuse-dispatch-gather)";
    return {};
  }
  if (!rows.hasOneUse()) {
    why = "the experts' rows have another reader";
    return {};
  }
  if (combine->getResult(0).getType() != experts.getTokens().getType()) {
    why = "its result type differs from the tokens'";
    return {};
  }
  return experts;
}

/// `experts` over the same rows, with `rowWeights` as its combine: its
/// result replaces `combine`'s.
void combineInExperts(IRRewriter &rewriter, ExpertsOp experts,
                      Operation *combine, Value rowWeights) {
  auto fused = ExpertsOp::create(
      rewriter, experts.getLoc(), combine->getResult(0).getType(),
      experts.getTokens(), experts.getGather(), experts.getOffsets(),
      experts.getCounts(), experts.getWeights(), experts.getBiases(),
      rowWeights, /*into=*/Value(), experts.getActivationAttr(),
      experts.getSwigluAlphaAttr(), experts.getSwigluLimitAttr());
  rewriter.replaceOp(combine, fused.getResult());
  rewriter.eraseOp(experts);
}

/// The routing weights as one f32 per entry of `gather`.
RankedTensorType rowWeightsType(ExpertsOp experts) {
  auto gather = cast<RankedTensorType>(experts.getGather().getType());
  return RankedTensorType::get(gather.getShape(),
                               Float32Type::get(experts.getContext()));
}

struct MoEFuseExpertCombinePass
    : public moe::impl::MoEFuseExpertCombineBase<MoEFuseExpertCombinePass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<Operation *> combines;
    getOperation().walk([&](Operation *op) {
      if (isa<CombineSortedOp, CombineCapacityOp>(op))
        combines.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (Operation *op : combines) {
      std::string why;
      Location loc = op->getLoc();
      StringRef name = op->getName().getStringRef();
      Type rows = op->getOperand(0).getType();
      bool fused = isa<CombineSortedOp>(op)
                       ? fuse(rewriter, cast<CombineSortedOp>(op), why)
                       : fuse(rewriter, cast<CombineCapacityOp>(op), why);
      if (fused)
        ++numFused;
      if (!explain)
        continue;
      if (fused)
        emitRemark(loc) << name << ": the second projection weights each row "
                        << "and adds it into its token; the experts' rows "
                        << rows << " are never stored";
      else
        emitRemark(loc) << name << " keeps its pass: " << why;
    }
  }

  bool fuse(IRRewriter &rewriter, CombineSortedOp combine, std::string &why) {
    ExpertsOp experts = gatheringExperts(combine, combine.getDropPolicy(),
                                         combine.getRows(), why);
    if (!experts)
      return false;
    auto sort = experts.getGather().getDefiningOp<SortAssignmentsOp>();
    if (!sort || sort.getSources() != experts.getGather() ||
        sort.getPositions() != combine.getPositions() ||
        sort.getOffsets() != experts.getOffsets()) {
      why = "its positions are not the bookkeeping of the experts' gather";
      return false;
    }
    rewriter.setInsertionPoint(experts);
    Value rowWeights = ScatterWeightsOp::create(
        rewriter, combine.getLoc(), rowWeightsType(experts),
        combine.getWeights(), combine.getPositions(), /*indices=*/Value(),
        /*capacity=*/Value());
    combineInExperts(rewriter, experts, combine, rowWeights);
    return true;
  }

  bool fuse(IRRewriter &rewriter, CombineCapacityOp combine, std::string &why) {
    ExpertsOp experts = gatheringExperts(combine, combine.getDropPolicy(),
                                         combine.getBuffer(), why);
    if (!experts)
      return false;
    auto assign = experts.getGather().getDefiningOp<AssignSlotsOp>();
    if (!assign || assign.getSources() != experts.getGather() ||
        assign.getSlots() != combine.getSlots() ||
        assign.getIndices() != combine.getIndices() ||
        assign.getCounts() != experts.getCounts()) {
      why = "its slots are not the bookkeeping of the experts' gather";
      return false;
    }
    rewriter.setInsertionPoint(experts);
    Value rowWeights = ScatterWeightsOp::create(
        rewriter, combine.getLoc(), rowWeightsType(experts),
        combine.getWeights(), combine.getSlots(), combine.getIndices(),
        assign.getCapacity());
    combineInExperts(rewriter, experts, combine, rowWeights);
    return true;
  }
};

} // namespace
