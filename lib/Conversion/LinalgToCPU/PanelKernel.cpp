//===- PanelKernel.cpp - expert GEMMs on weights packed in panels ---------===//
//
// Part of moec. Outer products in vector registers: for each k, a panel's P
// contiguous weights are loaded once and multiplied by a broadcast of each
// of a block of rows, accumulating with FMAs.
//
//===----------------------------------------------------------------------===//

#include "PanelKernel.h"

#include "../MoEToLoops/LoweringUtils.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::lowering;

namespace {

constexpr int64_t kLanes = kPanelLanes;

VectorType f32Vector(OpBuilder &b) {
  return VectorType::get({kLanes}, b.getF32Type());
}

/// One vector of P consecutive weights (lanes kLanes·v ..) of panel `n1` at
/// depth k, widened to f32 (bf16 is the high half of an f32: shift it up).
Value loadWeights(ImplicitLocOpBuilder &b, Value w, Value n1, Value k,
                  int64_t v) {
  auto type = cast<MemRefType>(w.getType());
  Value at = constIndex(b, v * kLanes);
  if (type.getElementType().isF32())
    return vector::LoadOp::create(b, f32Vector(b), w, ValueRange{n1, k, at});
  Value raw = vector::LoadOp::create(
      b, VectorType::get({kLanes}, type.getElementType()), w,
      ValueRange{n1, k, at});
  auto i16 = VectorType::get({kLanes}, b.getI16Type());
  auto i32 = VectorType::get({kLanes}, b.getI32Type());
  Value wide =
      arith::ExtUIOp::create(b, i32, vector::BitCastOp::create(b, i16, raw));
  Value shift =
      arith::ConstantOp::create(b, DenseElementsAttr::get(i32, int32_t{16}));
  return vector::BitCastOp::create(b, f32Vector(b),
                                   arith::ShLIOp::create(b, wide, shift));
}

/// The first column of each vector of panel n1.
SmallVector<Value> panelColumns(ImplicitLocOpBuilder &b, const PanelOperands &o,
                                Value n1) {
  Value col0 = arith::MulIOp::create(b, n1, constIndex(b, o.panel));
  SmallVector<Value> cols;
  for (int64_t v = 0; v < o.panel / kLanes; ++v)
    cols.push_back(arith::AddIOp::create(b, col0, constIndex(b, v * kLanes)));
  return cols;
}

/// Rows aRows[0..] of A (rows[0..] of `sums`) times panel n1 of `weights`
/// over k in [kBegin, kEnd): the
/// accumulators start from zero and gain one FMA per k; the chunk's sums are
/// then added to `sums`, or stored as they are where `fromZero` (the first
/// chunk of a zero-filled buffer). Summing each chunk apart before adding it
/// keeps the rounding error of a long k near that of a chunk plus the
/// chunks' sum.
void emitBlock(ImplicitLocOpBuilder &b, const PanelOperands &o, Value weights,
               Value sums, ArrayRef<Value> rows, ArrayRef<Value> aRows,
               Value n1, Value kBegin, Value kEnd, Value fromZero) {
  int64_t vectors = o.panel / kLanes;
  SmallVector<Value> cols = panelColumns(b, o, n1);
  Value zero =
      arith::ConstantOp::create(b, DenseElementsAttr::get(f32Vector(b), 0.0f));
  SmallVector<Value> init(rows.size() * vectors, zero);
  ValueRange acc = reduceLoop(
      b, kBegin, kEnd, init,
      [&](ImplicitLocOpBuilder &bk, Value k, ValueRange args) {
        SmallVector<Value> w;
        for (int64_t v = 0; v < vectors; ++v)
          w.push_back(loadWeights(bk, weights, n1, k, v));
        SmallVector<Value> next;
        for (Value row : aRows) {
          Value x = memref::LoadOp::create(bk, o.a, ValueRange{row, k});
          Value xs = vector::BroadcastOp::create(bk, f32Vector(bk), x);
          for (int64_t v = 0; v < vectors; ++v)
            // llvm.fmuladd: one fused multiply-add on FMA targets (every
            // x86-64-v3 CPU), the same choice for every block shape.
            next.push_back(
                vector::FMAOp::create(bk, xs, w[v], args[next.size()]));
        }
        return next;
      });
  auto store = [&](ImplicitLocOpBuilder &b, bool add) {
    for (auto [r, row] : llvm::enumerate(rows))
      for (auto [v, col] : llvm::enumerate(cols)) {
        Value sum = acc[r * vectors + v];
        if (add)
          sum = arith::AddFOp::create(
              b,
              vector::LoadOp::create(b, f32Vector(b), sums,
                                     ValueRange{row, col}),
              sum);
        vector::StoreOp::create(b, sum, sums, ValueRange{row, col});
      }
  };
  if (!fromZero)
    return store(b, /*add=*/true);
  ifThenElse(
      b, fromZero, [&](ImplicitLocOpBuilder &b) { store(b, /*add=*/false); },
      [&](ImplicitLocOpBuilder &b) { store(b, /*add=*/true); });
}

/// The epilogue over every row of panel n1, and the scatter into the tokens.
void emitPanelEpilogue(ImplicitLocOpBuilder &b, const PanelOperands &o,
                       Value n1, Value m, PanelEpilogue epilogue) {
  forLoop(b, constIndex(b, 0), m, [&](ImplicitLocOpBuilder &b, Value row) {
    Value token, scale;
    if (o.scatter)
      token = toIndex(b, memref::LoadOp::create(b, o.scatter, row));
    if (o.scale)
      scale = vector::BroadcastOp::create(
          b, f32Vector(b), memref::LoadOp::create(b, o.scale, row));
    for (Value col : panelColumns(b, o, n1)) {
      SmallVector<Value, 2> at{row, col};
      Value c = vector::LoadOp::create(b, f32Vector(b), o.c, at);
      Value up =
          o.up ? vector::LoadOp::create(b, f32Vector(b), o.upSum, at) : Value();
      Value result = epilogue ? epilogue(b, c, up, row, col) : c;
      if (!o.scatter) {
        vector::StoreOp::create(b, result, o.c, at);
        continue;
      }
      // y + scale · row, multiplied and then added, as the unfused combine
      // does (same bits); y + row without a scale.
      SmallVector<Value, 2> into{token, col};
      Value sum = vector::LoadOp::create(b, f32Vector(b), o.tokens, into);
      Value weighted = scale ? arith::MulFOp::create(b, scale, result) : result;
      vector::StoreOp::create(b, arith::AddFOp::create(b, sum, weighted),
                              o.tokens, into);
    }
  });
}

} // namespace

bool lowering::isPanelWeights(Type type) {
  auto w = dyn_cast<MemRefType>(type);
  if (!w || w.getRank() != 3)
    return false;
  Type element = w.getElementType();
  int64_t panel = w.getDimSize(2);
  return (element.isF32() || element.isBF16()) && !w.isDynamicDim(1) &&
         !ShapedType::isDynamic(panel) && panel > 0 && panel % kLanes == 0;
}

void lowering::emitPanelKernel(ImplicitLocOpBuilder &b, const PanelOperands &o,
                               bool fromZero, int64_t blockRows, int64_t kChunk,
                               PanelEpilogue epilogue) {
  Value zero = constIndex(b, 0);
  Value m = memref::DimOp::create(b, o.c, 0);
  Value depth = constIndex(b, o.depth);
  Value panels = memref::DimOp::create(b, o.w, 0);
  Value rowStep = constIndex(b, blockRows);
  Value mMain =
      arith::MulIOp::create(b, arith::DivUIOp::create(b, m, rowStep), rowStep);
  parallelLoop(b, {panels}, [&](ImplicitLocOpBuilder &b, ValueRange ivs) {
    Value n1 = ivs[0];
    forLoop(
        b, zero, depth,
        [&](ImplicitLocOpBuilder &b, Value k0) {
          Value kEnd = arith::MinUIOp::create(
              b, arith::AddIOp::create(b, k0, constIndex(b, kChunk)), depth);
          Value first =
              fromZero
                  ? arith::CmpIOp::create(b, arith::CmpIPredicate::eq, k0, zero)
                  : Value();
          auto block = [&](ImplicitLocOpBuilder &b, Value i, int64_t count) {
            SmallVector<Value> rows;
            for (int64_t r = 0; r < count; ++r)
              rows.push_back(r == 0
                                 ? i
                                 : arith::AddIOp::create(b, i, constIndex(b, r))
                                       .getResult());
            // The up projection right after the gate's, on the same rows
            // (in L1): two sets of accumulators at once would not fit in
            // AVX2's 16 registers.
            // The rows of A: C's, or the gather's tokens for them, found
            // once for both projections (outside their k loops).
            SmallVector<Value> aRows(rows);
            if (o.gather)
              for (Value &row : aRows)
                row = toIndex(b, memref::LoadOp::create(b, o.gather, row));
            emitBlock(b, o, o.w, o.c, rows, aRows, n1, k0, kEnd, first);
            if (o.up)
              emitBlock(b, o, o.up, o.upSum, rows, aRows, n1, k0, kEnd, first);
          };
          forLoop(
              b, zero, mMain,
              [&](ImplicitLocOpBuilder &b, Value i) { block(b, i, blockRows); },
              blockRows);
          // The last m mod blockRows rows as one block of that many: rows
          // taken one at a time would each wait on a chain of dependent
          // FMAs, which is all an expert with a few rows would do.
          if (blockRows == 1)
            return;
          SmallVector<int64_t> cases =
              llvm::to_vector(llvm::seq<int64_t>(1, blockRows));
          auto remainder = scf::IndexSwitchOp::create(
              b, TypeRange{}, arith::SubIOp::create(b, m, mMain), cases,
              cases.size());
          OpBuilder defaultCase = OpBuilder::atBlockEnd(
              &remainder.getDefaultRegion().emplaceBlock());
          scf::YieldOp::create(defaultCase, b.getLoc());
          for (auto [region, count] :
               llvm::zip(remainder.getCaseRegions(), cases)) {
            ImplicitLocOpBuilder bc(
                b.getLoc(), OpBuilder::atBlockEnd(&region.emplaceBlock()));
            block(bc, mMain, count);
            scf::YieldOp::create(bc);
          }
        },
        kChunk);
    if (epilogue || o.scatter)
      emitPanelEpilogue(b, o, n1, m, epilogue);
  });
}
