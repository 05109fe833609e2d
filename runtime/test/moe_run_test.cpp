//===- moe_run_test.cpp - End-to-end tests of the moe-run tool ------------===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//
//
// Runs the real moe-run binary on the fake model and checks exit status,
// stdout/stderr and the saved output. Every error path must exit non-zero
// with exactly one "moe-run: error: " line and never die from a signal.
//
//===----------------------------------------------------------------------===//

#include "moert/cuda_driver.h"
#include "moert/npy.h"
#include "test_util.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <sys/wait.h>

using namespace moert;
using namespace moert::test;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

namespace {

struct RunResult {
  int ExitCode = -1;
  bool Signalled = false;
  std::string Output; ///< stdout and stderr, interleaved
};

RunResult moeRun(const std::string &Args) {
  RunResult R;
  std::string Cmd = std::string(MOERT_MOE_RUN) + " " + Args + " 2>&1";
  FILE *P = ::popen(Cmd.c_str(), "r");
  if (!P) {
    ADD_FAILURE() << "popen failed";
    return R;
  }
  char Buf[4096];
  size_t N;
  while ((N = std::fread(Buf, 1, sizeof(Buf), P)) > 0)
    R.Output.append(Buf, N);
  int Status = ::pclose(P);
  R.Signalled = WIFSIGNALED(Status);
  R.ExitCode = WIFEXITED(Status) ? WEXITSTATUS(Status) : -1;
  return R;
}

class MoeRunTest : public ::testing::Test {
protected:
  void SetUp() override {
    Dir = scratchDir();
    Fix = writeFakeFixtures(Dir);
    Model = fakeModel("fake_model");
  }

  /// Good arguments with \p Extra appended.
  std::string good(const std::string &Extra = "") {
    return Model + " --weights " + Fix.Weights + " --input " + Fix.Input +
           " --output " + Dir + "/y.npy " + Extra;
  }

  /// Expects exactly one error line containing \p Message.
  void expectError(const std::string &Args, const std::string &Message) {
    RunResult R = moeRun(Args);
    EXPECT_FALSE(R.Signalled) << Args;
    EXPECT_NE(R.ExitCode, 0) << Args;
    EXPECT_THAT(R.Output, MatchesRegex("moe-run: error: [^\n]*\n")) << Args;
    EXPECT_THAT(R.Output, HasSubstr(Message)) << Args;
  }

  std::string Dir;
  FakeFixtures Fix;
  std::string Model;
};

} // namespace

TEST_F(MoeRunTest, RunsAndSavesOutput) {
  RunResult R = moeRun(good("--iters 3 --warmup 2"));
  ASSERT_EQ(R.ExitCode, 0) << R.Output;
  EXPECT_THAT(R.Output, MatchesRegex("T=5 tokens, 3 iters \\(2 warmup\\): "
                                     "median [0-9.]+ ms/iter, [0-9.]+ "
                                     "tokens/s\n"));
  Tensor Y = readNpy(Dir + "/y.npy");
  ASSERT_EQ(Y.shape(), (std::vector<int64_t>{5, 4}));
  for (size_t I = 0; I < Fix.ExpectedY.size(); ++I)
    EXPECT_FLOAT_EQ(Y.dataAs<float>()[I], Fix.ExpectedY[I]);
}

TEST_F(MoeRunTest, ExplicitNames) {
  RunResult R =
      moeRun(Model + " -w " + Fix.Weights + " --input x=" + Fix.Input +
             " --output y=" + Dir + "/y2.npy");
  ASSERT_EQ(R.ExitCode, 0) << R.Output;
  EXPECT_EQ(readNpy(Dir + "/y2.npy").numElements(), 20);
}

TEST_F(MoeRunTest, Stats) {
  RunResult R = moeRun(good("--stats --iters 4"));
  ASSERT_EQ(R.ExitCode, 0) << R.Output;
  EXPECT_THAT(R.Output, HasSubstr("tokens per expert (5 assignments):\n"
                                  "  expert 0 |" +
                                  std::string(40, '#') +
                                  " 3\n"
                                  "  expert 1 |" +
                                  std::string(27, '#') + std::string(13, ' ') +
                                  " 2\n"
                                  "dropped assignments: 1\n"));
}

TEST_F(MoeRunTest, StatsWithoutStatArgs) {
  RunResult R = moeRun(fakeModel("fake_model_no_stats") + " --weights " +
                       Fix.Weights + " --input " + Fix.Input + " --stats");
  ASSERT_EQ(R.ExitCode, 0) << R.Output;
  EXPECT_THAT(R.Output, HasSubstr("stats: the model has no stat arguments\n"));
}

TEST_F(MoeRunTest, Help) {
  RunResult R = moeRun("--help");
  EXPECT_EQ(R.ExitCode, 0);
  EXPECT_THAT(R.Output, HasSubstr("--weights"));
  EXPECT_THAT(R.Output, HasSubstr("--stats"));
}

TEST_F(MoeRunTest, UsageErrors) {
  expectError("", "model is required");
  expectError(good("--iters 0"), "--iters");
  expectError(good("--bogus"), "--bogus");
  expectError(Model + " --input x=" + Fix.Input + " --input x=" + Fix.Input +
                  " -w " + Fix.Weights,
              "--input: input 'x' given twice");
  expectError(Model + " --input z=" + Fix.Input,
              "--input 'z=" + Fix.Input +
                  "': model has no input 'z' "
                  "(inputs: x)");
  expectError(good("--output out=" + Dir + "/o.npy"),
              "model has no output 'out' (outputs: y)");
}

TEST_F(MoeRunTest, DeviceValues) {
  expectError(good("--device tpu"),
              "--device: expected cpu, cuda or cuda:N, got 'tpu'");
  expectError(good("--device cuda:"), "got 'cuda:'");
  expectError(good("--device cuda:-1"), "got 'cuda:-1'");
  RunResult R = moeRun(good("--device cpu"));
  EXPECT_EQ(R.ExitCode, 0) << R.Output;
}

// moe-run opens the GPU named by --device=cuda[:N] through the driver that
// MOERT_CUDA_DRIVER names (fake_cuda_driver.c here), then refuses the model:
// it holds CPU code. (test/tools/moe-run/cuda-fake-driver.test runs a CUDA
// model on the fake.)
TEST_F(MoeRunTest, DeviceCuda) {
  if (!haveCudaSupport())
    GTEST_SKIP() << "runtime built without cuda.h";
  ::setenv("MOERT_CUDA_DRIVER", "/nonexistent/libcuda.so.1", 1);
  expectError(good("--device cuda"),
              "--device=cuda: no CUDA driver: cannot load "
              "/nonexistent/libcuda.so.1");
  std::string NoDevice = fakeModel("fake_cuda_driver_no_device");
  ::setenv("MOERT_CUDA_DRIVER", NoDevice.c_str(), 1);
  expectError(good("--device cuda"),
              "--device=cuda: the CUDA driver (" + NoDevice +
                  ") found no usable GPU: cuInit failed: CUDA_ERROR_NO_DEVICE");
  ::setenv("MOERT_CUDA_DRIVER", fakeModel("fake_cuda_driver").c_str(), 1);
  expectError(
      good("--device cuda:1"),
      "--device=cuda:1: there is no CUDA device 1 (this machine has 1)");
  expectError(good("--device=cuda"),
              "--device=cuda: found Fake GPU (sm_90, 80.0 GiB) with CUDA "
              "driver 13.0, but " +
                  Model +
                  " holds CPU code (compile it with moe-compile "
                  "--target=cuda)");
  ::unsetenv("MOERT_CUDA_DRIVER");
}

TEST_F(MoeRunTest, ModelErrors) {
  expectError("/nonexistent/m.so --input " + Fix.Input,
              "cannot open '/nonexistent/m.so': No such file or directory");
  std::string Text = Dir + "/text.so";
  writeText(Text, "hello\n");
  expectError(Text, "cannot load model '" + Text + "': ");
  expectError(fakeModel("fake_model_abi1"),
              "model was built for ABI version 1, this runtime implements "
              "version 3");
  expectError(fakeModel("fake_model_no_forward"),
              "missing symbol 'moert_forward'");
  expectError(fakeModel("fake_model_bad_metadata"), "metadata: not valid JSON");
}

TEST_F(MoeRunTest, InputErrors) {
  expectError(Model + " --weights " + Fix.Weights, "missing input 'x'");
  expectError(Model + " --weights " + Fix.Weights + " --input " + Dir +
                  "/none.npy",
              "cannot open '" + Dir + "/none.npy': No such file or directory");
  std::string I32 = Dir + "/i32.npy";
  writeNpy(I32, Tensor(DType::I32, {5, 4}));
  expectError(Model + " --weights " + Fix.Weights + " --input " + I32,
              "input 'x': expected dtype f32, got i32");
  std::string Shape = Dir + "/shape.npy";
  writeNpy(Shape, Tensor(DType::F32, {5, 3}));
  expectError(Model + " --weights " + Fix.Weights + " --input " + Shape,
              "input 'x': expected shape [T, 4], got [5, 3]");
  std::vector<uint8_t> Bytes = encodeNpy(Tensor(DType::F32, {5, 4}));
  Bytes.resize(Bytes.size() - 3);
  std::string Trunc = Dir + "/trunc.npy";
  writeBytes(Trunc, Bytes);
  expectError(Model + " --weights " + Fix.Weights + " --input " + Trunc,
              Trunc + ": truncated data");
  std::string Garbage = Dir + "/garbage.npy";
  writeText(Garbage, "not numpy");
  expectError(Model + " --weights " + Fix.Weights + " --input " + Garbage,
              Garbage + ": not a .npy file");
}

TEST_F(MoeRunTest, WeightErrors) {
  expectError(Model + " --input " + Fix.Input,
              "model has weights (w.{e}, b) but no weights file was given");
  expectError(Model + " --input " + Fix.Input + " --weights " + Dir +
                  "/none.safetensors",
              "cannot open '" + Dir + "/none.safetensors'");
  std::string Corrupt = Dir + "/corrupt.safetensors";
  writeBytes(Corrupt, safetensorsImage("{\"w.0\": ", {}));
  expectError(Model + " --input " + Fix.Input + " --weights " + Corrupt,
              Corrupt + ": header is not valid JSON");
  std::vector<uint8_t> Image = safetensorsImage(fakeWeightTensors());
  Image.resize(Image.size() - 4);
  std::string Trunc = Dir + "/trunc.safetensors";
  writeBytes(Trunc, Image);
  expectError(Model + " --input " + Fix.Input + " --weights " + Trunc,
              "out of bounds of the");
  auto NoB = fakeWeightTensors();
  NoB.erase(NoB.begin() + 2);
  std::string Missing = Dir + "/nob.safetensors";
  writeBytes(Missing, safetensorsImage(NoB));
  expectError(Model + " --input " + Fix.Input + " --weights " + Missing,
              Missing + ": missing weight 'b'");
}
