//===- TileGroupedMatmulOnTensorCores.cpp - the tile list on tensor cores -===//
//
// Part of moec. Implements moe-tile-grouped-matmul-on-tensor-cores: the tile
// list of moe-tile-grouped-matmul, each tile computed by warps of bf16
// `nvvm.mma.sync` m16n8k16 with f32 accumulators. The fragment layout is the
// PTX ISA's ("Matrix Fragments for mma.m16n8k16 with floating point type");
// with lane l, g = l / 4 and t = l % 4, a lane holds
//   A (16 x 16, rows x k): rows g and g + 8 at k = 2t, 2t + 1, and +8;
//   B (16 x 8, k x n):     column n = g at k = 2t, 2t + 1, and +8;
//   C (16 x 8, f32):       rows g and g + 8 at columns 2t, 2t + 1;
// two values of A or B per 32-bit register, the lower k in the low half.
// Weights are stored [N, K], so B's k-adjacent pair is adjacent in memory.
// The fused forms ride on the same fragments: a gather changes only which
// row of A a lane reads (found once per row, before the k loop), and a gated
// epilogue runs a second set of mma tiles on the up weights with the same A
// registers, then combines the two sums where the plain form stores one.
// With stages (SharedMemoryStages.h), the same fragments are read from
// shared memory that the tile's threads fill with cp.async.
//
//===----------------------------------------------------------------------===//

#include "ExpertRows.h"
#include "SharedMemoryStages.h"

#include "../MoEToLoops/LoweringUtils.h"

#include "moec/Conversion/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOETILEGROUPEDMATMULONTENSORCORES
#include "moec/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::lowering;

namespace {

constexpr int64_t kWarpSize = 32;
// One warp's outputs: 32 x 32, as 2 x 4 mma tiles of 16 x 8.
constexpr int64_t kWarpRows = 32, kWarpCols = 32;
constexpr int64_t kMmaM = 16, kMmaN = 8, kMmaK = 16;
constexpr int64_t kTilesM = kWarpRows / kMmaM, kTilesN = kWarpCols / kMmaN;
constexpr int64_t kAccumulators = kTilesM * kTilesN * 4;

/// The grouped matmuls this schedule takes: bf16 [E, N, K] weights (and up
/// weights) with a static K, storing their rows (no scatter: the tiles of
/// different experts would add into one token at once).
bool isOnTensorCores(GroupedMatmulOp op) {
  MemRefType weights = op.getWeights().getType();
  return !op.isPacked() && !op.getScatter() &&
         weights.getElementType().isBF16() && !weights.isDynamicDim(2);
}

/// One lane's share of a warp's 32 x 32 outputs, and how it loads its
/// fragments.
struct WarpTile {
  Value lhs, weights, bias, out; // The grouped matmul's buffers.
  Value up, upBias;              // The second projection, if any.
  std::optional<ActivationSpec> activation; // The epilogue's, if any.
  SmallVector<Value> prefix;    // {e} for a padded buffer, {} for sorted rows.
  SmallVector<Value> lhsPrefix; // prefix, or {} when rows are gathered.
  Value expert;
  int64_t depth; // K
  Value t2;      // 2 · (lane % 4): the lane's first k (and C column).
  // Row g + 8h of mma tile mi: the row stored, whether it is in the tile,
  // and the row of lhs read (clamped to the tile's last row, so always in
  // bounds; with a gather, the token that row reads, found once).
  Value row[kTilesM][2], rowInTile[kTilesM][2], rowRead[kTilesM][2];
  // Column g of mma tile ni, clamped to N - 1: the weight row B reads.
  Value colRead[kTilesN];
  // The same rows and columns within the tile: where staged operands are.
  Value rowLocal[kTilesM][2], colLocal[kTilesN];
  Value colBase; // The warp's first output column.

  /// A k-adjacent pair as one 32-bit register of two bf16 values.
  Value pack(ImplicitLocOpBuilder &b, Value pair) const {
    auto bits = VectorType::get({1}, b.getI32Type());
    Value word = vector::BitCastOp::create(b, bits, pair);
    return vector::ExtractOp::create(b, word, ArrayRef<int64_t>{0});
  }

  /// buffer[at..., k], buffer[at..., k + 1] as a vector<2xT>. One aligned
  /// vector load when K is even (the pair never straddles a row and starts
  /// at an even element); two scalar loads otherwise, and zeros past K on a
  /// k tail.
  Value loadPair(ImplicitLocOpBuilder &b, Value buffer, SmallVector<Value> at,
                 Value k, bool tail) const {
    Type element = cast<MemRefType>(buffer.getType()).getElementType();
    auto pairType = VectorType::get({2}, element);
    if (depth % 2 == 0 && !tail) {
      at.push_back(k);
      int64_t bytes = 2 * element.getIntOrFloatBitWidth() / 8;
      return vector::LoadOp::create(b, pairType, buffer, at,
                                    /*nontemporal=*/false,
                                    llvm::MaybeAlign(bytes));
    }
    SmallVector<Value> values;
    Value last = constIndex(b, depth - 1);
    for (int64_t j = 0; j < 2; ++j) {
      Value kj = j ? arith::AddIOp::create(b, k, constIndex(b, j)) : k;
      SmallVector<Value> idx(at);
      idx.push_back(tail ? arith::MinUIOp::create(b, kj, last) : kj);
      Value v = memref::LoadOp::create(b, buffer, idx);
      if (tail) {
        Value inside = arith::CmpIOp::create(b, arith::CmpIPredicate::ult, kj,
                                             constIndex(b, depth));
        Value zero = arith::ConstantOp::create(b, b.getZeroAttr(element));
        v = arith::SelectOp::create(b, inside, v, zero);
      }
      values.push_back(v);
    }
    return vector::FromElementsOp::create(b, pairType, values);
  }

  /// A's register for row `r` at k: the f32 rows rounded to bf16.
  Value aRegister(ImplicitLocOpBuilder &b, Value r, Value k, bool tail) const {
    SmallVector<Value> at(lhsPrefix);
    at.push_back(r);
    Value pair = loadPair(b, lhs, at, k, tail);
    auto bf16Pair = VectorType::get({2}, b.getBF16Type());
    return pack(b, arith::TruncFOp::create(b, bf16Pair, pair));
  }

  /// B's register for row `n` of weights `w` at k: two bf16 weights as
  /// they are.
  Value bRegister(ImplicitLocOpBuilder &b, Value w, Value n, Value k,
                  bool tail) const {
    return pack(b, loadPair(b, w, {expert, n}, k, tail));
  }

  /// The projections this tile sums: weights, then up if any.
  int64_t projections() const { return up ? 2 : 1; }

  /// One k step's fragments: A's 2 x 4 registers, then B's 4 x 2 per
  /// projection.
  struct Fragments {
    SmallVector<Value> a[kTilesM];
    SmallVector<Value> b[2][kTilesN];
  };

  /// The fragments of the k step at k0, in PTX's layout: A's register for
  /// (mma row tile mi, half h) at k from `aReg(mi, h, k)`, B's for
  /// (projection p, mma column tile ni) from `bReg(p, ni, k)`.
  Fragments fragments(ImplicitLocOpBuilder &b, Value k0,
                      function_ref<Value(int64_t, int64_t, Value)> aReg,
                      function_ref<Value(int64_t, int64_t, Value)> bReg) const {
    Value kLo = arith::AddIOp::create(b, k0, t2);
    Value kHi = arith::AddIOp::create(b, kLo, constIndex(b, 8));
    Fragments f;
    for (int64_t mi = 0; mi < kTilesM; ++mi)
      f.a[mi] = {aReg(mi, 0, kLo), aReg(mi, 1, kLo), aReg(mi, 0, kHi),
                 aReg(mi, 1, kHi)};
    for (int64_t p = 0; p < projections(); ++p)
      for (int64_t ni = 0; ni < kTilesN; ++ni)
        f.b[p][ni] = {bReg(p, ni, kLo), bReg(p, ni, kHi)};
    return f;
  }

  /// Loads the fragments of the k step at k0 from global memory.
  Fragments load(ImplicitLocOpBuilder &b, Value k0, bool tail) const {
    return fragments(
        b, k0,
        [&](int64_t mi, int64_t h, Value k) {
          return aRegister(b, rowRead[mi][h], k, tail);
        },
        [&](int64_t p, int64_t ni, Value k) {
          return bRegister(b, p ? up : weights, colRead[ni], k, tail);
        });
  }

  /// Loads the fragments of the k step at `k0` (within the stage) from
  /// stage `stage` of `staged`.
  Fragments loadStaged(ImplicitLocOpBuilder &b, const OperandStages &staged,
                       Value stage, int64_t k0) const {
    auto bf16Pair = VectorType::get({2}, b.getBF16Type());
    return fragments(
        b, constIndex(b, k0),
        [&](int64_t mi, int64_t h, Value k) {
          Value pair = staged.rowPair(b, stage, rowLocal[mi][h], k);
          return pack(b, arith::TruncFOp::create(b, bf16Pair, pair));
        },
        [&](int64_t p, int64_t ni, Value k) {
          return pack(b, staged.weightPair(b, stage, p, colLocal[ni], k));
        });
  }

  /// 2 x 4 mma.sync per projection on its accumulators (kAccumulators
  /// each, weights' first), the A registers shared.
  SmallVector<Value> multiply(ImplicitLocOpBuilder &b, const Fragments &f,
                              ValueRange acc) const {
    Type f32 = b.getF32Type();
    auto result =
        LLVM::LLVMStructType::getLiteral(b.getContext(), {f32, f32, f32, f32});
    SmallVector<Value> next;
    for (int64_t p = 0; p < projections(); ++p)
      for (int64_t mi = 0; mi < kTilesM; ++mi)
        for (int64_t ni = 0; ni < kTilesN; ++ni) {
          ValueRange c =
              acc.slice(p * kAccumulators + (mi * kTilesN + ni) * 4, 4);
          Value d = NVVM::MmaOp::create(
              b, result, f.a[mi], f.b[p][ni], c, {kMmaM, kMmaN, kMmaK},
              /*b1Op=*/std::nullopt, /*intOverflow=*/std::nullopt,
              std::array{NVVM::MMATypes::bf16, NVVM::MMATypes::bf16},
              std::array{NVVM::MMALayout::row, NVVM::MMALayout::col});
          for (int64_t j = 0; j < 4; ++j)
            next.push_back(LLVM::ExtractValueOp::create(b, d, j));
        }
    return next;
  }

  /// `steps` k steps from k0: every fragment is loaded before the first
  /// mma.sync, so the loads of all the steps are in flight at once (a
  /// warp otherwise waits out one memory latency per step).
  SmallVector<Value> steps(ImplicitLocOpBuilder &b, Value k0, int64_t steps,
                           ValueRange acc, bool tail) const {
    SmallVector<Fragments, 4> f;
    for (int64_t s = 0; s < steps; ++s)
      f.push_back(load(
          b, arith::AddIOp::create(b, k0, constIndex(b, s * kMmaK)), tail));
    SmallVector<Value> next(acc);
    for (const Fragments &fs : f)
      next = multiply(b, fs, next);
    return next;
  }

  /// k steps loaded together: as many as keep the fragments of a group
  /// at 64 registers (4 with one projection, 2 with two).
  int64_t stepsPerGroup() const { return 64 / (8 + 8 * projections()); }

  /// For the lane's outputs inside the tile and the matrix: out[row, col] =
  /// acc (+ bias[e, col]), or with an epilogue act(that) ⊙ (upAcc (+
  /// up_bias[e, col])), in f32 as moe-tile-grouped-matmul computes it.
  void store(ImplicitLocOpBuilder &b, ValueRange acc, Value numCols) const {
    for (int64_t mi = 0; mi < kTilesM; ++mi)
      for (int64_t ni = 0; ni < kTilesN; ++ni)
        for (int64_t j = 0; j < 4; ++j) {
          int64_t h = j / 2;
          Value col = arith::AddIOp::create(
              b, colBase, constIndex(b, ni * kMmaN + (j % 2)));
          col = arith::AddIOp::create(b, col, t2);
          Value inside = arith::AndIOp::create(
              b, rowInTile[mi][h],
              arith::CmpIOp::create(b, arith::CmpIPredicate::ult, col,
                                    numCols));
          int64_t at0 = (mi * kTilesN + ni) * 4 + j;
          ifThenElse(b, inside, [&](ImplicitLocOpBuilder &b) {
            auto withBias = [&](Value sum, Value bias) {
              if (!bias)
                return sum;
              return Value(arith::AddFOp::create(
                  b, sum,
                  memref::LoadOp::create(b, bias, ValueRange{expert, col})));
            };
            Value y = withBias(acc[at0], bias);
            if (activation) {
              Value u =
                  up ? withBias(acc[kAccumulators + at0], upBias) : Value();
              y = emitGatedActivation(b, *activation, y, u);
            }
            SmallVector<Value> at(prefix);
            at.append({row[mi][h], col});
            memref::StoreOp::create(b, y, out, at);
          });
        }
  }
};

struct TileOnTensorCores : OpConversionPattern<GroupedMatmulOp> {
  TileOnTensorCores(MLIRContext *ctx, int64_t rows, int64_t cols,
                    int64_t stages)
      : OpConversionPattern(ctx), Rows(rows), Cols(cols), Stages(stages) {}

  LogicalResult
  matchAndRewrite(GroupedMatmulOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (!isOnTensorCores(op))
      return rewriter.notifyMatchFailure(
          op, "not bf16 [E, N, K] weights with a static K, or has a "
              "scatter");
    std::optional<StageGlobals> globals;
    if (Stages > 0 && canStageOperands(op))
      globals = createStageGlobals(rewriter, op, Stages, Rows, Cols);
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    Value numCols = dim(b, op.getWeights(), 1);
    int64_t depth = op.getWeights().getType().getDimSize(2);
    int64_t warpsN = Cols / kWarpCols;
    int64_t threads = (Rows / kWarpRows) * warpsN * kWarpSize;
    RowTileList list = rowTileList(b, op, constIndex(b, Rows));
    Value colTiles =
        arith::CeilDivUIOp::create(b, numCols, constIndex(b, Cols));
    scf::ParallelOp threadLoop;
    scf::ParallelOp tileLoop = parallelLoop(
        b, {list.slots, colTiles},
        [&](ImplicitLocOpBuilder &b, ValueRange tile) {
          RowTile rows = rowTile(b, op, list, tile[0]);
          Value col0 = arith::MulIOp::create(b, tile[1], constIndex(b, Cols));
          threadLoop = parallelLoop(
              b, {constIndex(b, threads)},
              [&](ImplicitLocOpBuilder &b, ValueRange thread) {
                // The same for the whole block: mma.sync needs every
                // lane.
                Value nonEmpty = arith::CmpIOp::create(
                    b, arith::CmpIPredicate::ult, rows.begin, rows.end);
                ifThenElse(b, nonEmpty, [&](ImplicitLocOpBuilder &b) {
                  WarpTile warp = layOut(b, op, rows, col0, numCols, depth,
                                         thread[0], warpsN);
                  if (!globals)
                    return emitWarpTile(b, warp, depth, numCols);
                  OperandStages staged(b, op, *globals, rows, col0, numCols,
                                       thread[0], threads);
                  emitStagedWarpTile(b, warp, staged, depth, numCols);
                });
              });
        });
    if (failed(mapTileList(tileLoop, threadLoop)))
      return rewriter.notifyMatchFailure(op, "cannot map the loops");
    rewriter.eraseOp(op);
    return success();
  }

  /// Which outputs lane `thread % 32` of warp `thread / 32` owns.
  static WarpTile layOut(ImplicitLocOpBuilder &b, GroupedMatmulOp op,
                         const RowTile &rows, Value col0, Value numCols,
                         int64_t depth, Value thread, int64_t warpsN) {
    auto c = [&](int64_t v) { return constIndex(b, v); };
    Value warp = arith::DivUIOp::create(b, thread, c(kWarpSize));
    Value lane = arith::RemUIOp::create(b, thread, c(kWarpSize));
    Value g = arith::DivUIOp::create(b, lane, c(4));
    Value t = arith::RemUIOp::create(b, lane, c(4));
    Value warpRow = arith::DivUIOp::create(b, warp, c(warpsN));
    Value warpCol = arith::RemUIOp::create(b, warp, c(warpsN));
    WarpTile w;
    w.lhs = op.getLhs();
    w.weights = op.getWeights();
    w.bias = op.getBias();
    w.out = op.getOut();
    w.up = op.getUp();
    w.upBias = op.getUpBias();
    if (op.hasEpilogue())
      w.activation = activationOf(op);
    w.prefix = rows.prefix;
    if (!op.getGather())
      w.lhsPrefix = rows.prefix;
    w.expert = rows.expert;
    w.depth = depth;
    w.t2 = arith::MulIOp::create(b, t, c(2));
    Value localRowBase = arith::AddIOp::create(
        b, arith::MulIOp::create(b, warpRow, c(kWarpRows)), g);
    Value rowBase = arith::AddIOp::create(b, rows.begin, localRowBase);
    Value lastRow = arith::SubIOp::create(b, rows.end, c(1));
    for (int64_t mi = 0; mi < kTilesM; ++mi)
      for (int64_t h = 0; h < 2; ++h) {
        int64_t offset = mi * kMmaM + h * 8;
        w.rowLocal[mi][h] = arith::AddIOp::create(b, localRowBase, c(offset));
        Value r = arith::AddIOp::create(b, rowBase, c(offset));
        w.row[mi][h] = r;
        w.rowInTile[mi][h] =
            arith::CmpIOp::create(b, arith::CmpIPredicate::ult, r, rows.end);
        Value read = arith::MinUIOp::create(b, r, lastRow);
        if (Value gather = op.getGather()) {
          SmallVector<Value> at(rows.prefix);
          at.push_back(read);
          read = toIndex(b, memref::LoadOp::create(b, gather, at));
        }
        w.rowRead[mi][h] = read;
      }
    Value localColBase = arith::MulIOp::create(b, warpCol, c(kWarpCols));
    w.colBase = arith::AddIOp::create(b, col0, localColBase);
    Value lastCol = arith::SubIOp::create(b, numCols, c(1));
    for (int64_t ni = 0; ni < kTilesN; ++ni) {
      w.colLocal[ni] = arith::AddIOp::create(
          b, arith::AddIOp::create(b, localColBase, c(ni * kMmaN)), g);
      Value n = arith::AddIOp::create(b, w.colBase, c(ni * kMmaN));
      w.colRead[ni] =
          arith::MinUIOp::create(b, arith::AddIOp::create(b, n, g), lastCol);
    }
    return w;
  }

  /// The k loop over groups of whole steps of 16, the whole steps left
  /// over, a masked tail step when K is not a multiple of 16, then the
  /// stores.
  static void emitWarpTile(ImplicitLocOpBuilder &b, const WarpTile &warp,
                           int64_t depth, Value numCols) {
    int64_t group = warp.stepsPerGroup() * kMmaK;
    int64_t grouped = depth / group * group;
    int64_t whole = depth / kMmaK * kMmaK;
    SmallVector<Value> acc(kAccumulators * warp.projections(),
                           constF32(b, 0.0));
    if (grouped > 0)
      acc = reduceLoop(
          b, constIndex(b, 0), constIndex(b, grouped), acc,
          [&](ImplicitLocOpBuilder &b, Value k0, ValueRange acc) {
            return warp.steps(b, k0, warp.stepsPerGroup(), acc,
                              /*tail=*/false);
          },
          group);
    if (whole > grouped)
      acc = warp.steps(b, constIndex(b, grouped), (whole - grouped) / kMmaK,
                       acc, /*tail=*/false);
    if (whole != depth)
      acc = warp.steps(b, constIndex(b, whole), 1, acc, /*tail=*/true);
    warp.store(b, acc, numCols);
  }

  /// The k loop over stages of 32 (CUTLASS's multistage form): the first
  /// Stages - 1 stages are copied before the loop; each iteration waits
  /// for its stage, passes a barrier (every thread's copies are in, and
  /// every warp is done with the stage about to be refilled), issues the
  /// copy Stages - 1 stages ahead into the stage read one iteration ago,
  /// and multiplies its own. One barrier per stage.
  void emitStagedWarpTile(ImplicitLocOpBuilder &b, const WarpTile &warp,
                          const OperandStages &staged, int64_t depth,
                          Value numCols) const {
    auto c = [&](int64_t v) { return constIndex(b, v); };
    Value token;
    for (int64_t s = 0; s + 1 < Stages; ++s)
      token = staged.copy(b, c(s), c(s * kStageDepth));
    SmallVector<Value> init(kAccumulators * warp.projections(),
                            constF32(b, 0.0));
    init.push_back(token);
    int64_t stageTiles = llvm::divideCeil(depth, kStageDepth);
    ValueRange results = reduceLoop(
        b, c(0), c(stageTiles), init,
        [&](ImplicitLocOpBuilder &b, Value tile, ValueRange args) {
          // At most Stages - 2 of the groups issued so far are in flight:
          // this tile's has landed.
          nvgpu::DeviceAsyncWaitOp::create(b, args.back(),
                                           b.getI32IntegerAttr(Stages - 2));
          gpu::BarrierOp::create(b);
          Value ahead = arith::AddIOp::create(b, tile, c(Stages - 1));
          Value next =
              staged.copy(b, arith::RemUIOp::create(b, ahead, c(Stages)),
                          arith::MulIOp::create(b, ahead, c(kStageDepth)));
          Value stage = arith::RemUIOp::create(b, tile, c(Stages));
          SmallVector<WarpTile::Fragments, 2> f;
          for (int64_t k0 = 0; k0 < kStageDepth; k0 += kMmaK)
            f.push_back(warp.loadStaged(b, staged, stage, k0));
          SmallVector<Value> acc(args.drop_back());
          for (const WarpTile::Fragments &fs : f)
            acc = warp.multiply(b, fs, acc);
          acc.push_back(next);
          return acc;
        });
    // The copies issued past the last stage write zeros nobody reads; they
    // still finish before the block exits.
    nvgpu::DeviceAsyncWaitOp::create(b, results.back(), b.getI32IntegerAttr(0));
    warp.store(b, results.drop_back(), numCols);
  }

  int64_t Rows, Cols, Stages;
};

struct MoETileGroupedMatmulOnTensorCoresPass
    : public moe::impl::MoETileGroupedMatmulOnTensorCoresBase<
          MoETileGroupedMatmulOnTensorCoresPass> {
  using Base::Base;

  LogicalResult initialize(MLIRContext *ctx) override {
    int64_t warps = (tileRows / kWarpRows) * (tileCols / kWarpCols);
    if (tileRows < kWarpRows || tileCols < kWarpCols || tileRows % kWarpRows ||
        tileCols % kWarpCols || warps > 32)
      return emitError(UnknownLoc::get(ctx))
             << "moe-tile-grouped-matmul-on-tensor-cores: tile-rows and "
                "tile-cols must be positive multiples of 32 with at most 32 "
                "warps per tile (tile-rows * tile-cols <= 32768)";
    if (stages == 0)
      return success();
    // Each thread copies whole 16-byte pieces: tile-rows * 8 row pieces and
    // tile-cols * 4 weight pieces per stage over tile-rows * tile-cols / 32
    // threads.
    if (stages < 2 || 128 % tileRows || 256 % tileCols)
      return emitError(UnknownLoc::get(ctx))
             << "moe-tile-grouped-matmul-on-tensor-cores: stages must be 0 "
                "(no shared memory) or at least 2, with tile-rows 32, 64 or "
                "128 and tile-cols 32, 64, 128 or 256";
    int64_t bytes = stagedBytes(stages, tileRows, tileCols, /*projections=*/2);
    if (bytes > kMaxStaticSharedBytes)
      return emitError(UnknownLoc::get(ctx))
             << "moe-tile-grouped-matmul-on-tensor-cores: " << int64_t(stages)
             << " stages of a " << int64_t(tileRows) << " x "
             << int64_t(tileCols) << " tile take " << bytes
             << " bytes of shared memory with gate "
             << "and up, more than the " << kMaxStaticSharedBytes
             << " a kernel can declare";
    return success();
  }

  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    RewritePatternSet patterns(ctx);
    patterns.add<TileOnTensorCores>(ctx, tileRows, tileCols, stages);
    if (failed(applyGroupedMatmulSchedule(getOperation(), std::move(patterns),
                                          isOnTensorCores)))
      signalPassFailure();
  }
};

} // namespace
