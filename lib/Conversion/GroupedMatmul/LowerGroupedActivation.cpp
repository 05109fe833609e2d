//===- LowerGroupedActivation.cpp - the activation as a parallel loop -----===//
//
// Part of moec. The schedule of a moe.grouped_activation that no fusion took:
// one parallel loop over the experts' rows (all experts at once), each row's
// activations in a loop over its columns. Both targets' grouped-matmul
// schedules run it (moe-expand-grouped-matmul, moe-tile-grouped-matmul).
//
//===----------------------------------------------------------------------===//

#include "ExpertRows.h"

#include "../MoEToLoops/LoweringUtils.h"

#include "mlir/Transforms/DialectConversion.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::lowering;

namespace {

struct LowerGroupedActivation : OpConversionPattern<GroupedActivationOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(GroupedActivationOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    ActivationSpec spec = activationOf(op);
    Value gate = op.getGate(), up = op.getUp(), out = op.getOut();
    Value counts = op.getCounts(), offsets = op.getOffsets();
    int64_t rank = op.getGate().getType().getRank();
    Value cols = dim(b, gate, rank - 1);
    auto activateRow = [&](ImplicitLocOpBuilder &b, ValueRange row) {
      forLoop(b, constIndex(b, 0), cols, [&](ImplicitLocOpBuilder &b, Value f) {
        SmallVector<Value> at(row);
        at.push_back(f);
        Value g = memref::LoadOp::create(b, gate, at);
        Value u = up ? memref::LoadOp::create(b, up, at) : Value();
        memref::StoreOp::create(b, emitGatedActivation(b, spec, g, u), out, at);
      });
    };
    if (rank == 3) {
      parallelLoop(b, {dim(b, gate, 0), dim(b, gate, 1)},
                   [&](ImplicitLocOpBuilder &b, ValueRange ivs) {
                     if (!counts)
                       return activateRow(b, ivs);
                     // Slots past counts[e] are padding.
                     Value filled =
                         toIndex(b, memref::LoadOp::create(b, counts, ivs[0]));
                     Value used = arith::CmpIOp::create(
                         b, arith::CmpIPredicate::slt, ivs[1], filled);
                     ifThenElse(b, used, [&](ImplicitLocOpBuilder &b) {
                       activateRow(b, ivs);
                     });
                   });
    } else {
      Value numExperts =
          arith::SubIOp::create(b, dim(b, offsets, 0), constIndex(b, 1));
      parallelLoop(
          b, {dim(b, gate, 0)}, [&](ImplicitLocOpBuilder &b, ValueRange ivs) {
            // Rows at or past offsets[E] belong to no expert (dropped ones).
            Value end =
                toIndex(b, memref::LoadOp::create(b, offsets, numExperts));
            Value used = arith::CmpIOp::create(b, arith::CmpIPredicate::ult,
                                               ivs[0], end);
            ifThenElse(b, used,
                       [&](ImplicitLocOpBuilder &b) { activateRow(b, ivs); });
          });
    }
    rewriter.eraseOp(op);
    return success();
  }
};

} // namespace

void lowering::populateGroupedActivationLowering(RewritePatternSet &patterns) {
  patterns.add<LowerGroupedActivation>(patterns.getContext());
}
