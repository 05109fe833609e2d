//===- SplitDotProductsAcrossLanes.cpp - a warp per float reduction -------===//
//
// Part of moec. Implements moe-split-dot-products-across-lanes: a flat
// parallel loop whose iterations each sum a long loop (routing's logits:
// x[t] · wg[e] over D) would run each sum serially in one thread, one
// dependent load and add per element. Split across the 32 lanes of a warp,
// each lane sums every 32nd element, a shuffle butterfly adds the partial
// sums, and lane 0 runs what follows: 32 loads in flight per sum instead of
// one, and a warp's loads of one row coalesced.
//
//===----------------------------------------------------------------------===//

#include "ParallelLoopMapping.h"

#include "moec/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOESPLITDOTPRODUCTSACROSSLANES
#include "moec/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

constexpr int64_t kWarpSize = 32;

/// True when `op` may read memory but writes none and holds no region.
bool onlyReads(Operation *op) {
  if (op->getNumRegions())
    return false;
  if (isMemoryEffectFree(op))
    return true;
  auto effects = dyn_cast<MemoryEffectOpInterface>(op);
  return effects && effects.onlyHasEffect<MemoryEffects::Read>();
}

/// The one float sum of a loop body that can be split: the `for` carries a
/// single float, adds into it with a reassociable addf (so the lanes may sum
/// in another order), and its body and the ops before it only read memory.
scf::ForOp matchSum(scf::ParallelOp par) {
  if (!isFlatParallelLoop(par))
    return {};
  Block *body = par.getBody();
  scf::ForOp loop;
  for (Operation &op : body->without_terminator()) {
    if (loop)
      continue; // After the sum: anything, run by lane 0 alone.
    if ((loop = dyn_cast<scf::ForOp>(op)))
      continue;
    if (!onlyReads(&op))
      return {};
  }
  if (!loop || loop.getNumRegionIterArgs() != 1 ||
      !isa<FloatType>(loop.getResult(0).getType()))
    return {};
  // A static trip count under a warp's would leave lanes idle.
  if (std::optional<APInt> trips = loop.getStaticTripCount();
      trips && trips->ult(kWarpSize))
    return {};
  Value acc = loop.getRegionIterArg(0);
  auto add = loop.getYieldedValues()[0].getDefiningOp<arith::AddFOp>();
  if (!add || !acc.hasOneUse() ||
      (add.getLhs() != acc && add.getRhs() != acc) ||
      !arith::bitEnumContainsAll(add.getFastmath(),
                                 arith::FastMathFlags::reassoc))
    return {};
  WalkResult writes = loop.getBody()->walk([](Operation *op) {
    if (isa<scf::YieldOp>(op) || onlyReads(op))
      return WalkResult::advance();
    return WalkResult::interrupt();
  });
  if (writes.wasInterrupted())
    return {};
  return loop;
}

/// Rewrites `par` (dims i_0 .. i_n) as blocks over i_0 .. i_n, the last in
/// steps of `warps`, each holding `warps` x 32 threads: warp w takes
/// i_n + w, lane l sums elements l, l + 32, ... of its iteration's sum.
LogicalResult split(scf::ParallelOp par, scf::ForOp loop, int64_t warps) {
  OpBuilder b(par);
  Location loc = par.getLoc();
  unsigned rank = par.getNumLoops();
  auto cst = [&](OpBuilder &b, int64_t v) -> Value {
    return arith::ConstantIndexOp::create(b, loc, v);
  };
  SmallVector<Value> steps(par.getStep());
  Value lastStep = steps.back();
  steps.back() = arith::MulIOp::create(b, loc, lastStep, cst(b, warps));
  auto blocks = scf::ParallelOp::create(b, loc, par.getLowerBound(),
                                        par.getUpperBound(), steps);
  b.setInsertionPointToStart(blocks.getBody());
  auto threads =
      scf::ParallelOp::create(b, loc, ValueRange{cst(b, 0), cst(b, 0)},
                              ValueRange{cst(b, warps), cst(b, kWarpSize)},
                              ValueRange{cst(b, 1), cst(b, 1)});
  const gpu::Processor grid[] = {gpu::Processor::BlockX, gpu::Processor::BlockY,
                                 gpu::Processor::BlockZ};
  if (failed(mapParallelLoop(blocks, ArrayRef(grid).take_front(rank))) ||
      failed(mapParallelLoop(
          threads, {gpu::Processor::ThreadY, gpu::Processor::ThreadX})))
    return failure();

  b.setInsertionPointToStart(threads.getBody());
  Value warp = threads.getInductionVars()[0];
  Value lane = threads.getInductionVars()[1];
  IRMapping ivs;
  for (unsigned i = 0; i + 1 < rank; ++i)
    ivs.map(par.getInductionVars()[i], blocks.getInductionVars()[i]);
  Value last =
      arith::AddIOp::create(b, loc, blocks.getInductionVars().back(),
                            arith::MulIOp::create(b, loc, warp, lastStep));
  ivs.map(par.getInductionVars().back(), last);
  // The guard is the same for a warp's 32 lanes: they shuffle together.
  Value inRange = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, last,
                                        par.getUpperBound().back());
  auto guard = scf::IfOp::create(b, loc, inRange, /*withElse=*/false);
  b.setInsertionPointToStart(guard.thenBlock());

  Block *body = par.getBody();
  auto it = body->begin();
  for (; &*it != loop.getOperation(); ++it)
    b.clone(*it, ivs);
  // Lane l: elements lb + l·step, stepping 32·step; lane 0 starts from the
  // sum's initial value, the others from zero.
  Value step = ivs.lookupOrDefault(loop.getStep());
  Value lb =
      arith::AddIOp::create(b, loc, ivs.lookupOrDefault(loop.getLowerBound()),
                            arith::MulIOp::create(b, loc, lane, step));
  Value wideStep = arith::MulIOp::create(b, loc, step, cst(b, kWarpSize));
  Value isLane0 =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, lane, cst(b, 0));
  Type type = loop.getResult(0).getType();
  Value init = arith::SelectOp::create(
      b, loc, isLane0, ivs.lookupOrDefault(loop.getInitArgs()[0]),
      arith::ConstantOp::create(b, loc, b.getZeroAttr(type)));
  auto partial =
      scf::ForOp::create(b, loc, lb, ivs.lookupOrDefault(loop.getUpperBound()),
                         wideStep, ValueRange{init});
  ivs.map(loop.getInductionVar(), partial.getInductionVar());
  ivs.map(loop.getRegionIterArg(0), partial.getRegionIterArg(0));
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(partial.getBody());
    if (!partial.getBody()->empty())
      partial.getBody()->getTerminator()->erase();
    for (Operation &op : *loop.getBody())
      b.clone(op, ivs);
  }
  auto add = cast<arith::AddFOp>(loop.getYieldedValues()[0].getDefiningOp());
  Value sum = partial.getResult(0);
  for (int64_t offset = kWarpSize / 2; offset > 0; offset /= 2) {
    Value other = gpu::ShuffleOp::create(b, loc, sum, offset, kWarpSize,
                                         gpu::ShuffleMode::XOR)
                      .getShuffleResult();
    sum = arith::AddFOp::create(b, loc, sum, other, add.getFastmathAttr());
  }
  ivs.map(loop.getResult(0), sum);

  auto lane0 = scf::IfOp::create(b, loc, isLane0, /*withElse=*/false);
  b.setInsertionPointToStart(lane0.thenBlock());
  for (++it; it != body->end() && &*it != body->getTerminator(); ++it)
    b.clone(*it, ivs);
  par.erase();
  return success();
}

struct MoESplitDotProductsAcrossLanesPass
    : public moe::impl::MoESplitDotProductsAcrossLanesBase<
          MoESplitDotProductsAcrossLanesPass> {
  using Base::Base;

  LogicalResult initialize(MLIRContext *ctx) override {
    if (warpsPerBlock < 1 || warpsPerBlock > 32)
      return emitError(UnknownLoc::get(ctx))
             << "moe-split-dot-products-across-lanes: warps-per-block must "
                "be in [1, 32] (1024 threads, a CUDA block's limit), got "
             << warpsPerBlock.getValue();
    return success();
  }

  void runOnOperation() override {
    SmallVector<std::pair<scf::ParallelOp, scf::ForOp>> sums;
    getOperation().walk([&](scf::ParallelOp par) {
      if (par.getNumLoops() > 3)
        return;
      if (scf::ForOp loop = matchSum(par))
        sums.push_back({par, loop});
    });
    for (auto [par, loop] : sums) {
      if (failed(split(par, loop, warpsPerBlock)))
        return signalPassFailure();
      ++numSplit;
    }
  }
};

} // namespace
