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
#include "mlir/Dialect/LLVMIR/LLVMTypes.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

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

  /// The buffer \p v views (through subviews, casts and other views).
  static Value rootBuffer(Value v) {
    while (auto view = v.getDefiningOp<ViewLikeOpInterface>())
      v = view.getViewSource();
    return v;
  }

  /// Whether \p op, which declares no memory effects, may reach memory
  /// through an operand (register-only ops such as nvvm.mma.sync cannot).
  static bool takesMemory(Operation *op) {
    return llvm::any_of(op->getOperandTypes(), [](Type t) {
      return isa<BaseMemRefType, LLVM::LLVMPointerType>(t);
    });
  }

  /// Appends the memory effects of \p op and the ops nested in it to
  /// \p effects; false if some nested op's effects are unknown.
  static bool
  collectEffects(Operation *op,
                 SmallVectorImpl<MemoryEffects::EffectInstance> &effects) {
    WalkResult walk = op->walk([&](Operation *nested) {
      if (auto iface = dyn_cast<MemoryEffectOpInterface>(nested)) {
        iface.getEffects(effects);
        return WalkResult::advance();
      }
      return nested->hasTrait<OpTrait::HasRecursiveMemoryEffects>() ||
                     !takesMemory(nested)
                 ? WalkResult::advance()
                 : WalkResult::interrupt();
    });
    return !walk.wasInterrupted();
  }

  /// The launches (ops of the run's block) that use \p run's results, if
  /// the run only reads memory, nothing else outside it uses them, and
  /// nothing from the run to the last of them (itself included) writes
  /// what the run reads: such a run (a folded one-iteration loop that finds
  /// a tile's rows from the per-expert counts) can run in every launch that
  /// needs its values.
  static std::optional<SmallVector<gpu::LaunchOp>>
  readingLaunches(ArrayRef<Operation *> run,
                  const llvm::SmallPtrSetImpl<Operation *> &inRun) {
    SmallVector<MemoryEffects::EffectInstance> effects;
    for (Operation *op : run)
      if (!collectEffects(op, effects))
        return std::nullopt;
    llvm::SmallPtrSet<Value, 4> read;
    for (const MemoryEffects::EffectInstance &effect : effects) {
      if (!isa<MemoryEffects::Read>(effect.getEffect()) || !effect.getValue())
        return std::nullopt;
      read.insert(rootBuffer(effect.getValue()));
    }
    SmallVector<gpu::LaunchOp> launches;
    Block *block = run.front()->getBlock();
    for (Operation *op : run)
      for (Operation *user : op->getUsers()) {
        Operation *top = block->findAncestorOpInBlock(*user);
        if (inRun.contains(top))
          continue;
        auto launch = dyn_cast_if_present<gpu::LaunchOp>(top);
        if (!launch || launch == user)
          return std::nullopt;
        if (!llvm::is_contained(launches, launch))
          launches.push_back(launch);
      }
    // The copies read at each launch's start what the run read at its end.
    Operation *last = run.back();
    for (gpu::LaunchOp launch : launches)
      if (last->isBeforeInBlock(launch))
        last = launch;
    for (Operation *op = run.back()->getNextNode(); op != last->getNextNode();
         op = op->getNextNode()) {
      effects.clear();
      if (inRun.contains(op))
        continue;
      if (!collectEffects(op, effects))
        return std::nullopt;
      for (const MemoryEffects::EffectInstance &effect : effects)
        if (isa<MemoryEffects::Write>(effect.getEffect()) &&
            (!effect.getValue() ||
             read.contains(rootBuffer(effect.getValue()))))
          return std::nullopt;
    }
    return launches;
  }

  /// Copies \p run to the start of each of \p launches, which then use the
  /// copy, and erases it.
  static void sinkInto(ArrayRef<Operation *> run,
                       ArrayRef<gpu::LaunchOp> launches) {
    for (gpu::LaunchOp launch : launches) {
      OpBuilder b(&launch.getBody().front(), launch.getBody().front().begin());
      IRMapping copies;
      for (Operation *op : run)
        b.clone(*op, copies);
      for (Operation *op : run)
        for (Value result : op->getResults())
          result.replaceUsesWithIf(copies.lookup(result), [&](OpOperand &use) {
            return launch->isProperAncestor(use.getOwner());
          });
    }
    for (Operation *op : llvm::reverse(run))
      op->erase();
  }

  /// Moves \p run into a one-thread launch placed at its last op, or, when
  /// it only reads and only launches use its results, into those launches.
  /// Fails (with an error) when the host uses a result of the run.
  LogicalResult launch(ArrayRef<Operation *> run) {
    llvm::SmallPtrSet<Operation *, 8> inRun(run.begin(), run.end());
    Block *block = run.front()->getBlock();
    bool usedOutside = false;
    for (Operation *op : run)
      for (Operation *user : op->getUsers())
        usedOutside |= !inRun.contains(block->findAncestorOpInBlock(*user));
    if (usedOutside) {
      std::optional<SmallVector<gpu::LaunchOp>> launches =
          readingLaunches(run, inRun);
      if (!launches) {
        for (Operation *op : run)
          for (Operation *user : op->getUsers())
            if (!inRun.contains(block->findAncestorOpInBlock(*user)))
              return op->emitOpError()
                     << "reads or writes device memory, but the host uses "
                        "its result; it cannot run as a one-thread GPU "
                        "launch";
      }
      sinkInto(run, *launches);
      ++numSunk;
      return success();
    }
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
      llvm::SmallPtrSet<Operation *, 8> inRun;
      auto usesRun = [&](Operation &op) {
        return llvm::any_of(op.getOperands(), [&](Value v) {
          return inRun.contains(v.getDefiningOp());
        });
      };
      for (Operation &op : block) {
        // Side-effect-free ops on a value the run computed join it (a
        // folded one-iteration loop leaves `min(counts[0], C)` here).
        bool joins =
            isPure(&op) && !op.hasTrait<OpTrait::IsTerminator>() && usesRun(op);
        if (touchesBuffers(&op) || joins) {
          run.push_back(&op);
          inRun.insert(&op);
          continue;
        }
        // Other side-effect-free ops (index arithmetic, memref.dim) stay on
        // the host and may sit between the ops of one run.
        if (isPure(&op) || run.empty())
          continue;
        runs.push_back(std::move(run));
        run.clear();
        inRun.clear();
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
