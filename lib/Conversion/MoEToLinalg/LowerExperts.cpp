//===- LowerExperts.cpp - the expert FFNs as per-expert linalg matmuls ----===//
//
// Part of moec. For each expert e, the rows that belong to it (a [C, D]
// slice of the padded buffer, or the segment offsets[e]..offsets[e+1] of
// the sorted rows) go through gate/up projections (plus biases), the
// activation, and the down projection (plus bias). Each projection is one
// `linalg.matmul` (C = A · Bᵀ, weights stored [out, in]) on views of the
// expert's rows and weights: the structured op each target schedules
// (moe-lower-matmul-to-register-blocks on the CPU). Scratch [rows, F]
// buffers are allocated once and reused.
//
//===----------------------------------------------------------------------===//

#include "LoweringUtils.h"
#include "Lowerings.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

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

/// Rows [row0, row0 + count) of buffer[prefix..., :, :] as a 2-D view.
Value rowsView(ImplicitLocOpBuilder &b, Value buffer, ArrayRef<Value> prefix,
               OpFoldResult row0, OpFoldResult count) {
  auto type = cast<MemRefType>(buffer.getType());
  int64_t rank = type.getRank();
  OpFoldResult one = b.getIndexAttr(1);
  SmallVector<OpFoldResult> offsets, sizes, strides(rank, one);
  for (Value p : prefix) {
    offsets.push_back(p);
    sizes.push_back(one);
  }
  offsets.append({row0, b.getIndexAttr(0)});
  sizes.append({count, memref::getMixedSize(b, b.getLoc(), buffer, rank - 1)});
  int64_t rows = getConstantIntValue(count).value_or(ShapedType::kDynamic);
  auto viewType = memref::SubViewOp::inferRankReducedResultType(
      {rows, type.getDimSize(rank - 1)}, type, offsets, sizes, strides);
  return memref::SubViewOp::create(b, viewType, buffer, offsets, sizes,
                                   strides);
}

/// c = a · wᵀ.
void emitProjection(ImplicitLocOpBuilder &b, Value a, Value w, Value c) {
  fillBuffer(b, c, constF32(b, 0.0));
  linalg::MatmulTransposeBOp::create(b, b.getLoc(), ValueRange{a, w},
                                     ValueRange{c});
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
  // h = act(x · gateᵀ) ⊙ (x · upᵀ), or act(x · inᵀ).
  Value x = rowsView(b, tokens, rows.prefix, rows.base, rows.count);
  Value zero = constIndex(b, 0);
  Value h = rowsView(b, hGate, {}, zero, rows.count);
  emitProjection(b, x, sliceAt(b, weights[0], e), h);
  if (gated)
    emitProjection(b, x, sliceAt(b, weights[1], e),
                   rowsView(b, hUp, {}, zero, rows.count));
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
  // out = h · downᵀ (+ bias).
  Value y = rowsView(b, out, rows.prefix, rows.base, rows.count);
  emitProjection(b, h, sliceAt(b, weights.back(), e), y);
  if (biases.empty())
    return;
  forLoop(b, zero, rows.count, [&](ImplicitLocOpBuilder &b, Value i) {
    forLoop(b, zero, hidden, [&](ImplicitLocOpBuilder &b, Value d) {
      Value v = memref::LoadOp::create(b, y, ValueRange{i, d});
      memref::StoreOp::create(b, addBias(b, weights.size() - 1, d, v), y,
                              ValueRange{i, d});
    });
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
