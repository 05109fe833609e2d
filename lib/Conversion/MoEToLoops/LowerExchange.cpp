//===- LowerExchange.cpp - all-to-all as runtime calls, segment reorder ---===//
//
// Part of moec. moe.all_to_all becomes calls into the runtime's communicator
// (docs/abi.md): the counts (unless known), then the rows into a buffer sized
// by them. The runtime returns the receive size, so the host never reads the
// counts itself: on a GPU they live in device memory. moe.transpose_segments
// becomes scalar copy loops.
//
//===----------------------------------------------------------------------===//

#include "LoweringUtils.h"
#include "Lowerings.h"

#include "moert/abi.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::lowering;

namespace {

/// The private declaration of runtime function `name`, created on first use
/// with the C memref interface the runtime implements.
func::FuncOp runtimeFunction(ImplicitLocOpBuilder &b, Operation *user,
                             StringRef name, TypeRange args,
                             TypeRange results = {}) {
  auto module = user->getParentOfType<ModuleOp>();
  if (auto fn = module.lookupSymbol<func::FuncOp>(name))
    return fn;
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(module.getBody());
  auto fn = func::FuncOp::create(b, name, b.getFunctionType(args, results));
  fn.setPrivate();
  fn->setAttr("llvm.emit_c_interface", b.getUnitAttr());
  return fn;
}

/// `buffer` as a memref with a dynamic dim 0 (rank 1) or unranked.
Value castDynamic(ImplicitLocOpBuilder &b, Value buffer) {
  auto type = cast<MemRefType>(buffer.getType());
  return memref::CastOp::create(
      b, MemRefType::get({ShapedType::kDynamic}, type.getElementType()),
      buffer);
}
Value castUnranked(ImplicitLocOpBuilder &b, Value buffer) {
  auto type = cast<MemRefType>(buffer.getType());
  return memref::CastOp::create(
      b, UnrankedMemRefType::get(type.getElementType(), 0), buffer);
}

/// "f32", "i32", ... as the runtime's exchange functions are suffixed.
std::string dtypeSuffix(Type element) {
  std::string s;
  llvm::raw_string_ostream os(s);
  element.print(os);
  return s;
}

int64_t stageCode(A2AStage stage) {
  switch (stage) {
  case A2AStage::Flat:
    return static_cast<int64_t>(moert::abi::CommStage::Flat);
  case A2AStage::IntraNode:
    return static_cast<int64_t>(moert::abi::CommStage::IntraNode);
  case A2AStage::InterNode:
    return static_cast<int64_t>(moert::abi::CommStage::InterNode);
  }
  llvm_unreachable("unknown stage");
}

} // namespace

void lowering::lowerAllToAll(RewriterBase &rewriter, AllToAllOp op) {
  rewriter.setInsertionPoint(op);
  ImplicitLocOpBuilder b(op.getLoc(), rewriter);
  Value stage =
      arith::ConstantIntOp::create(b, stageCode(op.getStage()), 64);
  Value sendCounts = readBuffer(b, op.getSendCounts());
  auto countsType = cast<RankedTensorType>(op.getRecvCounts().getType());
  auto receivedType = cast<RankedTensorType>(op.getReceived().getType());
  Value payload = readBuffer(b, op.getPayload());
  Value recvCountsTensor = op.getKnownRecvCounts();
  Value recvCounts;
  // The rows to receive, as the runtime reports them (i64).
  Value total;
  if (recvCountsTensor) {
    recvCounts = readBuffer(b, recvCountsTensor);
    if (receivedType.isDynamicDim(0)) {
      Value dynRecv = castDynamic(b, recvCounts);
      func::FuncOp sum = runtimeFunction(b, op, moert::abi::kCommTotalSymbol,
                                         {stage.getType(), dynRecv.getType()},
                                         {b.getI64Type()});
      total =
          func::CallOp::create(b, sum, ValueRange{stage, dynRecv}).getResult(0);
    }
  } else {
    recvCounts = allocBuffer(b, countsType, {});
    Value dynSend = castDynamic(b, sendCounts);
    Value dynRecv = castDynamic(b, recvCounts);
    func::FuncOp counts =
        runtimeFunction(b, op, moert::abi::kCommCountsSymbol,
                        {stage.getType(), dynSend.getType(), dynRecv.getType()},
                        {b.getI64Type()});
    total = func::CallOp::create(b, counts, ValueRange{stage, dynSend, dynRecv})
                .getResult(0);
    recvCountsTensor = asResult(b, recvCounts, countsType);
  }

  SmallVector<Value> sizes;
  if (receivedType.isDynamicDim(0))
    sizes.push_back(arith::IndexCastOp::create(b, b.getIndexType(), total));
  Value received = allocBuffer(b, receivedType, sizes);
  Value from = castUnranked(b, payload);
  Value into = castUnranked(b, received);
  Value dynSend = castDynamic(b, sendCounts);
  Value dynRecv = castDynamic(b, recvCounts);
  std::string name = std::string(moert::abi::kCommExchangePrefix) +
                     dtypeSuffix(receivedType.getElementType());
  func::FuncOp exchange =
      runtimeFunction(b, op, name,
                      {stage.getType(), from.getType(), dynSend.getType(),
                       into.getType(), dynRecv.getType()});
  func::CallOp::create(b, exchange,
                       ValueRange{stage, from, dynSend, into, dynRecv});
  rewriter.replaceOp(op, {asResult(b, received, receivedType),
                          recvCountsTensor});
}

void lowering::lowerTransposeSegments(RewriterBase &rewriter,
                                      TransposeSegmentsOp op) {
  rewriter.setInsertionPoint(op);
  ImplicitLocOpBuilder b(op.getLoc(), rewriter);
  auto rowsType = cast<RankedTensorType>(op.getRows().getType());
  auto countsType = cast<RankedTensorType>(op.getCounts().getType());
  Value rows = readBuffer(b, op.getRows());
  Value counts = readBuffer(b, op.getCounts());
  SmallVector<Value> sizes;
  if (rowsType.isDynamicDim(0))
    sizes.push_back(dim(b, rows, 0));
  Value out = allocBuffer(b, rowsType, sizes);
  auto offsetsType = cast<RankedTensorType>(op.getGroupOffsets().getType());
  Value offsets = allocBuffer(b, offsetsType, {});
  Value starts = allocBuffer(b, countsType, {});
  Value zero = constIndex(b, 0);
  Value numA = constIndex(b, countsType.getDimSize(0));
  Value numB = constIndex(b, countsType.getDimSize(1));
  // Rows of a rank-1 tensor are single elements.
  bool scalarRows = rowsType.getRank() == 1;
  Value width = constIndex(b, scalarRows ? 1 : rowsType.getDimSize(1));

  // Where segment (a, b) starts in the result: groups b in order, a within.
  Value end =
      reduceLoop(b, zero, numB, {constI32(b, 0)},
                 [&](ImplicitLocOpBuilder &b, Value gb, ValueRange acc) {
                   memref::StoreOp::create(b, acc[0], offsets, ValueRange{gb});
                   return SmallVector<Value>(reduceLoop(
                       b, zero, numA, acc,
                       [&](ImplicitLocOpBuilder &b, Value ga, ValueRange acc) {
                         memref::StoreOp::create(b, acc[0], starts,
                                                 ValueRange{ga, gb});
                         Value n = memref::LoadOp::create(b, counts,
                                                          ValueRange{ga, gb});
                         return SmallVector<Value>{
                             arith::AddIOp::create(b, acc[0], n)};
                       }));
                 })[0];
  memref::StoreOp::create(b, end, offsets, ValueRange{numB});

  // Copy each segment, reading the input in (a, b) order.
  reduceLoop(
      b, zero, numA, {zero},
      [&](ImplicitLocOpBuilder &b, Value ga, ValueRange acc) {
        return SmallVector<Value>(reduceLoop(
            b, zero, numB, acc,
            [&](ImplicitLocOpBuilder &b, Value gb, ValueRange acc) {
              Value n = toIndex(
                  b, memref::LoadOp::create(b, counts, ValueRange{ga, gb}));
              Value to = toIndex(
                  b, memref::LoadOp::create(b, starts, ValueRange{ga, gb}));
              Value from = acc[0];
              forLoop(b, zero, n, [&](ImplicitLocOpBuilder &b, Value r) {
                Value src = arith::AddIOp::create(b, from, r);
                Value dst = arith::AddIOp::create(b, to, r);
                if (scalarRows) {
                  Value v = memref::LoadOp::create(b, rows, ValueRange{src});
                  memref::StoreOp::create(b, v, out, ValueRange{dst});
                  return;
                }
                forLoop(b, zero, width, [&](ImplicitLocOpBuilder &b, Value d) {
                  Value v = memref::LoadOp::create(b, rows, ValueRange{src, d});
                  memref::StoreOp::create(b, v, out, ValueRange{dst, d});
                });
              });
              return SmallVector<Value>{arith::AddIOp::create(b, from, n)};
            }));
      });
  rewriter.replaceOp(op, {asResult(b, out, rowsType),
                          asResult(b, offsets, offsetsType)});
}
