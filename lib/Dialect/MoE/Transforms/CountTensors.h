//===- CountTensors.h - Small i32 tensor arithmetic of exchanges -*- C++ -*-===//
//
// Part of moec. The row counts of moe.all_to_all exchanges are small i32
// tensors; the expert-parallel and hierarchical all-to-all passes build
// their reshapes, transposes and sums with these (tensor and linalg ops, so
// bufferization handles them like any other).
//
//===----------------------------------------------------------------------===//

#ifndef MOEC_LIB_DIALECT_MOE_TRANSFORMS_COUNTTENSORS_H
#define MOEC_LIB_DIALECT_MOE_TRANSFORMS_COUNTTENSORS_H

#include "mlir/IR/Builders.h"

namespace mlir::moe::counts {

/// A [n] i32 tensor of `value`s.
Value splat(OpBuilder &b, Location loc, int64_t n, int64_t value);
/// A [n] i32 tensor of a run-time i32 `value`.
Value fill(OpBuilder &b, Location loc, int64_t n, Value value);
/// [rows * cols] -> [rows, cols].
Value reshape(OpBuilder &b, Location loc, Value v, int64_t rows,
              int64_t cols);
/// [rows, cols] -> [rows * cols].
Value flatten(OpBuilder &b, Location loc, Value m);
/// [A, B] -> [B, A].
Value transpose(OpBuilder &b, Location loc, Value m);
/// Σ_b m[a, b]: [A, B] -> [A].
Value rowSums(OpBuilder &b, Location loc, Value m);

} // namespace mlir::moe::counts

#endif // MOEC_LIB_DIALECT_MOE_TRANSFORMS_COUNTTENSORS_H
