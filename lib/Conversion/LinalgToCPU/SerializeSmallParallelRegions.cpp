//===- SerializeSmallParallelRegions.cpp - if(work) on omp.parallel -------===//
//
// Part of moec. Implements moe-serialize-small-parallel-regions: an OpenMP
// parallel region whose estimated work is small runs on the calling thread,
// since waking and joining a team costs more than a second thread saves.
//
//===----------------------------------------------------------------------===//

#include "moec/Conversion/Passes.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/IR/Matchers.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOESERIALIZESMALLPARALLELREGIONS
#include "moec/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;

namespace {

/// Builds, before `region`, the number of operations it executes, or fails
/// where a loop's trip count cannot be bounded from outside it.
class WorkEstimate : public OpBuilder::Listener {
public:
  WorkEstimate(omp::ParallelOp region)
      : Parallel(region), B(region.getLoc(), region) {
    B.setListener(this);
  }

  FailureOr<OpFoldResult> ofBlock(Block &block) {
    return sum(block, [&](Operation &op) { return ofOp(op); });
  }

  /// Erases what the estimate built (it failed, or is a constant).
  void discard() {
    for (Operation *op : llvm::reverse(Built))
      op->erase();
    Built.clear();
  }

private:
  void notifyOperationInserted(Operation *op, OpBuilder::InsertPoint) override {
    Built.push_back(op);
  }

  /// The sum of work(item) over `items`, or failure if one fails.
  template <typename Range, typename Fn>
  FailureOr<OpFoldResult> sum(Range &&items, Fn work) {
    OpFoldResult total = B.getIndexAttr(0);
    for (auto &item : items) {
      FailureOr<OpFoldResult> w = work(item);
      if (failed(w))
        return failure();
      total = add(total, *w);
    }
    return total;
  }

  FailureOr<OpFoldResult> ofOp(Operation &op) {
    if (op.hasTrait<OpTrait::IsTerminator>())
      return OpFoldResult(B.getIndexAttr(0));
    if (auto loop = dyn_cast<scf::ForOp>(op))
      return loopWork({loop.getLowerBound()}, {loop.getUpperBound()},
                      {loop.getStep()}, *loop.getBody());
    if (auto nest = dyn_cast<omp::LoopNestOp>(op))
      return loopWork(nest.getLoopLowerBounds(), nest.getLoopUpperBounds(),
                      nest.getLoopSteps(), nest.getRegion().front());
    if (isa<scf::IfOp, scf::IndexSwitchOp, memref::AllocaScopeOp,
            omp::WsloopOp>(op))
      return sum(op.getRegions(), [&](Region &r) {
        return sum(r, [&](Block &block) { return ofBlock(block); });
      });
    if (op.getNumRegions())
      return failure();
    // A vector operation does its elements' work.
    int64_t elements = 1;
    for (Type t : llvm::concat<Type>(op.getOperandTypes(), op.getResultTypes()))
      if (auto v = dyn_cast<VectorType>(t))
        elements = std::max(elements, v.getNumElements());
    return OpFoldResult(B.getIndexAttr(elements));
  }

  FailureOr<OpFoldResult> loopWork(ValueRange lbs, ValueRange ubs,
                                   ValueRange steps, Block &body) {
    FailureOr<OpFoldResult> work = ofBlock(body);
    if (failed(work))
      return failure();
    for (auto [lb, ub, step] : llvm::zip(lbs, ubs, steps)) {
      FailureOr<OpFoldResult> trips = tripCount(lb, ub, step);
      if (failed(trips))
        return failure();
      work = mul(*work, *trips);
    }
    return work;
  }

  /// ceil((ub - lb) / step), 0 if ub < lb; or ceil(c / step) for
  /// ub = min(lb + c, x), a chunk of a range.
  FailureOr<OpFoldResult> tripCount(Value lb, Value ub, Value step) {
    std::optional<int64_t> constStep = getConstantIntValue(step);
    if (std::optional<int64_t> span = chunkSpan(lb, ub);
        span && constStep && *constStep > 0)
      return OpFoldResult(B.getIndexAttr(llvm::divideCeil(*span, *constStep)));
    if (!isOutside(lb) || !isOutside(ub) || !isOutside(step))
      return failure();
    std::optional<int64_t> l = getConstantIntValue(lb),
                           u = getConstantIntValue(ub);
    if (l && u && constStep && *constStep > 0)
      return OpFoldResult(
          B.getIndexAttr(std::max<int64_t>(0, llvm::divideCeil(*u - *l,
                                                               *constStep))));
    Value span = arith::MaxSIOp::create(B, arith::SubIOp::create(B, ub, lb),
                                        arith::ConstantIndexOp::create(B, 0));
    if (constStep == 1)
      return OpFoldResult(span);
    return OpFoldResult(arith::CeilDivSIOp::create(B, span, step).getResult());
  }

  /// c where ub is min(lb + c, x) or min(x, lb + c) for a constant c >= 0.
  static std::optional<int64_t> chunkSpan(Value lb, Value ub) {
    Operation *min = ub.getDefiningOp();
    if (!isa_and_nonnull<arith::MinUIOp, arith::MinSIOp>(min))
      return std::nullopt;
    for (Value side : min->getOperands()) {
      auto add = side.getDefiningOp<arith::AddIOp>();
      if (!add)
        continue;
      Value other = add.getLhs() == lb   ? add.getRhs()
                    : add.getRhs() == lb ? add.getLhs()
                                         : Value();
      std::optional<int64_t> c =
          other ? getConstantIntValue(other) : std::nullopt;
      if (c && *c >= 0)
        return c;
    }
    return std::nullopt;
  }

  bool isOutside(Value v) {
    return !Parallel.getRegion().isAncestor(v.getParentRegion());
  }

  OpFoldResult add(OpFoldResult x, OpFoldResult y) {
    std::optional<int64_t> a = getConstantIntValue(x), b = getConstantIntValue(y);
    if (a && b)
      return B.getIndexAttr(*a + *b);
    if (a == 0)
      return y;
    if (b == 0)
      return x;
    return arith::AddIOp::create(B, value(x), value(y)).getResult();
  }

  OpFoldResult mul(OpFoldResult x, OpFoldResult y) {
    std::optional<int64_t> a = getConstantIntValue(x), b = getConstantIntValue(y);
    if (a && b)
      return B.getIndexAttr(*a * *b);
    if (a == 1)
      return y;
    if (b == 1)
      return x;
    return arith::MulIOp::create(B, value(x), value(y)).getResult();
  }

  Value value(OpFoldResult v) {
    return getValueOrCreateConstantIndexOp(B, B.getLoc(), v);
  }

  omp::ParallelOp Parallel;
  ImplicitLocOpBuilder B;
  SmallVector<Operation *> Built;
};

struct MoESerializeSmallParallelRegionsPass
    : public moe::impl::MoESerializeSmallParallelRegionsBase<
          MoESerializeSmallParallelRegionsPass> {
  using Base::Base;

  LogicalResult initialize(MLIRContext *ctx) override {
    if (minWork < 0)
      return emitError(UnknownLoc::get(ctx))
             << "moe-serialize-small-parallel-regions: min-work must not be "
                "negative";
    return success();
  }

  void runOnOperation() override {
    getOperation()->walk([&](omp::ParallelOp region) {
      if (region.getIfExpr())
        return;
      WorkEstimate estimate(region);
      FailureOr<OpFoldResult> work = estimate.ofBlock(region.getRegion().front());
      if (failed(work))
        return estimate.discard();
      ImplicitLocOpBuilder b(region.getLoc(), region);
      if (std::optional<int64_t> w = getConstantIntValue(*work)) {
        estimate.discard();
        if (*w >= minWork)
          return;
        region.getIfExprMutable().assign(
            arith::ConstantIntOp::create(b, b.getI1Type(), 0));
        ++numSerial;
        return;
      }
      Value big = arith::CmpIOp::create(
          b, arith::CmpIPredicate::uge, cast<Value>(*work),
          arith::ConstantIndexOp::create(b, minWork));
      region.getIfExprMutable().assign(big);
      ++numGuarded;
    });
  }
};

} // namespace
