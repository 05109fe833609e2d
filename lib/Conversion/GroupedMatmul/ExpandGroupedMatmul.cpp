//===- ExpandGroupedMatmul.cpp - one linalg.matmul per expert ------------===//
//
// Part of moec. Implements moe-expand-grouped-matmul, the CPU schedule of
// moe.grouped_matmul: a loop over the experts, each (if any row chose it) a
// zero fill and a transposed-B `linalg.matmul` on views of its rows and its
// weight matrix (moe-lower-matmul-to-register-blocks then blocks it for the
// registers and the cache), or a `linalg.mmt4d` for weights packed in panels
// (moe-lower-mmt4d-to-vectors), then the bias. A fused epilogue, gather or
// scatter on panels goes straight to the vector kernel, which does them in
// place. A scatter's rows go through a scratch buffer of one expert's rows
// and are added into the tokens after its epilogue, expert after expert.
//
//===----------------------------------------------------------------------===//

#include "ExpertRows.h"

#include "../LinalgToCPU/PanelKernel.h"
#include "../MoEToLoops/LoweringUtils.h"

#include "moec/Conversion/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEEXPANDGROUPEDMATMUL
#include "moec/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::lowering;

namespace {

/// C [m, N] = A [m, K] · B with B packed [N / P, K, P] (panels of P
/// columns), as `linalg.mmt4d` with 1 x 1 tiles of A and 1 x P tiles of B and
/// C: C4[i, n1, 0, n0] = Σ A4[i, k, 0, 0] · B4[n1, k, n0, 0].
void emitPackedMatmul(ImplicitLocOpBuilder &b, Value a, Value w, Value c) {
  auto wType = cast<MemRefType>(w.getType());
  int64_t panels = wType.getDimSize(0), depth = wType.getDimSize(1),
          panel = wType.getDimSize(2);
  OpFoldResult rows = memref::getMixedSize(b, b.getLoc(), a, 0);
  Value a4 = memref::ExpandShapeOp::create(
      b, ArrayRef<int64_t>{ShapedType::kDynamic, depth, 1, 1}, a,
      {{0}, {1, 2, 3}},
      {rows, b.getIndexAttr(depth), b.getIndexAttr(1), b.getIndexAttr(1)});
  Value w4 = memref::ExpandShapeOp::create(
      b, ArrayRef<int64_t>{panels, depth, panel, 1}, w, {{0}, {1}, {2, 3}},
      {b.getIndexAttr(panels), b.getIndexAttr(depth), b.getIndexAttr(panel),
       b.getIndexAttr(1)});
  Value c4 = memref::ExpandShapeOp::create(
      b, ArrayRef<int64_t>{ShapedType::kDynamic, panels, 1, panel}, c,
      {{0}, {1, 2, 3}},
      {rows, b.getIndexAttr(panels), b.getIndexAttr(1), b.getIndexAttr(panel)});
  linalg::Mmt4DOp::create(b, ValueRange{a4, w4}, ValueRange{c4});
}

/// The register blocks of the vector kernel that takes an epilogue.
struct FusedSchedule {
  int64_t blockRows, kChunk;
};

/// What C gets from the sums `c` (and `up`, gated) at expert e's columns
/// `col` ..: c + bias[e], or act(c + bias[e]) ⊙ (up + up_bias[e]) with an
/// epilogue; scalars, or vectors of the packed kernel.
Value emitEpilogue(ImplicitLocOpBuilder &b, GroupedMatmulOp op, Value e,
                   Value c, Value up, Value col) {
  auto addBias = [&](Value sum, Value bias) {
    if (!bias)
      return sum;
    Value row;
    if (auto vector = dyn_cast<VectorType>(sum.getType()))
      row = vector::LoadOp::create(b, vector, bias, ValueRange{e, col});
    else
      row = memref::LoadOp::create(b, bias, ValueRange{e, col});
    return arith::AddFOp::create(b, sum, row).getResult();
  };
  c = addBias(c, op.getBias());
  if (!op.hasEpilogue())
    return c;
  if (up)
    up = addBias(up, op.getUpBias());
  return emitGatedActivation(b, activationOf(op), c, up);
}

/// Expert e's projection of its `m` rows: with an epilogue or a gather on
/// panels the vector kernel takes, that kernel with both in it; otherwise a
/// zero fill and a matmul (`linalg.mmt4d` for packed weights, which the CPU
/// schedule folds the fill into) per projection, then the bias and the
/// activation as a loop over the rows. A gather then reads from `gathered`,
/// where the expert's rows are first copied.
void emitExpertProjection(ImplicitLocOpBuilder &b, GroupedMatmulOp op, Value e,
                          Value m, PanelOperands o, Value gathered,
                          const FusedSchedule &schedule) {
  if ((op.hasEpilogue() || o.gather || o.scatter) && op.isPacked() &&
      isPanelWeights(o.w.getType())) {
    auto wType = cast<MemRefType>(o.w.getType());
    o.depth = wType.getDimSize(1);
    o.panel = wType.getDimSize(2);
    auto epilogue = [&](ImplicitLocOpBuilder &b, Value c, Value up, Value,
                        Value col) {
      return emitEpilogue(b, op, e, c, up, col);
    };
    emitPanelKernel(
        b, o, /*fromZero=*/true, schedule.blockRows, schedule.kChunk,
        op.hasEpilogue() || op.getBias() ? PanelEpilogue(epilogue) : nullptr);
    return;
  }
  if (o.gather) {
    Value zero = constIndex(b, 0);
    Value depth = dim(b, o.a, 1);
    parallelLoop(b, {m}, [&](ImplicitLocOpBuilder &b, ValueRange ivs) {
      Value i = ivs[0];
      Value from = toIndex(b, memref::LoadOp::create(b, o.gather, i));
      forLoop(b, zero, depth, [&](ImplicitLocOpBuilder &b, Value k) {
        Value v = memref::LoadOp::create(b, o.a, ValueRange{from, k});
        memref::StoreOp::create(b, v, gathered, ValueRange{i, k});
      });
    });
    o.a = gathered;
  }
  auto project = [&](Value w, Value into) {
    fillBuffer(b, into, constF32(b, 0.0));
    if (op.isPacked())
      emitPackedMatmul(b, o.a, w, into);
    else
      linalg::MatmulTransposeBOp::create(b, b.getLoc(), ValueRange{o.a, w},
                                         ValueRange{into});
  };
  project(o.w, o.c);
  if (o.up)
    project(o.up, o.upSum);
  if (!op.hasEpilogue() && !op.getBias() && !o.scatter)
    return;
  Value zero = constIndex(b, 0);
  forLoop(b, zero, m, [&](ImplicitLocOpBuilder &b, Value i) {
    forLoop(b, zero, dim(b, o.c, 1), [&](ImplicitLocOpBuilder &b, Value n) {
      SmallVector<Value, 2> at{i, n};
      Value c = memref::LoadOp::create(b, o.c, at);
      Value up = o.up ? memref::LoadOp::create(b, o.upSum, at) : Value();
      Value result = emitEpilogue(b, op, e, c, up, n);
      if (!o.scatter) {
        memref::StoreOp::create(b, result, o.c, at);
        return;
      }
      // tokens[scatter[i]] += scale[i] · row, as the combine adds it (or
      // the row alone without a scale).
      SmallVector<Value, 2> into{
          toIndex(b, memref::LoadOp::create(b, o.scatter, i)), n};
      Value weighted =
          o.scale ? arith::MulFOp::create(
                        b, memref::LoadOp::create(b, o.scale, i), result)
                  : result;
      memref::StoreOp::create(
          b,
          arith::AddFOp::create(b, memref::LoadOp::create(b, o.tokens, into),
                                weighted),
          o.tokens, into);
    });
  });
}

/// The type of one expert's weights, [N, K] or [N / P, K, P].
MemRefType sliceType(Value weights) {
  auto type = cast<MemRefType>(weights.getType());
  return MemRefType::get(type.getShape().drop_front(), type.getElementType());
}

/// A new buffer of `like`'s type and sizes.
Value allocLike(ImplicitLocOpBuilder &b, Value like) {
  auto type = cast<MemRefType>(like.getType());
  SmallVector<Value> sizes;
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (type.isDynamicDim(i))
      sizes.push_back(dim(b, like, i));
  return memref::AllocOp::create(b, type, sizes);
}

struct ExpandGroupedMatmul : OpConversionPattern<GroupedMatmulOp> {
  ExpandGroupedMatmul(MLIRContext *ctx, FusedSchedule schedule)
      : OpConversionPattern(ctx), Schedule(schedule) {}

  LogicalResult
  matchAndRewrite(GroupedMatmulOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    Value weights = op.getWeights();
    Value zero = constIndex(b, 0);
    // The up projection's sums (gated epilogue): one scratch buffer, each
    // expert's rows in their place.
    Value upSums = op.getUp() ? allocLike(b, op.getOut()) : Value();
    // A gather the vector kernel cannot do in its loads: one scratch buffer
    // of the gathered rows, each expert's in their place.
    Value gathered;
    bool panelKernel =
        op.isPacked() && isPanelWeights(sliceType(op.getWeights()));
    if (op.getGather() && !panelKernel) {
      // The shape of out, K wide.
      MemRefType outType = op.getOut().getType();
      SmallVector<int64_t> shape(outType.getShape());
      shape.back() = op.getLhs().getType().getDimSize(1);
      SmallVector<Value> sizes;
      for (int64_t i = 0; i + 1 < outType.getRank(); ++i)
        if (outType.isDynamicDim(i))
          sizes.push_back(dim(b, op.getOut(), i));
      if (ShapedType::isDynamic(shape.back()))
        sizes.push_back(dim(b, op.getLhs(), 1));
      gathered = memref::AllocOp::create(
          b, MemRefType::get(shape, b.getF32Type()), sizes);
    }
    // Rows that add into the tokens: each expert's sums in one scratch
    // buffer as tall as the largest expert's rows, reused expert after
    // expert (the experts run one after the other, so that each token's
    // sum has one order).
    Value sums;
    if (op.getScatter()) {
      Value tallest =
          reduceLoop(b, zero, dim(b, weights, 0), {zero},
                     [&](ImplicitLocOpBuilder &b, Value e, ValueRange args) {
                       return SmallVector<Value>{arith::MaxUIOp::create(
                           b, args[0], expertRows(b, op, e).count)};
                     })[0];
      MemRefType outType = op.getOut().getType();
      SmallVector<Value> sizes{tallest};
      if (outType.isDynamicDim(1))
        sizes.push_back(dim(b, op.getOut(), 1));
      sums = memref::AllocOp::create(
          b,
          MemRefType::get({ShapedType::kDynamic, outType.getDimSize(1)},
                          b.getF32Type()),
          sizes);
    }
    forLoop(b, zero, dim(b, weights, 0), [&](ImplicitLocOpBuilder &b, Value e) {
      ExpertRows rows = expertRows(b, op, e);
      // An expert no row chose is skipped, parallel loops and all: at small
      // T most of them (56 of 64 at T = 1 with k = 8).
      Value chosen =
          arith::CmpIOp::create(b, arith::CmpIPredicate::sgt, rows.count, zero);
      ifThenElse(b, chosen, [&](ImplicitLocOpBuilder &b) {
        PanelOperands o;
        if (Value gather = op.getGather()) {
          o.a = op.getLhs();
          o.gather =
              rowListView(b, gather, rows.prefix, rows.begin, rows.count);
        } else {
          o.a = rowsView(b, op.getLhs(), rows.prefix, rows.begin, rows.count);
        }
        if (Value scatter = op.getScatter()) {
          o.c = rowsView(b, sums, {}, b.getIndexAttr(0), rows.count);
          o.scatter =
              rowListView(b, scatter, rows.prefix, rows.begin, rows.count);
          if (Value scale = op.getScale())
            o.scale =
                rowListView(b, scale, rows.prefix, rows.begin, rows.count);
          o.tokens = op.getOut();
        } else {
          o.c = rowsView(b, op.getOut(), rows.prefix, rows.begin, rows.count);
        }
        o.w = sliceAt(b, weights, e);
        if (Value up = op.getUp()) {
          o.up = sliceAt(b, up, e);
          o.upSum = rowsView(b, upSums, rows.prefix, rows.begin, rows.count);
        }
        Value gatheredRows = gathered ? rowsView(b, gathered, rows.prefix,
                                                 rows.begin, rows.count)
                                      : Value();
        emitExpertProjection(b, op, e, rows.count, o, gatheredRows, Schedule);
      });
    });
    for (Value scratch : {upSums, gathered, sums})
      if (scratch)
        memref::DeallocOp::create(b, scratch);
    rewriter.eraseOp(op);
    return success();
  }

  FusedSchedule Schedule;
};

struct MoEExpandGroupedMatmulPass
    : public moe::impl::MoEExpandGroupedMatmulBase<MoEExpandGroupedMatmulPass> {
  using Base::Base;

  LogicalResult initialize(MLIRContext *ctx) override {
    if (blockRows < 1 || kChunk < 1)
      return emitError(UnknownLoc::get(ctx))
             << "moe-expand-grouped-matmul: block-rows and k-chunk must be "
                "positive";
    return success();
  }

  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    RewritePatternSet patterns(ctx);
    patterns.add<ExpandGroupedMatmul>(ctx, FusedSchedule{blockRows, kChunk});
    if (failed(applyGroupedMatmulSchedule(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
