//===- ExpertRows.h - an expert's rows of a grouped matmul ------*- C++ -*-===//
//
// Part of moec. Shared by the schedules of moe.grouped_matmul.
//
//===----------------------------------------------------------------------===//

#ifndef MOEC_LIB_CONVERSION_GROUPEDMATMUL_EXPERTROWS_H
#define MOEC_LIB_CONVERSION_GROUPEDMATMUL_EXPERTROWS_H

#include "moec/Dialect/MoE/IR/MoE.h"

#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::moe::lowering {

/// Expert e's rows of a grouped matmul: lhs[prefix..., begin + i, :] (and the
/// same row of `out`) for i in [0, count).
struct ExpertRows {
  SmallVector<Value> prefix; // {e} for a padded buffer, {} for sorted rows.
  Value begin;
  Value count;
};

/// Emits the loads that find expert `e`'s rows: offsets[e] .. offsets[e+1]
/// of sorted rows; slots 0 .. min(counts[e], C) (or all C) of a padded
/// buffer.
ExpertRows expertRows(ImplicitLocOpBuilder &b, GroupedMatmulOp op, Value e);

/// Rewrites every moe.grouped_matmul under `root` with a schedule's
/// `patterns` (a dialect conversion that leaves every other op alone).
LogicalResult applyGroupedMatmulSchedule(Operation *root,
                                         RewritePatternSet &&patterns);

} // namespace mlir::moe::lowering

#endif // MOEC_LIB_CONVERSION_GROUPEDMATMUL_EXPERTROWS_H
