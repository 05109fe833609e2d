//===- FuseSharedExpert.cpp - the shared expert adds into the routed sum --===//
//
// Part of moec. Implements moe-fuse-shared-expert: the elementwise add of a
// dense moe.experts' output (the shared expert, optionally gated per token)
// to the routed experts' output becomes that moe.experts with `into` (and
// the gate as its `combine`), whose second projection adds each row into a
// copy of the routed output as it stores it. The shared expert's output is
// then never stored in full, and no pass reads it back.
//
//===----------------------------------------------------------------------===//

#include "moec/Dialect/MoE/IR/MoE.h"
#include "moec/Dialect/MoE/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEFUSESHAREDEXPERT
#include "moec/Dialect/MoE/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

/// The other operands of an add of the experts' output.
struct SharedAdd {
  Value into; // the tensor the rows add to
  Value gate; // optional [T] weight of each row
};

/// `generic` as `into + experts` or `into + gate · experts` over
/// [T, D] (gate [T]); otherwise failure, with `why` saying what differs.
FailureOr<SharedAdd> matchSharedAdd(linalg::GenericOp generic,
                                    ExpertsOp experts, std::string &why) {
  why = "its reader is not an elementwise add of its rows to a tensor of "
        "their type (times a weight per token)";
  Type type = experts.getResult().getType();
  if (generic.getNumDpsInits() != 1 || generic.getNumLoops() != 2 ||
      generic.getNumReductionLoops() != 0 ||
      generic.getResult(0).getType() != type ||
      (generic.getNumDpsInputs() != 2 && generic.getNumDpsInputs() != 3))
    return failure();
  MLIRContext *ctx = generic.getContext();
  AffineMap identity = AffineMap::getMultiDimIdentityMap(2, ctx);
  AffineMap perToken = AffineMap::get(2, 0, {getAffineDimExpr(0, ctx)}, ctx);
  if (generic.getIndexingMapsArray().back() != identity)
    return failure();
  Block &body = generic.getRegion().front();
  SharedAdd match;
  BlockArgument rowArg, intoArg, gateArg;
  for (OpOperand *input : generic.getDpsInputOperands()) {
    Value value = input->get();
    AffineMap map = generic.getMatchingIndexingMap(input);
    BlockArgument arg = body.getArgument(input->getOperandNumber());
    if (value == experts.getResult() && map == identity && !rowArg) {
      rowArg = arg;
    } else if (value.getType() == type && map == identity && !intoArg) {
      match.into = value;
      intoArg = arg;
    } else if (map == perToken && !gateArg &&
               cast<ShapedType>(value.getType()).getElementType().isF32()) {
      match.gate = value;
      gateArg = arg;
    } else {
      return failure();
    }
  }
  if (!rowArg || !intoArg)
    return failure();
  // The body: yield(into + row) or yield(into + gate · row), nothing else
  // and no fast-math flags (the fused epilogue multiplies, then adds).
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  auto add = yield.getOperand(0).getDefiningOp<arith::AddFOp>();
  if (!add || add.getFastmath() != arith::FastMathFlags::none ||
      body.getOperations().size() != (gateArg ? 3u : 2u))
    return failure();
  Value addend = add.getLhs() == intoArg   ? add.getRhs()
                 : add.getRhs() == intoArg ? add.getLhs()
                                           : Value();
  if (gateArg) {
    auto mul = addend ? addend.getDefiningOp<arith::MulFOp>() : nullptr;
    if (!mul || mul.getFastmath() != arith::FastMathFlags::none ||
        !((mul.getLhs() == gateArg && mul.getRhs() == rowArg) ||
          (mul.getLhs() == rowArg && mul.getRhs() == gateArg)))
      return failure();
  } else if (addend != rowArg) {
    return failure();
  }
  return match;
}

struct MoEFuseSharedExpertPass
    : public moe::impl::MoEFuseSharedExpertBase<MoEFuseSharedExpertPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<ExpertsOp> dense;
    getOperation().walk([&](ExpertsOp op) {
      if (!op.getGather() && !op.getCombine() && !op.getInto() &&
          llvm::any_of(op->getUsers(), [](Operation *user) {
            return isa<linalg::LinalgDialect>(user->getDialect());
          }))
        dense.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (ExpertsOp experts : dense) {
      Location loc = experts.getLoc();
      Type output = experts.getResult().getType();
      std::string why;
      bool weighted = false;
      bool fused = fuse(rewriter, experts, why, weighted);
      if (fused)
        ++numFused;
      if (!explain)
        continue;
      if (fused)
        emitRemark(loc) << "moe.experts: the second projection adds each row"
                        << (weighted ? ", times its weight," : "")
                        << " into the other summand; its output " << output
                        << " is never stored";
      else
        emitRemark(loc) << "moe.experts keeps its output: " << why;
    }
  }

  bool fuse(IRRewriter &rewriter, ExpertsOp experts, std::string &why,
            bool &weighted) {
    auto tokens = dyn_cast<RankedTensorType>(experts.getTokens().getType());
    if (!tokens || tokens.getRank() != 2 || !experts.getOffsets()) {
      why = "its rows are not sorted rows [N, D] with offsets";
      return false;
    }
    if (!experts->hasOneUse()) {
      why = "its output has another reader";
      return false;
    }
    auto generic = dyn_cast<linalg::GenericOp>(*experts->getUsers().begin());
    if (!generic) {
      why = "its reader is not a linalg.generic";
      return false;
    }
    FailureOr<SharedAdd> add = matchSharedAdd(generic, experts, why);
    if (failed(add))
      return false;
    rewriter.setInsertionPoint(generic);
    auto fused = ExpertsOp::create(
        rewriter, experts.getLoc(), generic.getResult(0).getType(),
        experts.getTokens(), /*gather=*/Value(), experts.getOffsets(),
        experts.getCounts(), experts.getWeights(), experts.getBiases(),
        add->gate, add->into, experts.getActivationAttr(),
        experts.getSwigluAlphaAttr(), experts.getSwigluLimitAttr());
    rewriter.replaceOp(generic, fused.getResult());
    rewriter.eraseOp(experts);
    weighted = static_cast<bool>(add->gate);
    return true;
  }
};

} // namespace
