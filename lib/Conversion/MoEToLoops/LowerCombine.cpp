//===- LowerCombine.cpp - weighted un-permute, parallel over tokens -------===//
//
// Part of moec. result[t] = Σ_j w[t, j] · row(t, j): first, with the
// passthrough policy, w[t, j] · x[t] for each dropped assignment in order j,
// then the kept rows in ascending expert order, which is the order the
// experts finish in when the second projection adds its rows into the tokens
// itself (moe-fuse-expert-combine): fused or not, one sum, one rounding.
// Each token gathers its own rows and writes only its own output row, so the
// token loop is an scf.parallel that needs no atomics and sums in the same
// order on every target. The per-element form (combine-per-element, for
// GPUs) keeps that order: a token loop writes it to [T, k], then each
// (token, element) iteration sums its k terms in it. Also the routing weights
// moved to the rows (moe.scatter_weights) for that fusion.
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

/// Calls visit(j) for token t's kept assignments in ascending key order: k
/// selections, each the kept assignment with the smallest key above the
/// last one's (k² compares, next to k·D multiply-adds).
void forKeptInOrder(
    ImplicitLocOpBuilder &b, Value t, Value where, Value topK,
    ExpertKey expertKey,
    function_ref<void(ImplicitLocOpBuilder &, Value i, Value j, Value at)>
        visit) {
  Value zero = constIndex(b, 0);
  // Above every key: positions and experts are below 2^31.
  Value none = constIndex(b, int64_t{1} << 31);
  reduceLoop(
      b, zero, topK, {constIndex(b, -1)},
      [&](ImplicitLocOpBuilder &b, Value i, ValueRange last) {
        ValueRange next = reduceLoop(
            b, zero, topK, {none, zero},
            [&](ImplicitLocOpBuilder &b, Value j, ValueRange best) {
              Value at = memref::LoadOp::create(b, where, ValueRange{t, j});
              Value kept = arith::CmpIOp::create(b, arith::CmpIPredicate::sge,
                                                 at, constI32(b, 0));
              Value key = arith::SelectOp::create(b, kept,
                                                  expertKey(b, t, j, at), none);
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
        Value found =
            arith::CmpIOp::create(b, arith::CmpIPredicate::slt, next[0], none);
        ifThenElse(b, found, [&](ImplicitLocOpBuilder &b) {
          Value j = next[1];
          Value at =
              toIndex(b, memref::LoadOp::create(b, where, ValueRange{t, j}));
          visit(b, i, j, at);
        });
        return SmallVector<Value>{next[0]};
      });
}

Value emitCombine(ImplicitLocOpBuilder &b, Operation *op, Value whereTensor,
                  Value weightsTensor, Value passthroughTensor,
                  RowLoader loadRow, ExpertKey expertKey, bool perElement) {
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

  auto isDropped = [&](ImplicitLocOpBuilder &b, Value t, Value j) {
    Value at = memref::LoadOp::create(b, where, ValueRange{t, j});
    return arith::CmpIOp::create(b, arith::CmpIPredicate::slt, at,
                                 constI32(b, 0))
        .getResult();
  };
  auto weighted = [&](ImplicitLocOpBuilder &b, Value t, Value j, Value v) {
    Value w = memref::LoadOp::create(b, weights, ValueRange{t, j});
    return arith::MulFOp::create(b, w, v).getResult();
  };

  if (perElement) {
    // order[t, i]: the i-th kept assignment of token t in key order, -1
    // past the kept ones.
    auto orderType = RankedTensorType::get(
        {ShapedType::kDynamic, cast<MemRefType>(where.getType()).getDimSize(1)},
        b.getI32Type());
    SmallVector<Value> orderSizes{numTokens};
    if (orderType.isDynamicDim(1))
      orderSizes.push_back(topK);
    Value order = allocBuffer(b, orderType, orderSizes);
    parallelLoop(b, numTokens, [&](ImplicitLocOpBuilder &b, ValueRange ivs) {
      Value t = ivs[0];
      forLoop(b, zero, topK, [&](ImplicitLocOpBuilder &b, Value i) {
        memref::StoreOp::create(b, constI32(b, -1), order, ValueRange{t, i});
      });
      forKeptInOrder(
          b, t, where, topK, expertKey,
          [&](ImplicitLocOpBuilder &b, Value i, Value j, Value) {
            memref::StoreOp::create(b, toI32(b, j), order, ValueRange{t, i});
          });
    });
    parallelLoop(
        b, {numTokens, hidden}, [&](ImplicitLocOpBuilder &b, ValueRange ivs) {
          Value t = ivs[0], d = ivs[1];
          Value sum = constF32(b, 0.0);
          auto addIf = [&](ImplicitLocOpBuilder &b, Value cond, Value acc,
                           function_ref<Value(ImplicitLocOpBuilder &)> term) {
            auto branch = scf::IfOp::create(
                b, cond,
                [&](OpBuilder &nb, Location loc) {
                  ImplicitLocOpBuilder ib(loc, nb);
                  scf::YieldOp::create(
                      ib, ValueRange{arith::AddFOp::create(ib, acc, term(ib))});
                },
                [&](OpBuilder &nb, Location loc) {
                  scf::YieldOp::create(nb, loc, ValueRange{acc});
                });
            return branch.getResult(0);
          };
          if (x)
            sum = reduceLoop(
                b, zero, topK, {sum},
                [&](ImplicitLocOpBuilder &b, Value j, ValueRange acc) {
                  return SmallVector<Value>{addIf(
                      b, isDropped(b, t, j), acc[0],
                      [&](ImplicitLocOpBuilder &b) {
                        Value v =
                            memref::LoadOp::create(b, x, ValueRange{t, d});
                        return weighted(b, t, j, v);
                      })};
                })[0];
          sum = reduceLoop(
              b, zero, topK, {sum},
              [&](ImplicitLocOpBuilder &b, Value i, ValueRange acc) {
                Value j32 = memref::LoadOp::create(b, order, ValueRange{t, i});
                Value kept = arith::CmpIOp::create(b, arith::CmpIPredicate::sge,
                                                   j32, constI32(b, 0));
                return SmallVector<Value>{
                    addIf(b, kept, acc[0], [&](ImplicitLocOpBuilder &b) {
                      Value j = toIndex(b, j32);
                      Value at = toIndex(b, memref::LoadOp::create(
                                                b, where, ValueRange{t, j}));
                      return weighted(b, t, j, loadRow(b, t, j, at, d));
                    })};
              })[0];
          memref::StoreOp::create(b, sum, out, ValueRange{t, d});
        });
    return asResult(b, out, resultType);
  }

  auto accumulate =
      [&](ImplicitLocOpBuilder &b, Value t, Value j,
          function_ref<Value(ImplicitLocOpBuilder &, Value)> element) {
        forLoop(b, zero, hidden, [&](ImplicitLocOpBuilder &b, Value d) {
          Value acc = memref::LoadOp::create(b, out, ValueRange{t, d});
          Value v = weighted(b, t, j, element(b, d));
          memref::StoreOp::create(b, arith::AddFOp::create(b, acc, v), out,
                                  ValueRange{t, d});
        });
      };

  parallelLoop(b, numTokens, [&](ImplicitLocOpBuilder &b, ValueRange ivs) {
    Value t = ivs[0];
    forLoop(b, zero, hidden, [&](ImplicitLocOpBuilder &b, Value d) {
      memref::StoreOp::create(b, constF32(b, 0.0), out, ValueRange{t, d});
    });
    if (x)
      forLoop(b, zero, topK, [&](ImplicitLocOpBuilder &b, Value j) {
        ifThenElse(b, isDropped(b, t, j), [&](ImplicitLocOpBuilder &b) {
          accumulate(b, t, j, [&](ImplicitLocOpBuilder &b, Value d) -> Value {
            return memref::LoadOp::create(b, x, ValueRange{t, d});
          });
        });
      });
    forKeptInOrder(b, t, where, topK, expertKey,
                   [&](ImplicitLocOpBuilder &b, Value, Value j, Value at) {
                     accumulate(b, t, j, [&](ImplicitLocOpBuilder &b, Value d) {
                       return loadRow(b, t, j, at, d);
                     });
                   });
  });
  return asResult(b, out, resultType);
}

} // namespace

void lowering::lowerCombineCapacity(RewriterBase &rewriter,
                                    CombineCapacityOp op, bool perElement) {
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
      },
      perElement);
  rewriter.replaceOp(op, result);
}

void lowering::lowerCombineSorted(RewriterBase &rewriter, CombineSortedOp op,
                                  bool perElement) {
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
      },
      perElement);
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
