//===- ExpertRows.cpp - what the grouped matmul schedules share ----------===//
//
// Part of moec.
//
//===----------------------------------------------------------------------===//

#include "ExpertRows.h"

#include "../MoEToLoops/LoweringUtils.h"

#include "mlir/Dialect/GPU/Transforms/ParallelLoopMapper.h"
#include "mlir/Transforms/DialectConversion.h"
#include "llvm/Support/MathExtras.h"

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

/// Sorted rows: expert e's tiles take the slots from
///   start(e) = (offsets[e] - offsets[0]) / tileRows + e
/// on. They fit: start(e + 1) - start(e) is the number of tile boundaries
/// in the segment plus one, at least ceil(count_e / tileRows); and start(E)
/// is at most the list's ceil(R / tileRows) + E slots. A slot that no tile
/// of its expert needs (at most one or two per expert) is empty. start()
/// reads one offset and increases with e, so a binary search finds the
/// owner of `slot` in ceil(log2 E) loads, where a scan over the experts
/// read all E + 1 offsets in every tile (a T = 1 forward of a 256-expert
/// layer has tens of thousands of tiles, nearly all empty).
static RowTile sortedTile(ImplicitLocOpBuilder &b, GroupedMatmulOp op,
                          Value slot, Value tileRows) {
  Value offsets = op.getOffsets();
  Value zero = constIndex(b, 0);
  Value base = toIndex(b, memref::LoadOp::create(b, offsets, zero));
  auto start = [&](ImplicitLocOpBuilder &b, Value e, Value begin) {
    Value fromBase = arith::SubIOp::create(b, begin, base);
    return arith::AddIOp::create(
        b, arith::DivUIOp::create(b, fromBase, tileRows), e);
  };
  // The last e with start(e) <= slot; start(0) = 0 <= slot. The bounds keep
  // lo < hi, and once hi = lo + 1 a step changes nothing, so a fixed number
  // of steps suffices (32 when E is only known at run time).
  int64_t experts = op.getWeights().getType().getDimSize(0);
  int64_t steps = ShapedType::isDynamic(experts)
                      ? 32
                      : static_cast<int64_t>(llvm::Log2_64_Ceil(experts));
  ValueRange bounds = reduceLoop(
      b, zero, constIndex(b, steps), {zero, dim(b, op.getWeights(), 0)},
      [&](ImplicitLocOpBuilder &b, Value, ValueRange args) {
        Value lo = args[0], hi = args[1];
        Value mid = arith::DivUIOp::create(b, arith::AddIOp::create(b, lo, hi),
                                           constIndex(b, 2));
        Value begin = toIndex(b, memref::LoadOp::create(b, offsets, mid));
        Value atOrBefore = arith::CmpIOp::create(b, arith::CmpIPredicate::ule,
                                                 start(b, mid, begin), slot);
        return SmallVector<Value>{
            arith::SelectOp::create(b, atOrBefore, mid, lo),
            arith::SelectOp::create(b, atOrBefore, hi, mid)};
      });
  Value e = bounds[0];
  ExpertRows rows = expertRows(b, op, e);
  Value offset = arith::MulIOp::create(
      b, arith::SubIOp::create(b, slot, start(b, e, rows.begin)), tileRows);
  Value segmentEnd = arith::AddIOp::create(b, rows.begin, rows.count);
  // An empty slot gets begin = end = the segment's end.
  Value begin = arith::MinUIOp::create(
      b, arith::AddIOp::create(b, rows.begin, offset), segmentEnd);
  Value end = arith::MinUIOp::create(
      b, arith::AddIOp::create(b, begin, tileRows), segmentEnd);
  return {{}, e, begin, end};
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
