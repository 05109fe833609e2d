//===- FuseDispatchGather.cpp - the experts read the tokens in place ------===//
//
// Part of moec. Implements moe-fuse-dispatch-gather: a sorted dispatch whose
// rows only feed the experts becomes its bookkeeping (moe.sort_assignments)
// and a gather in the experts' first projections, so the permuted [T·k, D]
// copy of the tokens is neither written nor read back.
//
//===----------------------------------------------------------------------===//

#include "moec/Dialect/MoE/IR/MoE.h"
#include "moec/Dialect/MoE/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEFUSEDISPATCHGATHER
#include "moec/Dialect/MoE/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

/// The moe.experts that is the only reader of `dispatch`'s rows, over its
/// segments, and reads them as they are; null otherwise.
ExpertsOp soleExperts(DispatchSortedOp dispatch) {
  Value rows = dispatch.getRows();
  if (!rows.hasOneUse())
    return {};
  auto experts = dyn_cast<ExpertsOp>(*rows.getUsers().begin());
  if (!experts || experts.getTokens() != rows || experts.getGather() ||
      experts.getOffsets() != dispatch.getOffsets())
    return {};
  return experts;
}

struct MoEFuseDispatchGatherPass
    : public moe::impl::MoEFuseDispatchGatherBase<MoEFuseDispatchGatherPass> {
  void runOnOperation() override {
    SmallVector<DispatchSortedOp> dispatches;
    getOperation().walk([&](DispatchSortedOp op) { dispatches.push_back(op); });
    IRRewriter rewriter(&getContext());
    for (DispatchSortedOp dispatch : dispatches) {
      ExpertsOp experts = soleExperts(dispatch);
      if (!experts)
        continue;
      // One source row per sorted row: the rows' count, in the positions'
      // index type.
      auto sourcesType = RankedTensorType::get(
          {dispatch.getRows().getType().getDimSize(0)},
          dispatch.getPositions().getType().getElementType());
      rewriter.setInsertionPoint(dispatch);
      auto sort = SortAssignmentsOp::create(
          rewriter, dispatch.getLoc(),
          TypeRange{sourcesType, dispatch.getOffsets().getType(),
                    dispatch.getPositions().getType(),
                    dispatch.getCounts().getType()},
          dispatch.getIndices(), dispatch.getCapacity());
      rewriter.setInsertionPoint(experts);
      auto gathered = ExpertsOp::create(
          rewriter, experts.getLoc(), experts.getResult().getType(),
          dispatch.getHidden(), sort.getSources(), sort.getOffsets(),
          /*counts=*/Value(), experts.getWeights(), experts.getBiases(),
          experts.getActivationAttr(), experts.getSwigluAlphaAttr(),
          experts.getSwigluLimitAttr());
      rewriter.replaceOp(experts, gathered.getResult());
      // The rows had no other reader: the dispatch is now dead but for its
      // bookkeeping.
      rewriter.replaceAllUsesWith(dispatch.getOffsets(), sort.getOffsets());
      rewriter.replaceAllUsesWith(dispatch.getPositions(), sort.getPositions());
      rewriter.replaceAllUsesWith(dispatch.getCounts(), sort.getCounts());
      rewriter.eraseOp(dispatch);
      ++numFused;
    }
  }
};

} // namespace
