//===- SerialHostCodeToGPU.cpp - serial host code as 1-thread launches ----===//
//
// Part of moec. Implements moe-serial-host-code-to-gpu: after the parallel
// loops became kernels, the host function's remaining buffer reads and
// writes (the offsets scan) move into one-block, one-thread gpu.launch ops,
// so a CUDA model's host code never touches device memory.
//
//===----------------------------------------------------------------------===//

#include "moec/Conversion/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOESERIALHOSTCODETOGPU
#include "moec/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;

namespace {

/// Whether \p op, or an op in its regions, reads or writes a buffer's
/// contents. Allocation, deallocation and copies are moe-host-buffers-to-gpu's.
bool touchesBuffers(Operation *op) {
  if (isa<gpu::LaunchOp, memref::AllocOp, memref::AllocaOp, memref::DeallocOp,
          memref::CopyOp>(op))
    return false;
  WalkResult walk = op->walk([](Operation *nested) {
    auto effects = dyn_cast<MemoryEffectOpInterface>(nested);
    if (effects && (effects.hasEffect<MemoryEffects::Read>() ||
                    effects.hasEffect<MemoryEffects::Write>()))
      return WalkResult::interrupt();
    return WalkResult::advance();
  });
  return walk.wasInterrupted();
}

struct SerialHostCodeToGPU
    : moe::impl::MoESerialHostCodeToGPUBase<SerialHostCodeToGPU> {
  using Base::Base;

  /// Moves \p run into a one-thread launch placed at its last op. Fails
  /// (with an error) when the host uses a result of the run.
  LogicalResult launch(ArrayRef<Operation *> run) {
    llvm::SmallPtrSet<Operation *, 8> inRun(run.begin(), run.end());
    Block *block = run.front()->getBlock();
    for (Operation *op : run)
      for (Operation *user : op->getUsers())
        if (!inRun.contains(block->findAncestorOpInBlock(*user)))
          return op->emitOpError()
                 << "reads or writes device memory, but the host uses its "
                    "result; it cannot run as a one-thread GPU launch";
    OpBuilder b(run.back());
    Location loc = run.front()->getLoc();
    Value one = arith::ConstantIndexOp::create(b, loc, 1);
    auto launch = gpu::LaunchOp::create(b, loc, one, one, one, one, one, one);
    Block &body = launch.getBody().front();
    b.setInsertionPointToEnd(&body);
    auto terminator = gpu::TerminatorOp::create(b, loc);
    for (Operation *op : run)
      op->moveBefore(terminator);
    ++numLaunches;
    return success();
  }

  void runOnOperation() override {
    SmallVector<SmallVector<Operation *>> runs;
    for (Block &block : getOperation().getBody()) {
      SmallVector<Operation *> run;
      for (Operation &op : block) {
        if (touchesBuffers(&op)) {
          run.push_back(&op);
          continue;
        }
        // Side-effect-free ops (index arithmetic, memref.dim) stay on the
        // host and may sit between the ops of one run.
        if (isPure(&op) || run.empty())
          continue;
        runs.push_back(std::move(run));
        run.clear();
      }
      if (!run.empty())
        runs.push_back(std::move(run));
    }
    for (ArrayRef<Operation *> run : runs)
      if (failed(launch(run)))
        return signalPassFailure();
  }
};

} // namespace
