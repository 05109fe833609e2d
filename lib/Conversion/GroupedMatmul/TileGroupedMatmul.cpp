//===- TileGroupedMatmul.cpp - a grouped matmul as one grid of tiles ------===//
//
// Part of moec. Implements moe-tile-grouped-matmul, the GPU-shaped schedule
// of moe.grouped_matmul (MegaBlocks' tile list): one scf.parallel over
// (row tile, column tile) whose bounds are known before the routing is, so
// a GPU runs it as one kernel launch without reading the segment sizes on
// the host. Each row tile finds its expert from the segment sizes; tiles
// past the last one do nothing. The nested scf.parallel over the tile's
// elements becomes the block's threads.
//
//===----------------------------------------------------------------------===//

#include "ExpertRows.h"

#include "../MoEToLoops/LoweringUtils.h"

#include "moec/Conversion/Passes.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOETILEGROUPEDMATMUL
#include "moec/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::lowering;

namespace {

/// The rows one row tile covers: lhs[prefix..., begin .. end, :] of expert
/// `expert` (empty, begin == end, for a slot past the last tile).
struct RowTile {
  SmallVector<Value> prefix;
  Value expert, begin, end;
};

Value ceilDiv(ImplicitLocOpBuilder &b, Value n, Value d) {
  return arith::CeilDivUIOp::create(b, n, d);
}

/// Padded buffer: slot s is tile s % tilesPerExpert of expert
/// s / tilesPerExpert, clipped to the expert's filled slots.
RowTile paddedTile(ImplicitLocOpBuilder &b, GroupedMatmulOp op, Value slot,
                   Value tileRows, Value tilesPerExpert) {
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
RowTile sortedTile(ImplicitLocOpBuilder &b, GroupedMatmulOp op, Value slot,
                   Value tileRows) {
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

struct TileGroupedMatmul : OpConversionPattern<GroupedMatmulOp> {
  TileGroupedMatmul(MLIRContext *ctx, int64_t rows, int64_t cols,
                    Pass::Statistic &count)
      : OpConversionPattern(ctx), Rows(rows), Cols(cols), Count(count) {}

  LogicalResult
  matchAndRewrite(GroupedMatmulOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    Value weights = op.getWeights();
    Value numCols = dim(b, weights, 1);
    Value depth = dim(b, weights, 2);
    Value tileRows = constIndex(b, Rows), tileCols = constIndex(b, Cols);
    Value numExperts = dim(b, weights, 0);
    // Row-tile slots: every expert's tiles fit, whatever the routing.
    Value slots, tilesPerExpert;
    if (op.isPadded()) {
      tilesPerExpert = ceilDiv(b, dim(b, op.getLhs(), 1), tileRows);
      slots = arith::MulIOp::create(b, numExperts, tilesPerExpert);
    } else {
      // Each segment wastes less than one tile: ceil(R / rows) + E.
      slots = arith::AddIOp::create(
          b, ceilDiv(b, dim(b, op.getLhs(), 0), tileRows), numExperts);
    }
    Value colTiles = ceilDiv(b, numCols, tileCols);
    parallelLoop(
        b, {slots, colTiles}, [&](ImplicitLocOpBuilder &b, ValueRange tile) {
          RowTile rows = op.isPadded() ? paddedTile(b, op, tile[0], tileRows,
                                                    tilesPerExpert)
                                       : sortedTile(b, op, tile[0], tileRows);
          Value col0 = arith::MulIOp::create(b, tile[1], tileCols);
          parallelLoop(
              b, {tileRows, tileCols},
              [&](ImplicitLocOpBuilder &b, ValueRange at) {
                Value row = arith::AddIOp::create(b, rows.begin, at[0]);
                Value col = arith::AddIOp::create(b, col0, at[1]);
                Value inside = arith::AndIOp::create(
                    b,
                    arith::CmpIOp::create(b, arith::CmpIPredicate::ult, row,
                                          rows.end),
                    arith::CmpIOp::create(b, arith::CmpIPredicate::ult, col,
                                          numCols));
                ifThenElse(b, inside, [&](ImplicitLocOpBuilder &b) {
                  SmallVector<Value> lhsAt(rows.prefix);
                  lhsAt.push_back(row);
                  SmallVector<Value> outAt(lhsAt);
                  outAt.push_back(col);
                  // One thread, one dot product, summed in k order.
                  Value sum = reduceLoop(
                      b, constIndex(b, 0), depth, {constF32(b, 0.0)},
                      [&](ImplicitLocOpBuilder &b, Value k, ValueRange acc) {
                        SmallVector<Value> aAt(lhsAt);
                        aAt.push_back(k);
                        Value a = memref::LoadOp::create(b, op.getLhs(), aAt);
                        Value w = memref::LoadOp::create(
                            b, weights, ValueRange{rows.expert, col, k});
                        Value prod = arith::MulFOp::create(b, a, w);
                        return SmallVector<Value>{
                            arith::AddFOp::create(b, acc[0], prod)};
                      })[0];
                  if (Value bias = op.getBias())
                    sum = arith::AddFOp::create(
                        b, sum,
                        memref::LoadOp::create(b, bias,
                                               ValueRange{rows.expert, col}));
                  memref::StoreOp::create(b, sum, op.getOut(), outAt);
                });
              });
        });
    rewriter.eraseOp(op);
    ++Count;
    return success();
  }

  int64_t Rows, Cols;
  Pass::Statistic &Count;
};

struct MoETileGroupedMatmulPass
    : public moe::impl::MoETileGroupedMatmulBase<MoETileGroupedMatmulPass> {
  using Base::Base;

  LogicalResult initialize(MLIRContext *ctx) override {
    if (tileRows < 1 || tileCols < 1)
      return emitError(UnknownLoc::get(ctx))
             << "moe-tile-grouped-matmul: tile-rows and tile-cols must be "
                "positive";
    return success();
  }

  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    RewritePatternSet patterns(ctx);
    patterns.add<TileGroupedMatmul>(ctx, tileRows, tileCols, numTiled);
    if (failed(applyGroupedMatmulSchedule(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
