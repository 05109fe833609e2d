//===- LowerCombine.cpp - weighted un-permute, parallel over tokens -------===//
//
// Part of moec. result[t] = Σ_j w[t, j] · row(t, j), with the choices summed
// in order j = 0, 1, ... and dropped assignments contributing zero or, with
// the passthrough policy, w[t, j] · x[t]. Each token gathers its own rows
// and writes only its own output row, so the token loop is an scf.parallel
// that needs no atomics and sums in the same order on every target.
//
//===----------------------------------------------------------------------===//

#include "LoweringUtils.h"
#include "Lowerings.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::lowering;

namespace {

/// Where assignment (t, j)'s expert output lives, given its slot or position
/// (known to be >= 0): a load of element d.
using RowLoader = function_ref<Value(ImplicitLocOpBuilder &, Value t, Value j,
                                     Value where, Value d)>;

Value emitCombine(ImplicitLocOpBuilder &b, Operation *op, Value whereTensor,
                  Value weightsTensor, Value passthroughTensor,
                  RowLoader loadRow) {
  auto resultType = cast<RankedTensorType>(op->getResult(0).getType());
  Value where = readBuffer(b, whereTensor);
  Value weights = readBuffer(b, weightsTensor);
  Value x = passthroughTensor ? readBuffer(b, passthroughTensor) : Value();
  Value zero = constIndex(b, 0);
  Value numTokens = dim(b, where, 0);
  Value topK = dim(b, where, 1);
  Value hidden = constIndex(b, resultType.getDimSize(1));
  SmallVector<Value> sizes;
  if (resultType.isDynamicDim(0))
    sizes.push_back(numTokens);
  Value out = allocBuffer(b, resultType, sizes);

  auto accumulate =
      [&](ImplicitLocOpBuilder &b, Value t, Value w,
          function_ref<Value(ImplicitLocOpBuilder &, Value)> element) {
        forLoop(b, zero, hidden, [&](ImplicitLocOpBuilder &b, Value d) {
          Value acc = memref::LoadOp::create(b, out, ValueRange{t, d});
          Value v = arith::MulFOp::create(b, w, element(b, d));
          memref::StoreOp::create(b, arith::AddFOp::create(b, acc, v), out,
                                  ValueRange{t, d});
        });
      };

  parallelLoop(b, numTokens, [&](ImplicitLocOpBuilder &b, ValueRange ivs) {
    Value t = ivs[0];
    forLoop(b, zero, hidden, [&](ImplicitLocOpBuilder &b, Value d) {
      memref::StoreOp::create(b, constF32(b, 0.0), out, ValueRange{t, d});
    });
    forLoop(b, zero, topK, [&](ImplicitLocOpBuilder &b, Value j) {
      Value at = memref::LoadOp::create(b, where, ValueRange{t, j});
      Value w = memref::LoadOp::create(b, weights, ValueRange{t, j});
      Value kept = arith::CmpIOp::create(b, arith::CmpIPredicate::sge, at,
                                         constI32(b, 0));
      auto keptBody = [&](ImplicitLocOpBuilder &b) {
        accumulate(b, t, w, [&](ImplicitLocOpBuilder &b, Value d) {
          return loadRow(b, t, j, toIndex(b, at), d);
        });
      };
      if (!x) {
        ifThenElse(b, kept, keptBody);
        return;
      }
      ifThenElse(b, kept, keptBody, [&](ImplicitLocOpBuilder &b) {
        accumulate(b, t, w, [&](ImplicitLocOpBuilder &b, Value d) -> Value {
          return memref::LoadOp::create(b, x, ValueRange{t, d});
        });
      });
    });
  });
  return asResult(b, out, resultType);
}

} // namespace

void lowering::lowerCombineCapacity(RewriterBase &rewriter,
                                    CombineCapacityOp op) {
  rewriter.setInsertionPoint(op);
  ImplicitLocOpBuilder b(op.getLoc(), rewriter);
  Value buffer = readBuffer(b, op.getBuffer());
  Value indices = readBuffer(b, op.getIndices());
  Value result = emitCombine(
      b, op, op.getSlots(), op.getWeights(), op.getHidden(),
      [&](ImplicitLocOpBuilder &b, Value t, Value j, Value slot,
          Value d) -> Value {
        Value e =
            toIndex(b, memref::LoadOp::create(b, indices, ValueRange{t, j}));
        return memref::LoadOp::create(b, buffer, ValueRange{e, slot, d});
      });
  rewriter.replaceOp(op, result);
}

void lowering::lowerCombineSorted(RewriterBase &rewriter, CombineSortedOp op) {
  rewriter.setInsertionPoint(op);
  ImplicitLocOpBuilder b(op.getLoc(), rewriter);
  Value rows = readBuffer(b, op.getRows());
  Value result = emitCombine(
      b, op, op.getPositions(), op.getWeights(), op.getHidden(),
      [&](ImplicitLocOpBuilder &b, Value, Value, Value pos, Value d) -> Value {
        return memref::LoadOp::create(b, rows, ValueRange{pos, d});
      });
  rewriter.replaceOp(op, result);
}
