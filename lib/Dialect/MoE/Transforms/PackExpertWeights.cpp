//===- PackExpertWeights.cpp - expert weights in panels of columns --------===//
//
// Part of moec. Implements moe-pack-expert-weights: the CPU's expert GEMM
// multiplies a few rows by P output columns at a time, so it wants those P
// columns of each k contiguous. The runtime lays the weights out that way
// once, at load time; this pass changes the entry's signature to say so.
//
//===----------------------------------------------------------------------===//

#include "moec/Dialect/MoE/IR/MoE.h"
#include "moec/Dialect/MoE/Transforms/Passes.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEPACKEXPERTWEIGHTS
#include "moec/Dialect/MoE/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

/// Whether every use of \p arg is as the weights of a moe.experts op: the
/// only users that moe-lower-to-loops hands the packed buffer to.
bool onlyExpertWeights(BlockArgument arg) {
  for (OpOperand &use : arg.getUses()) {
    auto experts = dyn_cast<ExpertsOp>(use.getOwner());
    if (!experts || !llvm::is_contained(experts.getWeights(), arg))
      return false;
  }
  return !arg.use_empty();
}

/// A static [E, N, K] f32 or bf16 tensor with N a multiple of \p panel.
bool isPackable(Type type, int64_t panel) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor || tensor.getRank() != 3 || !tensor.hasStaticShape())
    return false;
  Type element = tensor.getElementType();
  return (element.isF32() || element.isBF16()) &&
         tensor.getDimSize(1) % panel == 0;
}

struct MoEPackExpertWeightsPass
    : public moe::impl::MoEPackExpertWeightsBase<MoEPackExpertWeightsPass> {
  using Base::Base;

  LogicalResult initialize(MLIRContext *ctx) override {
    if (panel < 1)
      return emitError(UnknownLoc::get(ctx))
             << "moe-pack-expert-weights: panel must be positive, got "
             << static_cast<int64_t>(panel);
    return success();
  }

  void runOnOperation() override {
    for (auto func : getOperation().getOps<func::FuncOp>())
      if (func.isPublic() && !func.isExternal())
        packArguments(func);
  }

  void packArguments(func::FuncOp func) {
    Block &entry = func.getBody().front();
    OpBuilder b = OpBuilder::atBlockBegin(&entry);
    SmallVector<Type> inputs(func.getArgumentTypes());
    for (BlockArgument arg : entry.getArguments()) {
      unsigned i = arg.getArgNumber();
      if (!func.getArgAttr(i, "moe.weight") ||
          !isPackable(arg.getType(), panel) || !onlyExpertWeights(arg))
        continue;
      auto logical = cast<RankedTensorType>(arg.getType());
      auto packed = RankedTensorType::get({logical.getDimSize(0),
                                           logical.getDimSize(1) / panel,
                                           logical.getDimSize(2), panel},
                                          logical.getElementType());
      arg.setType(packed);
      inputs[i] = packed;
      Location loc = arg.getLoc();
      Value empty = tensor::EmptyOp::create(b, loc, logical.getShape(),
                                            logical.getElementType());
      Value unpacked =
          linalg::UnPackOp::create(b, loc, arg, empty, /*innerDimsPos=*/{1},
                                   /*innerTiles=*/{b.getIndexAttr(panel)});
      arg.replaceAllUsesExcept(unpacked, unpacked.getDefiningOp());
      func.setArgAttr(i, "moe.weight_panels", b.getI64IntegerAttr(panel));
      ++numPacked;
    }
    func.setFunctionType(
        FunctionType::get(func.getContext(), inputs, func.getResultTypes()));
  }
};

} // namespace
