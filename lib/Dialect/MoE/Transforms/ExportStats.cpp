//===- ExportStats.cpp - return per-expert routing statistics -------------===//
//
// Part of moec. Implements the moe-export-stats pass.
//
//===----------------------------------------------------------------------===//

#include "moec/Dialect/MoE/IR/MoE.h"
#include "moec/Dialect/MoE/Transforms/Passes.h"
#include "moert/abi.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEEXPORTSTATS
#include "moec/Dialect/MoE/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

/// kept[e] = min(counts[e], capacity). A dropless dispatch passes T: kept is
/// then counts, but a distinct value, as a function returning one buffer
/// twice trips buffer-results-to-out-params.
Value buildKept(OpBuilder &b, Location loc, Value counts, Value capacity) {
  auto type = cast<RankedTensorType>(counts.getType());
  Value cap = arith::IndexCastOp::create(b, loc, b.getI32Type(), capacity);
  Value empty = tensor::EmptyOp::create(b, loc, type, ValueRange{});
  AffineMap id = b.getMultiDimIdentityMap(1);
  return linalg::GenericOp::create(
             b, loc, type, ValueRange{counts}, ValueRange{empty},
             ArrayRef<AffineMap>{id, id},
             ArrayRef<utils::IteratorType>{utils::IteratorType::parallel},
             [cap](OpBuilder &nb, Location l, ValueRange args) {
               Value kept = arith::MinSIOp::create(nb, l, args[0], cap);
               linalg::YieldOp::create(nb, l, kept);
             })
      .getResult(0);
}

/// The counts of a layout dispatch and the capacity its kept counts are
/// clamped to (T when dropless, built after the dispatch).
std::pair<Value, Value> countsAndCapacity(OpBuilder &b, Operation *op) {
  b.setInsertionPointAfter(op);
  if (auto d = dyn_cast<DispatchCapacityOp>(op))
    return {d.getCounts(), d.getCapacity()};
  auto s = cast<DispatchSortedOp>(op);
  Value capacity = s.getCapacity();
  if (!capacity)
    capacity = tensor::DimOp::create(b, op->getLoc(), s.getHidden(), 0);
  return {s.getCounts(), capacity};
}

/// A branch of moe-choose-dispatch-layout: a top-level scf.if with one
/// dispatch in each branch. Each branch also yields its counts and
/// capacity (kept is built after the scf.if: a tensor computed in the
/// branches would bufferize to a strided result); returns those two
/// results of the rebuilt scf.if.
FailureOr<std::pair<Value, Value>> exportFromBranches(OpBuilder &b,
                                                      scf::IfOp branch) {
  SmallVector<Operation *> perRegion;
  Region *regions[] = {&branch.getThenRegion(), &branch.getElseRegion()};
  for (Region *region : regions) {
    SmallVector<Operation *> found;
    region->walk([&](Operation *op) {
      if (isa<DispatchCapacityOp, DispatchSortedOp>(op))
        found.push_back(op);
    });
    if (found.size() != 1 || found[0]->getParentRegion() != region)
      return failure();
    perRegion.push_back(found[0]);
  }
  SmallVector<Type> types(branch.getResultTypes());
  for (auto [op, region] : llvm::zip(perRegion, regions)) {
    auto [counts, capacity] = countsAndCapacity(b, op);
    auto yield = cast<scf::YieldOp>(region->front().getTerminator());
    yield->insertOperands(yield->getNumOperands(), {counts, capacity});
    if (region == regions[0]) {
      types.push_back(counts.getType());
      types.push_back(capacity.getType());
    }
  }
  b.setInsertionPoint(branch);
  auto rebuilt = scf::IfOp::create(
      b, branch.getLoc(), types, branch.getCondition(), /*addThenBlock=*/false,
      /*addElseBlock=*/false);
  rebuilt.getThenRegion().takeBody(branch.getThenRegion());
  rebuilt.getElseRegion().takeBody(branch.getElseRegion());
  unsigned n = branch.getNumResults();
  branch.replaceAllUsesWith(rebuilt.getResults().take_front(n));
  branch.erase();
  return std::make_pair(rebuilt.getResult(n), rebuilt.getResult(n + 1));
}

struct MoEExportStatsPass
    : public moe::impl::MoEExportStatsBase<MoEExportStatsPass> {
  void runOnOperation() override {
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (func.isPrivate() || func.isExternal())
        continue;
      if (failed(exportStats(func)))
        return signalPassFailure();
    }
  }

  LogicalResult exportStats(func::FuncOp func) {
    // The layers in program order: a top-level dispatch, or a top-level
    // scf.if holding one in each branch.
    SmallVector<Operation *> layers;
    WalkResult walk = func.walk([&](Operation *op) {
      if (!isa<DispatchCapacityOp, DispatchSortedOp>(op))
        return WalkResult::advance();
      Operation *layer = op;
      if (op->getParentRegion() != &func.getBody()) {
        layer = op->getParentOp();
        if (!isa<scf::IfOp>(layer) ||
            layer->getParentRegion() != &func.getBody()) {
          op->emitOpError("moe-export-stats expects the dispatch at the top "
                          "level of its function, or one in each branch of "
                          "a top-level scf.if (moe-choose-dispatch-layout)");
          return WalkResult::interrupt();
        }
      }
      if (!llvm::is_contained(layers, layer))
        layers.push_back(layer);
      return WalkResult::advance();
    });
    if (walk.wasInterrupted())
      return failure();

    OpBuilder b(func.getContext());
    SmallVector<Value> stats;
    SmallVector<std::string> names;
    for (auto [i, layer] : llvm::enumerate(layers)) {
      Location loc = layer->getLoc(); // A branch is rebuilt, and erased.
      std::pair<Value, Value> counts;
      if (auto branch = dyn_cast<scf::IfOp>(layer)) {
        FailureOr<std::pair<Value, Value>> fromBranches =
            exportFromBranches(b, branch);
        if (failed(fromBranches))
          return branch.emitOpError("moe-export-stats expects one dispatch "
                                    "in each branch of this scf.if");
        counts = *fromBranches;
        b.setInsertionPointAfter(counts.first.getDefiningOp());
      } else {
        counts = countsAndCapacity(b, layer);
      }
      std::string prefix =
          layers.size() == 1 ? "" : "layer" + std::to_string(i) + ".";
      stats.push_back(counts.first);
      names.push_back(prefix + moert::abi::kExpertCountsStat);
      stats.push_back(buildKept(b, loc, counts.first, counts.second));
      names.push_back(prefix + moert::abi::kExpertKeptStat);
    }
    if (stats.empty())
      return success();

    for (Block &block : func.getBody())
      if (auto ret = dyn_cast<func::ReturnOp>(block.getTerminator()))
        ret->insertOperands(ret->getNumOperands(), stats);
    for (auto [value, name] : llvm::zip(stats, names)) {
      unsigned index = func.getNumResults();
      auto attrs = b.getDictionaryAttr(
          b.getNamedAttr("moe.stat", b.getStringAttr(name)));
      if (failed(func.insertResult(index, value.getType(), attrs)))
        return func.emitOpError("could not append a statistics result");
    }
    return success();
  }
};

} // namespace
