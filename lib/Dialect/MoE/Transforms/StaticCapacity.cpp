//===- StaticCapacity.cpp - grouped tokens as padded [E, C, D] buffers ----===//
//
// Part of moec. Implements the moe-static-capacity pass.
//
//===----------------------------------------------------------------------===//

#include "LayoutRewriter.h"

#include "moec/Dialect/MoE/Transforms/Capacity.h"
#include "moec/Dialect/MoE/Transforms/Passes.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOESTATICCAPACITY
#include "moec/Dialect/MoE/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

class CapacityLowering : public LayoutLowering {
public:
  ConcreteGroups lowerDispatch(RewriterBase &rewriter, DispatchOp op) override {
    Location loc = op.getLoc();
    GroupedType grouped = op.getResult().getType();
    int64_t capacity = getStaticCapacity(op).value_or(ShapedType::kDynamic);
    auto bufferType = RankedTensorType::get(
        {grouped.getNumExperts(), capacity, grouped.getHidden()},
        grouped.getElementType());
    auto i32 = rewriter.getI32Type();
    auto slotsType = op.getIndices().getType().clone(i32);
    auto countsType = RankedTensorType::get({grouped.getNumExperts()}, i32);
    Value cap = buildCapacity(rewriter, loc, op);
    auto dispatch = DispatchCapacityOp::create(
        rewriter, loc, bufferType, slotsType, countsType, op.getHidden(),
        op.getIndices(), cap);
    // The counts let moe.experts skip the padding slots of each expert.
    return {dispatch.getBuffer(), Value(), dispatch.getSlots(),
            dispatch.getCounts()};
  }

  Value lowerCombine(RewriterBase &rewriter, CombineOp op,
                     const ConcreteGroups &groups) override {
    return CombineCapacityOp::create(rewriter, op.getLoc(), op.getType(),
                                     groups.tokens, groups.positions,
                                     op.getIndices(), op.getWeights(),
                                     op.getHidden(), op.getDropPolicyAttr());
  }
};

struct MoEStaticCapacityPass
    : public moe::impl::MoEStaticCapacityBase<MoEStaticCapacityPass> {
  void runOnOperation() override {
    CapacityLowering lowering;
    if (failed(rewriteGroupedChains(getOperation(), lowering)))
      signalPassFailure();
  }
};

} // namespace

std::unique_ptr<LayoutLowering> mlir::moe::createCapacityLowering() {
  return std::make_unique<CapacityLowering>();
}
