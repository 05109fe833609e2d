//===- LayoutRewriter.cpp - shared walk of the layout passes --------------===//
//
// Part of moec.
//
//===----------------------------------------------------------------------===//

#include "LayoutRewriter.h"

using namespace mlir;
using namespace mlir::moe;

LogicalResult mlir::moe::rewriteGroupedChains(Operation *root,
                                              LayoutLowering &lowering) {
  SmallVector<Operation *> ops;
  // The layout-free dispatch and experts ops, erased at the end. Combines
  // are replaced (and so freed) as they are visited: never kept here.
  SmallVector<Operation *> producers;
  root->walk([&](Operation *op) {
    if (isa<DispatchOp, CombineOp>(op) ||
        (isa<ExpertsOp>(op) &&
         isa<GroupedType>(cast<ExpertsOp>(op).getTokens().getType())))
      ops.push_back(op);
  });

  IRRewriter rewriter(root->getContext());
  llvm::DenseMap<Value, ConcreteGroups> concrete;
  for (Operation *op : ops) {
    rewriter.setInsertionPoint(op);
    if (!isa<CombineOp>(op))
      producers.push_back(op);
    if (auto dispatch = dyn_cast<DispatchOp>(op)) {
      concrete[dispatch.getResult()] =
          lowering.lowerDispatch(rewriter, dispatch);
      continue;
    }
    if (auto experts = dyn_cast<ExpertsOp>(op)) {
      auto it = concrete.find(experts.getTokens());
      if (it == concrete.end())
        return experts.emitOpError(
            "expects its !moe.grouped tokens to come from moe.dispatch or "
            "moe.experts");
      ConcreteGroups groups = it->second;
      groups.tokens = ExpertsOp::create(
          rewriter, experts.getLoc(), groups.tokens.getType(), groups.tokens,
          /*gather=*/Value(), groups.offsets, groups.counts,
          experts.getWeights(), experts.getBiases(),
          /*combine=*/Value(), /*into=*/Value(), experts.getActivationAttr(),
          experts.getSwigluAlphaAttr(), experts.getSwigluLimitAttr());
      concrete[experts.getResult()] = groups;
      continue;
    }
    auto combine = cast<CombineOp>(op);
    auto it = concrete.find(combine.getGrouped());
    if (it == concrete.end())
      return combine.emitOpError(
          "expects its !moe.grouped operand to come from moe.dispatch or "
          "moe.experts");
    rewriter.replaceOp(combine,
                       lowering.lowerCombine(rewriter, combine, it->second));
  }
  // Erase the layout-free producers, users first.
  for (Operation *op : llvm::reverse(producers)) {
    if (!op->use_empty())
      return op->emitOpError("has a !moe.grouped result used outside a "
                             "dispatch -> experts -> combine chain");
    rewriter.eraseOp(op);
  }
  return success();
}
