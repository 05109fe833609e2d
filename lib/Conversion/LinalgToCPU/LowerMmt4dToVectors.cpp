//===- LowerMmt4dToVectors.cpp - CPU schedule of packed expert GEMMs ------===//
//
// Part of moec. Implements moe-lower-mmt4d-to-vectors: the `linalg.mmt4d`
// that moe-expand-grouped-matmul makes of an expert projection whose weights
// are packed in panels of P columns (1 x 1 tiles of A, 1 x P tiles of B and
// C) becomes outer products in vector registers: for each k, P contiguous
// weights are loaded once and multiplied by a broadcast of each of a block of
// rows, accumulating with FMAs. Each output element is summed by the same
// operations in the same order (FMAs in k order within a chunk of k, then
// the chunks in order) whatever block or thread computes it, so a row's
// result never depends on the rows computed with it.
//
//===----------------------------------------------------------------------===//

#include "PanelKernel.h"
#include "ZeroFill.h"

#include "../MoEToLoops/LoweringUtils.h"

#include "moec/Conversion/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOELOWERMMT4DTOVECTORS
#include "moec/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::lowering;

namespace {

/// A [m, K, 1, 1], B [N/P, K, P, 1] (f32 or bf16), C [m, N/P, 1, P] with P a
/// multiple of kPanelLanes, on buffers: the packed expert projection.
bool isPackedProjection(linalg::Mmt4DOp op) {
  if (!op.hasPureBufferSemantics())
    return false;
  auto type = [&](unsigned i) {
    return cast<MemRefType>(op->getOperand(i).getType());
  };
  MemRefType a = type(0), b = type(1), c = type(2);
  int64_t panel = b.getDimSize(2);
  return a.getElementType().isF32() && c.getElementType().isF32() &&
         (b.getElementType().isF32() || b.getElementType().isBF16()) &&
         a.getDimSize(2) == 1 && a.getDimSize(3) == 1 && b.getDimSize(3) == 1 &&
         c.getDimSize(2) == 1 && !ShapedType::isDynamic(panel) &&
         panel % kPanelLanes == 0 && c.getDimSize(3) == panel &&
         !b.isDynamicDim(1);
}

struct Mmt4dToVectors : OpConversionPattern<linalg::Mmt4DOp> {
  Mmt4dToVectors(MLIRContext *ctx, int64_t rows, int64_t kChunk,
                 Pass::Statistic &count)
      : OpConversionPattern(ctx), Rows(rows), KChunk(kChunk), Count(count) {}

  LogicalResult
  matchAndRewrite(linalg::Mmt4DOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (!isPackedProjection(op))
      return rewriter.notifyMatchFailure(
          op, "not an f32 packed projection (1 x 1 tiles of A, 1 x P of B)");
    linalg::FillOp fill = zeroFillBefore(op);
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    PanelOperands o;
    o.a = memref::CollapseShapeOp::create(b, adaptor.getInputs()[0],
                                          {{0}, {1, 2, 3}});
    o.w = memref::CollapseShapeOp::create(b, adaptor.getInputs()[1],
                                          {{0}, {1}, {2, 3}});
    o.c = memref::CollapseShapeOp::create(b, adaptor.getOutputs()[0],
                                          {{0}, {1, 2, 3}});
    auto wType = cast<MemRefType>(o.w.getType());
    o.panel = wType.getDimSize(2);
    o.depth = wType.getDimSize(1);
    emitPanelKernel(b, o, /*fromZero=*/static_cast<bool>(fill), Rows, KChunk);
    if (fill)
      rewriter.eraseOp(fill);
    rewriter.eraseOp(op);
    ++Count;
    return success();
  }

  int64_t Rows, KChunk;
  Pass::Statistic &Count;
};

struct MoELowerMmt4dToVectorsPass
    : public moe::impl::MoELowerMmt4dToVectorsBase<MoELowerMmt4dToVectorsPass> {
  using Base::Base;

  LogicalResult initialize(MLIRContext *ctx) override {
    if (blockRows < 1 || kChunk < 1)
      return emitError(UnknownLoc::get(ctx))
             << "moe-lower-mmt4d-to-vectors: block-rows and k-chunk must be "
                "positive";
    return success();
  }

  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    ConversionTarget target(*ctx);
    target.addDynamicallyLegalOp<linalg::Mmt4DOp>(
        [](linalg::Mmt4DOp op) { return !isPackedProjection(op); });
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    RewritePatternSet patterns(ctx);
    patterns.add<Mmt4dToVectors>(ctx, blockRows, kChunk, numLowered);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
