//===- LowerExperts.cpp - the expert FFNs as per-expert GEMM loops --------===//
//
// Part of moec. For each expert e, the rows that belong to it (a [C, D]
// slice of the padded buffer, or the segment offsets[e]..offsets[e+1] of
// the sorted rows) go through gate/up projections (plus biases), the
// activation, and the down projection (plus bias). Scratch [rows, F] buffers
// are allocated once and reused.
//
//===----------------------------------------------------------------------===//

#include "LoweringUtils.h"
#include "Lowerings.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::lowering;

namespace {

/// Where expert e's rows live: tokens[prefix..., base + i, :] and the same
/// in the output.
struct RowWindow {
  SmallVector<Value> prefix; // {e} for the padded buffer, {} for rows.
  Value base;                // First row.
  Value count;               // Number of rows.
};

/// out rows = FFN_e(in rows), for one expert.
/// h = act(g) ⊙ u (gated; g, u with their biases added), or act(g).
Value emitGatedActivation(ImplicitLocOpBuilder &b, ExpertsOp op, Value g,
                          Value u) {
  if (op.getActivation() != Activation::ClampedSwiGLU) {
    Value h = emitActivation(b, op.getActivation(), g);
    return u ? arith::MulFOp::create(b, h, u) : h;
  }
  // GPT-OSS: g = min(g, L); u = clamp(u, -L, L);
  // h = g · σ(α · g) · (u + 1). The clamps propagate NaN, as torch.clamp does.
  double limit = op.getSwigluLimit()->convertToDouble();
  Value hi = constF32(b, limit);
  g = arith::MinimumFOp::create(b, g, hi);
  u = arith::MaximumFOp::create(b, arith::MinimumFOp::create(b, u, hi),
                                constF32(b, -limit));
  Value alphaG =
      arith::MulFOp::create(b, constF32(b, op.getSwigluAlphaOrDefault()), g);
  Value glu = arith::MulFOp::create(b, g, emitSigmoid(b, alphaG));
  return arith::MulFOp::create(b, glu,
                               arith::AddFOp::create(b, u, constF32(b, 1.0)));
}

void emitExpertFFN(ImplicitLocOpBuilder &b, ExpertsOp op, Value tokens,
                   Value out, ArrayRef<Value> weights, ArrayRef<Value> biases,
                   Value e, const RowWindow &rows, Value hGate, Value hUp,
                   Value hidden, Value ffn) {
  bool gated = op.isGated();
  // v + bias[e, j] when the experts have biases.
  auto addBias = [&](ImplicitLocOpBuilder &b, size_t which, Value j,
                     Value v) -> Value {
    if (biases.empty())
      return v;
    return arith::AddFOp::create(
        b, v, memref::LoadOp::create(b, biases[which], ValueRange{e, j}));
  };
  auto rowIndex = [&](ImplicitLocOpBuilder &b, Value i) {
    SmallVector<Value> at(rows.prefix);
    at.push_back(arith::AddIOp::create(b, rows.base, i));
    return at;
  };
  auto loadTokens = [&](ImplicitLocOpBuilder &b, Value i, Value d) -> Value {
    SmallVector<Value> at = rowIndex(b, i);
    at.push_back(d);
    return memref::LoadOp::create(b, tokens, at);
  };
  auto loadWeight = [&](Value w) {
    return [=](ImplicitLocOpBuilder &b, Value j, Value k) -> Value {
      return memref::LoadOp::create(b, w, ValueRange{e, j, k});
    };
  };
  auto storeTo = [](Value buffer) {
    return [=](ImplicitLocOpBuilder &b, Value i, Value j, Value v) {
      memref::StoreOp::create(b, v, buffer, ValueRange{i, j});
    };
  };

  // h = act(x · gateᵀ) ⊙ (x · upᵀ), or act(x · inᵀ).
  emitMatmulTransposedB(b, rows.count, ffn, hidden, loadTokens,
                        loadWeight(weights[0]), storeTo(hGate));
  if (gated)
    emitMatmulTransposedB(b, rows.count, ffn, hidden, loadTokens,
                          loadWeight(weights[1]), storeTo(hUp));
  Value zero = constIndex(b, 0);
  forLoop(b, zero, rows.count, [&](ImplicitLocOpBuilder &b, Value i) {
    forLoop(b, zero, ffn, [&](ImplicitLocOpBuilder &b, Value f) {
      Value g =
          addBias(b, 0, f, memref::LoadOp::create(b, hGate, ValueRange{i, f}));
      Value u;
      if (gated)
        u = addBias(b, 1, f, memref::LoadOp::create(b, hUp, ValueRange{i, f}));
      memref::StoreOp::create(b, emitGatedActivation(b, op, g, u), hGate,
                              ValueRange{i, f});
    });
  });
  // out = h · downᵀ.
  emitMatmulTransposedB(
      b, rows.count, hidden, ffn,
      [&](ImplicitLocOpBuilder &b, Value i, Value f) -> Value {
        return memref::LoadOp::create(b, hGate, ValueRange{i, f});
      },
      loadWeight(weights.back()),
      [&](ImplicitLocOpBuilder &b, Value i, Value d, Value v) {
        SmallVector<Value> at = rowIndex(b, i);
        at.push_back(d);
        memref::StoreOp::create(b, addBias(b, weights.size() - 1, d, v), out,
                                at);
      });
}

} // namespace

void lowering::lowerExperts(RewriterBase &rewriter, ExpertsOp op) {
  rewriter.setInsertionPoint(op);
  ImplicitLocOpBuilder b(op.getLoc(), rewriter);
  auto tokensType = cast<RankedTensorType>(op.getTokens().getType());
  Value tokens = readBuffer(b, op.getTokens());
  SmallVector<Value> weights, biases;
  for (Value w : op.getWeights())
    weights.push_back(readBuffer(b, w));
  for (Value bias : op.getBiases())
    biases.push_back(readBuffer(b, bias));
  Value zero = constIndex(b, 0);
  Value numExperts = dim(b, weights[0], 0);
  Value ffn = dim(b, weights[0], 1);
  Value hidden = dim(b, weights[0], 2);
  bool padded = tokensType.getRank() == 3;
  // Rows per expert: C for the padded buffer, at most N for sorted rows.
  Value maxRows = dim(b, tokens, padded ? 1 : 0);

  SmallVector<Value> outSizes;
  for (int64_t i = 0; i < tokensType.getRank(); ++i)
    if (tokensType.isDynamicDim(i))
      outSizes.push_back(dim(b, tokens, i));
  Value out = allocBuffer(b, tokensType, outSizes);
  // Rows past offsets[E] (sorted) and skipped padding slots stay unwritten:
  // the combines read only assigned rows.
  Value counts = op.getCounts() ? readBuffer(b, op.getCounts()) : Value();
  auto scratchType = RankedTensorType::get(
      {ShapedType::kDynamic, ShapedType::kDynamic}, b.getF32Type());
  Value hGate = allocBuffer(b, scratchType, {maxRows, ffn});
  Value hUp =
      op.isGated() ? allocBuffer(b, scratchType, {maxRows, ffn}) : Value();

  Value offsets = op.getOffsets() ? readBuffer(b, op.getOffsets()) : Value();
  forLoop(b, zero, numExperts, [&](ImplicitLocOpBuilder &b, Value e) {
    if (padded) {
      // Only the filled slots, min(counts[e], C), when the counts are known.
      Value rows = maxRows;
      if (counts)
        rows = arith::MinSIOp::create(
            b, toIndex(b, memref::LoadOp::create(b, counts, ValueRange{e})),
            maxRows);
      emitExpertFFN(b, op, tokens, out, weights, biases, e,
                    RowWindow{{e}, zero, rows}, hGate, hUp, hidden, ffn);
      return;
    }
    Value begin = toIndex(b, memref::LoadOp::create(b, offsets, ValueRange{e}));
    Value next = arith::AddIOp::create(b, e, constIndex(b, 1));
    Value end =
        toIndex(b, memref::LoadOp::create(b, offsets, ValueRange{next}));
    Value count = arith::SubIOp::create(b, end, begin);
    emitExpertFFN(b, op, tokens, out, weights, biases, e,
                  RowWindow{{}, begin, count}, hGate, hUp, hidden, ffn);
  });
  rewriter.replaceOp(op, asResult(b, out, tokensType));
}
