//===- TileFlatParallelLoops.cpp - flat parallel loops as thread blocks ---===//
//
// Part of moec. Implements moe-tile-flat-parallel-loops: a parallel loop with
// no parallel loop inside would become a kernel of one-thread blocks; tiled
// along its last dimension and mapped, it runs threads-per-block iterations
// per block instead.
//
//===----------------------------------------------------------------------===//

#include "ParallelLoopMapping.h"

#include "moec/Conversion/Passes.h"

#include "mlir/Dialect/SCF/Transforms/Transforms.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOETILEFLATPARALLELLOOPS
#include "moec/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

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
      if (isFlatParallelLoop(loop))
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
      if (failed(mapParallelLoop(blocks, {Processor::BlockX, Processor::BlockY,
                                          Processor::BlockZ})) ||
          failed(mapParallelLoop(threads, threadDims)))
        return signalPassFailure();
      ++numTiled;
    }
  }
};

} // namespace
