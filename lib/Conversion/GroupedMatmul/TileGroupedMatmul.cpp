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
    Value tileCols = constIndex(b, Cols);
    RowTileList list = rowTileList(b, op, constIndex(b, Rows));
    Value colTiles = arith::CeilDivUIOp::create(b, numCols, tileCols);
    scf::ParallelOp elementLoop;
    scf::ParallelOp tileLoop = parallelLoop(
        b, {list.slots, colTiles},
        [&](ImplicitLocOpBuilder &b, ValueRange tile) {
          RowTile rows = rowTile(b, op, list, tile[0]);
          Value col0 = arith::MulIOp::create(b, tile[1], tileCols);
          elementLoop = parallelLoop(
              b, {list.tileRows, tileCols},
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
                  SmallVector<Value> outAt(rows.prefix);
                  outAt.push_back(row);
                  outAt.push_back(col);
                  // The row of lhs: the same row, or the gather's token
                  // for it (read once per element).
                  SmallVector<Value> lhsAt(rows.prefix);
                  lhsAt.push_back(row);
                  if (Value gather = op.getGather())
                    lhsAt = {
                        toIndex(b, memref::LoadOp::create(b, gather, lhsAt))};
                  // One thread, one dot product per projection, summed in
                  // k order.
                  auto project = [&](Value weights, Value bias) {
                    Value sum = reduceLoop(
                        b, constIndex(b, 0), depth, {constF32(b, 0.0)},
                        [&](ImplicitLocOpBuilder &b, Value k, ValueRange acc) {
                          SmallVector<Value> aAt(lhsAt);
                          aAt.push_back(k);
                          Value a = memref::LoadOp::create(b, op.getLhs(), aAt);
                          Value w = widenToF32(
                              b,
                              memref::LoadOp::create(
                                  b, weights, ValueRange{rows.expert, col, k}));
                          Value prod = arith::MulFOp::create(b, a, w);
                          return SmallVector<Value>{
                              arith::AddFOp::create(b, acc[0], prod)};
                        })[0];
                    if (bias)
                      sum = arith::AddFOp::create(
                          b, sum,
                          memref::LoadOp::create(b, bias,
                                                 ValueRange{rows.expert, col}));
                    return sum;
                  };
                  Value sum = project(weights, op.getBias());
                  if (op.hasEpilogue()) {
                    Value up = op.getUp() ? project(op.getUp(), op.getUpBias())
                                          : Value();
                    sum = emitGatedActivation(b, activationOf(op), sum, up);
                  }
                  memref::StoreOp::create(b, sum, op.getOut(), outAt);
                });
              });
        });
    if (failed(mapTileList(tileLoop, elementLoop)))
      return rewriter.notifyMatchFailure(op, "cannot map the loops");
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
    // Refused up front, so the error is the only one.
    WalkResult packed = getOperation()->walk([](GroupedMatmulOp op) {
      if (op.isPacked()) {
        op.emitOpError("takes [E, N, K] weights; weights packed in panels "
                       "are the CPU per-expert schedule's layout "
                       "(moe-expand-grouped-matmul)");
        return WalkResult::interrupt();
      }
      if (op.getScatter()) {
        // Tiles of different experts would add into one token at once.
        op.emitOpError("adds its rows into the tokens ('scatter'), which "
                       "needs the experts in order: only the per-expert "
                       "schedule (moe-expand-grouped-matmul) takes it");
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (packed.wasInterrupted())
      return signalPassFailure();
    MLIRContext *ctx = &getContext();
    RewritePatternSet patterns(ctx);
    patterns.add<TileGroupedMatmul>(ctx, tileRows, tileCols, numTiled);
    if (failed(applyGroupedMatmulSchedule(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
