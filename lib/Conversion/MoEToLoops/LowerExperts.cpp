//===- LowerExperts.cpp - the expert FFNs as grouped matmuls --------------===//
//
// Part of moec. The expert FFNs of all experts at once: each projection is
// one `moe.grouped_matmul` over the experts' rows (a [E, C, D] padded
// buffer, or the segments offsets[e]..offsets[e+1] of the sorted rows, read
// in place through a gather of the tokens) with its bias in the epilogue, and
// the activation between them is a `moe.grouped_activation` over the same rows.
// With a combine, the second projection scatters its weighted rows into the
// tokens; with `into` it adds them to a copy of that tensor instead of zeros.
// The grouped matmul is the structured op each target schedules
// (moe-expand-grouped-matmul for the CPU, moe-tile-grouped-matmul for the GPU's
// tile list).
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

/// [0, 1, …, n − 1] as i32: the scatter of rows that add into their own row.
Value iotaBuffer(ImplicitLocOpBuilder &b, Value n) {
  Value iota = allocBuffer(
      b, RankedTensorType::get({ShapedType::kDynamic}, b.getI32Type()), {n});
  parallelLoop(b, {n}, [&](ImplicitLocOpBuilder &b, ValueRange ivs) {
    memref::StoreOp::create(b, toI32(b, ivs[0]), iota, ivs[0]);
  });
  return iota;
}

} // namespace

void lowering::lowerExperts(RewriterBase &rewriter, ExpertsOp op) {
  rewriter.setInsertionPoint(op);
  ImplicitLocOpBuilder b(op.getLoc(), rewriter);
  // The experts' rows: the tokens', or with a gather the rows it reads (the
  // tokens then only feed the first projections' loads).
  auto rowsType = cast<RankedTensorType>(op.getResult().getType());
  Value tokens = readBuffer(b, op.getTokens());
  Value gather = op.getGather() ? readBuffer(b, op.getGather()) : Value();
  Value rowsLike = gather ? gather : tokens;
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
  Value counts = op.getCounts() ? readBuffer(b, op.getCounts()) : Value();
  Value offsets = op.getOffsets() ? readBuffer(b, op.getOffsets()) : Value();
  Value ffn = gateType.isDynamicDim(1) ? dim(b, weights[0], 1)
                                       : constIndex(b, gateType.getDimSize(1));

  // With a combine the result is the tokens' [T, D], and the rows are the
  // gather's, D wide. Without a gather (`into` then) the rows are the
  // tokens, and each adds into its own row.
  Value combine = op.getCombine() ? readBuffer(b, op.getCombine()) : Value();
  Value into = op.getInto() ? readBuffer(b, op.getInto()) : Value();
  if (combine && gather) {
    SmallVector<int64_t> shape(
        cast<RankedTensorType>(op.getGather().getType()).getShape());
    shape.push_back(rowsType.getDimSize(1));
    rowsType = RankedTensorType::get(shape, rowsType.getElementType());
  }
  SmallVector<Value> rowSizes;
  for (int64_t i = 0; i + 1 < rowsType.getRank(); ++i)
    if (rowsType.isDynamicDim(i))
      rowSizes.push_back(dim(b, rowsLike, i));
  // The second projection's output: the rows, or the tokens it adds into
  // (from zeros, as the combine would, or from a copy of `into`).
  auto resultType = cast<RankedTensorType>(op.getResult().getType());
  Value out, scatter;
  if (combine || into) {
    SmallVector<Value> tokenSizes;
    if (resultType.isDynamicDim(0))
      tokenSizes.push_back(dim(b, into ? into : tokens, 0));
    out = allocBuffer(b, resultType, tokenSizes);
    if (into)
      memref::CopyOp::create(b, into, out);
    else
      fillBuffer(b, out, constF32(b, 0.0));
    scatter = gather ? gather : iotaBuffer(b, dim(b, tokens, 0));
  } else {
    SmallVector<Value> outSizes(rowSizes);
    if (resultType.isDynamicDim(resultType.getRank() - 1))
      outSizes.push_back(
          dim(b, tokens, cast<MemRefType>(tokens.getType()).getRank() - 1));
    out = allocBuffer(b, resultType, outSizes);
  }
  // The hidden activations have the experts' rows, F wide. Rows outside the
  // experts' segments (padding slots, rows past offsets[E]) stay unwritten
  // here and in `out`: the combines read only assigned rows.
  SmallVector<int64_t> hiddenShape(rowsType.getShape());
  hiddenShape.back() = gateType.getDimSize(1);
  SmallVector<Value> hiddenSizes(rowSizes);
  if (ShapedType::isDynamic(hiddenShape.back()))
    hiddenSizes.push_back(ffn);
  auto hiddenType = RankedTensorType::get(hiddenShape, b.getF32Type());
  Value hGate = allocBuffer(b, hiddenType, hiddenSizes);
  Value hUp = gated ? allocBuffer(b, hiddenType, hiddenSizes) : Value();

  // Each projection: out = lhs · weights[e]ᵀ (+ bias[e]) on expert e's rows,
  // and h = act(g) ⊙ u in place of g between them (moe-fuse-gated-activation
  // may fold the first two and the activation into one).
  // With a combine the second projection adds each row, weighted, into its
  // token (the gather's rows scatter back where they came from; without a
  // gather, row r into row r).
  auto project = [&](Value lhs, Value lhsRows, size_t which, Value result,
                     Value scatter = Value(), Value scale = Value()) {
    GroupedMatmulOp::create(b, lhs, weights[which], /*up=*/Value(), lhsRows,
                            offsets, counts, biasOf(which),
                            /*up_bias=*/Value(), scatter, scale, result,
                            /*activation=*/nullptr,
                            /*swiglu_alpha=*/nullptr, /*swiglu_limit=*/nullptr);
  };
  project(tokens, gather, 0, hGate);
  if (gated)
    project(tokens, gather, 1, hUp);
  GroupedActivationOp::create(b, hGate, hUp, offsets, counts, hGate,
                              op.getActivationAttr(), op.getSwigluAlphaAttr(),
                              op.getSwigluLimitAttr());
  project(hGate, /*lhsRows=*/Value(), weights.size() - 1, out, scatter,
          combine);
  rewriter.replaceOp(op, asResult(b, out, resultType));
}
