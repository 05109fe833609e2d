//===- ExpertRows.h - an expert's rows of a grouped matmul ------*- C++ -*-===//
//
// Part of moec. Shared by the schedules of moe.grouped_matmul.
//
//===----------------------------------------------------------------------===//

#ifndef MOEC_LIB_CONVERSION_GROUPEDMATMUL_EXPERTROWS_H
#define MOEC_LIB_CONVERSION_GROUPEDMATMUL_EXPERTROWS_H

#include "moec/Dialect/MoE/IR/MoE.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::moe::lowering {

/// Expert e's rows of a grouped matmul: out[prefix..., begin + i, :] for i in
/// [0, count), and the same rows of `lhs` (or, with a gather, the tokens at
/// gather[prefix..., begin + i]).
struct ExpertRows {
  SmallVector<Value> prefix; // {e} for a padded buffer, {} for sorted rows.
  Value begin;
  Value count;
};

/// Emits the loads that find expert `e`'s rows: offsets[e] .. offsets[e+1]
/// of sorted rows; slots 0 .. min(counts[e], C) (or all C) of a padded
/// buffer.
ExpertRows expertRows(ImplicitLocOpBuilder &b, GroupedMatmulOp op, Value e);

/// The rows one row tile of a tile list covers: out[prefix..., begin .. end,
/// :] of expert `expert` (empty, begin == end, for a slot past the last
/// tile).
struct RowTile {
  SmallVector<Value> prefix;
  Value expert, begin, end;
};

/// A tile list's row-tile slots, enough for every expert's tiles whatever
/// the routing: E · ceil(C / tileRows) for a padded buffer, ceil(R /
/// tileRows) + E for R sorted rows. Computed once, before the loop.
struct RowTileList {
  Value tileRows;
  Value slots;
  Value tilesPerExpert; // ceil(C / tileRows); padded buffers only.
};
RowTileList rowTileList(ImplicitLocOpBuilder &b, GroupedMatmulOp op,
                        Value tileRows);

/// Emits the code that finds slot `slot`'s rows (MegaBlocks' tile list):
/// slot s of a padded buffer is tile s mod ceil(C / tileRows) of expert
/// s / ceil(C / tileRows); with sorted rows expert e's tiles take the slots
/// from (offsets[e] - offsets[0]) / tileRows + e on, found by a binary
/// search over the experts (some slots stay empty).
RowTile rowTile(ImplicitLocOpBuilder &b, GroupedMatmulOp op,
                const RowTileList &list, Value slot);

/// Maps a tile list's loops for the GPU: (slot, column tile) to blocks x and
/// y, the loop inside a tile to threads x (and y). Set by the schedule, not
/// left to gpu-map-parallel-loops: canonicalization folds a 1 x 1 tile loop,
/// and the mapper would then make the thread loop the blocks (one lane per
/// warp for mma.sync). The CPU ignores the mapping.
LogicalResult mapTileList(scf::ParallelOp tiles, scf::ParallelOp threads);

/// The parallel loop a moe.grouped_activation that no fusion took becomes.
void populateGroupedActivationLowering(RewritePatternSet &patterns);

/// Rewrites every moe.grouped_matmul under `root` that `applies` to (all by
/// default) with a schedule's `patterns` (a dialect conversion that leaves
/// every other op alone). A full schedule (no `applies`) also lowers every
/// moe.grouped_activation.
LogicalResult applyGroupedMatmulSchedule(
    Operation *root, RewritePatternSet &&patterns,
    function_ref<bool(GroupedMatmulOp)> applies = nullptr);

} // namespace mlir::moe::lowering

#endif // MOEC_LIB_CONVERSION_GROUPEDMATMUL_EXPERTROWS_H
