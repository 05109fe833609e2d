//===- ExpertParallel.cpp - shard experts over ranks ----------------------===//
//
// Part of moec. Implements the moe-expert-parallel pass: each of W ranks
// keeps E/W experts and exchanges the dispatched rows with moe.all_to_all.
//
//===----------------------------------------------------------------------===//

#include "CountTensors.h"

#include "moec/Dialect/MoE/IR/MoE.h"
#include "moec/Dialect/MoE/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Utils/StructuredOpsUtils.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEEXPERTPARALLEL
#include "moec/Dialect/MoE/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

/// The attribute on a weight argument whose dim 0 holds 1/W of the experts.
constexpr StringLiteral kExpertShardsAttr = "moe.expert_shards";

/// Builds the small i32 tensor computations of the exchange.
class ExchangeBuilder {
public:
  ExchangeBuilder(OpBuilder &b, Location loc, int64_t worldSize,
                  int64_t localExperts)
      : b(b), loc(loc), worldSize(worldSize), localExperts(localExperts),
        i32(b.getI32Type()) {}

  Value splat(int64_t n, int64_t value) {
    return counts::splat(b, loc, n, value);
  }
  Value fill(int64_t n, Value value) { return counts::fill(b, loc, n, value); }

  /// v[offset : offset + size * stride : stride] of a static 1-D tensor.
  Value slice(Value v, int64_t offset, int64_t size, int64_t stride) {
    return tensor::ExtractSliceOp::create(
        b, loc, RankedTensorType::get({size}, i32), v, ValueRange{},
        ValueRange{}, ValueRange{}, b.getDenseI64ArrayAttr({offset}),
        b.getDenseI64ArrayAttr({size}), b.getDenseI64ArrayAttr({stride}));
  }

  /// hi - lo, elementwise.
  Value sub(Value hi, Value lo) {
    auto type = cast<RankedTensorType>(hi.getType());
    Value empty = tensor::EmptyOp::create(b, loc, type.getShape(), i32);
    return linalg::SubOp::create(b, loc, ValueRange{hi, lo}, ValueRange{empty})
        .getResult(0);
  }

  /// [W * L] -> [W, L] (source rank, local expert).
  Value byRank(Value v) {
    return counts::reshape(b, loc, v, worldSize, localExperts);
  }

  /// Σ_l m[w, l]: [W, L] -> [W].
  Value rowSums(Value m) { return counts::rowSums(b, loc, m); }

  /// m[w, l] = v[w] / L: [W] -> [W, L].
  Value spreadOverExperts(Value v) {
    auto type = RankedTensorType::get({worldSize, localExperts}, i32);
    Value empty = tensor::EmptyOp::create(b, loc, type.getShape(), i32);
    MLIRContext *ctx = b.getContext();
    AffineExpr w, l;
    bindDims(ctx, w, l);
    SmallVector<AffineMap> maps = {AffineMap::get(2, 0, {w}, ctx),
                                   AffineMap::get(2, 0, {w, l}, ctx)};
    int64_t experts = localExperts;
    return linalg::GenericOp::create(
               b, loc, type, ValueRange{v}, ValueRange{empty}, maps,
               {utils::IteratorType::parallel, utils::IteratorType::parallel},
               [experts](OpBuilder &nb, Location l, ValueRange args) {
                 Value divisor = arith::ConstantIntOp::create(nb, l, experts,
                                                              32);
                 Value q = arith::DivSIOp::create(nb, l, args[0], divisor);
                 linalg::YieldOp::create(nb, l, q);
               })
        .getResult(0);
  }

  /// [A, B] -> [B, A].
  Value transpose(Value m) { return counts::transpose(b, loc, m); }

  /// A flat exchange; `known` (may be null) are the counts each source
  /// sends, `receivedRows` their sum if it is known at compile time.
  AllToAllOp allToAll(Value payload, Value sendCounts, Value known,
                      int64_t receivedRows = ShapedType::kDynamic) {
    auto payloadType = cast<RankedTensorType>(payload.getType());
    SmallVector<int64_t> shape(payloadType.getShape());
    shape[0] = receivedRows;
    auto receivedType = payloadType.clone(shape);
    return AllToAllOp::create(b, loc, receivedType,
                              RankedTensorType::get({worldSize}, i32), payload,
                              sendCounts, known, b.getI64IntegerAttr(worldSize),
                              A2AStageAttr::get(b.getContext(), A2AStage::Flat),
                              IntegerAttr());
  }

  /// The local experts over the rows received from every rank: regroup them
  /// by local expert, run the experts, and restore the (source, expert)
  /// order. `counts` is [W, L].
  Value computeLocally(ExpertsOp experts, Value received, Value counts) {
    auto rowsType = cast<RankedTensorType>(received.getType());
    auto offsetsType = RankedTensorType::get({localExperts + 1}, i32);
    auto byExpert = TransposeSegmentsOp::create(b, loc, rowsType, offsetsType,
                                                received, counts);
    Value out = ExpertsOp::create(
        b, loc, rowsType, byExpert.getResult(), /*gather=*/Value(),
        byExpert.getGroupOffsets(),
        /*counts=*/Value(), experts.getWeights(), experts.getBiases(),
        /*combine=*/Value(), /*into=*/Value(), experts.getActivationAttr(),
        experts.getSwigluAlphaAttr(), experts.getSwigluLimitAttr());
    auto backOffsetsType = RankedTensorType::get({worldSize + 1}, i32);
    return TransposeSegmentsOp::create(b, loc, rowsType, backOffsetsType, out,
                                       transpose(counts))
        .getResult();
  }

private:
  OpBuilder &b;
  Location loc;
  int64_t worldSize, localExperts;
  Type i32;
};

/// Rows sorted by expert: rank r owns the experts [r·L, (r+1)·L), whose rows
/// are contiguous, so the dispatch offsets give every count.
void rewriteSorted(OpBuilder &b, DispatchSortedOp dispatch, ExpertsOp experts,
                   CombineSortedOp combine, int64_t worldSize,
                   int64_t localExperts) {
  Location loc = experts.getLoc();
  b.setInsertionPoint(experts);
  ExchangeBuilder x(b, loc, worldSize, localExperts);
  int64_t numExperts = worldSize * localExperts;
  Value offsets = dispatch.getOffsets();
  Value kept = x.sub(x.slice(offsets, 1, numExperts, 1),
                     x.slice(offsets, 0, numExperts, 1));
  Value toRank = x.sub(x.slice(offsets, localExperts, worldSize, localExperts),
                       x.slice(offsets, 0, worldSize, localExperts));
  // Every rank first learns how many rows of each of its experts come from
  // each source ([W, L]): that orders the rows by expert on arrival.
  Value perRank = x.splat(worldSize, localExperts);
  Value counts = x.byRank(
      x.allToAll(kept, perRank, perRank, numExperts).getReceived());
  Value fromRank = x.rowSums(counts);
  Value received =
      x.allToAll(dispatch.getRows(), toRank, fromRank).getReceived();
  Value results = x.computeLocally(experts, received, counts);
  Value returned = x.allToAll(results, fromRank, toRank).getReceived();
  combine.getRowsMutable().assign(returned);
  experts.erase();
}

/// The padded [E, C, D] buffer (GShard): each rank sends the [L, C, D] block
/// of every destination, padding included (a fixed-size exchange); the owner
/// computes every slot of the blocks it receives.
void rewritePadded(OpBuilder &b, DispatchCapacityOp dispatch,
                   ExpertsOp experts, CombineCapacityOp combine,
                   int64_t worldSize, int64_t localExperts) {
  Location loc = experts.getLoc();
  b.setInsertionPoint(experts);
  ExchangeBuilder x(b, loc, worldSize, localExperts);
  Value buffer = dispatch.getBuffer();
  auto bufferType = cast<RankedTensorType>(buffer.getType());
  auto rowsType = RankedTensorType::get(
      {ShapedType::kDynamic, bufferType.getDimSize(2)},
      bufferType.getElementType());
  Value rows = tensor::CollapseShapeOp::create(
      b, loc, rowsType, buffer, SmallVector<ReassociationIndices>{{0, 1}, {2}});
  Value capacity = tensor::DimOp::create(b, loc, buffer, 1);
  Value block = arith::MulIOp::create(
      b, loc, capacity, arith::ConstantIndexOp::create(b, loc, localExperts));
  Value toRank = x.fill(
      worldSize, arith::IndexCastOp::create(b, loc, b.getI32Type(), block));
  // Each source's capacity follows from how many rows it sends.
  AllToAllOp forward = x.allToAll(rows, toRank, Value());
  Value counts = x.spreadOverExperts(forward.getRecvCounts());
  Value results = x.computeLocally(experts, forward.getReceived(), counts);
  Value returned =
      x.allToAll(results, forward.getRecvCounts(), toRank).getReceived();
  SmallVector<OpFoldResult> shape = {
      b.getIndexAttr(bufferType.getDimSize(0)), capacity,
      b.getIndexAttr(bufferType.getDimSize(2))};
  Value padded = tensor::ExpandShapeOp::create(
      b, loc, bufferType, returned,
      SmallVector<ReassociationIndices>{{0, 1}, {2}}, shape);
  combine.getBufferMutable().assign(padded);
  experts.erase();
}

/// Gives the expert weights and biases of `experts` their per-rank shape
/// [E/W, ...] and marks them for the runtime's loader.
LogicalResult shardWeights(ExpertsOp experts, int64_t worldSize) {
  auto fn = experts->getParentOfType<func::FuncOp>();
  for (Value w : llvm::concat<Value>(experts.getWeights(),
                                     experts.getBiases())) {
    auto arg = dyn_cast<BlockArgument>(w);
    if (!arg || arg.getOwner() != &fn.getBody().front())
      return experts.emitOpError()
             << "moe-expert-parallel needs the expert weights to be "
                "arguments of the function (each rank loads its own experts)";
    if (!llvm::all_of(arg.getUsers(),
                      [&](Operation *user) { return user == experts; }))
      return experts.emitOpError()
             << "moe-expert-parallel: expert weight argument #"
             << arg.getArgNumber() << " has uses besides the experts";
    if (fn.getArgAttr(arg.getArgNumber(), kExpertShardsAttr))
      continue; // Weight and bias may be the same argument.
    auto type = cast<RankedTensorType>(arg.getType());
    SmallVector<int64_t> shape(type.getShape());
    shape[0] /= worldSize;
    arg.setType(type.clone(shape));
    fn.setArgAttr(arg.getArgNumber(), kExpertShardsAttr,
                  IntegerAttr::get(IntegerType::get(fn.getContext(), 64),
                                   worldSize));
  }
  fn.setType(FunctionType::get(fn.getContext(),
                               fn.getBody().front().getArgumentTypes(),
                               fn.getResultTypes()));
  return success();
}

/// Checks that `experts` can be sharded W ways; returns E / W.
FailureOr<int64_t> localExpertCount(ExpertsOp experts, Value hidden,
                                    int64_t worldSize) {
  int64_t numExperts =
      cast<RankedTensorType>(experts.getWeights()[0].getType()).getDimSize(0);
  if (numExperts % worldSize != 0)
    return experts.emitOpError()
           << "moe-expert-parallel: " << numExperts
           << " experts cannot be split evenly over world-size = " << worldSize
           << " ranks (E must be a multiple of W)";
  if (!cast<RankedTensorType>(hidden.getType()).isDynamicDim(0))
    return experts.emitOpError()
           << "moe-expert-parallel needs a dynamic token count "
              "(tensor<?x...>): each rank runs its own slice of the tokens";
  return numExperts / worldSize;
}

struct MoEExpertParallelPass
    : public moe::impl::MoEExpertParallelBase<MoEExpertParallelPass> {
  using MoEExpertParallelBase::MoEExpertParallelBase;

  void runOnOperation() override {
    if (worldSize < 1) {
      getOperation()->emitError()
          << "moe-expert-parallel: world-size must be at least 1, got "
          << worldSize;
      return signalPassFailure();
    }
    if (worldSize == 1)
      return;
    SmallVector<ExpertsOp> routed;
    WalkResult walk = getOperation()->walk([&](ExpertsOp experts) {
      Operation *producer = experts.getTokens().getDefiningOp();
      if (!isa_and_nonnull<DispatchSortedOp, DispatchCapacityOp>(producer))
        return WalkResult::advance(); // A shared expert: data-parallel.
      if (!experts->hasOneUse() ||
          !isa<CombineSortedOp, CombineCapacityOp>(
              *experts->getUsers().begin())) {
        experts.emitOpError() << "moe-expert-parallel expects the routed "
                                 "experts' only user to be their combine";
        return WalkResult::interrupt();
      }
      routed.push_back(experts);
      return WalkResult::advance();
    });
    if (walk.wasInterrupted())
      return signalPassFailure();

    OpBuilder b(&getContext());
    for (ExpertsOp experts : routed) {
      Operation *producer = experts.getTokens().getDefiningOp();
      Value hidden = producer->getOperand(0);
      FailureOr<int64_t> local = localExpertCount(experts, hidden, worldSize);
      if (failed(local) || failed(shardWeights(experts, worldSize)))
        return signalPassFailure();
      Operation *combine = *experts->getUsers().begin();
      if (auto sorted = dyn_cast<DispatchSortedOp>(producer))
        rewriteSorted(b, sorted, experts, cast<CombineSortedOp>(combine),
                      worldSize, *local);
      else
        rewritePadded(b, cast<DispatchCapacityOp>(producer), experts,
                      cast<CombineCapacityOp>(combine), worldSize, *local);
    }
  }
};

} // namespace
