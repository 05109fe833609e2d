//===- LowerCombine.cpp - weighted un-permute, parallel over tokens -------===//
//
// Part of moec. result[t] = Σ_j w[t, j] · row(t, j): first, with the
// passthrough policy, w[t, j] · x[t] for each dropped assignment in order j,
// then the kept rows in ascending expert order, which is the order the
// experts finish in when the second projection adds its rows into the tokens
// itself (moe-fuse-expert-combine): fused or not, one sum, one rounding.
// Each token gathers its own rows and writes only its own output row, so the
// token loop is an scf.parallel that needs no atomics and sums in the same
// order on every target. Also the routing weights moved to the rows
// (moe.scatter_weights) for that fusion.
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
/// The rank of kept assignment (t, j)'s expert among token t's (an index
/// that grows with the expert: its position, or the expert itself).
using ExpertKey =
    function_ref<Value(ImplicitLocOpBuilder &, Value t, Value j, Value where)>;

Value emitCombine(ImplicitLocOpBuilder &b, Operation *op, Value whereTensor,
                  Value weightsTensor, Value passthroughTensor,
                  RowLoader loadRow, ExpertKey expertKey) {
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

  // Above every key: positions and experts are below 2^31.
  Value none = constIndex(b, int64_t{1} << 31);
  parallelLoop(b, numTokens, [&](ImplicitLocOpBuilder &b, ValueRange ivs) {
    Value t = ivs[0];
    forLoop(b, zero, hidden, [&](ImplicitLocOpBuilder &b, Value d) {
      memref::StoreOp::create(b, constF32(b, 0.0), out, ValueRange{t, d});
    });
    auto whereOf = [&](ImplicitLocOpBuilder &b, Value j) {
      return memref::LoadOp::create(b, where, ValueRange{t, j}).getResult();
    };
    auto isKept = [&](ImplicitLocOpBuilder &b, Value at) {
      return arith::CmpIOp::create(b, arith::CmpIPredicate::sge, at,
                                   constI32(b, 0))
          .getResult();
    };
    if (x)
      forLoop(b, zero, topK, [&](ImplicitLocOpBuilder &b, Value j) {
        Value dropped = arith::CmpIOp::create(b, arith::CmpIPredicate::slt,
                                              whereOf(b, j), constI32(b, 0));
        ifThenElse(b, dropped, [&](ImplicitLocOpBuilder &b) {
          Value w = memref::LoadOp::create(b, weights, ValueRange{t, j});
          accumulate(b, t, w, [&](ImplicitLocOpBuilder &b, Value d) -> Value {
            return memref::LoadOp::create(b, x, ValueRange{t, d});
          });
        });
      });
    // k selections, each the kept assignment with the smallest key above
    // the last one's (k² compares, next to k·D multiply-adds).
    reduceLoop(
        b, zero, topK, {constIndex(b, -1)},
        [&](ImplicitLocOpBuilder &b, Value, ValueRange last) {
          ValueRange next = reduceLoop(
              b, zero, topK, {none, zero},
              [&](ImplicitLocOpBuilder &b, Value j, ValueRange best) {
                Value at = whereOf(b, j);
                Value key = arith::SelectOp::create(
                    b, isKept(b, at), expertKey(b, t, j, at), none);
                Value better = arith::AndIOp::create(
                    b,
                    arith::CmpIOp::create(b, arith::CmpIPredicate::sgt, key,
                                          last[0]),
                    arith::CmpIOp::create(b, arith::CmpIPredicate::slt, key,
                                          best[0]));
                return SmallVector<Value>{
                    arith::SelectOp::create(b, better, key, best[0]),
                    arith::SelectOp::create(b, better, j, best[1])};
              });
          Value found = arith::CmpIOp::create(b, arith::CmpIPredicate::slt,
                                              next[0], none);
          ifThenElse(b, found, [&](ImplicitLocOpBuilder &b) {
            Value j = next[1];
            Value at = toIndex(b, whereOf(b, j));
            Value w = memref::LoadOp::create(b, weights, ValueRange{t, j});
            accumulate(b, t, w, [&](ImplicitLocOpBuilder &b, Value d) {
              return loadRow(b, t, j, at, d);
            });
          });
          return SmallVector<Value>{next[0]};
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
      },
      [&](ImplicitLocOpBuilder &b, Value t, Value j, Value) {
        return toIndex(b, memref::LoadOp::create(b, indices, ValueRange{t, j}));
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
      },
      // Rows are sorted by expert.
      [&](ImplicitLocOpBuilder &b, Value, Value, Value pos) {
        return toIndex(b, pos);
      });
  rewriter.replaceOp(op, result);
}

void lowering::lowerScatterWeights(RewriterBase &rewriter,
                                   ScatterWeightsOp op) {
  rewriter.setInsertionPoint(op);
  ImplicitLocOpBuilder b(op.getLoc(), rewriter);
  auto resultType = cast<RankedTensorType>(op.getResult().getType());
  Value weights = readBuffer(b, op.getWeights());
  Value where = readBuffer(b, op.getWhere());
  Value indices = op.getIndices() ? readBuffer(b, op.getIndices()) : Value();
  Value zero = constIndex(b, 0);
  Value numTokens = dim(b, where, 0);
  Value topK = dim(b, where, 1);
  SmallVector<Value> sizes;
  if (resultType.isDynamicDim(0))
    sizes.push_back(arith::MulIOp::create(b, numTokens, topK));
  if (indices && resultType.isDynamicDim(1))
    sizes.push_back(op.getCapacity());
  Value out = allocBuffer(b, resultType, sizes);
  fillBuffer(b, out, constF32(b, 0.0));
  // Kept assignments own distinct rows: no two tokens write one.
  parallelLoop(b, numTokens, [&](ImplicitLocOpBuilder &b, ValueRange ivs) {
    Value t = ivs[0];
    forLoop(b, zero, topK, [&](ImplicitLocOpBuilder &b, Value j) {
      Value at = memref::LoadOp::create(b, where, ValueRange{t, j});
      Value kept = arith::CmpIOp::create(b, arith::CmpIPredicate::sge, at,
                                         constI32(b, 0));
      ifThenElse(b, kept, [&](ImplicitLocOpBuilder &b) {
        SmallVector<Value, 2> row;
        if (indices)
          row.push_back(
              toIndex(b, memref::LoadOp::create(b, indices, ValueRange{t, j})));
        row.push_back(toIndex(b, at));
        memref::StoreOp::create(
            b, memref::LoadOp::create(b, weights, ValueRange{t, j}), out, row);
      });
    });
  });
  rewriter.replaceOp(op, asResult(b, out, resultType));
}
