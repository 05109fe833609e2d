//===- LowerRoute.cpp - moe.route as a parallel loop over tokens ----------===//
//
// Part of moec. Two parallel loops: the logits x[t] · wg[e] over (t, e),
// then the rest of routing over tokens. The logits are T·E dot products of
// length D, the bulk of routing's work, and a loop of their own gives a GPU
// T·E independent reductions (moe-split-dot-products-across-lanes gives each
// a warp) where the token loop would run E·D multiply-adds in one thread.
// Within a token the rest is sequential (softmax, group filter, top-k by
// repeated arg-max with ties to the lower index) over the token's own row
// of [T, E] and [T, groups] scratch buffers. Scratch lives in buffers rather
// than stack allocations because a loop lowered without OpenMP would grow
// the stack by one allocation per token. Its cost is T·E·D, small next to
// the experts' T·k·3·F·D.
//
//===----------------------------------------------------------------------===//

#include "LoweringUtils.h"
#include "Lowerings.h"

#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

#include <limits>

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::lowering;

namespace {

/// The first index i in [0, n) with available(i) and the greatest value(i)
/// (strict comparison keeps the lower index on ties; NaN ranks lowest); -1
/// if none is available.
Value emitArgMax(ImplicitLocOpBuilder &b, Value n,
                 function_ref<Value(ImplicitLocOpBuilder &, Value)> available,
                 function_ref<Value(ImplicitLocOpBuilder &, Value)> value) {
  Value zero = constIndex(b, 0);
  Value init = constF32(b, -std::numeric_limits<double>::infinity());
  Value none = constI32(b, -1);
  return reduceLoop(
      b, zero, n, ValueRange{init, none},
      [&](ImplicitLocOpBuilder &bb, Value i, ValueRange args) {
        Value v = value(bb, i);
        Value noBest = arith::CmpIOp::create(bb, arith::CmpIPredicate::slt,
                                             args[1], constI32(bb, 0));
        // NaN ranks below every number (as NumPy's sort puts it last): a
        // number beats a NaN best, a NaN never beats anything.
        Value greater =
            arith::CmpFOp::create(bb, arith::CmpFPredicate::OGT, v, args[0]);
        Value bestIsNaN = arith::CmpFOp::create(bb, arith::CmpFPredicate::UNO,
                                                args[0], args[0]);
        Value vIsNumber =
            arith::CmpFOp::create(bb, arith::CmpFPredicate::ORD, v, v);
        greater = arith::OrIOp::create(
            bb, greater, arith::AndIOp::create(bb, bestIsNaN, vIsNumber));
        Value better = arith::AndIOp::create(
            bb, available(bb, i), arith::OrIOp::create(bb, noBest, greater));
        Value best = arith::SelectOp::create(bb, better, v, args[0]);
        Value bestIdx =
            arith::SelectOp::create(bb, better, toI32(bb, i), args[1]);
        return SmallVector<Value>{best, bestIdx};
      })[1];
}

Value isZero(ImplicitLocOpBuilder &b, Value flags, Value i) {
  Value f = memref::LoadOp::create(b, flags, ValueRange{i});
  return arith::CmpIOp::create(b, arith::CmpIPredicate::eq, f, constI32(b, 0));
}

} // namespace

void lowering::lowerRoute(RewriterBase &rewriter, RouteOp op) {
  rewriter.setInsertionPoint(op);
  ImplicitLocOpBuilder b(op.getLoc(), rewriter);
  Value x = readBuffer(b, op.getHidden());
  Value wg = readBuffer(b, op.getRouterWeight());
  Value routerBias =
      op.getRouterBias() ? readBuffer(b, op.getRouterBias()) : Value();
  Value scoreBias =
      op.getScoreBias() ? readBuffer(b, op.getScoreBias()) : Value();
  int64_t numExperts = op.getNumExperts();
  int64_t topK = op.getTopK();
  bool sigmoid = op.getScoring() == Scoring::Sigmoid;

  Value zero = constIndex(b, 0);
  Value numTokens = dim(b, x, 0);
  Value hidden = dim(b, x, 1);
  Value experts = constIndex(b, numExperts);
  SmallVector<Value> dynT;
  if (op.getIndices().getType().isDynamicDim(0))
    dynT.push_back(numTokens);
  Value indices = allocBuffer(b, op.getIndices().getType(), dynT);
  Value weights = allocBuffer(b, op.getWeights().getType(), dynT);

  auto f32 = b.getF32Type();
  auto i32 = b.getI32Type();
  // One row per token; a token's body sees only its own row as a 1-D view.
  auto scratch = [&](int64_t n, Type t) {
    return allocBuffer(b, RankedTensorType::get({ShapedType::kDynamic, n}, t),
                       {numTokens});
  };
  Value allScores = scratch(numExperts, f32); // Router scores s (or p).
  Value allChoice = scratch(numExperts, f32); // s' used for selection.
  Value allTaken = scratch(numExperts, i32);  // 1 once chosen.
  int64_t numGroups = op.getNGroup().value_or(1);
  bool grouped = op.getSelection() != Selection::Plain;
  Value allGroupScore = grouped ? scratch(numGroups, f32) : Value();
  Value allGroupKept = grouped ? scratch(numGroups, i32) : Value();

  // Logits in fp32: x[t] · wg[e] (+ router bias).
  parallelLoop(
      b, {numTokens, experts}, [&](ImplicitLocOpBuilder &b, ValueRange ivs) {
        Value t = ivs[0], e = ivs[1];
        Value dot = reduceLoop(
            b, zero, hidden, ValueRange{constF32(b, 0.0)},
            [&](ImplicitLocOpBuilder &b, Value d, ValueRange acc) {
              Value xv = memref::LoadOp::create(b, x, ValueRange{t, d});
              Value wv = memref::LoadOp::create(b, wg, ValueRange{e, d});
              return SmallVector<Value>{fastAdd(b, acc[0], fastMul(b, xv, wv))};
            })[0];
        if (routerBias)
          dot = arith::AddFOp::create(
              b, dot, memref::LoadOp::create(b, routerBias, ValueRange{e}));
        memref::StoreOp::create(b, dot, allScores, ValueRange{t, e});
      });

  parallelLoop(b, numTokens, [&](ImplicitLocOpBuilder &b, ValueRange ivs) {
    Value t = ivs[0];
    Value scores = sliceAt(b, allScores, t);
    Value choice = sliceAt(b, allChoice, t);
    Value taken = sliceAt(b, allTaken, t);
    Value groupScore = grouped ? sliceAt(b, allGroupScore, t) : Value();
    Value groupKept = grouped ? sliceAt(b, allGroupKept, t) : Value();

    // Scores.
    if (sigmoid) {
      forLoop(b, zero, experts, [&](ImplicitLocOpBuilder &b, Value e) {
        Value l = memref::LoadOp::create(b, scores, ValueRange{e});
        memref::StoreOp::create(b, emitSigmoid(b, l), scores, ValueRange{e});
      });
    } else {
      Value max = reduceLoop(
          b, zero, experts,
          ValueRange{constF32(b, -std::numeric_limits<double>::infinity())},
          [&](ImplicitLocOpBuilder &b, Value e, ValueRange acc) {
            Value l = memref::LoadOp::create(b, scores, ValueRange{e});
            return SmallVector<Value>{arith::MaximumFOp::create(b, acc[0], l)};
          })[0];
      Value sum = reduceLoop(
          b, zero, experts, ValueRange{constF32(b, 0.0)},
          [&](ImplicitLocOpBuilder &b, Value e, ValueRange acc) {
            Value l = memref::LoadOp::create(b, scores, ValueRange{e});
            Value p = math::ExpOp::create(b, arith::SubFOp::create(b, l, max));
            memref::StoreOp::create(b, p, scores, ValueRange{e});
            return SmallVector<Value>{arith::AddFOp::create(b, acc[0], p)};
          })[0];
      forLoop(b, zero, experts, [&](ImplicitLocOpBuilder &b, Value e) {
        Value p = memref::LoadOp::create(b, scores, ValueRange{e});
        memref::StoreOp::create(b, arith::DivFOp::create(b, p, sum), scores,
                                ValueRange{e});
      });
    }

    // Selection scores s' = s (+ score bias); nothing chosen yet.
    forLoop(b, zero, experts, [&](ImplicitLocOpBuilder &b, Value e) {
      Value s = memref::LoadOp::create(b, scores, ValueRange{e});
      if (scoreBias)
        s = arith::AddFOp::create(
            b, s, memref::LoadOp::create(b, scoreBias, ValueRange{e}));
      memref::StoreOp::create(b, s, choice, ValueRange{e});
      memref::StoreOp::create(b, constI32(b, 0), taken, ValueRange{e});
    });

    // Group-limited selection: keep the topk_group best groups and mask the
    // selection scores of the others: -inf (never chosen) or, with
    // group_mask = zero, 0.0 (chosen over negative biased scores).
    if (grouped) {
      int64_t groupSize = numExperts / numGroups;
      double masked = op.getGroupMask() == GroupMask::Zero
                          ? 0.0
                          : -std::numeric_limits<double>::infinity();
      Value groups = constIndex(b, numGroups);
      Value size = constIndex(b, groupSize);
      Value negInf = constF32(b, -std::numeric_limits<double>::infinity());
      bool sumTop2 = op.getSelection() == Selection::GroupSumTop2;
      forLoop(b, zero, groups, [&](ImplicitLocOpBuilder &b, Value g) {
        Value base = arith::MulIOp::create(b, g, size);
        ValueRange top = reduceLoop(
            b, zero, size, ValueRange{negInf, negInf},
            [&](ImplicitLocOpBuilder &b, Value i, ValueRange acc) {
              Value e = arith::AddIOp::create(b, base, i);
              Value v = memref::LoadOp::create(b, choice, ValueRange{e});
              Value gt1 = arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, v,
                                                acc[0]);
              Value gt2 = arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, v,
                                                acc[1]);
              // group_max propagates a NaN (the group then ranks last, as
              // in the reference's max); group_sum_top2 skips NaNs (as the
              // reference's sort puts them last).
              Value top1 =
                  sumTop2 ? Value(arith::SelectOp::create(b, gt1, v, acc[0]))
                          : Value(arith::MaximumFOp::create(b, v, acc[0]));
              Value second = arith::SelectOp::create(b, gt2, v, acc[1]);
              Value top2 = arith::SelectOp::create(b, gt1, acc[0], second);
              return SmallVector<Value>{top1, top2};
            });
        Value score =
            sumTop2 ? arith::AddFOp::create(b, top[0], top[1]) : top[0];
        memref::StoreOp::create(b, score, groupScore, ValueRange{g});
        memref::StoreOp::create(b, constI32(b, 0), groupKept, ValueRange{g});
      });
      forLoop(b, zero, constIndex(b, *op.getTopkGroup()),
              [&](ImplicitLocOpBuilder &b, Value) {
                Value best = emitArgMax(
                    b, groups,
                    [&](ImplicitLocOpBuilder &b, Value g) {
                      return isZero(b, groupKept, g);
                    },
                    [&](ImplicitLocOpBuilder &b, Value g) {
                      return memref::LoadOp::create(b, groupScore,
                                                    ValueRange{g});
                    });
                memref::StoreOp::create(b, constI32(b, 1), groupKept,
                                        ValueRange{toIndex(b, best)});
              });
      forLoop(b, zero, experts, [&](ImplicitLocOpBuilder &b, Value e) {
        Value g = arith::DivUIOp::create(b, e, size);
        ifThenElse(b, isZero(b, groupKept, g), [&](ImplicitLocOpBuilder &b) {
          memref::StoreOp::create(b, constF32(b, masked), choice,
                                  ValueRange{e});
        });
      });
    }

    // Top-k by repeated arg-max; weights are the unbiased scores.
    Value sum = reduceLoop(
        b, zero, constIndex(b, topK), ValueRange{constF32(b, 0.0)},
        [&](ImplicitLocOpBuilder &b, Value j, ValueRange acc) {
          Value best = emitArgMax(
              b, experts,
              [&](ImplicitLocOpBuilder &b, Value e) {
                return isZero(b, taken, e);
              },
              [&](ImplicitLocOpBuilder &b, Value e) {
                return memref::LoadOp::create(b, choice, ValueRange{e});
              });
          Value e = toIndex(b, best);
          memref::StoreOp::create(b, constI32(b, 1), taken, ValueRange{e});
          memref::StoreOp::create(b, best, indices, ValueRange{t, j});
          Value w = memref::LoadOp::create(b, scores, ValueRange{e});
          memref::StoreOp::create(b, w, weights, ValueRange{t, j});
          return SmallVector<Value>{arith::AddFOp::create(b, acc[0], w)};
        })[0];

    double scale = op.getRoutedScalingFactor().convertToDouble();
    if (!op.getNormalize() && scale == 1.0)
      return;
    Value denom = sum;
    if (sigmoid)
      denom = arith::AddFOp::create(b, denom, constF32(b, 1e-20));
    forLoop(b, zero, constIndex(b, topK),
            [&](ImplicitLocOpBuilder &b, Value j) {
              Value w = memref::LoadOp::create(b, weights, ValueRange{t, j});
              if (op.getNormalize())
                w = arith::DivFOp::create(b, w, denom);
              if (scale != 1.0)
                w = arith::MulFOp::create(b, w, constF32(b, scale));
              memref::StoreOp::create(b, w, weights, ValueRange{t, j});
            });
  });

  Value indicesTensor = asResult(b, indices, op.getIndices().getType());
  Value weightsTensor = asResult(b, weights, op.getWeights().getType());
  rewriter.replaceOp(op, ValueRange{indicesTensor, weightsTensor});
}
