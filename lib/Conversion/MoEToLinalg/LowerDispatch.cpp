//===- LowerDispatch.cpp - the two dispatch layouts as scalar loops -------===//
//
// Part of moec. Both dispatches visit assignments in priority order (choice
// j outer, token t inner), so capacity drops the same assignments in both.
// Slots and rows no assignment takes are left unwritten: no consumer reads
// them, and not touching them spares the page faults and memset of a
// mostly-empty [E, C, D] buffer.
//
//===----------------------------------------------------------------------===//

#include "LoweringUtils.h"
#include "Lowerings.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::lowering;

namespace {

/// for j in [0, k): for t in [0, T): body(t, j, e = indices[t, j]).
void forAssignmentsInPriorityOrder(
    ImplicitLocOpBuilder &b, Value indices,
    function_ref<void(ImplicitLocOpBuilder &, Value, Value, Value)> body) {
  Value zero = constIndex(b, 0);
  forLoop(b, zero, dim(b, indices, 1), [&](ImplicitLocOpBuilder &b, Value j) {
    forLoop(b, zero, dim(b, indices, 0), [&](ImplicitLocOpBuilder &b, Value t) {
      Value e =
          toIndex(b, memref::LoadOp::create(b, indices, ValueRange{t, j}));
      body(b, t, j, e);
    });
  });
}

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

/// counts[e] += 1, returning the old value.
Value bumpCounter(ImplicitLocOpBuilder &b, Value counters, Value e) {
  Value c = memref::LoadOp::create(b, counters, ValueRange{e});
  memref::StoreOp::create(b, arith::AddIOp::create(b, c, constI32(b, 1)),
                          counters, ValueRange{e});
  return c;
}

} // namespace

void lowering::lowerDispatchCapacity(RewriterBase &rewriter,
                                     DispatchCapacityOp op) {
  rewriter.setInsertionPoint(op);
  ImplicitLocOpBuilder b(op.getLoc(), rewriter);
  Value x = readBuffer(b, op.getHidden());
  Value indices = readBuffer(b, op.getIndices());
  Value capacity = op.getCapacity();
  Value hidden = dim(b, x, 1);

  RankedTensorType bufferType = op.getBuffer().getType();
  // A static C in the buffer type bounds the slots, whatever the operand says.
  if (!bufferType.isDynamicDim(1))
    capacity = arith::MinSIOp::create(
        b, capacity, constIndex(b, bufferType.getDimSize(1)));
  SmallVector<Value> bufferSizes;
  if (bufferType.isDynamicDim(1))
    bufferSizes.push_back(capacity);
  SmallVector<Value> slotSizes;
  if (op.getSlots().getType().isDynamicDim(0))
    slotSizes.push_back(dim(b, x, 0));
  Value buffer = allocBuffer(b, bufferType, bufferSizes);
  Value slots = allocBuffer(b, op.getSlots().getType(), slotSizes);
  Value counts = allocBuffer(b, op.getCounts().getType(), {});
  fillBuffer(b, counts, constI32(b, 0));

  forAssignmentsInPriorityOrder(
      b, indices, [&](ImplicitLocOpBuilder &b, Value t, Value j, Value e) {
        Value slot = bumpCounter(b, counts, e);
        Value fits = arith::CmpIOp::create(b, arith::CmpIPredicate::slt,
                                           toIndex(b, slot), capacity);
        ifThenElse(
            b, fits,
            [&](ImplicitLocOpBuilder &b) {
              memref::StoreOp::create(b, slot, slots, ValueRange{t, j});
              copyRow(b, x, t, buffer, ValueRange{e, toIndex(b, slot)}, hidden);
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

void lowering::lowerDispatchSorted(RewriterBase &rewriter,
                                   DispatchSortedOp op) {
  rewriter.setInsertionPoint(op);
  ImplicitLocOpBuilder b(op.getLoc(), rewriter);
  Value x = readBuffer(b, op.getHidden());
  Value indices = readBuffer(b, op.getIndices());
  Value zero = constIndex(b, 0);
  Value numTokens = dim(b, x, 0);
  Value hidden = dim(b, x, 1);
  int64_t numExperts = op.getCounts().getType().getDimSize(0);
  Value experts = constIndex(b, numExperts);

  SmallVector<Value> rowSizes, posSizes;
  if (op.getRows().getType().isDynamicDim(0))
    rowSizes.push_back(arith::MulIOp::create(b, numTokens, dim(b, indices, 1)));
  if (op.getPositions().getType().isDynamicDim(0))
    posSizes.push_back(numTokens);
  Value rows = allocBuffer(b, op.getRows().getType(), rowSizes);
  Value positions = allocBuffer(b, op.getPositions().getType(), posSizes);
  Value offsets = allocBuffer(b, op.getOffsets().getType(), {});
  Value counts = allocBuffer(b, op.getCounts().getType(), {});
  Value cursor = allocBuffer(b, op.getCounts().getType(), {});
  fillBuffer(b, counts, constI32(b, 0));
  fillBuffer(b, cursor, constI32(b, 0));

  // Counting sort: histogram, then exclusive scan of the kept counts.
  forAssignmentsInPriorityOrder(b, indices,
                                [&](ImplicitLocOpBuilder &b, Value, Value,
                                    Value e) { bumpCounter(b, counts, e); });
  Value capacity = op.getCapacity();
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

  forAssignmentsInPriorityOrder(
      b, indices, [&](ImplicitLocOpBuilder &b, Value t, Value j, Value e) {
        Value c = bumpCounter(b, cursor, e);
        Value begin = memref::LoadOp::create(b, offsets, ValueRange{e});
        Value end = memref::LoadOp::create(
            b, offsets,
            ValueRange{arith::AddIOp::create(b, e, constIndex(b, 1))});
        Value pos = arith::AddIOp::create(b, begin, c);
        Value fits =
            arith::CmpIOp::create(b, arith::CmpIPredicate::slt, pos, end);
        ifThenElse(
            b, fits,
            [&](ImplicitLocOpBuilder &b) {
              memref::StoreOp::create(b, pos, positions, ValueRange{t, j});
              copyRow(b, x, t, rows, ValueRange{toIndex(b, pos)}, hidden);
            },
            [&](ImplicitLocOpBuilder &b) {
              memref::StoreOp::create(b, constI32(b, -1), positions,
                                      ValueRange{t, j});
            });
      });

  rewriter.replaceOp(
      op, ValueRange{asResult(b, rows, op.getRows().getType()),
                     asResult(b, offsets, op.getOffsets().getType()),
                     asResult(b, positions, op.getPositions().getType()),
                     asResult(b, counts, op.getCounts().getType())});
}
