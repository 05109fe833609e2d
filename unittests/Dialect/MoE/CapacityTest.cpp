//===- CapacityTest.cpp - tests of the per-expert capacity helper --------===//
//
// Part of moec. The capacity formula is where the two layouts and the NumPy
// reference must agree to the last rounding step; these cases pin it.
//
//===----------------------------------------------------------------------===//

#include "moec/Dialect/MoE/IR/MoE.h"
#include "moec/Dialect/MoE/Transforms/Capacity.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace mlir::moe;

namespace {

/// Parses one moe.dispatch with `attrs` on `tokens` [T, 16] tokens with k
/// choices among `experts` experts, and returns its static capacity.
class CapacityTest : public ::testing::Test {
protected:
  CapacityTest() {
    context.loadDialect<MoEDialect, func::FuncDialect>();
  }

  std::optional<int64_t> capacity(const std::string &tokens, int64_t topK,
                                  int64_t experts, const std::string &attrs) {
    std::string t = tokens;
    std::string k = std::to_string(topK);
    std::string e = std::to_string(experts);
    std::string ir = "func.func @f(%x: tensor<" + t + "x16xf32>, %i: tensor<" +
                     t + "x" + k + "xi32>) -> !moe.grouped<" + e +
                     " x 16 x f32> {\n  %g = moe.dispatch %x, %i " + attrs +
                     " : (tensor<" + t + "x16xf32>, tensor<" + t + "x" + k +
                     "xi32>) -> !moe.grouped<" + e +
                     " x 16 x f32>\n  return %g : !moe.grouped<" + e +
                     " x 16 x f32>\n}\n";
    module = parseSourceString<ModuleOp>(ir, &context);
    EXPECT_TRUE(module) << ir;
    DispatchOp dispatch;
    module->walk([&](DispatchOp op) { dispatch = op; });
    return getStaticCapacity(dispatch);
  }

  MLIRContext context;
  OwningOpRef<ModuleOp> module;
};

TEST_F(CapacityTest, DroplessIsT) {
  EXPECT_EQ(capacity("10", 2, 4, ""), 10);
}

TEST_F(CapacityTest, FactorRoundsUp) {
  // ceil(1.25 * 10 * 2 / 4) = ceil(6.25) = 7.
  EXPECT_EQ(capacity("10", 2, 4, "{capacity_factor = 1.25 : f64}"), 7);
}

TEST_F(CapacityTest, FactorUsesTheReferenceOperationOrder) {
  // In f64, 1.1 * 100 * 1 / 10 = 11.000000000000002, so C = 12, as Python's
  // math.ceil(1.1 * 100 * 1 / 10) gives; 1.1 * (100 * 1 / 10) would give 11.
  EXPECT_EQ(capacity("100", 1, 10, "{capacity_factor = 1.1 : f64}"), 12);
  EXPECT_EQ(capacity("50", 1, 5, "{capacity_factor = 1.1 : f64}"), 12);
  // And C never exceeds T.
  EXPECT_EQ(capacity("10", 1, 1, "{capacity_factor = 1.1 : f64}"), 10);
}

TEST_F(CapacityTest, MinCapacityAppliesThenClampToT) {
  EXPECT_EQ(capacity("10", 1, 8,
                     "{capacity_factor = 0.5 : f64, min_capacity = 4 : i64}"),
            4);
  EXPECT_EQ(capacity("3", 1, 8,
                     "{capacity_factor = 0.5 : f64, min_capacity = 4 : i64}"),
            3);
}

TEST_F(CapacityTest, FixedCapacity) {
  EXPECT_EQ(capacity("64", 1, 8, "{expert_capacity = 5 : i64}"), 5);
  EXPECT_EQ(capacity("4", 1, 8, "{expert_capacity = 5 : i64}"), 4);
}

TEST_F(CapacityTest, DynamicTokenCountIsNotStatic) {
  EXPECT_EQ(capacity("?", 2, 4, "{capacity_factor = 1.25 : f64}"),
            std::nullopt);
  EXPECT_EQ(capacity("?", 2, 4, ""), std::nullopt);
  // A fixed capacity still has to be clamped to the run-time T.
  EXPECT_EQ(capacity("?", 2, 4, "{expert_capacity = 5 : i64}"), std::nullopt);
}

} // namespace
