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

ValueRange lowering::reduceLoop(
    ImplicitLocOpBuilder &b, Value lb, Value ub, ValueRange inits,
    function_ref<SmallVector<Value>(ImplicitLocOpBuilder &, Value, ValueRange)>
        body) {
  Value one = constIndex(b, 1);
  auto loop = scf::ForOp::create(
      b, lb, ub, one, inits,
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

namespace {

/// C[rows[r], cols[c]] for every r, c: one register block. The k loop
/// carries rows.size() * cols.size() accumulators; with reassociation allowed
/// LLVM vectorizes it, so each loaded A and B vector feeds several FMAs.
/// Every block has the same shape, so each element's sum is formed in the
/// same order wherever its row and column fall: the result of a row does not
/// depend on the rows computed with it (what makes an expert-parallel run
/// bitwise equal to a single-rank one). Remainder blocks repeat their last
/// row or column; the repeated stores write the same value again.
void emitMatmulBlock(ImplicitLocOpBuilder &b, ArrayRef<Value> rows,
                     ArrayRef<Value> cols, Value kSize, const Load2D &loadA,
                     const Load2D &loadB, const Store2D &storeC) {
  Value zero = constF32(b, 0.0);
  size_t numCols = cols.size();
  SmallVector<Value> inits(rows.size() * numCols, zero);
  ValueRange acc =
      reduceLoop(b, constIndex(b, 0), kSize, inits,
                 [&](ImplicitLocOpBuilder &bk, Value k, ValueRange args) {
                   SmallVector<Value> a, bv;
                   for (Value row : rows)
                     a.push_back(loadA(bk, row, k));
                   for (Value col : cols)
                     bv.push_back(loadB(bk, col, k));
                   SmallVector<Value> next;
                   for (size_t r = 0; r < rows.size(); ++r)
                     for (size_t c = 0; c < numCols; ++c)
                       next.push_back(fastAdd(bk, args[r * numCols + c],
                                              fastMul(bk, a[r], bv[c])));
                   return next;
                 });
  for (size_t r = 0; r < rows.size(); ++r)
    for (size_t c = 0; c < numCols; ++c)
      storeC(b, rows[r], cols[c], acc[r * numCols + c]);
}

/// base + d for d < count, each clamped to at most `last`.
SmallVector<Value> clampedRange(ImplicitLocOpBuilder &b, Value base,
                                int64_t count, Value last) {
  SmallVector<Value> out;
  for (int64_t d = 0; d < count; ++d) {
    Value v = d == 0 ? base : arith::AddIOp::create(b, base, constIndex(b, d));
    out.push_back(arith::MinUIOp::create(b, v, last));
  }
  return out;
}

/// The largest multiple of `step` not above `n`.
Value roundDown(ImplicitLocOpBuilder &b, Value n, int64_t step) {
  Value s = constIndex(b, step);
  return arith::MulIOp::create(b, arith::DivUIOp::create(b, n, s), s);
}

} // namespace

void lowering::emitMatmulTransposedB(ImplicitLocOpBuilder &b, Value m, Value n,
                                     Value kSize, const Load2D &loadA,
                                     const Load2D &loadB,
                                     const Store2D &storeC) {
  // 2 x 4 register blocks: 8 accumulators plus the 6 loaded vectors fit
  // AVX2's 16 registers; 4 x 4 (16 accumulators, so presumably spilling)
  // measured 24% slower at T = 4096.
  // Rows of A go in chunks of about 1 MiB (a multiple of the block height,
  // at most 256 rows) so a chunk stays in cache while it is reused for every
  // column block. Within a chunk, columns (rows of the weight B) are
  // outermost and in parallel: each block of four weight rows is read once
  // per chunk and threads own disjoint output columns.
  constexpr int64_t kRows = 2, kCols = 4;
  Value zero = constIndex(b, 0);
  Value mMain = roundDown(b, m, kRows);
  Value chunk = arith::DivUIOp::create(
      b, constIndex(b, 262144),
      arith::MaxUIOp::create(b, kSize, constIndex(b, 1)));
  chunk = roundDown(b, chunk, kRows);
  chunk = arith::MaxUIOp::create(b, chunk, constIndex(b, kRows));
  chunk = arith::MinUIOp::create(b, chunk, constIndex(b, 256));

  scf::ForOp::create(
      b, zero, m, chunk, ValueRange{},
      [&](OpBuilder &ob, Location loc, Value rowBegin, ValueRange) {
        ImplicitLocOpBuilder cb(loc, ob);
        Value chunkEnd = arith::AddIOp::create(cb, rowBegin, chunk);
        Value rowEnd = arith::MinUIOp::create(cb, chunkEnd, m);
        Value blockedEnd = arith::MinUIOp::create(cb, chunkEnd, mMain);
        Value tailBegin = arith::MaxUIOp::create(cb, rowBegin, mMain);
        Value lastRow = arith::SubIOp::create(cb, m, constIndex(cb, 1));
        Value lastCol = arith::SubIOp::create(cb, n, constIndex(cb, 1));
        // Columns [lb, ub) in blocks of kCols; a remainder block repeats
        // the last column.
        auto columns = [&](Value lb, Value ub) {
          scf::ParallelOp::create(
              cb, ValueRange{lb}, ValueRange{ub},
              ValueRange{constIndex(cb, kCols)},
              [&](OpBuilder &nb, Location l, ValueRange ivs) {
                ImplicitLocOpBuilder ib(l, nb);
                SmallVector<Value> cols =
                    clampedRange(ib, ivs[0], kCols, lastCol);
                forLoop(
                    ib, rowBegin, blockedEnd,
                    [&](ImplicitLocOpBuilder &b, Value i) {
                      emitMatmulBlock(b, clampedRange(b, i, kRows, lastRow),
                                      cols, kSize, loadA, loadB, storeC);
                    },
                    kRows);
                // The remainder row (m odd) repeats itself.
                forLoop(ib, tailBegin, rowEnd,
                        [&](ImplicitLocOpBuilder &b, Value i) {
                          emitMatmulBlock(b, SmallVector<Value>(kRows, i),
                                          cols, kSize, loadA, loadB, storeC);
                        });
              });
        };
        columns(zero, n);
        scf::YieldOp::create(cb);
      });
}

Value lowering::emitSigmoid(ImplicitLocOpBuilder &b, Value x) {
  Value one = constF32(b, 1.0);
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
    Value scaled = arith::MulFOp::create(b, x, constF32(b, M_SQRT1_2));
    Value erf = math::ErfOp::create(b, scaled);
    Value onePlus = arith::AddFOp::create(b, constF32(b, 1.0), erf);
    Value half = arith::MulFOp::create(b, constF32(b, 0.5), x);
    return arith::MulFOp::create(b, half, onePlus);
  }
  case Activation::ReLU:
    return arith::MaximumFOp::create(b, x, constF32(b, 0.0));
  case Activation::ClampedSwiGLU:
    llvm_unreachable("clamped_swiglu combines gate and up: the experts "
                     "lowering emits it");
  }
  llvm_unreachable("unknown activation");
}
