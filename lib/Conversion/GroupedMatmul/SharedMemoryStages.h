//===- SharedMemoryStages.h - a tile's operands staged by cp.async -*- C++
//-*-===//
//
// Part of moec. The shared-memory stages of the tensor-core tile list
// (moe-tile-grouped-matmul-on-tensor-cores{stages=S}): every thread of a
// tile copies 16-byte pieces of the tile's rows (f32) and weight rows (bf16)
// for the next 32 k values with cp.async, and the warps read their mma
// fragments from shared memory. Global reads are then whole, coalesced
// 16-byte pieces, each read once per tile rather than once per warp.
//
//===----------------------------------------------------------------------===//

#ifndef MOEC_LIB_CONVERSION_GROUPEDMATMUL_SHAREDMEMORYSTAGES_H
#define MOEC_LIB_CONVERSION_GROUPEDMATMUL_SHAREDMEMORYSTAGES_H

#include "ExpertRows.h"

namespace mlir::moe::lowering {

/// The k values one stage holds.
constexpr int64_t kStageDepth = 32;
/// Elements each staged row is padded by: rows 40 f32 (160 bytes) or 40
/// bf16 (80 bytes) apart, so the 8-byte A and 4-byte B fragment loads of a
/// warp touch 32 different banks, and every row stays 16-byte aligned.
constexpr int64_t kStagePad = 8;
/// The static shared memory a kernel may declare.
constexpr int64_t kMaxStaticSharedBytes = 48 * 1024;

/// Whether `op`'s operands can be staged: f32 rows and bf16 weights in the
/// identity layout, K a multiple of 8 (so every 16-byte piece of a row is
/// 16-byte aligned and lies wholly inside or outside K).
bool canStageOperands(GroupedMatmulOp op);

/// Shared-memory bytes of `stages` stages of a rows x cols tile whose
/// weights are `projections` sets (2: gate and up).
int64_t stagedBytes(int64_t stages, int64_t rows, int64_t cols,
                    int64_t projections);

/// The workgroup-memory globals of one grouped matmul's stages:
/// A [stages, rows, 40] f32 and B [stages, projections, cols, 40] bf16.
/// Private module symbols; gpu-kernel-outlining copies them into the
/// kernel's module, and symbol-dce drops the host's copies.
struct StageGlobals {
  StringAttr a, b;
  MemRefType aType, bType;
};
StageGlobals createStageGlobals(RewriterBase &rewriter, GroupedMatmulOp op,
                                int64_t stages, int64_t rows, int64_t cols);

/// One thread's part of a tile's stages.
class OperandStages {
public:
  /// Finds, once before the k loop, the rows and weight rows the copies
  /// of thread `thread` (of `threads`) read: rows past the tile's end
  /// clamped to its last row (gathered if the op gathers), columns past N
  /// to N - 1.
  OperandStages(ImplicitLocOpBuilder &b, GroupedMatmulOp op,
                const StageGlobals &globals, const RowTile &rows, Value col0,
                Value numCols, Value thread, int64_t threads);

  /// Issues the thread's copies of k in [k0, k0 + 32) into stage `stage`
  /// as one cp.async group and returns its token. Pieces at k >= K are
  /// zero-filled (nothing is read), so a k tail multiplies zeros.
  Value copy(ImplicitLocOpBuilder &b, Value stage, Value k0) const;

  /// Staged A[row, k], A[row, k + 1] (row within the tile, k within the
  /// stage) as a vector<2xf32>.
  Value rowPair(ImplicitLocOpBuilder &b, Value stage, Value row, Value k) const;
  /// Staged weights of `projection` (0: weights, 1: up) at column `col`
  /// (within the tile), k and k + 1, as a vector<2xbf16>.
  Value weightPair(ImplicitLocOpBuilder &b, Value stage, int64_t projection,
                   Value col, Value k) const;

private:
  /// One 16-byte piece a thread copies per stage: where it goes in a
  /// stage, where it is read from, and its first k within the stage.
  struct Piece {
    SmallVector<Value> to;   // Stage indices between the stage and k.
    SmallVector<Value> from; // Global indices before k.
    Value k;
  };
  /// Copies `piece` of stage `stage` (k from k0) of `buffer` into `stage`
  /// of `staged`, `elements` per piece.
  Value copyPiece(ImplicitLocOpBuilder &b, const Piece &piece, Value buffer,
                  Value staged, Value stage, Value k0, int64_t elements) const;
  Value aStage, bStage; // The stages' buffers (memref.get_global).
  Value lhs;
  SmallVector<Value> weights; // Weights, then up if any.
  int64_t depth;
  SmallVector<Piece> aPieces;
  SmallVector<SmallVector<Piece>> bPieces; // Per projection.
};

} // namespace mlir::moe::lowering

#endif // MOEC_LIB_CONVERSION_GROUPEDMATMUL_SHAREDMEMORYSTAGES_H
