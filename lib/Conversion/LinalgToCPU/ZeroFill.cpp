//===- ZeroFill.cpp - the zero fill a CPU matmul schedule folds in --------===//
//
// Part of moec.
//
//===----------------------------------------------------------------------===//

#include "ZeroFill.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;

linalg::FillOp mlir::moe::lowering::zeroFillBefore(linalg::LinalgOp op) {
  Value out = op.getDpsInits()[0];
  Operation *prev = op->getPrevNode();
  // Views have no effect on memory: the fill may come before them.
  while (auto view = dyn_cast_or_null<memref::ExpandShapeOp>(prev)) {
    if (view.getResult() == out)
      out = view.getSrc();
    prev = prev->getPrevNode();
  }
  auto fill = dyn_cast_or_null<linalg::FillOp>(prev);
  if (!fill || !fill.hasPureBufferSemantics() ||
      fill.getOutputs()[0] != out ||
      !matchPattern(fill.getInputs()[0], m_AnyZeroFloat()))
    return {};
  return fill;
}
