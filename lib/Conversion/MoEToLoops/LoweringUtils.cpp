//===- LoweringUtils.cpp - building blocks of the CPU lowering ------------===//
//
// Part of moec.
//
//===----------------------------------------------------------------------===//

#include "LoweringUtils.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::lowering;

Value lowering::readBuffer(ImplicitLocOpBuilder &b, Value tensor) {
  auto type = cast<RankedTensorType>(tensor.getType());
  auto memrefType = MemRefType::get(type.getShape(), type.getElementType());
  return bufferization::ToBufferOp::create(b, memrefType, tensor,
                                           /*read_only=*/true);
}

Value lowering::allocBuffer(ImplicitLocOpBuilder &b, RankedTensorType type,
                            ValueRange dynamicSizes) {
  auto memrefType = MemRefType::get(type.getShape(), type.getElementType());
  return memref::AllocOp::create(b, memrefType, dynamicSizes);
}

Value lowering::sliceAt(ImplicitLocOpBuilder &b, Value buffer,
                        ValueRange leading) {
  auto type = cast<MemRefType>(buffer.getType());
  OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
  SmallVector<OpFoldResult> offsets, sizes;
  for (Value i : leading) {
    offsets.push_back(i);
    sizes.push_back(one);
  }
  for (int64_t d = leading.size(); d < type.getRank(); ++d) {
    offsets.push_back(zero);
    sizes.push_back(memref::getMixedSize(b, b.getLoc(), buffer, d));
  }
  SmallVector<OpFoldResult> strides(type.getRank(), one);
  auto viewType = memref::SubViewOp::inferRankReducedResultType(
      type.getShape().drop_front(leading.size()), type, offsets, sizes,
      strides);
  return memref::SubViewOp::create(b, viewType, buffer, offsets, sizes,
                                   strides);
}

Value lowering::rowsView(ImplicitLocOpBuilder &b, Value buffer,
                         ValueRange prefix, OpFoldResult row0,
                         OpFoldResult count) {
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

Value lowering::rowListView(ImplicitLocOpBuilder &b, Value list,
                            ValueRange prefix, OpFoldResult row0,
                            OpFoldResult count) {
  auto type = cast<MemRefType>(list.getType());
  OpFoldResult one = b.getIndexAttr(1);
  SmallVector<OpFoldResult> offsets, sizes, strides(type.getRank(), one);
  for (Value p : prefix) {
    offsets.push_back(p);
    sizes.push_back(one);
  }
  offsets.push_back(row0);
  sizes.push_back(count);
  int64_t rows = getConstantIntValue(count).value_or(ShapedType::kDynamic);
  auto viewType = memref::SubViewOp::inferRankReducedResultType(
      {rows}, type, offsets, sizes, strides);
  return memref::SubViewOp::create(b, viewType, list, offsets, sizes, strides);
}

void lowering::fillBuffer(ImplicitLocOpBuilder &b, Value buffer, Value value) {
  linalg::FillOp::create(b, ValueRange{value}, ValueRange{buffer});
}

Value lowering::asResult(ImplicitLocOpBuilder &b, Value buffer,
                         Type tensorType) {
  return bufferization::ToTensorOp::create(b, tensorType, buffer,
                                           /*restrict=*/true,
                                           /*writable=*/true);
}

Value lowering::constIndex(ImplicitLocOpBuilder &b, int64_t v) {
  return arith::ConstantIndexOp::create(b, v);
}
Value lowering::constI32(ImplicitLocOpBuilder &b, int64_t v) {
  return arith::ConstantIntOp::create(b, v, 32);
}
Value lowering::constF32(ImplicitLocOpBuilder &b, double v) {
  return arith::ConstantOp::create(b, b.getF32FloatAttr(v));
}
Value lowering::dim(ImplicitLocOpBuilder &b, Value buffer, int64_t i) {
  return memref::DimOp::create(b, buffer, i);
}
Value lowering::toIndex(ImplicitLocOpBuilder &b, Value i32) {
  return arith::IndexCastOp::create(b, b.getIndexType(), i32);
}
Value lowering::toI32(ImplicitLocOpBuilder &b, Value index) {
  return arith::IndexCastOp::create(b, b.getI32Type(), index);
}

Value lowering::widenToF32(ImplicitLocOpBuilder &b, Value v) {
  if (v.getType().isF32())
    return v;
  return arith::ExtFOp::create(b, b.getF32Type(), v);
}

void lowering::forLoop(ImplicitLocOpBuilder &b, Value lb, Value ub,
                       function_ref<void(ImplicitLocOpBuilder &, Value)> body,
                       int64_t step) {
  scf::ForOp::create(b, lb, ub, constIndex(b, step), ValueRange{},
                     [&](OpBuilder &nb, Location loc, Value iv, ValueRange) {
                       ImplicitLocOpBuilder ib(loc, nb);
                       body(ib, iv);
                       scf::YieldOp::create(ib);
                     });
}

scf::ParallelOp lowering::parallelLoop(
    ImplicitLocOpBuilder &b, ValueRange ubs,
    function_ref<void(ImplicitLocOpBuilder &, ValueRange)> body) {
  SmallVector<Value> lbs(ubs.size(), constIndex(b, 0));
  SmallVector<Value> steps(ubs.size(), constIndex(b, 1));
  // The builder adds the scf.reduce terminator after the body.
  return scf::ParallelOp::create(
      b, lbs, ubs, steps, [&](OpBuilder &nb, Location loc, ValueRange ivs) {
        ImplicitLocOpBuilder ib(loc, nb);
        body(ib, ivs);
      });
}

ValueRange lowering::reduceLoop(
    ImplicitLocOpBuilder &b, Value lb, Value ub, ValueRange inits,
    function_ref<SmallVector<Value>(ImplicitLocOpBuilder &, Value, ValueRange)>
        body,
    int64_t step) {
  auto loop = scf::ForOp::create(
      b, lb, ub, constIndex(b, step), inits,
      [&](OpBuilder &nb, Location loc, Value iv, ValueRange args) {
        ImplicitLocOpBuilder ib(loc, nb);
        scf::YieldOp::create(ib, body(ib, iv, args));
      });
  return loop.getResults();
}

void lowering::ifThenElse(ImplicitLocOpBuilder &b, Value cond,
                          function_ref<void(ImplicitLocOpBuilder &)> thenBody,
                          function_ref<void(ImplicitLocOpBuilder &)> elseBody) {
  auto thenBuilder = [&](OpBuilder &nb, Location loc) {
    ImplicitLocOpBuilder ib(loc, nb);
    thenBody(ib);
    scf::YieldOp::create(ib);
  };
  if (!elseBody) {
    scf::IfOp::create(b, cond, thenBuilder);
    return;
  }
  scf::IfOp::create(b, cond, thenBuilder, [&](OpBuilder &nb, Location loc) {
    ImplicitLocOpBuilder ib(loc, nb);
    elseBody(ib);
    scf::YieldOp::create(ib);
  });
}

static arith::FastMathFlagsAttr reassocContract(ImplicitLocOpBuilder &b) {
  return arith::FastMathFlagsAttr::get(b.getContext(),
                                       arith::FastMathFlags::reassoc |
                                           arith::FastMathFlags::contract);
}

Value lowering::fastAdd(ImplicitLocOpBuilder &b, Value x, Value y) {
  return arith::AddFOp::create(b, x, y, reassocContract(b));
}
Value lowering::fastMul(ImplicitLocOpBuilder &b, Value x, Value y) {
  return arith::MulFOp::create(b, x, y, reassocContract(b));
}

/// The f32 constant `v` shaped as `like`: a scalar, or a splat vector.
static Value constLike(ImplicitLocOpBuilder &b, Value like, double v) {
  auto vector = dyn_cast<VectorType>(like.getType());
  if (!vector)
    return constF32(b, v);
  return arith::ConstantOp::create(
      b, DenseElementsAttr::get(vector, static_cast<float>(v)));
}

Value lowering::emitSigmoid(ImplicitLocOpBuilder &b, Value x) {
  Value one = constLike(b, x, 1.0);
  Value e = math::ExpOp::create(b, arith::NegFOp::create(b, x));
  return arith::DivFOp::create(b, one, arith::AddFOp::create(b, one, e));
}

Value lowering::emitActivation(ImplicitLocOpBuilder &b, Activation act,
                               Value x) {
  switch (act) {
  case Activation::SiLU:
    return arith::MulFOp::create(b, x, emitSigmoid(b, x));
  case Activation::GELU: {
    // Exact (erf) GELU: 0.5 · x · (1 + erf(x / √2)).
    Value scaled = arith::MulFOp::create(b, x, constLike(b, x, M_SQRT1_2));
    Value erf = math::ErfOp::create(b, scaled);
    Value onePlus = arith::AddFOp::create(b, constLike(b, x, 1.0), erf);
    Value half = arith::MulFOp::create(b, constLike(b, x, 0.5), x);
    return arith::MulFOp::create(b, half, onePlus);
  }
  case Activation::ReLU:
    return arith::MaximumFOp::create(b, x, constLike(b, x, 0.0));
  case Activation::ClampedSwiGLU:
    llvm_unreachable("clamped_swiglu combines gate and up: see "
                     "emitGatedActivation");
  }
  llvm_unreachable("unknown activation");
}

Value lowering::emitGatedActivation(ImplicitLocOpBuilder &b,
                                    const ActivationSpec &spec, Value g,
                                    Value u) {
  if (spec.kind != Activation::ClampedSwiGLU) {
    Value h = emitActivation(b, spec.kind, g);
    return u ? arith::MulFOp::create(b, h, u) : h;
  }
  // GPT-OSS: g = min(g, L); u = clamp(u, -L, L);
  // h = g · σ(α · g) · (u + 1). The clamps propagate NaN, as torch.clamp does.
  Value hi = constLike(b, g, spec.limit);
  g = arith::MinimumFOp::create(b, g, hi);
  u = arith::MaximumFOp::create(b, arith::MinimumFOp::create(b, u, hi),
                                constLike(b, g, -spec.limit));
  Value alphaG = arith::MulFOp::create(b, constLike(b, g, spec.alpha), g);
  Value glu = arith::MulFOp::create(b, g, emitSigmoid(b, alphaG));
  return arith::MulFOp::create(
      b, glu, arith::AddFOp::create(b, u, constLike(b, g, 1.0)));
}
