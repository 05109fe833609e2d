//===- safetensors_fuzzer.cpp - Fuzz target for safetensors validation ----===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//
//
// Any input must either validate or throw moert::Error; every tensor of a
// valid file must then be readable (as f32 or its own type) without running
// off the buffer.
//
//===----------------------------------------------------------------------===//

#include "moert/error.h"
#include "moert/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *Data, size_t Size) {
  try {
    moert::SafetensorsFile F = moert::SafetensorsFile::fromBuffer(
        std::vector<uint8_t>(Data, Data + Size), "fuzz.safetensors");
    for (auto &KV : F.entries()) {
      for (moert::DType To : {moert::DType::F32, moert::DType::I64}) {
        try {
          F.read(KV.first, To);
        } catch (const moert::Error &) {
        }
      }
    }
  } catch (const moert::Error &) {
  }
  return 0;
}
