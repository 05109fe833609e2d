//===- invocation_test.cpp - Tests of argument binding and calls ----------===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//

#include "moert/error.h"
#include "moert/invocation.h"
#include "moert/npy.h"
#include "test_util.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>

using namespace moert;
using namespace moert::test;
using ::testing::HasSubstr;

namespace {

class InvocationTest : public ::testing::Test {
protected:
  void SetUp() override {
    Dir = scratchDir();
    Fix = writeFakeFixtures(Dir);
    M = Model::load(fakeModel("fake_model"));
  }

  /// The error of binding \p Inputs with \p Weights, or "no error".
  std::string bindError(std::map<std::string, Tensor> Inputs,
                        const std::vector<StTensor> &Weights) {
    try {
      SafetensorsFile W =
          SafetensorsFile::fromBuffer(safetensorsImage(Weights), "w.st");
      Invocation Inv(*M, std::move(Inputs), &W);
    } catch (const Error &E) {
      return E.what();
    }
    return "no error";
  }

  std::map<std::string, Tensor> inputX() {
    std::map<std::string, Tensor> In;
    In.emplace("x", readNpy(Fix.Input));
    return In;
  }

  std::string Dir;
  FakeFixtures Fix;
  std::unique_ptr<Model> M;
};

} // namespace

TEST_F(InvocationTest, RunsAndComputes) {
  SafetensorsFile W = SafetensorsFile::open(Fix.Weights);
  Invocation Inv(*M, inputX(), &W);
  EXPECT_EQ(Inv.tokenCount(), 5);
  for (int Iter = 0; Iter < 3; ++Iter) {
    Inv.run();
    const Tensor &Y = Inv.arg("y");
    ASSERT_EQ(Y.shape(), (std::vector<int64_t>{5, 4}));
    for (size_t I = 0; I < Fix.ExpectedY.size(); ++I)
      EXPECT_FLOAT_EQ(Y.dataAs<float>()[I], Fix.ExpectedY[I]) << I;
    // Stats are zeroed before each call even though the model accumulates.
    const int32_t *Counts = Inv.arg("expert_counts").dataAs<int32_t>();
    const int32_t *Kept = Inv.arg("expert_kept").dataAs<int32_t>();
    EXPECT_EQ(Counts[0], 3);
    EXPECT_EQ(Counts[1], 2);
    EXPECT_EQ(Kept[0], 2);
    EXPECT_EQ(Kept[1], 2);
  }
  EXPECT_THROW(Inv.arg("nope"), Error);
}

TEST_F(InvocationTest, ZeroTokens) {
  SafetensorsFile W = SafetensorsFile::open(Fix.Weights);
  std::map<std::string, Tensor> In;
  In.emplace("x", Tensor(DType::F32, {0, 4}));
  Invocation Inv(*M, std::move(In), &W);
  Inv.run();
  EXPECT_EQ(Inv.arg("y").shape(), (std::vector<int64_t>{0, 4}));
}

TEST_F(InvocationTest, Bf16AndF16WeightsWidenToF32) {
  std::vector<StTensor> Weights = fakeWeightTensors();
  // w.0 = {1, 2, 3, 4} in bf16, w.1 = 0.5 in f16.
  Weights[0] = {
      "w.0", "BF16", {4}, {0x80, 0x3f, 0x00, 0x40, 0x40, 0x40, 0x80, 0x40}};
  Weights[1] = {"w.1", "F16", {4}, {0, 0x38, 0, 0x38, 0, 0x38, 0, 0x38}};
  SafetensorsFile W =
      SafetensorsFile::fromBuffer(safetensorsImage(Weights), "w");
  Invocation Inv(*M, inputX(), &W);
  Inv.run();
  for (size_t I = 0; I < Fix.ExpectedY.size(); ++I)
    EXPECT_FLOAT_EQ(Inv.arg("y").dataAs<float>()[I], Fix.ExpectedY[I]);
}

TEST_F(InvocationTest, InputErrors) {
  auto W = fakeWeightTensors();
  EXPECT_EQ(bindError({}, W), "missing input 'x'");
  std::map<std::string, Tensor> Extra = inputX();
  Extra.emplace("z", Tensor(DType::F32, {1}));
  EXPECT_EQ(bindError(std::move(Extra), W),
            "model has no input 'z' (inputs: x)");
  std::map<std::string, Tensor> WrongType;
  WrongType.emplace("x", Tensor(DType::I32, {5, 4}));
  EXPECT_EQ(bindError(std::move(WrongType), W),
            "input 'x': expected dtype f32, got i32");
  std::map<std::string, Tensor> WrongShape;
  WrongShape.emplace("x", Tensor(DType::F32, {5, 3}));
  EXPECT_EQ(bindError(std::move(WrongShape), W),
            "input 'x': expected shape [T, 4], got [5, 3]");
  std::map<std::string, Tensor> WrongRank;
  WrongRank.emplace("x", Tensor(DType::F32, {20}));
  EXPECT_EQ(bindError(std::move(WrongRank), W),
            "input 'x': expected shape [T, 4], got [20]");
  // Outputs and weights are not inputs.
  std::map<std::string, Tensor> NotInput = inputX();
  NotInput.emplace("b", Tensor(DType::F32, {4}));
  EXPECT_EQ(bindError(std::move(NotInput), W),
            "model has no input 'b' (inputs: x)");
}

TEST_F(InvocationTest, WeightErrors) {
  auto W = fakeWeightTensors();
  auto NoB = W;
  NoB.erase(NoB.begin() + 2);
  EXPECT_EQ(bindError(inputX(), NoB), "w.st: missing weight 'b'");
  auto NoW1 = W;
  NoW1.erase(NoW1.begin() + 1);
  EXPECT_EQ(bindError(inputX(), NoW1),
            "w.st: missing weight 'w.1' (expert slice of 'w.{e}')");
  auto BadShape = W;
  BadShape[2] = {"b", "F32", {2, 2}, f32Bytes({1, 2, 3, 4})};
  EXPECT_EQ(bindError(inputX(), BadShape),
            "w.st: weight 'b' has shape [2, 2], expected [4]");
  auto BadSlice = W;
  BadSlice[0] = {"w.0", "F32", {1, 4}, f32Bytes({1, 2, 3, 4})};
  EXPECT_EQ(bindError(inputX(), BadSlice),
            "w.st: weight 'w.0' (expert slice of 'w.{e}') has shape [1, 4], "
            "expected [4]");
  auto BadType = W;
  BadType[2] = {"b", "I32", {4}, std::vector<uint8_t>(16, 0)};
  EXPECT_THAT(bindError(inputX(), BadType),
              HasSubstr("tensor 'b' has dtype I32, which cannot be loaded as "
                        "f32"));
  try {
    Invocation Inv(*M, inputX(), nullptr);
    FAIL() << "no error";
  } catch (const Error &E) {
    EXPECT_STREQ(E.what(),
                 "model has weights (w.{e}, b) but no weights file was given");
  }
}

TEST_F(InvocationTest, RunWithCallerBuffers) {
  SafetensorsFile W = SafetensorsFile::open(Fix.Weights);
  Invocation Inv(*M, &W, /*Rank=*/0, /*Device=*/nullptr, /*MaxTokens=*/0);
  Tensor X = readNpy(Fix.Input);
  Tensor Y(DType::F32, {5, 4});
  auto buffers = [&](Tensor &Out) {
    std::map<std::string, ExternalTensor> B;
    B["x"] = {X.data(), DType::F32, X.shape(), true};
    B["y"] = {Out.data(), DType::F32, Out.shape(), true};
    return B;
  };
  for (int Iter = 0; Iter < 2; ++Iter) {
    Inv.runWith(buffers(Y));
    for (size_t I = 0; I < Fix.ExpectedY.size(); ++I)
      EXPECT_FLOAT_EQ(Y.dataAs<float>()[I], Fix.ExpectedY[I]) << I;
    EXPECT_EQ(Inv.arg("expert_counts").dataAs<int32_t>()[0], 3);
  }

  auto error = [&](const std::function<void()> &Call) -> std::string {
    try {
      Call();
    } catch (const Error &E) {
      return E.what();
    }
    return "no error";
  };
  Tensor Wrong(DType::F32, {4, 4});
  EXPECT_THAT(error([&] { Inv.runWith(buffers(Wrong)); }),
              HasSubstr("output 'y': expected shape [T=5, 4], got [4, 4]"));
  auto Missing = buffers(Y);
  Missing.erase("y");
  EXPECT_THAT(error([&] { Inv.runWith(Missing); }),
              HasSubstr("missing output 'y'"));
  auto Extra = buffers(Y);
  Extra["b"] = Extra["x"];
  EXPECT_THAT(error([&] { Inv.runWith(Extra); }),
              HasSubstr("model has no input or output 'b'"));
  auto OnGpu = buffers(Y);
  OnGpu["x"].OnHost = false;
  EXPECT_THAT(error([&] { Inv.runWith(OnGpu); }),
              HasSubstr("'x' is in GPU memory but the model runs on the CPU"));
  EXPECT_THAT(error([&] { Inv.run(); }),
              HasSubstr("bound without inputs: call runWith()"));

  Invocation Bound(*M, inputX(), &W);
  EXPECT_THAT(error([&] { Bound.runWith(buffers(Y)); }),
              HasSubstr("bound with its inputs: call run()"));
}
