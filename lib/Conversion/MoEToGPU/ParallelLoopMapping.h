//===- ParallelLoopMapping.h - flat parallel loops and their mapping -*- C++
//-*-===//
//
// Part of moec. Shared by the passes that map flat parallel loops to GPU
// blocks and threads themselves (moe-tile-flat-parallel-loops,
// moe-split-dot-products-across-lanes) before gpu-map-parallel-loops.
//
//===----------------------------------------------------------------------===//

#ifndef MOEC_LIB_CONVERSION_MOETOGPU_PARALLELLOOPMAPPING_H
#define MOEC_LIB_CONVERSION_MOETOGPU_PARALLELLOOPMAPPING_H

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

namespace mlir::moe {

/// An outermost parallel loop without a mapping, a reduction (which
/// convert-parallel-loops-to-gpu does not take either) or a parallel loop
/// inside it.
bool isFlatParallelLoop(scf::ParallelOp loop);

/// Maps dimension i of `loop` to processors[i] (sequential past the list).
LogicalResult mapParallelLoop(scf::ParallelOp loop,
                              ArrayRef<gpu::Processor> processors);

} // namespace mlir::moe

#endif // MOEC_LIB_CONVERSION_MOETOGPU_PARALLELLOOPMAPPING_H
