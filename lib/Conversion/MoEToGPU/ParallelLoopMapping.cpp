//===- ParallelLoopMapping.cpp - flat parallel loops and their mapping ----===//
//
// Part of moec. See ParallelLoopMapping.h.
//
//===----------------------------------------------------------------------===//

#include "ParallelLoopMapping.h"

#include "mlir/Dialect/GPU/Transforms/ParallelLoopMapper.h"

using namespace mlir;

bool mlir::moe::isFlatParallelLoop(scf::ParallelOp loop) {
  if (loop->getParentOfType<scf::ParallelOp>() ||
      loop->hasAttr(gpu::getMappingAttrName()) || loop.getNumReductions())
    return false;
  WalkResult nested = loop.getBody()->walk(
      [](scf::ParallelOp) { return WalkResult::interrupt(); });
  return !nested.wasInterrupted();
}

LogicalResult mlir::moe::mapParallelLoop(scf::ParallelOp loop,
                                         ArrayRef<gpu::Processor> processors) {
  MLIRContext *ctx = loop.getContext();
  AffineMap id = AffineMap::getMultiDimIdentityMap(1, ctx);
  SmallVector<gpu::ParallelLoopDimMappingAttr> dims;
  for (unsigned i = 0, e = loop.getNumLoops(); i < e; ++i)
    dims.push_back(gpu::ParallelLoopDimMappingAttr::get(
        ctx, i < processors.size() ? processors[i] : gpu::Processor::Sequential,
        id, id));
  return gpu::setMappingAttr(loop, dims);
}
