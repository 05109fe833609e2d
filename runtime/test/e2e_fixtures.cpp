//===- e2e_fixtures.cpp - Fixture writer and checker for CTest e2e runs ---===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//
//
//   moert-e2e-fixtures write DIR   writes DIR/x.npy and DIR/w.safetensors
//   moert-e2e-fixtures check DIR   compares DIR/y.npy with the expected y
//
// Lets plain CTest tests drive the moe-run binary on the fake model without
// Python.
//
//===----------------------------------------------------------------------===//

#include "moert/error.h"
#include "moert/npy.h"
#include "test_util.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>

using namespace moert;

int main(int Argc, char **Argv) {
  if (Argc != 3) {
    std::fprintf(stderr, "usage: %s write|check DIR\n", Argv[0]);
    return 2;
  }
  std::string Mode = Argv[1], Dir = Argv[2];
  try {
    std::filesystem::create_directories(Dir);
    std::string Tmp = Dir + "/expected";
    std::filesystem::create_directories(Tmp);
    // Writing the fixtures is also how the expected output is computed.
    test::FakeFixtures F = test::writeFakeFixtures(Mode == "write" ? Dir : Tmp);
    if (Mode == "write")
      return 0;
    Tensor Y = readNpy(Dir + "/y.npy");
    if (Y.dtype() != DType::F32 ||
        static_cast<size_t>(Y.numElements()) != F.ExpectedY.size()) {
      std::fprintf(stderr, "check: y.npy has the wrong dtype or size\n");
      return 1;
    }
    for (size_t I = 0; I < F.ExpectedY.size(); ++I)
      if (std::fabs(Y.dataAs<float>()[I] - F.ExpectedY[I]) > 1e-6f) {
        std::fprintf(stderr, "check: y[%zu] = %g, expected %g\n", I,
                     Y.dataAs<float>()[I], F.ExpectedY[I]);
        return 1;
      }
    std::printf("check: y.npy matches\n");
    return 0;
  } catch (const Error &E) {
    std::fprintf(stderr, "check: error: %s\n", E.what());
    return 1;
  }
}
