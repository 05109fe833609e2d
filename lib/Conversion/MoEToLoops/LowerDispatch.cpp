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

/// The sorted layout's bookkeeping, shared by moe.dispatch_sorted and
/// moe.sort_assignments: `counts` per expert, `offsets` (the kept counts
/// scanned), and each assignment's row in `positions` (-1 when capacity
/// drops it); `keep(t, pos)` is called for each kept one.
void emitSortedLayout(
    ImplicitLocOpBuilder &b, Value indices, int64_t numExperts, Value capacity,
    Value offsets, Value positions, Value counts,
    function_ref<void(ImplicitLocOpBuilder &, Value t, Value pos)> keep) {
  Value zero = constIndex(b, 0);
  Value experts = constIndex(b, numExperts);
  // Counting sort: ranks per chunk, then an exclusive scan of the kept
  // counts into segment offsets.
  PriorityRanking ranking(b, indices, numExperts, counts);
  memref::StoreOp::create(b, constI32(b, 0), offsets, ValueRange{zero});
  reduceLoop(b, zero, experts, ValueRange{constI32(b, 0)},
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
          keep(b, t, toIndex(b, pos));
        },
        [&](ImplicitLocOpBuilder &b) {
          memref::StoreOp::create(b, constI32(b, -1), positions,
                                  ValueRange{t, j});
        });
  });
}

/// The [T, k]-shaped buffers of a sorted layout's results.
struct SortedBuffers {
  Value positions, offsets, counts;
};
SortedBuffers allocSortedBuffers(ImplicitLocOpBuilder &b, Value numTokens,
                                 RankedTensorType positionsType,
                                 RankedTensorType offsetsType,
                                 RankedTensorType countsType) {
  SmallVector<Value> posSizes;
  if (positionsType.isDynamicDim(0))
    posSizes.push_back(numTokens);
  return {allocBuffer(b, positionsType, posSizes),
          allocBuffer(b, offsetsType, {}), allocBuffer(b, countsType, {})};
}

/// The padded layout's results: the [E, C, ...] buffer a keep callback
/// fills, each assignment's slot (-1 when dropped) and each expert's count.
struct SlotLayout {
  Value layout, slots, counts;
};

/// The padded layout's bookkeeping, shared by moe.dispatch_capacity and
/// moe.assign_slots: allocates `layoutType` ([E, C, ...]; a static C bounds
/// the slots, whatever `capacity` says), the slots and the counts, ranks the
/// assignments, and calls keep(layout, t, e, slot) for each one that fits.
SlotLayout
emitSlotLayout(ImplicitLocOpBuilder &b, Value indices, Value capacity,
               RankedTensorType layoutType, RankedTensorType slotsType,
               RankedTensorType countsType,
               function_ref<void(ImplicitLocOpBuilder &, Value layout, Value t,
                                 Value e, Value slot)>
                   keep) {
  if (!layoutType.isDynamicDim(1))
    capacity = arith::MinSIOp::create(b, capacity,
                                      constIndex(b, layoutType.getDimSize(1)));
  SmallVector<Value> layoutSizes;
  if (layoutType.isDynamicDim(1))
    layoutSizes.push_back(capacity);
  SmallVector<Value> slotSizes;
  if (slotsType.isDynamicDim(0))
    slotSizes.push_back(dim(b, indices, 0));
  SlotLayout out{allocBuffer(b, layoutType, layoutSizes),
                 allocBuffer(b, slotsType, slotSizes),
                 allocBuffer(b, countsType, {})};
  // The pass admits static E only (MoEToLoopsPass.cpp).
  int64_t numExperts = countsType.getDimSize(0);
  PriorityRanking(b, indices, numExperts, out.counts)
      .rank(b, [&](ImplicitLocOpBuilder &b, Value t, Value j, Value e,
                   Value slot) {
        Value fits = arith::CmpIOp::create(b, arith::CmpIPredicate::slt,
                                           toIndex(b, slot), capacity);
        ifThenElse(
            b, fits,
            [&](ImplicitLocOpBuilder &b) {
              memref::StoreOp::create(b, slot, out.slots, ValueRange{t, j});
              keep(b, out.layout, t, e, toIndex(b, slot));
            },
            [&](ImplicitLocOpBuilder &b) {
              memref::StoreOp::create(b, constI32(b, -1), out.slots,
                                      ValueRange{t, j});
            });
      });
  return out;
}

} // namespace

void lowering::lowerDispatchCapacity(RewriterBase &rewriter,
                                     DispatchCapacityOp op) {
  rewriter.setInsertionPoint(op);
  ImplicitLocOpBuilder b(op.getLoc(), rewriter);
  Value x = readBuffer(b, op.getHidden());
  Value hidden = dim(b, x, 1);
  SlotLayout out = emitSlotLayout(
      b, readBuffer(b, op.getIndices()), op.getCapacity(),
      op.getBuffer().getType(), op.getSlots().getType(),
      op.getCounts().getType(),
      [&](ImplicitLocOpBuilder &b, Value buffer, Value t, Value e, Value slot) {
        copyRow(b, x, t, buffer, ValueRange{e, slot}, hidden);
      });
  rewriter.replaceOp(
      op, ValueRange{asResult(b, out.layout, op.getBuffer().getType()),
                     asResult(b, out.slots, op.getSlots().getType()),
                     asResult(b, out.counts, op.getCounts().getType())});
}

void lowering::lowerAssignSlots(RewriterBase &rewriter, AssignSlotsOp op) {
  rewriter.setInsertionPoint(op);
  ImplicitLocOpBuilder b(op.getLoc(), rewriter);
  SlotLayout out = emitSlotLayout(
      b, readBuffer(b, op.getIndices()), op.getCapacity(),
      op.getSources().getType(), op.getSlots().getType(),
      op.getCounts().getType(),
      [&](ImplicitLocOpBuilder &b, Value sources, Value t, Value e,
          Value slot) {
        memref::StoreOp::create(b, toI32(b, t), sources, ValueRange{e, slot});
      });
  rewriter.replaceOp(
      op, ValueRange{asResult(b, out.layout, op.getSources().getType()),
                     asResult(b, out.slots, op.getSlots().getType()),
                     asResult(b, out.counts, op.getCounts().getType())});
}

void lowering::lowerDispatchSorted(RewriterBase &rewriter,
                                   DispatchSortedOp op) {
  rewriter.setInsertionPoint(op);
  ImplicitLocOpBuilder b(op.getLoc(), rewriter);
  Value x = readBuffer(b, op.getHidden());
  Value indices = readBuffer(b, op.getIndices());
  Value numTokens = dim(b, x, 0);
  Value hidden = dim(b, x, 1);
  SmallVector<Value> rowSizes;
  if (op.getRows().getType().isDynamicDim(0))
    rowSizes.push_back(arith::MulIOp::create(b, numTokens, dim(b, indices, 1)));
  Value rows = allocBuffer(b, op.getRows().getType(), rowSizes);
  SortedBuffers out =
      allocSortedBuffers(b, numTokens, op.getPositions().getType(),
                         op.getOffsets().getType(), op.getCounts().getType());
  emitSortedLayout(b, indices, op.getCounts().getType().getDimSize(0),
                   op.getCapacity(), out.offsets, out.positions, out.counts,
                   [&](ImplicitLocOpBuilder &b, Value t, Value pos) {
                     copyRow(b, x, t, rows, ValueRange{pos}, hidden);
                   });
  rewriter.replaceOp(
      op, ValueRange{asResult(b, rows, op.getRows().getType()),
                     asResult(b, out.offsets, op.getOffsets().getType()),
                     asResult(b, out.positions, op.getPositions().getType()),
                     asResult(b, out.counts, op.getCounts().getType())});
}

void lowering::lowerSortAssignments(RewriterBase &rewriter,
                                    SortAssignmentsOp op) {
  rewriter.setInsertionPoint(op);
  ImplicitLocOpBuilder b(op.getLoc(), rewriter);
  Value indices = readBuffer(b, op.getIndices());
  Value numTokens = dim(b, indices, 0);
  SmallVector<Value> sourceSizes;
  if (op.getSources().getType().isDynamicDim(0))
    sourceSizes.push_back(
        arith::MulIOp::create(b, numTokens, dim(b, indices, 1)));
  Value sources = allocBuffer(b, op.getSources().getType(), sourceSizes);
  SortedBuffers out =
      allocSortedBuffers(b, numTokens, op.getPositions().getType(),
                         op.getOffsets().getType(), op.getCounts().getType());
  emitSortedLayout(b, indices, op.getCounts().getType().getDimSize(0),
                   op.getCapacity(), out.offsets, out.positions, out.counts,
                   [&](ImplicitLocOpBuilder &b, Value t, Value pos) {
                     memref::StoreOp::create(b, toI32(b, t), sources,
                                             ValueRange{pos});
                   });
  rewriter.replaceOp(
      op, ValueRange{asResult(b, sources, op.getSources().getType()),
                     asResult(b, out.offsets, op.getOffsets().getType()),
                     asResult(b, out.positions, op.getPositions().getType()),
                     asResult(b, out.counts, op.getCounts().getType())});
}
