//===- elf_check.cpp - Refusing truncated shared libraries ----------------===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//

#include "elf_check.h"
#include "file_util.h"
#include "moert/error.h"

#include <cstdint>
#include <cstring>
#include <vector>

using namespace moert;

namespace {

uint64_t readLE(const std::vector<uint8_t> &Bytes, size_t Offset,
                unsigned Size) {
  uint64_t V = 0;
  for (unsigned I = 0; I < Size; ++I)
    V |= static_cast<uint64_t>(Bytes[Offset + I]) << (8 * I);
  return V;
}

/// Whether [Offset, Offset + Count * Size) lies within \p FileSize.
bool fits(uint64_t Offset, uint64_t Count, uint64_t Size, uint64_t FileSize) {
  if (Size != 0 && Count > (UINT64_MAX - Offset) / Size)
    return false;
  return Offset + Count * Size <= FileSize;
}

} // namespace

void detail::checkElfComplete(const std::string &Path) {
  std::vector<uint8_t> Bytes = readFile(Path);
  constexpr size_t kHeaderSize = 64;
  if (Bytes.size() < kHeaderSize ||
      std::memcmp(Bytes.data(),
                  "\x7f"
                  "ELF",
                  4) != 0 ||
      Bytes[4] != 2 /*ELFCLASS64*/ || Bytes[5] != 1 /*ELFDATA2LSB*/)
    return;
  uint64_t Size = Bytes.size();
  auto truncated = [&](const std::string &What, uint64_t End) {
    return Error("cannot load model '" + Path +
                 "': truncated shared library (" + What + " ends at byte " +
                 std::to_string(End) + ", the file has " +
                 std::to_string(Size) + ")");
  };
  uint64_t PhOff = readLE(Bytes, 0x20, 8), ShOff = readLE(Bytes, 0x28, 8);
  uint64_t PhEntSize = readLE(Bytes, 0x36, 2), PhNum = readLE(Bytes, 0x38, 2);
  uint64_t ShEntSize = readLE(Bytes, 0x3A, 2), ShNum = readLE(Bytes, 0x3C, 2);
  if (!fits(PhOff, PhNum, PhEntSize, Size))
    throw truncated("the program header table", PhOff + PhNum * PhEntSize);
  if (ShOff != 0 && !fits(ShOff, ShNum, ShEntSize, Size))
    throw truncated("the section header table", ShOff + ShNum * ShEntSize);
  constexpr uint32_t kLoad = 1; // PT_LOAD
  if (PhEntSize < 48)
    return;
  for (uint64_t I = 0; I < PhNum; ++I) {
    size_t Entry = PhOff + I * PhEntSize;
    if (readLE(Bytes, Entry, 4) != kLoad)
      continue;
    uint64_t Offset = readLE(Bytes, Entry + 8, 8);
    uint64_t FileSz = readLE(Bytes, Entry + 32, 8);
    if (!fits(Offset, 1, FileSz, Size))
      throw truncated("a loadable segment", Offset + FileSz);
  }
}
