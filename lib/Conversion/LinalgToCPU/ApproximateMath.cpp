//===- ApproximateMath.cpp - polynomial exp and erf -----------------------===//
//
// Part of moec. Implements moe-approximate-math: f32 math.exp and math.erf
// become upstream's polynomial approximations, so that the activation in a
// GEMM epilogue stays in vector registers instead of calling libm once per
// lane, and every exp of a model is the same function.
//
//===----------------------------------------------------------------------===//

#include "moec/Conversion/Passes.h"

#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEAPPROXIMATEMATH
#include "moec/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;

namespace {

struct ApproximateMath : moe::impl::MoEApproximateMathBase<ApproximateMath> {
  void runOnOperation() override {
    SmallVector<Operation *> ops;
    getOperation()->walk([&](Operation *op) {
      if (isa<math::ExpOp, math::ErfOp>(op) &&
          getElementTypeOrSelf(op->getResult(0).getType()).isF32())
        ops.push_back(op);
    });
    if (ops.empty())
      return;
    RewritePatternSet patterns(&getContext());
    populateMathPolynomialApproximationPatterns(patterns, [](StringRef name) {
      return name == math::ExpOp::getOperationName() ||
             name == math::ErfOp::getOperationName();
    });
    // Only the ops collected above: the patterns' own output is final.
    GreedyRewriteConfig config;
    config.setStrictness(GreedyRewriteStrictness::ExistingOps);
    if (failed(applyOpPatternsGreedily(ops, std::move(patterns), config)))
      return signalPassFailure();
    numApproximated += ops.size();
  }
};

} // namespace
