//===- LowerMatmulToRegisterBlocks.cpp - CPU schedule of A · Bᵀ -----------===//
//
// Part of moec. Implements moe-lower-matmul-to-register-blocks: every f32
// (or bf16-weight) `linalg.matmul` of the transposed-B form (C += A · Bᵀ, the
// shape of an expert projection and of any weight stored [out, in]) on buffers
// becomes register-blocked loops over cache-sized row chunks, under an
// scf.parallel over blocks of output columns (OpenMP threads when the pipeline
// maps it). Other linalg ops are left to convert-linalg-to-loops.
//
//===----------------------------------------------------------------------===//

#include "ZeroFill.h"

#include "../MoEToLoops/LoweringUtils.h"

#include "moec/Conversion/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Transforms/DialectConversion.h"

#include <functional>

namespace mlir::moe {
#define GEN_PASS_DEF_MOELOWERMATMULTOREGISTERBLOCKS
#include "moec/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::lowering;

namespace {

using Load2D = std::function<Value(ImplicitLocOpBuilder &, Value, Value)>;
using Store2D =
    std::function<void(ImplicitLocOpBuilder &, Value, Value, Value)>;

/// C[rows[r], cols[c]] += Σ_k A(rows[r], k) · B(cols[c], k) for every r, c:
/// one register block. The k loop carries rows.size() * cols.size()
/// accumulators, starting at zero; with reassociation allowed LLVM
/// vectorizes it, so each loaded A and B vector feeds several FMAs. Every
/// block has the same shape, so each element's sum is formed in the same
/// order wherever its row and column fall: the result of a row does not
/// depend on the rows computed with it (what makes an expert-parallel run
/// bitwise equal to a single-rank one). Remainder blocks repeat their last
/// row or column; the repeated stores write the same value again, as each
/// block loads C before it stores. With `accumulate` false (C was zero
/// filled) the sums are stored as they are.
void emitMatmulBlock(ImplicitLocOpBuilder &b, ArrayRef<Value> rows,
                     ArrayRef<Value> cols, Value kSize, const Load2D &loadA,
                     const Load2D &loadB, Value c, bool accumulate) {
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
  SmallVector<Value> sums(acc);
  if (accumulate) {
    // Loaded before any store: a repeated row or column must not add twice.
    SmallVector<Value> old;
    for (Value row : rows)
      for (Value col : cols)
        old.push_back(memref::LoadOp::create(b, c, ValueRange{row, col}));
    for (auto [sum, o] : llvm::zip(sums, old))
      sum = arith::AddFOp::create(b, o, sum);
  }
  for (size_t r = 0; r < rows.size(); ++r)
    for (size_t j = 0; j < numCols; ++j)
      memref::StoreOp::create(b, sums[r * numCols + j], c,
                              ValueRange{rows[r], cols[j]});
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

/// C += A · Bᵀ (C = A · Bᵀ unless `accumulate`) with A [m, kSize],
/// B [n, kSize], C [m, n] buffers.
void emitBlockedMatmul(ImplicitLocOpBuilder &b, Value a, Value bt, Value c,
                       bool accumulate, int64_t rowsPerBlock,
                       int64_t colsPerBlock, int64_t chunkElements) {
  Value zero = constIndex(b, 0);
  Value m = memref::DimOp::create(b, c, 0);
  Value n = memref::DimOp::create(b, c, 1);
  Value kSize = memref::DimOp::create(b, a, 1);
  Load2D loadA = [&](ImplicitLocOpBuilder &b, Value i, Value k) -> Value {
    return memref::LoadOp::create(b, a, ValueRange{i, k});
  };
  Load2D loadB = [&](ImplicitLocOpBuilder &b, Value j, Value k) -> Value {
    // bf16 weights widen exactly; LLVM vectorizes it as a 16-bit shift.
    return widenToF32(b, memref::LoadOp::create(b, bt, ValueRange{j, k}));
  };
  Value mMain = roundDown(b, m, rowsPerBlock);
  // Rows of A go in chunks of about chunkElements (a multiple of the block
  // height, at most 256 rows) so a chunk stays in cache while it is reused
  // for every column block. Within a chunk, columns (rows of B) are
  // outermost and in parallel: each block of B's rows is read once per
  // chunk and threads own disjoint output columns.
  Value chunk = arith::DivUIOp::create(
      b, constIndex(b, chunkElements),
      arith::MaxUIOp::create(b, kSize, constIndex(b, 1)));
  chunk = roundDown(b, chunk, rowsPerBlock);
  chunk = arith::MaxUIOp::create(b, chunk, constIndex(b, rowsPerBlock));
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
        // Columns in blocks of colsPerBlock; a remainder block repeats the
        // last column.
        scf::ParallelOp::create(
            cb, ValueRange{zero}, ValueRange{n},
            ValueRange{constIndex(cb, colsPerBlock)},
            [&](OpBuilder &nb, Location l, ValueRange ivs) {
              ImplicitLocOpBuilder ib(l, nb);
              SmallVector<Value> cols =
                  clampedRange(ib, ivs[0], colsPerBlock, lastCol);
              forLoop(
                  ib, rowBegin, blockedEnd,
                  [&](ImplicitLocOpBuilder &b, Value i) {
                    emitMatmulBlock(b,
                                    clampedRange(b, i, rowsPerBlock, lastRow),
                                    cols, kSize, loadA, loadB, c, accumulate);
                  },
                  rowsPerBlock);
              // The remainder rows (m not a multiple of the block height)
              // each repeat themselves.
              forLoop(
                  ib, tailBegin, rowEnd, [&](ImplicitLocOpBuilder &b, Value i) {
                    emitMatmulBlock(b, SmallVector<Value>(rowsPerBlock, i),
                                    cols, kSize, loadA, loadB, c, accumulate);
                  });
            });
        scf::YieldOp::create(cb);
      });
}

/// f32 C += A · Bᵀ on buffers with B in f32 or bf16, the form this schedule
/// covers.
bool isBlockable(linalg::MatmulOp op) {
  if (!isa<linalg::MatmulTransposeBOp>(op.getOperation()) ||
      !op.hasPureBufferSemantics())
    return false;
  auto element = [&](unsigned i) {
    return cast<MemRefType>(op->getOperand(i).getType()).getElementType();
  };
  return element(0).isF32() && element(2).isF32() &&
         (element(1).isF32() || element(1).isBF16());
}

struct MatmulToRegisterBlocks : OpConversionPattern<linalg::MatmulOp> {
  MatmulToRegisterBlocks(MLIRContext *ctx, int64_t rows, int64_t cols,
                         int64_t chunk, Pass::Statistic &count)
      : OpConversionPattern(ctx), Rows(rows), Cols(cols), Chunk(chunk),
        Count(count) {}

  LogicalResult
  matchAndRewrite(linalg::MatmulOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (!isBlockable(op))
      return rewriter.notifyMatchFailure(
          op, "not an f32 A · Bᵀ (B f32 or bf16) on buffers");
    linalg::FillOp fill = zeroFillBefore(op);
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    emitBlockedMatmul(b, adaptor.getInputs()[0], adaptor.getInputs()[1],
                      adaptor.getOutputs()[0], /*accumulate=*/!fill, Rows, Cols,
                      Chunk);
    if (fill)
      rewriter.eraseOp(fill);
    rewriter.eraseOp(op);
    ++Count;
    return success();
  }

  int64_t Rows, Cols, Chunk;
  Pass::Statistic &Count;
};

struct MoELowerMatmulToRegisterBlocksPass
    : public moe::impl::MoELowerMatmulToRegisterBlocksBase<
          MoELowerMatmulToRegisterBlocksPass> {
  using Base::Base;

  LogicalResult initialize(MLIRContext *ctx) override {
    if (blockRows < 1 || blockCols < 1 || chunkElements < 1)
      return emitError(UnknownLoc::get(ctx))
             << "moe-lower-matmul-to-register-blocks: block-rows, block-cols "
                "and chunk-elements must be positive";
    return success();
  }

  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    ConversionTarget target(*ctx);
    target.addLegalDialect<arith::ArithDialect, memref::MemRefDialect,
                           scf::SCFDialect>();
    target.addDynamicallyLegalOp<linalg::MatmulOp>(
        [](linalg::MatmulOp op) { return !isBlockable(op); });
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    RewritePatternSet patterns(ctx);
    patterns.add<MatmulToRegisterBlocks>(ctx, blockRows, blockCols,
                                         chunkElements, numBlocked);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
