//===- DynamicShapes.cpp - grouped tokens as rows sorted by expert --------===//
//
// Part of moec. Implements the moe-dynamic-shapes pass.
//
//===----------------------------------------------------------------------===//

#include "LayoutRewriter.h"

#include "moec/Dialect/MoE/Transforms/Capacity.h"
#include "moec/Dialect/MoE/Transforms/Passes.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEDYNAMICSHAPES
#include "moec/Dialect/MoE/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

class SortedLowering : public LayoutLowering {
public:
  ConcreteGroups lowerDispatch(RewriterBase &rewriter, DispatchOp op) override {
    Location loc = op.getLoc();
    GroupedType grouped = op.getResult().getType();
    auto indicesType = op.getIndices().getType();
    int64_t numTokens = indicesType.getDimSize(0);
    int64_t topK = indicesType.getDimSize(1);
    int64_t numRows = ShapedType::isDynamic(numTokens) ? ShapedType::kDynamic
                                                       : numTokens * topK;
    auto i32 = rewriter.getI32Type();
    auto rowsType = RankedTensorType::get({numRows, grouped.getHidden()},
                                          grouped.getElementType());
    auto offsetsType =
        RankedTensorType::get({grouped.getNumExperts() + 1}, i32);
    auto countsType = RankedTensorType::get({grouped.getNumExperts()}, i32);
    // Only a capacity-limited dispatch drops rows; dropless keeps all.
    Value cap;
    if (op.getCapacityFactor() || op.getExpertCapacity())
      cap = buildCapacity(rewriter, loc, op);
    auto dispatch = DispatchSortedOp::create(
        rewriter, loc, rowsType, offsetsType, indicesType.clone(i32),
        countsType, op.getHidden(), op.getIndices(), cap);
    return {dispatch.getRows(), dispatch.getOffsets(), dispatch.getPositions(),
            Value()};
  }

  Value lowerCombine(RewriterBase &rewriter, CombineOp op,
                     const ConcreteGroups &groups) override {
    return CombineSortedOp::create(
        rewriter, op.getLoc(), op.getType(), groups.tokens, groups.positions,
        op.getWeights(), op.getHidden(), op.getDropPolicyAttr());
  }
};

struct MoEDynamicShapesPass
    : public moe::impl::MoEDynamicShapesBase<MoEDynamicShapesPass> {
  void runOnOperation() override {
    SortedLowering lowering;
    if (failed(rewriteGroupedChains(getOperation(), lowering)))
      signalPassFailure();
  }
};

} // namespace

std::unique_ptr<LayoutLowering> mlir::moe::createSortedLowering() {
  return std::make_unique<SortedLowering>();
}
