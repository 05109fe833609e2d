//===- CountTensors.cpp - Small i32 tensor arithmetic of exchanges --------===//
//
// Part of moec.
//
//===----------------------------------------------------------------------===//

#include "CountTensors.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StructuredOpsUtils.h"

using namespace mlir;

Value moe::counts::splat(OpBuilder &b, Location loc, int64_t n,
                         int64_t value) {
  auto type = RankedTensorType::get({n}, b.getI32Type());
  return arith::ConstantOp::create(
      b, loc, DenseElementsAttr::get(type, b.getI32IntegerAttr(value)));
}

Value moe::counts::fill(OpBuilder &b, Location loc, int64_t n, Value value) {
  Value empty =
      tensor::EmptyOp::create(b, loc, ArrayRef<int64_t>{n}, b.getI32Type());
  return linalg::FillOp::create(b, loc, value, empty).getResult(0);
}

Value moe::counts::reshape(OpBuilder &b, Location loc, Value v, int64_t rows,
                           int64_t cols) {
  auto type = RankedTensorType::get({rows, cols}, b.getI32Type());
  return tensor::ExpandShapeOp::create(
      b, loc, type, v, SmallVector<ReassociationIndices>{{0, 1}});
}

Value moe::counts::flatten(OpBuilder &b, Location loc, Value m) {
  auto type = cast<RankedTensorType>(m.getType());
  auto flat = RankedTensorType::get({type.getNumElements()},
                                    type.getElementType());
  return tensor::CollapseShapeOp::create(
      b, loc, flat, m, SmallVector<ReassociationIndices>{{0, 1}});
}

Value moe::counts::transpose(OpBuilder &b, Location loc, Value m) {
  auto type = cast<RankedTensorType>(m.getType());
  Value empty = tensor::EmptyOp::create(
      b, loc, ArrayRef<int64_t>{type.getDimSize(1), type.getDimSize(0)},
      type.getElementType());
  return linalg::TransposeOp::create(b, loc, m, empty,
                                     ArrayRef<int64_t>{1, 0})
      .getResult()[0];
}

Value moe::counts::rowSums(OpBuilder &b, Location loc, Value m) {
  auto type = cast<RankedTensorType>(m.getType());
  Value init = fill(b, loc, type.getDimSize(0),
                    arith::ConstantIntOp::create(b, loc, 0, 32));
  MLIRContext *ctx = b.getContext();
  AffineExpr r, c;
  bindDims(ctx, r, c);
  SmallVector<AffineMap> maps = {AffineMap::get(2, 0, {r, c}, ctx),
                                 AffineMap::get(2, 0, {r}, ctx)};
  return linalg::GenericOp::create(
             b, loc, init.getType(), ValueRange{m}, ValueRange{init}, maps,
             {utils::IteratorType::parallel, utils::IteratorType::reduction},
             [](OpBuilder &nb, Location l, ValueRange args) {
               Value sum = arith::AddIOp::create(nb, l, args[1], args[0]);
               linalg::YieldOp::create(nb, l, sum);
             })
      .getResult(0);
}
