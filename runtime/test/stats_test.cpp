//===- stats_test.cpp - Tests of the expert-load report -------------------===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//

#include "moert/error.h"
#include "moert/stats.h"

#include <gtest/gtest.h>

using namespace moert;

namespace {

Tensor i32Vector(const std::vector<int32_t> &V) {
  Tensor T(DType::I32, {static_cast<int64_t>(V.size())});
  std::copy(V.begin(), V.end(), T.dataAs<int32_t>());
  return T;
}

} // namespace

TEST(Stats, Histogram) {
  Tensor Counts = i32Vector({4, 2, 0, 1});
  Tensor Kept = i32Vector({3, 2, 0, 1});
  ExpertStats S = makeExpertStats(Counts, &Kept);
  EXPECT_EQ(S.dropped(), 1);
  EXPECT_EQ(formatExpertStats(S, 8), "tokens per expert (7 assignments):\n"
                                     "  expert 0 |######## 4\n"
                                     "  expert 1 |####     2\n"
                                     "  expert 2 |         0\n"
                                     "  expert 3 |##       1\n"
                                     "dropped assignments: 1\n");
}

TEST(Stats, WithoutKept) {
  Tensor Counts(DType::I64, {2});
  ExpertStats S = makeExpertStats(Counts, nullptr);
  EXPECT_FALSE(S.dropped());
  EXPECT_EQ(formatExpertStats(S, 4),
            "tokens per expert (0 assignments):\n"
            "  expert 0 |     0\n"
            "  expert 1 |     0\n"
            "dropped assignments: unknown (model has no 'expert_kept' stat)\n");
}

TEST(Stats, Errors) {
  Tensor F(DType::F32, {2});
  EXPECT_THROW(makeExpertStats(F, nullptr), Error);
  Tensor Counts = i32Vector({1, 2});
  Tensor Kept = i32Vector({1});
  EXPECT_THROW(makeExpertStats(Counts, &Kept), Error);
  Tensor Matrix(DType::I32, {2, 2});
  EXPECT_THROW(makeExpertStats(Matrix, nullptr), Error);
}
