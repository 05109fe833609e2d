//===- TileFlatParallelLoops.cpp - flat parallel loops as thread blocks ---===//
//
// Part of moec. Implements moe-tile-flat-parallel-loops: a parallel loop with
// no parallel loop inside would become a kernel of one-thread blocks; tiled
// along its last dimension and mapped, it runs threads-per-block iterations
// per block instead.
//
//===----------------------------------------------------------------------===//

#include "moec/Conversion/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/ParallelLoopMapper.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOETILEFLATPARALLELLOOPS
#include "moec/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;

namespace {

/// An outermost parallel loop without a mapping, a reduction (which
/// convert-parallel-loops-to-gpu does not take either) or a parallel loop
/// inside it.
bool isFlat(scf::ParallelOp loop) {
  if (loop->getParentOfType<scf::ParallelOp>() ||
      loop->hasAttr(gpu::getMappingAttrName()) || loop.getNumReductions())
    return false;
  WalkResult nested = loop.getBody()->walk(
      [](scf::ParallelOp) { return WalkResult::interrupt(); });
  return !nested.wasInterrupted();
}

/// Maps dimension i of `loop` to processors[i] (sequential past the list).
LogicalResult map(scf::ParallelOp loop, ArrayRef<gpu::Processor> processors) {
  MLIRContext *ctx = loop.getContext();
  AffineMap id = AffineMap::getMultiDimIdentityMap(1, ctx);
  SmallVector<gpu::ParallelLoopDimMappingAttr> dims;
  for (unsigned i = 0, e = loop.getNumLoops(); i < e; ++i)
    dims.push_back(gpu::ParallelLoopDimMappingAttr::get(
        ctx, i < processors.size() ? processors[i] : gpu::Processor::Sequential,
        id, id));
  return gpu::setMappingAttr(loop, dims);
}

struct MoETileFlatParallelLoopsPass
    : public moe::impl::MoETileFlatParallelLoopsBase<
          MoETileFlatParallelLoopsPass> {
  using Base::Base;

  LogicalResult initialize(MLIRContext *ctx) override {
    if (threadsPerBlock < 1 || threadsPerBlock > 1024)
      return emitError(UnknownLoc::get(ctx))
             << "moe-tile-flat-parallel-loops: threads-per-block must be in "
                "[1, 1024] (a CUDA block's limit), got "
             << threadsPerBlock.getValue();
    return success();
  }

  void runOnOperation() override {
    SmallVector<scf::ParallelOp> flat;
    getOperation().walk([&](scf::ParallelOp loop) {
      if (isFlat(loop))
        flat.push_back(loop);
    });
    using gpu::Processor;
    for (scf::ParallelOp loop : flat) {
      unsigned rank = loop.getNumLoops();
      SmallVector<int64_t> sizes(rank, 1);
      sizes.back() = threadsPerBlock;
      auto [blocks, threads] =
          scf::tileParallelLoop(loop, sizes, /*noMinMaxBounds=*/true);
      SmallVector<Processor> threadDims(rank, Processor::Sequential);
      threadDims.back() = Processor::ThreadX;
      if (failed(map(blocks, {Processor::BlockX, Processor::BlockY,
                              Processor::BlockZ})) ||
          failed(map(threads, threadDims)))
        return signalPassFailure();
      ++numTiled;
    }
  }
};

} // namespace
