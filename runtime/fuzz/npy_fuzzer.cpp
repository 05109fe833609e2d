//===- npy_fuzzer.cpp - Fuzz target for the .npy parser -------------------===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//
//
// Any input must either parse or throw moert::Error; a parsed tensor must
// re-encode and parse back to the same shape.
//
//===----------------------------------------------------------------------===//

#include "moert/error.h"
#include "moert/npy.h"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *Data, size_t Size) {
  try {
    moert::Tensor T = moert::parseNpy(Data, Size, "fuzz.npy");
    std::vector<uint8_t> Image = moert::encodeNpy(T);
    moert::Tensor U = moert::parseNpy(Image.data(), Image.size(), "again");
    if (U.shape() != T.shape() || U.dtype() != T.dtype())
      std::abort();
  } catch (const moert::Error &) {
  }
  return 0;
}
