//===- LowerExperts.cpp - the expert FFNs as grouped matmuls --------------===//
//
// Part of moec. The expert FFNs of all experts at once: each projection is
// one `moe.grouped_matmul` over the experts' rows (a [E, C, D] padded
// buffer, or the segments offsets[e]..offsets[e+1] of the sorted rows) with
// its bias in the epilogue, and the activation is a parallel loop over the
// rows between them. The grouped matmul is the structured op each target
// schedules (moe-expand-grouped-matmul for the CPU, moe-tile-grouped-matmul
// for the GPU's tile list).
//
//===----------------------------------------------------------------------===//

#include "LoweringUtils.h"
#include "Lowerings.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::lowering;

namespace {

/// h = act(g) ⊙ u (gated), or act(g).
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

/// The buffer a projection reads its weights from: the packed tensor itself
/// when the weights are an unpack of panels along N (moe-pack-expert-weights'
/// [E, N / P, K, P], which moe.grouped_matmul takes as it is), else the
/// [E, N, K] weights.
Value weightBuffer(ImplicitLocOpBuilder &b, Value weights) {
  if (auto unpack = weights.getDefiningOp<linalg::UnPackOp>())
    if (unpack.getSourceRank() == 4 && unpack.getOuterDimsPerm().empty() &&
        unpack.getInnerDimsPos() == ArrayRef<int64_t>{1})
      return readBuffer(b, unpack.getSource());
  return readBuffer(b, weights);
}

} // namespace

void lowering::lowerExperts(RewriterBase &rewriter, ExpertsOp op) {
  rewriter.setInsertionPoint(op);
  ImplicitLocOpBuilder b(op.getLoc(), rewriter);
  auto tokensType = cast<RankedTensorType>(op.getTokens().getType());
  Value tokens = readBuffer(b, op.getTokens());
  SmallVector<Value> weights, biases;
  for (Value w : op.getWeights())
    weights.push_back(weightBuffer(b, w));
  // [E, N, K] as the layer sees them, whatever their layout.
  auto gateType = cast<RankedTensorType>(op.getWeights()[0].getType());
  for (Value bias : op.getBiases())
    biases.push_back(readBuffer(b, bias));
  auto biasOf = [&](size_t which) {
    return biases.empty() ? Value() : biases[which];
  };
  bool gated = op.isGated();
  bool padded = tokensType.getRank() == 3;
  Value counts = op.getCounts() ? readBuffer(b, op.getCounts()) : Value();
  Value offsets = op.getOffsets() ? readBuffer(b, op.getOffsets()) : Value();
  Value ffn = gateType.isDynamicDim(1) ? dim(b, weights[0], 1)
                                       : constIndex(b, gateType.getDimSize(1));

  SmallVector<Value> outSizes;
  for (int64_t i = 0; i < tokensType.getRank(); ++i)
    if (tokensType.isDynamicDim(i))
      outSizes.push_back(dim(b, tokens, i));
  Value out = allocBuffer(b, tokensType, outSizes);
  // The hidden activations have the tokens' rows, F wide. Rows outside the
  // experts' segments (padding slots, rows past offsets[E]) stay unwritten
  // here and in `out`: the combines read only assigned rows.
  SmallVector<int64_t> hiddenShape(tokensType.getShape());
  hiddenShape.back() = gateType.getDimSize(1);
  SmallVector<Value> hiddenSizes(outSizes);
  if (ShapedType::isDynamic(hiddenShape.back()))
    hiddenSizes.push_back(ffn);
  auto hiddenType = RankedTensorType::get(hiddenShape, b.getF32Type());
  Value hGate = allocBuffer(b, hiddenType, hiddenSizes);
  Value hUp = gated ? allocBuffer(b, hiddenType, hiddenSizes) : Value();

  // Each projection: out = lhs · weights[e]ᵀ (+ bias[e]) on expert e's rows.
  GroupedMatmulOp::create(b, tokens, weights[0], offsets, counts, biasOf(0),
                          hGate);
  if (gated)
    GroupedMatmulOp::create(b, tokens, weights[1], offsets, counts, biasOf(1),
                            hUp);

  // h = act(g) ⊙ u in place of g, on each row of a segment: one parallel
  // loop over all experts' rows.
  auto activateRow = [&](ImplicitLocOpBuilder &b, ValueRange row) {
    forLoop(b, constIndex(b, 0), ffn, [&](ImplicitLocOpBuilder &b, Value f) {
      SmallVector<Value> at(row);
      at.push_back(f);
      Value g = memref::LoadOp::create(b, hGate, at);
      Value u = gated ? memref::LoadOp::create(b, hUp, at) : Value();
      memref::StoreOp::create(b, emitGatedActivation(b, op, g, u), hGate, at);
    });
  };
  if (padded) {
    Value numExperts = dim(b, weights[0], 0);
    Value capacity = dim(b, tokens, 1);
    parallelLoop(
        b, {numExperts, capacity},
        [&](ImplicitLocOpBuilder &b, ValueRange ivs) {
          if (!counts)
            return activateRow(b, ivs);
          // Slots past counts[e] are padding.
          Value filled = toIndex(b, memref::LoadOp::create(b, counts, ivs[0]));
          Value used = arith::CmpIOp::create(b, arith::CmpIPredicate::slt,
                                             ivs[1], filled);
          ifThenElse(b, used,
                     [&](ImplicitLocOpBuilder &b) { activateRow(b, ivs); });
        });
  } else {
    Value numRows = dim(b, tokens, 0);
    Value numExperts = dim(b, weights[0], 0);
    parallelLoop(b, {numRows}, [&](ImplicitLocOpBuilder &b, ValueRange ivs) {
      // Rows at or past offsets[E] belong to no expert (dropped ones).
      Value end = toIndex(b, memref::LoadOp::create(b, offsets, numExperts));
      Value used =
          arith::CmpIOp::create(b, arith::CmpIPredicate::ult, ivs[0], end);
      ifThenElse(b, used,
                 [&](ImplicitLocOpBuilder &b) { activateRow(b, ivs); });
    });
  }

  GroupedMatmulOp::create(b, hGate, weights.back(), offsets, counts,
                          biasOf(weights.size() - 1), out);
  rewriter.replaceOp(op, asResult(b, out, tokensType));
}
