//===- ExpandGroupedMatmul.cpp - one linalg.matmul per expert ------------===//
//
// Part of moec. Implements moe-expand-grouped-matmul, the CPU schedule of
// moe.grouped_matmul: a loop over the experts, each a zero fill and a
// transposed-B `linalg.matmul` on views of its rows and its weight matrix
// (moe-lower-matmul-to-register-blocks then blocks it for the registers and
// the cache), then the bias; for weights packed in panels, one parallel loop
// over (panel, expert) pairs, each a `linalg.mmt4d` of the expert's rows by
// one panel (moe-lower-mmt4d-to-vectors).
//
//===----------------------------------------------------------------------===//

#include "ExpertRows.h"

#include "../MoEToLoops/LoweringUtils.h"

#include "moec/Conversion/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEEXPANDGROUPEDMATMUL
#include "moec/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::lowering;

namespace {

/// C [m, P] = A [m, K] · B with B one panel [K, P] of packed weights, as a
/// `linalg.mmt4d` with 1 x 1 tiles of A and 1 x P tiles of B and C:
/// C4[i, 0, 0, n0] = Σ A4[i, k, 0, 0] · B4[0, k, n0, 0].
void emitPanelMatmul(ImplicitLocOpBuilder &b, Value a, Value w, Value c) {
  auto wType = cast<MemRefType>(w.getType());
  int64_t depth = wType.getDimSize(0), panel = wType.getDimSize(1);
  OpFoldResult rows = memref::getMixedSize(b, b.getLoc(), a, 0);
  OpFoldResult one = b.getIndexAttr(1);
  Value a4 = memref::ExpandShapeOp::create(
      b, ArrayRef<int64_t>{ShapedType::kDynamic, depth, 1, 1}, a,
      {{0}, {1, 2, 3}}, {rows, b.getIndexAttr(depth), one, one});
  Value w4 = memref::ExpandShapeOp::create(
      b, ArrayRef<int64_t>{1, depth, panel, 1}, w, {{0, 1}, {2, 3}},
      {one, b.getIndexAttr(depth), b.getIndexAttr(panel), one});
  Value c4 = memref::ExpandShapeOp::create(
      b, ArrayRef<int64_t>{ShapedType::kDynamic, 1, 1, panel}, c,
      {{0}, {1, 2, 3}}, {rows, one, one, b.getIndexAttr(panel)});
  linalg::Mmt4DOp::create(b, ValueRange{a4, w4}, ValueRange{c4});
}

/// c[i, n] += bias[e, col0 + n] over the `rows` rows and all columns of the
/// view `c` (col0 null: 0).
void addBias(ImplicitLocOpBuilder &b, Value bias, Value e, Value c, Value rows,
             Value col0) {
  Value zero = constIndex(b, 0);
  forLoop(b, zero, rows, [&](ImplicitLocOpBuilder &b, Value i) {
    forLoop(b, zero, dim(b, c, 1), [&](ImplicitLocOpBuilder &b, Value n) {
      Value v = memref::LoadOp::create(b, c, ValueRange{i, n});
      Value col = col0 ? arith::AddIOp::create(b, col0, n).getResult() : n;
      Value sum = arith::AddFOp::create(
          b, v, memref::LoadOp::create(b, bias, ValueRange{e, col}));
      memref::StoreOp::create(b, sum, c, ValueRange{i, n});
    });
  });
}

/// Packed weights [E, N / P, K, P]: one parallel loop over all (panel,
/// expert) pairs, panel-major, rather than a loop over experts each with its
/// own parallel loop. The layer then forks threads once per projection, not
/// once per expert (64 experts x 3 projections would be 192 forks and joins),
/// and a contiguous split of the pairs hands every thread the same share of
/// each expert's panels, whatever the routing. Each pair is a zero fill and
/// an mmt4d of the expert's rows by the panel.
void emitPackedGroupedMatmul(ImplicitLocOpBuilder &b, GroupedMatmulOp op) {
  Value weights = op.getWeights();
  int64_t panel = cast<MemRefType>(weights.getType()).getDimSize(3);
  parallelLoop(
      b, {dim(b, weights, 1), dim(b, weights, 0)},
      [&](ImplicitLocOpBuilder &b, ValueRange ivs) {
        Value p = ivs[0], e = ivs[1];
        ExpertRows rows = expertRows(b, op, e);
        Value a = rowsView(b, op.getLhs(), rows.prefix, rows.begin, rows.count);
        Value c = rowsView(b, op.getOut(), rows.prefix, rows.begin, rows.count);
        Value col0 = arith::MulIOp::create(b, p, constIndex(b, panel));
        OpFoldResult one = b.getIndexAttr(1);
        Value cPanel = memref::SubViewOp::create(
            b, c, ArrayRef<OpFoldResult>{b.getIndexAttr(0), col0},
            ArrayRef<OpFoldResult>{rows.count, b.getIndexAttr(panel)},
            ArrayRef<OpFoldResult>{one, one});
        Value w = sliceAt(b, weights, {e, p});
        // The fill right before the mmt4d: the CPU schedule folds it in.
        fillBuffer(b, cPanel, constF32(b, 0.0));
        emitPanelMatmul(b, a, w, cPanel);
        if (Value bias = op.getBias())
          addBias(b, bias, e, cPanel, rows.count, col0);
      });
}

struct ExpandGroupedMatmul : OpConversionPattern<GroupedMatmulOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(GroupedMatmulOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    if (op.isPacked()) {
      emitPackedGroupedMatmul(b, op);
      rewriter.eraseOp(op);
      return success();
    }
    Value weights = op.getWeights();
    Value zero = constIndex(b, 0);
    forLoop(b, zero, dim(b, weights, 0), [&](ImplicitLocOpBuilder &b, Value e) {
      ExpertRows rows = expertRows(b, op, e);
      Value a = rowsView(b, op.getLhs(), rows.prefix, rows.begin, rows.count);
      Value c = rowsView(b, op.getOut(), rows.prefix, rows.begin, rows.count);
      Value w = sliceAt(b, weights, e);
      // The fill right before the matmul: the CPU schedule folds it in.
      fillBuffer(b, c, constF32(b, 0.0));
      linalg::MatmulTransposeBOp::create(b, b.getLoc(), ValueRange{a, w},
                                         ValueRange{c});
      if (Value bias = op.getBias())
        addBias(b, bias, e, c, rows.count, Value());
    });
    rewriter.eraseOp(op);
    return success();
  }
};

struct MoEExpandGroupedMatmulPass
    : public moe::impl::MoEExpandGroupedMatmulBase<MoEExpandGroupedMatmulPass> {
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    RewritePatternSet patterns(ctx);
    patterns.add<ExpandGroupedMatmul>(ctx);
    if (failed(applyGroupedMatmulSchedule(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
