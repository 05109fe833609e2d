//===- LowerDispatch.cpp - the two dispatch layouts as a parallel sort ----===//
//
// Part of moec. Both dispatches rank each expert's assignments in priority
// order (choice j outer, token t inner), so capacity drops the same
// assignments in both. The ranking is a stable counting sort that runs in
// parallel without atomics: the assignments are cut into chunks (a run of
// tokens of one choice, numbered in priority order), each chunk counts its
// experts, an exclusive scan over the chunks of each expert gives every
// chunk its first rank per expert, and each chunk then ranks and copies its
// own assignments. Slots and rows no assignment takes are left unwritten:
// no consumer reads them, and not touching them spares the page faults and
// memset of a mostly-empty [E, C, D] buffer. moe.assign_slots and
// moe.sort_assignments are the two dispatches recording each row's token
// instead of copying the row.
//
//===----------------------------------------------------------------------===//

#include "LoweringUtils.h"
#include "Lowerings.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::lowering;

namespace {

/// Tokens per chunk: enough chunks to spread T = 512 over a few threads,
/// few enough that the per-chunk histograms (k·T/256 rows of E counters)
/// are no larger than the k·T assignments for E up to 256.
constexpr int64_t kChunkTokens = 256;

/// The ranks of the assignments of `indices` [T, k] in priority order,
/// computed chunk by chunk: rank() calls its callback inside a parallel loop
/// over chunks, once per assignment (t, j, e) of a chunk in order, with the
/// assignment's rank among expert e's assignments.
class PriorityRanking {
public:
  /// Counts each chunk's assignments per expert and scans them; `counts`
  /// [E] receives each expert's number of assignments.
  PriorityRanking(ImplicitLocOpBuilder &b, Value indices, int64_t numExperts,
                  Value counts)
      : indices(indices), numTokens(dim(b, indices, 0)),
        topK(dim(b, indices, 1)), experts(constIndex(b, numExperts)) {
    chunkSize = constIndex(b, kChunkTokens);
    tokenChunks = arith::CeilDivUIOp::create(b, numTokens, chunkSize);
    Value numChunks = arith::MulIOp::create(b, topK, tokenChunks);
    // cursor[c, e]: chunk c's count of expert e, then its next rank.
    cursor = allocBuffer(
        b,
        RankedTensorType::get({ShapedType::kDynamic, numExperts},
                              b.getI32Type()),
        {numChunks});

    Value zero = constIndex(b, 0);
    forEachChunk(b, [&](ImplicitLocOpBuilder &b, Value c, Value j, Value t0,
                        Value t1) {
      forLoop(b, zero, experts, [&](ImplicitLocOpBuilder &b, Value e) {
        memref::StoreOp::create(b, constI32(b, 0), cursor, ValueRange{c, e});
      });
      forLoop(b, t0, t1, [&](ImplicitLocOpBuilder &b, Value t) {
        Value e =
            toIndex(b, memref::LoadOp::create(b, indices, ValueRange{t, j}));
        bump(b, c, e);
      });
    });
    // Exclusive scan over the chunks, one expert per iteration.
    parallelLoop(b, experts, [&](ImplicitLocOpBuilder &b, ValueRange ivs) {
      Value e = ivs[0];
      Value total = reduceLoop(
          b, zero, numChunks, ValueRange{constI32(b, 0)},
          [&](ImplicitLocOpBuilder &b, Value c, ValueRange acc) {
            Value n = memref::LoadOp::create(b, cursor, ValueRange{c, e});
            memref::StoreOp::create(b, acc[0], cursor, ValueRange{c, e});
            return SmallVector<Value>{arith::AddIOp::create(b, acc[0], n)};
          })[0];
      memref::StoreOp::create(b, total, counts, ValueRange{e});
    });
  }

  /// In parallel over the chunks: rankOne(t, j, e, rank) for each
  /// assignment of a chunk in priority order.
  void rank(ImplicitLocOpBuilder &b,
            function_ref<void(ImplicitLocOpBuilder &, Value t, Value j,
                              Value e, Value rank)>
                rankOne) {
    forEachChunk(b, [&](ImplicitLocOpBuilder &b, Value c, Value j, Value t0,
                        Value t1) {
      forLoop(b, t0, t1, [&](ImplicitLocOpBuilder &b, Value t) {
        Value e =
            toIndex(b, memref::LoadOp::create(b, indices, ValueRange{t, j}));
        rankOne(b, t, j, e, bump(b, c, e));
      });
    });
  }

private:
  /// In parallel over chunks c = j·tokenChunks + tc: body(c, j, t0, t1) for
  /// the chunk's tokens [t0, t1) of choice j.
  void forEachChunk(ImplicitLocOpBuilder &b,
                    function_ref<void(ImplicitLocOpBuilder &, Value c, Value j,
                                      Value t0, Value t1)>
                        body) {
    parallelLoop(b, ValueRange{topK, tokenChunks},
                 [&](ImplicitLocOpBuilder &b, ValueRange ivs) {
                   Value j = ivs[0], tc = ivs[1];
                   Value c = arith::AddIOp::create(
                       b, arith::MulIOp::create(b, j, tokenChunks), tc);
                   Value t0 = arith::MulIOp::create(b, tc, chunkSize);
                   Value t1 = arith::MinUIOp::create(
                       b, arith::AddIOp::create(b, t0, chunkSize), numTokens);
                   body(b, c, j, t0, t1);
                 });
  }

  /// cursor[c, e] += 1, returning the old value.
  Value bump(ImplicitLocOpBuilder &b, Value c, Value e) {
    Value n = memref::LoadOp::create(b, cursor, ValueRange{c, e});
    memref::StoreOp::create(b, arith::AddIOp::create(b, n, constI32(b, 1)),
                            cursor, ValueRange{c, e});
    return n;
  }

  Value indices, numTokens, topK, experts, chunkSize, tokenChunks, cursor;
};

/// dst[dstRow..., :] = src[srcRow, :] over the last dimension of size n.
void copyRow(ImplicitLocOpBuilder &b, Value src, Value srcRow, Value dst,
             ValueRange dstPrefix, Value n) {
  forLoop(b, constIndex(b, 0), n, [&](ImplicitLocOpBuilder &b, Value d) {
    Value v = memref::LoadOp::create(b, src, ValueRange{srcRow, d});
    SmallVector<Value> at(dstPrefix);
    at.push_back(d);
    memref::StoreOp::create(b, v, dst, at);
  });
}

/// Lowers a sorted dispatch (moe.dispatch_sorted or moe.sort_assignments),
/// whose results are a [T·k, ...] buffer (the rows or their sources), then
/// the offsets, positions and counts: `keep(buffer, t, pos)` fills the
/// buffer's row `pos` for each kept assignment of token t.
template <typename OpTy>
void lowerSortedLayout(
    RewriterBase &rewriter, OpTy op,
    function_ref<void(ImplicitLocOpBuilder &, Value buffer, Value t, Value pos)>
        keep) {
  rewriter.setInsertionPoint(op);
  ImplicitLocOpBuilder b(op.getLoc(), rewriter);
  Value indices = readBuffer(b, op.getIndices());
  Value numTokens = dim(b, indices, 0);
  auto bufferType = cast<RankedTensorType>(op->getResult(0).getType());
  SmallVector<Value> bufferSizes, posSizes;
  if (bufferType.isDynamicDim(0))
    bufferSizes.push_back(
        arith::MulIOp::create(b, numTokens, dim(b, indices, 1)));
  if (op.getPositions().getType().isDynamicDim(0))
    posSizes.push_back(numTokens);
  Value buffer = allocBuffer(b, bufferType, bufferSizes);
  Value positions = allocBuffer(b, op.getPositions().getType(), posSizes);
  Value offsets = allocBuffer(b, op.getOffsets().getType(), {});
  Value counts = allocBuffer(b, op.getCounts().getType(), {});
  // Counting sort: ranks per chunk, then an exclusive scan of the kept
  // counts into segment offsets.
  int64_t numExperts = op.getCounts().getType().getDimSize(0);
  Value capacity = op.getCapacity();
  Value zero = constIndex(b, 0);
  PriorityRanking ranking(b, indices, numExperts, counts);
  memref::StoreOp::create(b, constI32(b, 0), offsets, ValueRange{zero});
  reduceLoop(b, zero, constIndex(b, numExperts), ValueRange{constI32(b, 0)},
             [&](ImplicitLocOpBuilder &b, Value e, ValueRange acc) {
               Value kept = memref::LoadOp::create(b, counts, ValueRange{e});
               if (capacity)
                 kept = arith::MinSIOp::create(b, kept, toI32(b, capacity));
               Value end = arith::AddIOp::create(b, acc[0], kept);
               Value next = arith::AddIOp::create(b, e, constIndex(b, 1));
               memref::StoreOp::create(b, end, offsets, ValueRange{next});
               return SmallVector<Value>{end};
             });
  ranking.rank(b, [&](ImplicitLocOpBuilder &b, Value t, Value j, Value e,
                      Value c) {
    Value begin = memref::LoadOp::create(b, offsets, ValueRange{e});
    Value end = memref::LoadOp::create(
        b, offsets, ValueRange{arith::AddIOp::create(b, e, constIndex(b, 1))});
    Value pos = arith::AddIOp::create(b, begin, c);
    Value fits = arith::CmpIOp::create(b, arith::CmpIPredicate::slt, pos, end);
    ifThenElse(
        b, fits,
        [&](ImplicitLocOpBuilder &b) {
          memref::StoreOp::create(b, pos, positions, ValueRange{t, j});
          keep(b, buffer, t, toIndex(b, pos));
        },
        [&](ImplicitLocOpBuilder &b) {
          memref::StoreOp::create(b, constI32(b, -1), positions,
                                  ValueRange{t, j});
        });
  });
  rewriter.replaceOp(
      op, ValueRange{asResult(b, buffer, bufferType),
                     asResult(b, offsets, op.getOffsets().getType()),
                     asResult(b, positions, op.getPositions().getType()),
                     asResult(b, counts, op.getCounts().getType())});
}

/// Lowers a padded dispatch (moe.dispatch_capacity or moe.assign_slots),
/// whose results are an [E, C, ...] buffer (the rows or their sources; a
/// static C bounds the slots, whatever the capacity operand says), then the
/// slots (-1 when dropped) and the counts: `keep(buffer, t, e, slot)` fills
/// the buffer's slot for each kept assignment of token t.
template <typename OpTy>
void lowerSlotLayout(RewriterBase &rewriter, OpTy op,
                     function_ref<void(ImplicitLocOpBuilder &, Value buffer,
                                       Value t, Value e, Value slot)>
                         keep) {
  rewriter.setInsertionPoint(op);
  ImplicitLocOpBuilder b(op.getLoc(), rewriter);
  Value indices = readBuffer(b, op.getIndices());
  Value capacity = op.getCapacity();
  auto bufferType = cast<RankedTensorType>(op->getResult(0).getType());
  if (!bufferType.isDynamicDim(1))
    capacity = arith::MinSIOp::create(b, capacity,
                                      constIndex(b, bufferType.getDimSize(1)));
  SmallVector<Value> bufferSizes, slotSizes;
  if (bufferType.isDynamicDim(1))
    bufferSizes.push_back(capacity);
  if (op.getSlots().getType().isDynamicDim(0))
    slotSizes.push_back(dim(b, indices, 0));
  Value buffer = allocBuffer(b, bufferType, bufferSizes);
  Value slots = allocBuffer(b, op.getSlots().getType(), slotSizes);
  Value counts = allocBuffer(b, op.getCounts().getType(), {});
  // The pass admits static E only (MoEToLoopsPass.cpp).
  int64_t numExperts = op.getCounts().getType().getDimSize(0);
  PriorityRanking(b, indices, numExperts, counts)
      .rank(b, [&](ImplicitLocOpBuilder &b, Value t, Value j, Value e,
                   Value slot) {
        Value fits = arith::CmpIOp::create(b, arith::CmpIPredicate::slt,
                                           toIndex(b, slot), capacity);
        ifThenElse(
            b, fits,
            [&](ImplicitLocOpBuilder &b) {
              memref::StoreOp::create(b, slot, slots, ValueRange{t, j});
              keep(b, buffer, t, e, toIndex(b, slot));
            },
            [&](ImplicitLocOpBuilder &b) {
              memref::StoreOp::create(b, constI32(b, -1), slots,
                                      ValueRange{t, j});
            });
      });
  rewriter.replaceOp(op,
                     ValueRange{asResult(b, buffer, bufferType),
                                asResult(b, slots, op.getSlots().getType()),
                                asResult(b, counts, op.getCounts().getType())});
}

} // namespace

void lowering::lowerDispatchCapacity(RewriterBase &rewriter,
                                     DispatchCapacityOp op) {
  rewriter.setInsertionPoint(op);
  ImplicitLocOpBuilder b(op.getLoc(), rewriter);
  Value x = readBuffer(b, op.getHidden());
  Value hidden = dim(b, x, 1);
  lowerSlotLayout(
      rewriter, op,
      [&](ImplicitLocOpBuilder &b, Value buffer, Value t, Value e, Value slot) {
        copyRow(b, x, t, buffer, ValueRange{e, slot}, hidden);
      });
}

void lowering::lowerAssignSlots(RewriterBase &rewriter, AssignSlotsOp op) {
  lowerSlotLayout(
      rewriter, op,
      [&](ImplicitLocOpBuilder &b, Value sources, Value t, Value e,
          Value slot) {
        memref::StoreOp::create(b, toI32(b, t), sources, ValueRange{e, slot});
      });
}

void lowering::lowerDispatchSorted(RewriterBase &rewriter,
                                   DispatchSortedOp op) {
  rewriter.setInsertionPoint(op);
  ImplicitLocOpBuilder b(op.getLoc(), rewriter);
  Value x = readBuffer(b, op.getHidden());
  Value hidden = dim(b, x, 1);
  lowerSortedLayout(
      rewriter, op,
      [&](ImplicitLocOpBuilder &b, Value rows, Value t, Value pos) {
        copyRow(b, x, t, rows, ValueRange{pos}, hidden);
      });
}

void lowering::lowerSortAssignments(RewriterBase &rewriter,
                                    SortAssignmentsOp op) {
  lowerSortedLayout(
      rewriter, op,
      [&](ImplicitLocOpBuilder &b, Value sources, Value t, Value pos) {
        memref::StoreOp::create(b, toI32(b, t), sources, ValueRange{pos});
      });
}
