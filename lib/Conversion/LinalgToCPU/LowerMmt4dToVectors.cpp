//===- LowerMmt4dToVectors.cpp - CPU schedule of packed expert GEMMs ------===//
//
// Part of moec. Implements moe-lower-mmt4d-to-vectors: the `linalg.mmt4d`
// that moe-expand-grouped-matmul makes of an expert projection whose weights
// are packed in panels of P columns (1 x 1 tiles of A, 1 x P tiles of B and
// C) becomes outer products in vector registers: for each k, P contiguous
// weights are loaded once and multiplied by a broadcast of each of a block of
// rows, accumulating with FMAs. Each output element is summed by the same
// operations in the same order (FMAs in k order within a chunk of k, then
// the chunks in order) whatever block or thread computes it, so a row's
// result never depends on the rows computed with it.
//
//===----------------------------------------------------------------------===//

#include "ZeroFill.h"

#include "../MoEToLoops/LoweringUtils.h"

#include "moec/Conversion/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOELOWERMMT4DTOVECTORS
#include "moec/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::lowering;

namespace {

/// f32 lanes per vector: AVX2's 256 bits.
constexpr int64_t kLanes = 8;

/// A [m, K, 1, 1], B [N/P, K, P, 1] (f32 or bf16), C [m, N/P, 1, P] with P a
/// multiple of kLanes, on buffers: the packed expert projection.
bool isPackedProjection(linalg::Mmt4DOp op) {
  if (!op.hasPureBufferSemantics())
    return false;
  auto type = [&](unsigned i) {
    return cast<MemRefType>(op->getOperand(i).getType());
  };
  MemRefType a = type(0), b = type(1), c = type(2);
  int64_t panel = b.getDimSize(2);
  return a.getElementType().isF32() && c.getElementType().isF32() &&
         (b.getElementType().isF32() || b.getElementType().isBF16()) &&
         a.getDimSize(2) == 1 && a.getDimSize(3) == 1 && b.getDimSize(3) == 1 &&
         c.getDimSize(2) == 1 && !ShapedType::isDynamic(panel) &&
         panel % kLanes == 0 && c.getDimSize(3) == panel && !b.isDynamicDim(1);
}

/// One vector of P consecutive weights (lanes kLanes·v ..) of panel `n1` at
/// depth k, widened to f32 (bf16 is the high half of an f32: shift it up).
Value loadWeights(ImplicitLocOpBuilder &b, Value w, Value n1, Value k,
                  int64_t v) {
  auto type = cast<MemRefType>(w.getType());
  Value at = constIndex(b, v * kLanes);
  auto f32 = VectorType::get({kLanes}, b.getF32Type());
  if (type.getElementType().isF32())
    return vector::LoadOp::create(b, f32, w, ValueRange{n1, k, at});
  Value raw = vector::LoadOp::create(
      b, VectorType::get({kLanes}, type.getElementType()), w,
      ValueRange{n1, k, at});
  auto i16 = VectorType::get({kLanes}, b.getI16Type());
  auto i32 = VectorType::get({kLanes}, b.getI32Type());
  Value wide =
      arith::ExtUIOp::create(b, i32, vector::BitCastOp::create(b, i16, raw));
  Value shift =
      arith::ConstantOp::create(b, DenseElementsAttr::get(i32, int32_t{16}));
  return vector::BitCastOp::create(b, f32,
                                   arith::ShLIOp::create(b, wide, shift));
}

/// The packed projection's buffers, as 2-D A and C and 3-D B.
struct Operands {
  Value a, w, c; // [m, K], [N/P, K, P], [m, N]
  int64_t panel; // P
  int64_t depth; // K
};

/// Rows rows[0..] times panel n1 over k in [kBegin, kEnd): the accumulators
/// start from zero and gain one FMA per k; the chunk's sums are then added
/// to C, or stored as they are where `fromZero` (the first chunk of a
/// zero-filled C). Summing each chunk apart before adding it keeps the
/// rounding error of a long k near that of a chunk plus the chunks' sum.
void emitBlock(ImplicitLocOpBuilder &b, const Operands &o, ArrayRef<Value> rows,
               Value n1, Value kBegin, Value kEnd, Value fromZero) {
  int64_t vectors = o.panel / kLanes;
  auto f32 = VectorType::get({kLanes}, b.getF32Type());
  Value col0 = arith::MulIOp::create(b, n1, constIndex(b, o.panel));
  SmallVector<Value> cols;
  for (int64_t v = 0; v < vectors; ++v)
    cols.push_back(arith::AddIOp::create(b, col0, constIndex(b, v * kLanes)));
  Value zero = arith::ConstantOp::create(b, DenseElementsAttr::get(f32, 0.0f));
  SmallVector<Value> init(rows.size() * vectors, zero);
  ValueRange acc = reduceLoop(
      b, kBegin, kEnd, init,
      [&](ImplicitLocOpBuilder &bk, Value k, ValueRange args) {
        SmallVector<Value> w;
        for (int64_t v = 0; v < vectors; ++v)
          w.push_back(loadWeights(bk, o.w, n1, k, v));
        SmallVector<Value> next;
        for (auto [r, row] : llvm::enumerate(rows)) {
          Value x = memref::LoadOp::create(bk, o.a, ValueRange{row, k});
          Value xs = vector::BroadcastOp::create(bk, f32, x);
          for (int64_t v = 0; v < vectors; ++v)
            // llvm.fmuladd: one fused multiply-add on FMA targets (every
            // x86-64-v3 CPU), the same choice for every block shape.
            next.push_back(
                vector::FMAOp::create(bk, xs, w[v], args[r * vectors + v]));
        }
        return next;
      });
  auto store = [&](ImplicitLocOpBuilder &b, bool add) {
    for (auto [r, row] : llvm::enumerate(rows))
      for (auto [v, col] : llvm::enumerate(cols)) {
        Value sum = acc[r * vectors + v];
        if (add)
          sum = arith::AddFOp::create(
              b, vector::LoadOp::create(b, f32, o.c, ValueRange{row, col}),
              sum);
        vector::StoreOp::create(b, sum, o.c, ValueRange{row, col});
      }
  };
  if (!fromZero)
    return store(b, /*add=*/true);
  ifThenElse(
      b, fromZero, [&](ImplicitLocOpBuilder &b) { store(b, /*add=*/false); },
      [&](ImplicitLocOpBuilder &b) { store(b, /*add=*/true); });
}

/// The loop nest: panels in parallel; in each, chunks of k (a chunk of the
/// panel, kChunk x P weights, stays in L1 while every row passes it), then
/// blocks of `blockRows` rows, then one block of the remaining rows.
void emitPackedMatmul(ImplicitLocOpBuilder &b, const Operands &o, bool fromZero,
                      int64_t blockRows, int64_t kChunk) {
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
            emitBlock(b, o, rows, n1, k0, kEnd, first);
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
  });
}

struct Mmt4dToVectors : OpConversionPattern<linalg::Mmt4DOp> {
  Mmt4dToVectors(MLIRContext *ctx, int64_t rows, int64_t kChunk,
                 Pass::Statistic &count)
      : OpConversionPattern(ctx), Rows(rows), KChunk(kChunk), Count(count) {}

  LogicalResult
  matchAndRewrite(linalg::Mmt4DOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (!isPackedProjection(op))
      return rewriter.notifyMatchFailure(
          op, "not an f32 packed projection (1 x 1 tiles of A, 1 x P of B)");
    linalg::FillOp fill = zeroFillBefore(op);
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    Operands o;
    o.a = memref::CollapseShapeOp::create(b, adaptor.getInputs()[0],
                                          {{0}, {1, 2, 3}});
    o.w = memref::CollapseShapeOp::create(b, adaptor.getInputs()[1],
                                          {{0}, {1}, {2, 3}});
    o.c = memref::CollapseShapeOp::create(b, adaptor.getOutputs()[0],
                                          {{0}, {1, 2, 3}});
    auto wType = cast<MemRefType>(o.w.getType());
    o.panel = wType.getDimSize(2);
    o.depth = wType.getDimSize(1);
    emitPackedMatmul(b, o, /*fromZero=*/static_cast<bool>(fill), Rows, KChunk);
    if (fill)
      rewriter.eraseOp(fill);
    rewriter.eraseOp(op);
    ++Count;
    return success();
  }

  int64_t Rows, KChunk;
  Pass::Statistic &Count;
};

struct MoELowerMmt4dToVectorsPass
    : public moe::impl::MoELowerMmt4dToVectorsBase<MoELowerMmt4dToVectorsPass> {
  using Base::Base;

  LogicalResult initialize(MLIRContext *ctx) override {
    if (blockRows < 1 || kChunk < 1)
      return emitError(UnknownLoc::get(ctx))
             << "moe-lower-mmt4d-to-vectors: block-rows and k-chunk must be "
                "positive";
    return success();
  }

  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    ConversionTarget target(*ctx);
    target.addDynamicallyLegalOp<linalg::Mmt4DOp>(
        [](linalg::Mmt4DOp op) { return !isPackedProjection(op); });
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    RewritePatternSet patterns(ctx);
    patterns.add<Mmt4dToVectors>(ctx, blockRows, kChunk, numLowered);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
