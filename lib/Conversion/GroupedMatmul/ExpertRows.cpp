//===- ExpertRows.cpp - what the grouped matmul schedules share ----------===//
//
// Part of moec.
//
//===----------------------------------------------------------------------===//

#include "ExpertRows.h"

#include "../MoEToLoops/LoweringUtils.h"

#include "mlir/Dialect/GPU/Transforms/ParallelLoopMapper.h"
#include "mlir/Transforms/DialectConversion.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::lowering;

ExpertRows lowering::expertRows(ImplicitLocOpBuilder &b, GroupedMatmulOp op,
                                Value e) {
  if (!op.isPadded()) {
    Value offsets = op.getOffsets();
    Value begin = toIndex(b, memref::LoadOp::create(b, offsets, e));
    Value next = arith::AddIOp::create(b, e, constIndex(b, 1));
    Value end = toIndex(b, memref::LoadOp::create(b, offsets, next));
    return {{}, begin, arith::SubIOp::create(b, end, begin)};
  }
  Value rows = dim(b, op.getRowsLike(), 1);
  if (Value counts = op.getCounts())
    rows = arith::MinSIOp::create(
        b, toIndex(b, memref::LoadOp::create(b, counts, e)), rows);
  return {{e}, constIndex(b, 0), rows};
}

static Value ceilDiv(ImplicitLocOpBuilder &b, Value n, Value d) {
  return arith::CeilDivUIOp::create(b, n, d);
}

/// Padded buffer: slot s is tile s % tilesPerExpert of expert
/// s / tilesPerExpert, clipped to the expert's filled slots.
static RowTile paddedTile(ImplicitLocOpBuilder &b, GroupedMatmulOp op,
                          Value slot, Value tileRows, Value tilesPerExpert) {
  Value e = arith::DivUIOp::create(b, slot, tilesPerExpert);
  Value t = arith::RemUIOp::create(b, slot, tilesPerExpert);
  ExpertRows rows = expertRows(b, op, e);
  Value begin = arith::MulIOp::create(b, t, tileRows);
  Value end = arith::MinUIOp::create(
      b, arith::AddIOp::create(b, begin, tileRows), rows.count);
  return {rows.prefix, e, begin, end};
}

/// Sorted rows: expert e's segment takes ceil(count_e / tileRows) slots
/// after those of experts 0 .. e-1. A scan over the experts finds the one
/// that owns `slot` (E is at most a few hundred; the segment sizes are read
/// by every tile of the row and stay in cache).
static RowTile sortedTile(ImplicitLocOpBuilder &b, GroupedMatmulOp op,
                          Value slot, Value tileRows) {
  Value zero = constIndex(b, 0);
  Value numExperts = dim(b, op.getWeights(), 0);
  // Carried: slots taken by the experts before, and the tile found so far
  // (expert, begin, end; empty until found).
  ValueRange found = reduceLoop(
      b, zero, numExperts, {zero, zero, zero, zero},
      [&](ImplicitLocOpBuilder &b, Value e, ValueRange args) {
        Value before = args[0];
        ExpertRows rows = expertRows(b, op, e);
        Value tiles = ceilDiv(b, rows.count, tileRows);
        Value after = arith::AddIOp::create(b, before, tiles);
        Value mine = arith::AndIOp::create(
            b,
            arith::CmpIOp::create(b, arith::CmpIPredicate::uge, slot, before),
            arith::CmpIOp::create(b, arith::CmpIPredicate::ult, slot, after));
        Value offset = arith::MulIOp::create(
            b, arith::SubIOp::create(b, slot, before), tileRows);
        Value begin = arith::AddIOp::create(b, rows.begin, offset);
        Value segmentEnd = arith::AddIOp::create(b, rows.begin, rows.count);
        Value end = arith::MinUIOp::create(
            b, arith::AddIOp::create(b, begin, tileRows), segmentEnd);
        return SmallVector<Value>{
            after, arith::SelectOp::create(b, mine, e, args[1]),
            arith::SelectOp::create(b, mine, begin, args[2]),
            arith::SelectOp::create(b, mine, end, args[3])};
      });
  return {{}, found[1], found[2], found[3]};
}

RowTileList lowering::rowTileList(ImplicitLocOpBuilder &b, GroupedMatmulOp op,
                                  Value tileRows) {
  Value numExperts = dim(b, op.getWeights(), 0);
  if (op.isPadded()) {
    Value perExpert = ceilDiv(b, dim(b, op.getRowsLike(), 1), tileRows);
    return {tileRows, arith::MulIOp::create(b, numExperts, perExpert),
            perExpert};
  }
  // Each segment wastes less than one tile: ceil(R / rows) + E, R the rows
  // of the layout (those of `lhs` but with a gather, which reads the tokens).
  Value slots = arith::AddIOp::create(
      b, ceilDiv(b, dim(b, op.getRowsLike(), 0), tileRows), numExperts);
  return {tileRows, slots, Value()};
}

RowTile lowering::rowTile(ImplicitLocOpBuilder &b, GroupedMatmulOp op,
                          const RowTileList &list, Value slot) {
  if (op.isPadded())
    return paddedTile(b, op, slot, list.tileRows, list.tilesPerExpert);
  return sortedTile(b, op, slot, list.tileRows);
}

LogicalResult lowering::mapTileList(scf::ParallelOp tiles,
                                    scf::ParallelOp threads) {
  MLIRContext *ctx = tiles.getContext();
  AffineMap id = AffineMap::getMultiDimIdentityMap(1, ctx);
  auto on = [&](ArrayRef<gpu::Processor> processors, scf::ParallelOp loop) {
    SmallVector<gpu::ParallelLoopDimMappingAttr> dims;
    for (gpu::Processor p : processors.take_front(loop.getNumLoops()))
      dims.push_back(gpu::ParallelLoopDimMappingAttr::get(ctx, p, id, id));
    return gpu::setMappingAttr(loop, dims);
  };
  return success(
      succeeded(on({gpu::Processor::BlockX, gpu::Processor::BlockY}, tiles)) &&
      succeeded(
          on({gpu::Processor::ThreadX, gpu::Processor::ThreadY}, threads)));
}

LogicalResult lowering::applyGroupedMatmulSchedule(
    Operation *root, RewritePatternSet &&patterns,
    function_ref<bool(GroupedMatmulOp)> applies) {
  ConversionTarget target(*root->getContext());
  if (applies)
    target.addDynamicallyLegalOp<GroupedMatmulOp>(
        [&](GroupedMatmulOp op) { return !applies(op); });
  else {
    target.addIllegalOp<GroupedMatmulOp, GroupedActivationOp>();
    populateGroupedActivationLowering(patterns);
  }
  target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
  return applyPartialConversion(root, target, std::move(patterns));
}
