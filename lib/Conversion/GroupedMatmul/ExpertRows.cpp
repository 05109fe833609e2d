//===- ExpertRows.cpp - what the grouped matmul schedules share ----------===//
//
// Part of moec.
//
//===----------------------------------------------------------------------===//

#include "ExpertRows.h"

#include "../MoEToLoops/LoweringUtils.h"

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
  Value rows = dim(b, op.getLhs(), 1);
  if (Value counts = op.getCounts())
    rows = arith::MinSIOp::create(
        b, toIndex(b, memref::LoadOp::create(b, counts, e)), rows);
  return {{e}, constIndex(b, 0), rows};
}

LogicalResult
lowering::applyGroupedMatmulSchedule(Operation *root,
                                     RewritePatternSet &&patterns) {
  ConversionTarget target(*root->getContext());
  target.addIllegalOp<GroupedMatmulOp>();
  target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
  return applyPartialConversion(root, target, std::move(patterns));
}
