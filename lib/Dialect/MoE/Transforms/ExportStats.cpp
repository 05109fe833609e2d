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

struct MoEExportStatsPass
    : public moe::impl::MoEExportStatsBase<MoEExportStatsPass> {
  void runOnOperation() override {
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (func.isPrivate() || func.isExternal())
        continue;
      SmallVector<Operation *> dispatches;
      func.walk([&](Operation *op) {
        if (isa<DispatchCapacityOp, DispatchSortedOp>(op))
          dispatches.push_back(op);
      });
      if (failed(exportStats(func, dispatches)))
        return signalPassFailure();
    }
  }

  LogicalResult exportStats(func::FuncOp func,
                            ArrayRef<Operation *> dispatches) {
    OpBuilder b(func.getContext());
    SmallVector<Value> stats;
    SmallVector<std::string> names;
    for (auto [i, op] : llvm::enumerate(dispatches)) {
      if (op->getParentRegion() != &func.getBody())
        return op->emitOpError("moe-export-stats expects the dispatch at the "
                               "top level of its function");
      b.setInsertionPointAfter(op);
      Value counts, capacity;
      if (auto d = dyn_cast<DispatchCapacityOp>(op)) {
        counts = d.getCounts();
        capacity = d.getCapacity();
      } else {
        auto s = cast<DispatchSortedOp>(op);
        counts = s.getCounts();
        capacity = s.getCapacity();
        if (!capacity)
          capacity = tensor::DimOp::create(b, op->getLoc(), s.getHidden(), 0);
      }
      std::string prefix =
          dispatches.size() == 1 ? "" : "layer" + std::to_string(i) + ".";
      stats.push_back(counts);
      names.push_back(prefix + moert::abi::kExpertCountsStat);
      stats.push_back(buildKept(b, op->getLoc(), counts, capacity));
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
