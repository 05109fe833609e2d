//===- Decompose.cpp - moe.layer -> route/dispatch/experts/combine --------===//
//
// Part of moec. Implements the moe-decompose pass.
//
//===----------------------------------------------------------------------===//

#include "moec/Dialect/MoE/IR/MoE.h"
#include "moec/Dialect/MoE/Transforms/Passes.h"

#include "mlir/Dialect/Utils/StructuredOpsUtils.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEDECOMPOSE
#include "moec/Dialect/MoE/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

/// Stacks a [R, C] weight into [1, R, C] so a dense FFN can run as the single
/// expert of a moe.experts op.
Value stackAsOneExpert(OpBuilder &b, Location loc, Value weight) {
  auto type = cast<RankedTensorType>(weight.getType());
  auto stacked = RankedTensorType::get(
      {1, type.getDimSize(0), type.getDimSize(1)}, type.getElementType());
  return tensor::ExpandShapeOp::create(
      b, loc, stacked, weight, SmallVector<ReassociationIndices>{{0, 1}, {2}});
}

/// The shared expert: a dense gated FFN over all T tokens, emitted as a
/// one-expert moe.experts on sorted rows whose only segment is [0, T).
Value buildSharedExpert(OpBuilder &b, Location loc, LayerOp layer) {
  Value hidden = layer.getHidden();
  auto hiddenType = cast<RankedTensorType>(hidden.getType());
  Value numTokens = tensor::DimOp::create(b, loc, hidden, 0);
  Value zero = arith::ConstantIntOp::create(b, loc, 0, 32);
  Value end = arith::IndexCastOp::create(b, loc, b.getI32Type(), numTokens);
  Value offsets = tensor::FromElementsOp::create(
      b, loc, RankedTensorType::get({2}, b.getI32Type()),
      ValueRange{zero, end});
  SmallVector<Value> weights;
  for (Value w : layer.getSharedWeights().take_front(3))
    weights.push_back(stackAsOneExpert(b, loc, w));
  return ExpertsOp::create(
      b, loc, hiddenType, hidden, /*gather=*/Value(), offsets,
      /*counts=*/Value(), weights, /*biases=*/ValueRange(),
      /*combine=*/Value(), /*into=*/Value(), layer.getActivationAttr(),
      layer.getSwigluAlphaAttr(), layer.getSwigluLimitAttr());
}

/// sigmoid(v) = 1 / (1 + exp(−v)).
Value emitSigmoid(OpBuilder &b, Location loc, Value v) {
  Value one =
      arith::ConstantOp::create(b, loc, b.getFloatAttr(v.getType(), 1.0));
  Value e = math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, v));
  return arith::DivFOp::create(b, loc, one,
                               arith::AddFOp::create(b, loc, one, e));
}

/// gate[t] = sigmoid(Σ_d hidden[t, d] · w[0, d]), as a [T] tensor: the
/// weight of token t's shared expert output.
Value buildSharedGate(OpBuilder &b, Location loc, Value hidden, Value w) {
  auto hiddenType = cast<RankedTensorType>(hidden.getType());
  Type f = hiddenType.getElementType();
  auto gateType = RankedTensorType::get({hiddenType.getDimSize(0)}, f);
  SmallVector<Value> dynSizes;
  if (gateType.isDynamicDim(0))
    dynSizes.push_back(tensor::DimOp::create(b, loc, hidden, 0));
  Value empty = tensor::EmptyOp::create(b, loc, gateType, dynSizes);
  Value zero = arith::ConstantOp::create(b, loc, b.getFloatAttr(f, 0.0));
  Value init = linalg::FillOp::create(b, loc, zero, empty).getResult(0);
  MLIRContext *ctx = b.getContext();
  AffineExpr t, d;
  bindDims(ctx, t, d);
  SmallVector<AffineMap> maps = {
      AffineMap::get(2, 0, {t, d}, ctx),
      AffineMap::get(2, 0, {b.getAffineConstantExpr(0), d}, ctx),
      AffineMap::get(2, 0, {t}, ctx)};
  Value dot =
      linalg::GenericOp::create(
          b, loc, gateType, ValueRange{hidden, w}, ValueRange{init}, maps,
          {utils::IteratorType::parallel, utils::IteratorType::reduction},
          [](OpBuilder &nb, Location l, ValueRange args) {
            Value prod = arith::MulFOp::create(nb, l, args[0], args[1]);
            Value sum = arith::AddFOp::create(nb, l, args[2], prod);
            linalg::YieldOp::create(nb, l, sum);
          })
          .getResult(0);
  AffineMap perToken = AffineMap::get(1, 0, {t}, ctx);
  return linalg::GenericOp::create(
             b, loc, gateType, ValueRange{dot}, ValueRange{empty},
             SmallVector<AffineMap>{perToken, perToken},
             {utils::IteratorType::parallel},
             [](OpBuilder &nb, Location l, ValueRange args) {
               linalg::YieldOp::create(nb, l, emitSigmoid(nb, l, args[0]));
             })
      .getResult(0);
}

/// result[t, d] = routed[t, d] + gate[t] · shared[t, d] (gate given) or
/// routed[t, d] + shared[t, d]. moe-fuse-shared-expert folds this add into
/// the shared expert's second projection.
Value addShared(OpBuilder &b, Location loc, Value routed, Value shared,
                Value gate) {
  auto type = cast<RankedTensorType>(routed.getType());
  SmallVector<Value> dynSizes;
  if (type.isDynamicDim(0))
    dynSizes.push_back(tensor::DimOp::create(b, loc, routed, 0));
  Value empty = tensor::EmptyOp::create(b, loc, type, dynSizes);
  MLIRContext *ctx = b.getContext();
  AffineExpr t, d;
  bindDims(ctx, t, d);
  SmallVector<Value> inputs = {routed, shared};
  AffineMap rowMajor = AffineMap::get(2, 0, {t, d}, ctx);
  SmallVector<AffineMap> maps = {rowMajor, rowMajor};
  if (gate) {
    inputs.push_back(gate);
    maps.push_back(AffineMap::get(2, 0, {t}, ctx));
  }
  maps.push_back(rowMajor);
  bool gated = static_cast<bool>(gate);
  return linalg::GenericOp::create(
             b, loc, type, inputs, ValueRange{empty}, maps,
             {utils::IteratorType::parallel, utils::IteratorType::parallel},
             [gated](OpBuilder &nb, Location l, ValueRange args) {
               Value s = args[1];
               if (gated)
                 s = arith::MulFOp::create(nb, l, args[2], s);
               Value sum = arith::AddFOp::create(nb, l, args[0], s);
               linalg::YieldOp::create(nb, l, sum);
             })
      .getResult(0);
}

void decompose(RewriterBase &rewriter, LayerOp layer) {
  rewriter.setInsertionPoint(layer);
  Location loc = layer.getLoc();
  auto hiddenType = cast<RankedTensorType>(layer.getHidden().getType());
  int64_t numTokens = hiddenType.getDimSize(0);
  int64_t topK = layer.getTopK();
  auto indicesType =
      RankedTensorType::get({numTokens, topK}, rewriter.getI32Type());
  auto weightsType =
      RankedTensorType::get({numTokens, topK}, rewriter.getF32Type());

  auto route = RouteOp::create(
      rewriter, loc, indicesType, weightsType, layer.getHidden(),
      layer.getRouterWeight(), layer.getRouterBias(), layer.getScoreBias(),
      layer.getTopKAttr(), layer.getScoringAttr(), layer.getSelectionAttr(),
      layer.getNGroupAttr(), layer.getTopkGroupAttr(),
      layer.getGroupMaskAttr(), layer.getNormalizeAttr(),
      layer.getRoutedScalingFactorAttr());

  auto groupedType =
      GroupedType::get(rewriter.getContext(), layer.getNumExperts(),
                       hiddenType.getDimSize(1), hiddenType.getElementType());
  auto dispatch = DispatchOp::create(
      rewriter, loc, groupedType, layer.getHidden(), route.getIndices(),
      layer.getCapacityFactorAttr(), layer.getExpertCapacityAttr(),
      layer.getMinCapacityAttr());
  auto experts = ExpertsOp::create(
      rewriter, loc, groupedType, dispatch, /*gather=*/Value(),
      /*offsets=*/Value(), /*counts=*/Value(), layer.getExpertWeights(),
      layer.getExpertBiases(), /*combine=*/Value(), /*into=*/Value(),
      layer.getActivationAttr(), layer.getSwigluAlphaAttr(),
      layer.getSwigluLimitAttr());
  bool passthrough = layer.getDropPolicy() == DropPolicy::Passthrough;
  Value result = CombineOp::create(rewriter, loc, layer.getType(), experts,
                                   route.getIndices(), route.getWeights(),
                                   passthrough ? layer.getHidden() : Value(),
                                   layer.getDropPolicyAttr());

  if (!layer.getSharedWeights().empty()) {
    Value shared = buildSharedExpert(rewriter, loc, layer);
    Value gate;
    if (layer.getSharedWeights().size() == 4)
      gate = buildSharedGate(rewriter, loc, layer.getHidden(),
                             layer.getSharedWeights()[3]);
    result = addShared(rewriter, loc, result, shared, gate);
    if (result.getType() != layer.getType())
      result = tensor::CastOp::create(rewriter, loc, layer.getType(), result);
  }
  rewriter.replaceOp(layer, result);
}

struct MoEDecomposePass : public moe::impl::MoEDecomposeBase<MoEDecomposePass> {
  void runOnOperation() override {
    SmallVector<LayerOp> layers;
    getOperation()->walk([&](LayerOp op) { layers.push_back(op); });
    IRRewriter rewriter(&getContext());
    for (LayerOp layer : layers)
      decompose(rewriter, layer);
  }
};

} // namespace
