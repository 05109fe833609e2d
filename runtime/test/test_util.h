//===- test_util.h - Helpers shared by the runtime tests --------*- C++ -*-===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//
///
/// \file
/// Builders for safetensors and .npy images, scratch paths, and the fixture
/// files (input, weights, expected output) of the fake model in
/// fake_model.c.
///
//===----------------------------------------------------------------------===//

#ifndef MOERT_TEST_TEST_UTIL_H
#define MOERT_TEST_TEST_UTIL_H

#include "moert/tensor.h"

#include <cstdint>
#include <string>
#include <vector>

namespace moert::test {

/// A fresh, empty scratch directory for the current test.
std::string scratchDir();

/// Writes \p Bytes to \p Path (test setup; aborts the test on failure).
void writeBytes(const std::string &Path, const std::vector<uint8_t> &Bytes);
void writeText(const std::string &Path, const std::string &Text);

/// A safetensors image: length prefix, \p Header verbatim, then \p Data.
std::vector<uint8_t> safetensorsImage(const std::string &Header,
                                      const std::vector<uint8_t> &Data);

/// One tensor to put in a safetensors image. Bytes are the raw data in
/// \p DType ("F32", "BF16", ...).
struct StTensor {
  std::string Name;
  std::string DType;
  std::vector<int64_t> Shape;
  std::vector<uint8_t> Bytes;
};

/// A well-formed safetensors image of \p Tensors laid out back to back.
std::vector<uint8_t> safetensorsImage(const std::vector<StTensor> &Tensors);

/// Raw little-endian bytes of \p Values.
std::vector<uint8_t> f32Bytes(const std::vector<float> &Values);

/// A tensor of \p Shape holding \p Values.
Tensor makeF32(std::vector<int64_t> Shape, const std::vector<float> &Values);

/// The path of a fake model variant built by the test CMakeLists.
std::string fakeModel(const std::string &Variant);

/// The fake model's canonical fixtures, T = 5.
struct FakeFixtures {
  std::string Input;   ///< x.npy, [5, 4] f32
  std::string Weights; ///< w.safetensors with w.0, w.1, b and extra tensors
  std::vector<float> ExpectedY;
};

/// Writes the fake model's fixtures into \p Dir.
FakeFixtures writeFakeFixtures(const std::string &Dir);

/// The weight tensors of the fixtures, for tests that vary them.
std::vector<StTensor> fakeWeightTensors();

} // namespace moert::test

#endif // MOERT_TEST_TEST_UTIL_H
