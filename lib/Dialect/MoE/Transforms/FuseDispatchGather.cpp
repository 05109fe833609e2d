//===- FuseDispatchGather.cpp - the experts read the tokens in place ------===//
//
// Part of moec. Implements moe-fuse-dispatch-gather: a dispatch whose rows
// only feed the experts becomes its bookkeeping (moe.sort_assignments or
// moe.assign_slots) and a gather in the experts' first projections, so the
// permuted copy of the tokens ([T·k, D] sorted rows or an [E, C, D] buffer)
// is neither written nor read back.
//
//===----------------------------------------------------------------------===//

#include "moec/Dialect/MoE/IR/MoE.h"
#include "moec/Dialect/MoE/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/PatternMatch.h"

#include "llvm/Support/FormatVariadic.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEFUSEDISPATCHGATHER
#include "moec/Dialect/MoE/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

/// The moe.experts that is the only reader of `rows` and reads them as they
/// are, over the dispatch's own segments (`offsets`) or filled slots
/// (`counts`: the gather's entries are written for those only); otherwise
/// null, with `why` saying what stands in the way.
ExpertsOp soleExperts(Value rows, Value offsets, Value counts,
                      std::string &why) {
  if (!rows.hasOneUse()) {
    why = "its rows have more than one reader";
    return {};
  }
  Operation *user = *rows.getUsers().begin();
  auto experts = dyn_cast<ExpertsOp>(user);
  if (!experts || experts.getTokens() != rows || experts.getGather()) {
    why = ("its rows are read by " + user->getName().getStringRef() +
           ", not as the tokens of moe.experts")
              .str();
    return {};
  }
  if (experts.getInto()) {
    why = "the experts add each row into the same row of another tensor "
          "('into'), which a gather would reorder";
    return {};
  }
  if (experts.getOffsets() != offsets || experts.getCounts() != counts) {
    why = "the experts read other rows than the dispatch's segments or "
          "filled slots";
    return {};
  }
  return experts;
}

/// The bytes the copy moves: one row of the tokens per row or slot of the
/// layout, as a description (per row when T or C is dynamic).
std::string copyBytes(RankedTensorType rows) {
  if (ShapedType::isDynamic(rows.getShape().back()))
    return "rows of a dynamic width";
  if (!rows.hasStaticShape())
    return llvm::formatv("{0} B per row", rows.getShape().back() *
                                              rows.getElementTypeBitWidth() /
                                              8);
  return llvm::formatv("{0} B", rows.getNumElements() *
                                    rows.getElementTypeBitWidth() / 8);
}

/// Whether every slot the experts read, the first min(counts[e], C) of each
/// expert, holds a token. Only the first min(capacity, C) slots are filled,
/// and counts may exceed the capacity: with a static C the capacity must be
/// a constant of at least C (a dynamic C is the capacity itself). Without
/// this the unwritten entries would be read as token indices.
bool slotsAllWritten(DispatchCapacityOp dispatch) {
  RankedTensorType buffer = dispatch.getBuffer().getType();
  if (buffer.isDynamicDim(1))
    return true;
  std::optional<int64_t> capacity = getConstantIntValue(dispatch.getCapacity());
  return capacity && *capacity >= buffer.getDimSize(1);
}

/// The experts over `tokens` read through `sources` instead of `experts`'
/// rows.
void gatherInExperts(IRRewriter &rewriter, ExpertsOp experts, Value tokens,
                     Value sources, Value offsets, Value counts) {
  rewriter.setInsertionPoint(experts);
  auto gathered = ExpertsOp::create(
      rewriter, experts.getLoc(), experts.getResult().getType(), tokens,
      sources, offsets, counts, experts.getWeights(), experts.getBiases(),
      experts.getCombine(), /*into=*/Value(), experts.getActivationAttr(),
      experts.getSwigluAlphaAttr(), experts.getSwigluLimitAttr());
  rewriter.replaceOp(experts, gathered.getResult());
}

struct MoEFuseDispatchGatherPass
    : public moe::impl::MoEFuseDispatchGatherBase<MoEFuseDispatchGatherPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<Operation *> dispatches;
    getOperation().walk([&](Operation *op) {
      if (isa<DispatchSortedOp, DispatchCapacityOp>(op))
        dispatches.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (Operation *op : dispatches) {
      std::string why;
      Location loc = op->getLoc();
      StringRef name = op->getName().getStringRef();
      auto rows = cast<RankedTensorType>(op->getResult(0).getType());
      bool fused = isa<DispatchSortedOp>(op)
                       ? fuse(rewriter, cast<DispatchSortedOp>(op), why)
                       : fuse(rewriter, cast<DispatchCapacityOp>(op), why);
      if (fused)
        ++numFused;
      if (!explain)
        continue;
      if (fused)
        emitRemark(loc) << name << ": the experts gather the tokens in "
                        << "their first projections; no copy of " << rows
                        << " (" << copyBytes(rows) << ")";
      else
        emitRemark(loc) << name << " keeps its copy: " << why;
    }
  }

  bool fuse(IRRewriter &rewriter, DispatchSortedOp dispatch, std::string &why) {
    ExpertsOp experts = soleExperts(dispatch.getRows(), dispatch.getOffsets(),
                                    /*counts=*/Value(), why);
    if (!experts)
      return false;
    // One source per sorted row, in the positions' index type.
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
    gatherInExperts(rewriter, experts, dispatch.getHidden(), sort.getSources(),
                    sort.getOffsets(), /*counts=*/Value());
    // The rows had no other reader: the dispatch is now dead but for its
    // bookkeeping.
    rewriter.replaceAllUsesWith(dispatch.getOffsets(), sort.getOffsets());
    rewriter.replaceAllUsesWith(dispatch.getPositions(), sort.getPositions());
    rewriter.replaceAllUsesWith(dispatch.getCounts(), sort.getCounts());
    rewriter.eraseOp(dispatch);
    return true;
  }

  bool fuse(IRRewriter &rewriter, DispatchCapacityOp dispatch,
            std::string &why) {
    ExpertsOp experts = soleExperts(dispatch.getBuffer(), /*offsets=*/Value(),
                                    dispatch.getCounts(), why);
    if (!experts)
      return false;
    if (!slotsAllWritten(dispatch)) {
      why = "the capacity may be below the buffer's static C, leaving slots "
            "the counts reach unfilled";
      return false;
    }
    // One source per slot: [E, C] of the buffer, in the slots' index type.
    RankedTensorType buffer = dispatch.getBuffer().getType();
    auto sourcesType =
        RankedTensorType::get(buffer.getShape().drop_back(),
                              dispatch.getSlots().getType().getElementType());
    rewriter.setInsertionPoint(dispatch);
    auto assign = AssignSlotsOp::create(
        rewriter, dispatch.getLoc(),
        TypeRange{sourcesType, dispatch.getSlots().getType(),
                  dispatch.getCounts().getType()},
        dispatch.getIndices(), dispatch.getCapacity());
    gatherInExperts(rewriter, experts, dispatch.getHidden(),
                    assign.getSources(), /*offsets=*/Value(),
                    assign.getCounts());
    rewriter.replaceAllUsesWith(dispatch.getSlots(), assign.getSlots());
    rewriter.replaceAllUsesWith(dispatch.getCounts(), assign.getCounts());
    rewriter.eraseOp(dispatch);
    return true;
  }
};

} // namespace
