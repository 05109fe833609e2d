//===- FuseGatedActivation.cpp - activation into the gate/up GEMM ---------===//
//
// Part of moec. Implements moe-fuse-gated-activation: the gate and up
// projections of the lowered experts and the activation between them become
// one moe.grouped_matmul with the activation in its epilogue, so the
// schedules keep both projections' sums in registers (or in cache) and write
// only act(g) ⊙ u.
//
//===----------------------------------------------------------------------===//

#include "moec/Dialect/MoE/IR/MoE.h"
#include "moec/Dialect/MoE/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEFUSEGATEDACTIVATION
#include "moec/Dialect/MoE/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

/// The grouped matmul without an epilogue that writes `buffer` (a fresh
/// allocation) in `act`'s block, before `act`; null if there is none or more
/// than one.
GroupedMatmulOp producerOf(Value buffer, GroupedActivationOp act) {
  if (!buffer || !buffer.getDefiningOp<memref::AllocOp>())
    return {};
  GroupedMatmulOp found;
  for (Operation *user : buffer.getUsers()) {
    auto matmul = dyn_cast<GroupedMatmulOp>(user);
    if (!matmul || matmul.getOut() != buffer)
      continue;
    if (found || matmul->getBlock() != act->getBlock() ||
        !matmul->isBeforeInBlock(act) || matmul.hasEpilogue())
      return {};
    found = matmul;
  }
  return found;
}

/// Whether the ops strictly between `first` and `act` touch no memory, so
/// that the projections may move down to `act`.
bool onlyPureOpsBetween(Operation *first, Operation *act,
                        ArrayRef<Operation *> moved) {
  for (Operation *op = first->getNextNode(); op != act; op = op->getNextNode())
    if (!llvm::is_contained(moved, op) && !isMemoryEffectFree(op))
      return false;
  return true;
}

/// Whether `buffer` is used after `act` in any way (in `act`'s block or
/// outside it).
bool usedAfter(Value buffer, GroupedActivationOp act) {
  return llvm::any_of(buffer.getUsers(), [&](Operation *user) {
    Operation *inBlock = act->getBlock()->findAncestorOpInBlock(*user);
    return !inBlock || act->isBeforeInBlock(inBlock);
  });
}

struct MoEFuseGatedActivationPass
    : public moe::impl::MoEFuseGatedActivationBase<MoEFuseGatedActivationPass> {
  void runOnOperation() override {
    SmallVector<GroupedActivationOp> acts;
    getOperation().walk([&](GroupedActivationOp act) { acts.push_back(act); });
    for (GroupedActivationOp act : acts)
      if (fuse(act))
        ++numFused;
  }

  bool fuse(GroupedActivationOp act) {
    Value gate = act.getGate(), up = act.getUp(), out = act.getOut();
    GroupedMatmulOp gateMM = producerOf(gate, act);
    GroupedMatmulOp upMM = up ? producerOf(up, act) : GroupedMatmulOp();
    if (!gateMM || (up && !upMM) || act.getOffsets() != gateMM.getOffsets() ||
        act.getCounts() != gateMM.getCounts())
      return false;
    if (upMM && (upMM.getLhs() != gateMM.getLhs() ||
                 upMM.getGather() != gateMM.getGather() ||
                 upMM.getOffsets() != gateMM.getOffsets() ||
                 upMM.getCounts() != gateMM.getCounts() ||
                 upMM.getWeights().getType() != gateMM.getWeights().getType()))
      return false;
    // Nothing may observe the projections' sums but the activation: the
    // fused op never stores them.
    Operation *first = gateMM;
    if (upMM && upMM->isBeforeInBlock(first))
      first = upMM;
    SmallVector<Operation *> moved{gateMM};
    if (upMM)
      moved.push_back(upMM);
    if (!onlyPureOpsBetween(first, act, moved))
      return false;
    if ((gate != out && usedAfter(gate, act)) || (up && usedAfter(up, act)))
      return false;
    // The out buffer must not be one the projections read.
    if (out == gateMM.getLhs() || (up && out == up))
      return false;

    OpBuilder b(act);
    GroupedMatmulOp::create(
        b, act.getLoc(), gateMM.getLhs(), gateMM.getWeights(),
        upMM ? upMM.getWeights() : Value(), gateMM.getGather(),
        gateMM.getOffsets(), gateMM.getCounts(), gateMM.getBias(),
        upMM ? upMM.getBias() : Value(), /*scatter=*/Value(),
        /*scale=*/Value(), out, act.getActivationAttr(),
        act.getSwigluAlphaAttr(), act.getSwigluLimitAttr());
    act.erase();
    gateMM.erase();
    if (upMM)
      upMM.erase();
    for (Value buffer : {gate, up})
      if (buffer && buffer.use_empty())
        buffer.getDefiningOp()->erase();
    return true;
  }
};

} // namespace
