//===- ExpandGroupedMatmul.cpp - one linalg.matmul per expert ------------===//
//
// Part of moec. Implements moe-expand-grouped-matmul, the CPU schedule of
// moe.grouped_matmul: a loop over the experts, each a zero fill and a
// transposed-B `linalg.matmul` on views of its rows and its weight matrix
// (moe-lower-matmul-to-register-blocks then blocks it for the registers and
// the cache), then the bias.
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

struct ExpandGroupedMatmul : OpConversionPattern<GroupedMatmulOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(GroupedMatmulOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
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
      Value bias = op.getBias();
      if (!bias)
        return;
      forLoop(b, zero, rows.count, [&](ImplicitLocOpBuilder &b, Value i) {
        forLoop(b, zero, dim(b, c, 1), [&](ImplicitLocOpBuilder &b, Value n) {
          Value v = memref::LoadOp::create(b, c, ValueRange{i, n});
          Value sum = arith::AddFOp::create(
              b, v, memref::LoadOp::create(b, bias, ValueRange{e, n}));
          memref::StoreOp::create(b, sum, c, ValueRange{i, n});
        });
      });
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
