//===- test_util.cpp - Helpers shared by the runtime tests ----------------===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//

#include "test_util.h"
#include "moert/npy.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace moert;
namespace fs = std::filesystem;

std::string test::scratchDir() {
  const ::testing::TestInfo *Info =
      ::testing::UnitTest::GetInstance()->current_test_info();
  std::string Leaf =
      Info ? std::string(Info->test_suite_name()) + "." + Info->name()
           : "moert-scratch";
  fs::path Dir = fs::path(::testing::TempDir()) /
                 ("moert-" + std::to_string(::getpid())) / Leaf;
  fs::remove_all(Dir);
  fs::create_directories(Dir);
  return Dir.string();
}

void test::writeBytes(const std::string &Path,
                      const std::vector<uint8_t> &Bytes) {
  std::ofstream Out(Path, std::ios::binary);
  Out.write(reinterpret_cast<const char *>(Bytes.data()),
            static_cast<std::streamsize>(Bytes.size()));
  if (!Out)
    ADD_FAILURE() << "cannot write " << Path;
}

void test::writeText(const std::string &Path, const std::string &Text) {
  writeBytes(Path, std::vector<uint8_t>(Text.begin(), Text.end()));
}

std::vector<uint8_t> test::safetensorsImage(const std::string &Header,
                                            const std::vector<uint8_t> &Data) {
  std::vector<uint8_t> Out;
  uint64_t N = Header.size();
  for (int I = 0; I < 8; ++I)
    Out.push_back(static_cast<uint8_t>(N >> (8 * I)));
  Out.insert(Out.end(), Header.begin(), Header.end());
  Out.insert(Out.end(), Data.begin(), Data.end());
  return Out;
}

std::vector<uint8_t>
test::safetensorsImage(const std::vector<StTensor> &Tensors) {
  std::string Header = "{\"__metadata__\": {\"format\": \"pt\"}";
  std::vector<uint8_t> Data;
  for (const StTensor &T : Tensors) {
    std::string Shape;
    for (int64_t D : T.Shape)
      Shape += (Shape.empty() ? "" : ",") + std::to_string(D);
    Header += ", \"" + T.Name + "\": {\"dtype\": \"" + T.DType +
              "\", \"shape\": [" + Shape + "], \"data_offsets\": [" +
              std::to_string(Data.size()) + ", " +
              std::to_string(Data.size() + T.Bytes.size()) + "]}";
    Data.insert(Data.end(), T.Bytes.begin(), T.Bytes.end());
  }
  return safetensorsImage(Header + "}", Data);
}

std::vector<uint8_t> test::f32Bytes(const std::vector<float> &Values) {
  std::vector<uint8_t> Out(Values.size() * 4);
  if (!Values.empty())
    std::memcpy(Out.data(), Values.data(), Out.size());
  return Out;
}

Tensor test::makeF32(std::vector<int64_t> Shape,
                     const std::vector<float> &Values) {
  Tensor T(DType::F32, std::move(Shape));
  EXPECT_EQ(static_cast<size_t>(T.numElements()), Values.size());
  if (!Values.empty())
    std::memcpy(T.data(), Values.data(), Values.size() * 4);
  return T;
}

std::string test::fakeModel(const std::string &Variant) {
  return std::string(MOERT_TEST_MODELS_DIR) + "/" + Variant + ".so";
}

// Weights chosen exactly representable in bf16 so conversion tests can reuse
// them.
static const std::vector<float> kW0 = {1, 2, 3, 4};
static const std::vector<float> kW1 = {0.5f, 0.5f, 0.5f, 0.5f};
static const std::vector<float> kB = {0.25f, -1, 2, 0};

std::vector<test::StTensor> test::fakeWeightTensors() {
  return {{"w.0", "F32", {4}, f32Bytes(kW0)},
          {"w.1", "F32", {4}, f32Bytes(kW1)},
          {"b", "F32", {4}, f32Bytes(kB)},
          // Extra tensors, even of dtypes the runtime cannot load, are fine.
          {"unused.f64", "F64", {1}, std::vector<uint8_t>(8, 0)},
          {"unused.u8", "U8", {3}, {1, 2, 3}}};
}

test::FakeFixtures test::writeFakeFixtures(const std::string &Dir) {
  FakeFixtures F;
  F.Input = Dir + "/x.npy";
  F.Weights = Dir + "/w.safetensors";
  std::vector<float> X;
  for (int T = 0; T < 5; ++T)
    for (int J = 0; J < 4; ++J) {
      float V = static_cast<float>(T) - 0.5f * static_cast<float>(J);
      X.push_back(V);
      F.ExpectedY.push_back(V * (kW0[J] + kW1[J]) + kB[J]);
    }
  writeNpy(F.Input, makeF32({5, 4}, X));
  writeBytes(F.Weights, safetensorsImage(fakeWeightTensors()));
  return F;
}
