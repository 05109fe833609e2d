//===- metadata_fuzzer.cpp - Fuzz target for model metadata JSON ----------===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//

#include "moert/error.h"
#include "moert/metadata.h"

#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *Data, size_t Size) {
  try {
    moert::parseMetadata(
        std::string_view(reinterpret_cast<const char *>(Data), Size));
  } catch (const moert::Error &) {
  }
  return 0;
}
