//===- workspace_test.cpp - Tests of the scratch memory kept across calls -===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//

#include "moert/invocation.h"
#include "moert/npy.h"
#include "moert/workspace.h"
#include "test_util.h"

#include <gtest/gtest.h>

#include <cstring>

using namespace moert;
using namespace moert::test;

namespace {
constexpr size_t MiB = size_t(1) << 20;
} // namespace

TEST(Workspace, LargeBlocksAreKeptAndReused) {
  Workspace W;
  void *A = W.allocate(8 * MiB);
  ASSERT_NE(A, nullptr);
  std::memset(A, 1, 8 * MiB);
  W.release(A);
  EXPECT_EQ(W.keptBytes(), 8 * MiB);
  // The same size, then a smaller one, take the kept block.
  EXPECT_EQ(W.allocate(8 * MiB), A);
  EXPECT_EQ(W.keptBytes(), 0u);
  W.release(A);
  EXPECT_EQ(W.allocate(3 * MiB), A);
  // A larger request cannot: it gets a new block.
  void *B = W.allocate(9 * MiB);
  EXPECT_NE(B, A);
  W.release(A);
  W.release(B);
  EXPECT_EQ(W.keptBytes(), 17 * MiB);
  // The smallest block that fits is taken.
  EXPECT_EQ(W.allocate(2 * MiB), A);
  W.release(A);
}

TEST(Workspace, SmallBlocksAreNotKept) {
  Workspace W;
  void *P = W.allocate(Workspace::kMinKeptBytes - 1);
  ASSERT_NE(P, nullptr);
  W.release(P);
  EXPECT_EQ(W.keptBytes(), 0u);
  W.release(nullptr);
}

TEST(Workspace, TrimFreesWhatNoCallTook) {
  Workspace W;
  void *A = W.allocate(4 * MiB), *B = W.allocate(2 * MiB);
  W.release(A);
  W.release(B);
  W.trim(); // Both were taken in this round: kept.
  EXPECT_EQ(W.keptBytes(), 6 * MiB);
  EXPECT_EQ(W.allocate(4 * MiB), A);
  W.release(A);
  W.trim(); // B was not taken since the last trim.
  EXPECT_EQ(W.keptBytes(), 4 * MiB);
  void *C = W.allocate(4 * MiB); // In use across a trim: not freed.
  W.trim();
  W.trim();
  EXPECT_EQ(W.keptBytes(), 0u);
  W.release(C);
  EXPECT_EQ(W.keptBytes(), 4 * MiB);
  W.trim();
  EXPECT_EQ(W.keptBytes(), 0u);
}

// The fake model takes 2 MiB of scratch per forward through the hooks that
// Model::load points at the process's workspace; the block stays kept
// between forwards (a model allocating with malloc would leave none).
TEST(Workspace, ModelsAllocateThroughIt) {
  std::string Dir = scratchDir();
  FakeFixtures Fix = writeFakeFixtures(Dir);
  std::unique_ptr<Model> M = Model::load(fakeModel("fake_model"));
  SafetensorsFile Weights = SafetensorsFile::open(Fix.Weights);
  std::map<std::string, Tensor> In;
  In.emplace("x", readNpy(Fix.Input));
  Invocation Inv(*M, std::move(In), &Weights);
  Workspace &W = Workspace::process();
  W.trim();
  W.trim();
  ASSERT_EQ(W.keptBytes(), 0u);
  for (int Iter = 0; Iter < 2; ++Iter) {
    Inv.run();
    EXPECT_EQ(W.keptBytes(), 2 * MiB) << Iter;
    EXPECT_FLOAT_EQ(Inv.arg("y").dataAs<float>()[0], Fix.ExpectedY[0]);
  }
}
