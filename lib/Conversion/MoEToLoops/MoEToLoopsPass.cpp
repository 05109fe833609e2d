//===- MoEToLoopsPass.cpp - layout-assigned moe ops to loops -------------===//
//
// Part of moec. Implements the moe-lower-to-loops pass: checks what the
// lowering supports, then replaces each op (Lowerings.h).
//
//===----------------------------------------------------------------------===//

#include "Lowerings.h"

#include "moec/Conversion/Passes.h"
#include "moec/Dialect/MoE/IR/MoE.h"

#include "llvm/ADT/TypeSwitch.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOELOWERTOLOOPS
#include "moec/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

/// The CPU lowering computes in f32 with i32 indices and static E and D.
LogicalResult checkSupported(Operation *op) {
  if (isa<LayerOp>(op))
    return op->emitOpError("must be decomposed before moe-lower-to-loops "
                           "(run moe-decompose and a layout pass)");
  if (isa<DispatchOp, CombineOp>(op) ||
      (isa<ExpertsOp>(op) &&
       isa<GroupedType>(cast<ExpertsOp>(op).getTokens().getType())))
    return op->emitOpError(
        "has no layout yet: run moe-static-capacity or moe-dynamic-shapes "
        "before moe-lower-to-loops");
  // Expert weights may also be bf16 (the verifier allows it under f32
  // tokens): the grouped matmuls widen them where they read them.
  auto experts = dyn_cast<ExpertsOp>(op);
  SmallVector<Value> values(op->getOperands());
  llvm::append_range(values, op->getResults());
  for (Value value : values) {
    auto tensor = dyn_cast<RankedTensorType>(value.getType());
    if (!tensor)
      continue;
    Type element = tensor.getElementType();
    if (element.isBF16() && experts &&
        llvm::is_contained(experts.getWeights(), value))
      continue;
    if (isa<FloatType>(element) && !element.isF32())
      return op->emitOpError() << "moe-lower-to-loops supports f32 tensors "
                                  "only, got "
                               << tensor;
    if (isa<IntegerType>(element) && !element.isInteger(32))
      return op->emitOpError() << "moe-lower-to-loops supports i32 index "
                                  "tensors only, got "
                               << tensor;
  }
  // Only the token dimension may be dynamic: dim 0 of [T, ...] and [N, D]
  // tensors, dim 1 (C) of the padded [E, C, D] buffer and of [E, F, D]
  // weights; E, k and D size the loops' scratch buffers. Exchanges and
  // regroups move rows of any rank: only their count (dim 0) may be dynamic.
  // A row list (the sources of sort_assignments and assign_slots, the
  // experts' gather and combine, scatter_weights' result) has one entry per
  // row, [N] or [E, C]: N or C.
  bool movesRows = isa<AllToAllOp, TransposeSegmentsOp>(op);
  SmallVector<Value, 2> rowLists;
  if (auto sort = dyn_cast<SortAssignmentsOp>(op))
    rowLists = {sort.getSources()};
  else if (auto assign = dyn_cast<AssignSlotsOp>(op))
    rowLists = {assign.getSources()};
  else if (auto scatter = dyn_cast<ScatterWeightsOp>(op))
    rowLists = {scatter.getResult()};
  else if (experts)
    rowLists = {experts.getGather(), experts.getCombine()};
  for (Value value : values) {
    auto tensor = dyn_cast<RankedTensorType>(value.getType());
    if (!tensor)
      continue;
    bool isRowList = llvm::is_contained(rowLists, value);
    int64_t allowed = isRowList ? tensor.getRank() - 1
                      : tensor.getRank() == 2 || movesRows ? 0
                                                           : 1;
    for (int64_t i = 0; i < tensor.getRank(); ++i)
      if (tensor.isDynamicDim(i) &&
          ((tensor.getRank() == 1 && !movesRows && !isRowList) || i != allowed))
        return op->emitOpError()
               << "moe-lower-to-loops needs static shapes except the token "
                  "count (or capacity), got "
               << tensor;
  }
  return success();
}

struct MoELowerToLoopsPass
    : public moe::impl::MoELowerToLoopsBase<MoELowerToLoopsPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<Operation *> ops;
    WalkResult walk = getOperation()->walk([&](Operation *op) {
      if (op->getDialect() != op->getContext()->getLoadedDialect<MoEDialect>())
        return WalkResult::advance();
      if (failed(checkSupported(op)))
        return WalkResult::interrupt();
      ops.push_back(op);
      return WalkResult::advance();
    });
    if (walk.wasInterrupted())
      return signalPassFailure();

    IRRewriter rewriter(&getContext());
    for (Operation *op : ops) {
      llvm::TypeSwitch<Operation *>(op)
          .Case([&](RouteOp o) { lowering::lowerRoute(rewriter, o); })
          .Case([&](DispatchCapacityOp o) {
            lowering::lowerDispatchCapacity(rewriter, o);
          })
          .Case([&](DispatchSortedOp o) {
            lowering::lowerDispatchSorted(rewriter, o);
          })
          .Case(
              [&](AssignSlotsOp o) { lowering::lowerAssignSlots(rewriter, o); })
          .Case([&](SortAssignmentsOp o) {
            lowering::lowerSortAssignments(rewriter, o);
          })
          .Case([&](ExpertsOp o) { lowering::lowerExperts(rewriter, o); })
          .Case([&](CombineCapacityOp o) {
            lowering::lowerCombineCapacity(rewriter, o, combinePerElement);
          })
          .Case([&](CombineSortedOp o) {
            lowering::lowerCombineSorted(rewriter, o, combinePerElement);
          })
          .Case([&](ScatterWeightsOp o) {
            lowering::lowerScatterWeights(rewriter, o);
          })
          .Case([&](AllToAllOp o) { lowering::lowerAllToAll(rewriter, o); })
          .Case([&](TransposeSegmentsOp o) {
            lowering::lowerTransposeSegments(rewriter, o);
          });
    }
  }
};

} // namespace
