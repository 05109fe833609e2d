//===- ZeroFill.h - the zero fill a CPU matmul schedule folds in -*- C++ -*-===//
//
// Part of moec. Shared by the CPU schedules of the expert projections
// (moe-lower-matmul-to-register-blocks, moe-lower-mmt4d-to-vectors).
//
//===----------------------------------------------------------------------===//

#ifndef MOEC_LIB_CONVERSION_LINALGTOCPU_ZEROFILL_H
#define MOEC_LIB_CONVERSION_LINALGTOCPU_ZEROFILL_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"

namespace mlir::moe::lowering {

/// The zero `linalg.fill` of `op`'s output right before `op` on buffers,
/// with nothing but `memref.expand_shape` views in between, or null. Folding
/// it in saves a pass over the output and a load per element: the schedule
/// stores its sums instead of adding them (equal up to the sign of a zero).
linalg::FillOp zeroFillBefore(linalg::LinalgOp op);

} // namespace mlir::moe::lowering

#endif // MOEC_LIB_CONVERSION_LINALGTOCPU_ZEROFILL_H
