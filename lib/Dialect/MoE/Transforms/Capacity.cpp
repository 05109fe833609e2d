//===- Capacity.cpp - per-expert capacity of a dispatch -------------------===//
//
// Part of moec.
//
//===----------------------------------------------------------------------===//

#include "moec/Dialect/MoE/Transforms/Capacity.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <algorithm>
#include <cmath>

using namespace mlir;
using namespace mlir::moe;

namespace {
int64_t numTokensOf(DispatchOp op) {
  return op.getHidden().getType().getDimSize(0);
}
int64_t topKOf(DispatchOp op) {
  return op.getIndices().getType().getDimSize(1);
}
} // namespace

std::optional<int64_t> mlir::moe::getStaticCapacity(DispatchOp op) {
  int64_t numTokens = numTokensOf(op);
  bool dynamicT = ShapedType::isDynamic(numTokens);
  std::optional<int64_t> cap;
  if (auto fixed = op.getExpertCapacity()) {
    cap = std::max<int64_t>(*fixed, op.getMinCapacity());
  } else if (auto cf = op.getCapacityFactor()) {
    if (dynamicT)
      return std::nullopt;
    int64_t numExperts = op.getResult().getType().getNumExperts();
    double c = cf->convertToDouble() * static_cast<double>(numTokens) *
               static_cast<double>(topKOf(op)) /
               static_cast<double>(numExperts);
    // Clamping to T first keeps the integer conversion defined for huge
    // factors; ceil(min(c, T)) = min(ceil(c), T) since T is an integer.
    c = std::min(c, static_cast<double>(numTokens));
    cap = std::max<int64_t>(static_cast<int64_t>(std::ceil(c)),
                            op.getMinCapacity());
  } else {
    if (dynamicT)
      return std::nullopt;
    return numTokens;
  }
  if (dynamicT)
    return std::nullopt; // Still to be clamped to the run-time T.
  return std::min(*cap, numTokens);
}

Value mlir::moe::buildCapacity(OpBuilder &b, Location loc, DispatchOp op) {
  if (std::optional<int64_t> cap = getStaticCapacity(op))
    return arith::ConstantIndexOp::create(b, loc, *cap);
  Value numTokens = tensor::DimOp::create(b, loc, op.getHidden(), 0);
  Value cap;
  if (auto fixed = op.getExpertCapacity()) {
    cap = arith::ConstantIndexOp::create(
        b, loc, std::max<int64_t>(*fixed, op.getMinCapacity()));
  } else if (auto cf = op.getCapacityFactor()) {
    Type f64 = b.getF64Type();
    auto constF = [&](double v) {
      return arith::ConstantOp::create(b, loc, b.getF64FloatAttr(v));
    };
    Value t = arith::IndexCastOp::create(b, loc, b.getI64Type(), numTokens);
    Value tf = arith::SIToFPOp::create(b, loc, f64, t);
    Value c = arith::MulFOp::create(b, loc, constF(cf->convertToDouble()), tf);
    c = arith::MulFOp::create(b, loc, c, constF(topKOf(op)));
    c = arith::DivFOp::create(b, loc, c,
                              constF(op.getResult().getType().getNumExperts()));
    // As above: clamp to T before the (otherwise overflowing) conversion.
    c = arith::MinimumFOp::create(b, loc, c, tf);
    c = math::CeilOp::create(b, loc, c);
    Value ci = arith::FPToSIOp::create(b, loc, b.getI64Type(), c);
    ci = arith::IndexCastOp::create(b, loc, b.getIndexType(), ci);
    cap = arith::MaxSIOp::create(
        b, loc, ci,
        arith::ConstantIndexOp::create(b, loc, op.getMinCapacity()));
  } else {
    return numTokens;
  }
  return arith::MinSIOp::create(b, loc, cap, numTokens);
}
