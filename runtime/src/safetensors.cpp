//===- safetensors.cpp - Memory-mapped safetensors checkpoints ------------===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//
//
// Layout: an 8-byte little-endian header length N, N bytes of JSON mapping
// tensor names to {dtype, shape, data_offsets}, then the data section that
// the offsets index. Everything is validated at open so that later reads are
// plain bounded copies.
//
//===----------------------------------------------------------------------===//

#include "moert/safetensors.h"
#include "file_util.h"
#include "moert/error.h"
#include "moert/half.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <limits>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace moert;
using json = nlohmann::json;

/// Element size of a safetensors dtype, or 0 if the dtype is unknown. Known
/// dtypes the runtime cannot convert are still sized so that whole-model
/// checkpoints containing them validate.
static size_t stDTypeSize(const std::string &D) {
  static const std::pair<const char *, size_t> Sizes[] = {
      {"F64", 8},         {"F32", 4},        {"F16", 2},     {"BF16", 2},
      {"I64", 8},         {"I32", 4},        {"I16", 2},     {"I8", 1},
      {"U64", 8},         {"U32", 4},        {"U16", 2},     {"U8", 1},
      {"BOOL", 1},        {"F8_E4M3", 1},    {"F8_E5M2", 1}, {"F8_E8M0", 1},
      {"F8_E4M3FNUZ", 1}, {"F8_E5M2FNUZ", 1}};
  for (auto &[Name, Size] : Sizes)
    if (D == Name)
      return Size;
  return 0;
}

const SafetensorsEntry *
SafetensorsFile::find(const std::string &TensorName) const {
  auto It = Entries.find(TensorName);
  return It == Entries.end() ? nullptr : &It->second;
}

SafetensorsFile SafetensorsFile::open(const std::string &Path) {
  int Fd = ::open(Path.c_str(), O_RDONLY | O_CLOEXEC);
  if (Fd < 0)
    throw Error(detail::cannotOpen(Path, errno));
  struct stat St;
  if (::fstat(Fd, &St) != 0 || !S_ISREG(St.st_mode)) {
    ::close(Fd);
    throw Error("cannot open '" + Path + "': not a regular file");
  }
  SafetensorsFile F;
  F.Name = Path;
  F.Size = static_cast<size_t>(St.st_size);
  if (F.Size == 0) {
    // mmap refuses empty files; parse() reports the size error.
    ::close(Fd);
    F.Base = std::shared_ptr<const uint8_t>(new uint8_t[1],
                                            std::default_delete<uint8_t[]>());
  } else {
    void *P = ::mmap(nullptr, F.Size, PROT_READ, MAP_PRIVATE, Fd, 0);
    int Errno = errno;
    ::close(Fd);
    if (P == MAP_FAILED)
      throw Error("cannot map '" + Path + "': " + std::strerror(Errno));
    size_t Size = F.Size;
    F.Base = std::shared_ptr<const uint8_t>(
        static_cast<const uint8_t *>(P),
        [Size](const uint8_t *Q) { ::munmap(const_cast<uint8_t *>(Q), Size); });
  }
  F.parse();
  return F;
}

SafetensorsFile SafetensorsFile::fromBuffer(std::vector<uint8_t> Bytes,
                                            const std::string &Name) {
  SafetensorsFile F;
  F.Name = Name;
  F.Size = Bytes.size();
  auto Owner = std::make_shared<std::vector<uint8_t>>(std::move(Bytes));
  // Alias the vector's storage; the control block keeps the vector alive.
  F.Base = std::shared_ptr<const uint8_t>(Owner, Owner->data());
  F.parse();
  return F;
}

/// Reads a non-negative integer JSON value that fits int64, or fails.
static bool getIndex(const json &V, uint64_t &Out) {
  if (V.is_number_unsigned()) {
    Out = V.get<uint64_t>();
  } else if (V.is_number_integer()) {
    int64_t S = V.get<int64_t>();
    if (S < 0)
      return false;
    Out = static_cast<uint64_t>(S);
  } else {
    return false;
  }
  return Out <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
}

void SafetensorsFile::parse() {
  const uint8_t *P = Base.get();
  if (Size < 8)
    throw Error(Name + ": file is " + std::to_string(Size) +
                " bytes, too short for the 8-byte header length");
  uint64_t HeaderLen = 0;
  for (int I = 0; I < 8; ++I)
    HeaderLen |= static_cast<uint64_t>(P[I]) << (8 * I);
  if (HeaderLen > kMaxSafetensorsHeader)
    throw Error(Name + ": header length " + std::to_string(HeaderLen) +
                " exceeds the limit of " +
                std::to_string(kMaxSafetensorsHeader) + " bytes");
  if (HeaderLen > Size - 8)
    throw Error(Name + ": header length " + std::to_string(HeaderLen) +
                " exceeds the " + std::to_string(Size - 8) +
                " bytes after the length field (truncated file?)");
  const char *Text = reinterpret_cast<const char *>(P + 8);
  json Header;
  try {
    Header = json::parse(Text, Text + HeaderLen);
  } catch (const json::parse_error &E) {
    throw Error(Name + ": header is not valid JSON (error at byte " +
                std::to_string(E.byte) + ")");
  } catch (const json::exception &) {
    // nlohmann reports numbers too large for any JSON number type this way.
    throw Error(Name + ": header is not valid JSON (number out of range)");
  }
  if (!Header.is_object())
    throw Error(Name + ": header is not a JSON object");
  DataSection = P + 8 + HeaderLen;
  DataSize = Size - 8 - HeaderLen;

  for (auto &[Key, Value] : Header.items()) {
    if (Key == "__metadata__")
      continue;
    std::string What = Name + ": tensor '" + Key + "'";
    if (!Value.is_object())
      throw Error(What + ": entry is not a JSON object");
    auto DT = Value.find("dtype");
    auto Shape = Value.find("shape");
    auto Offsets = Value.find("data_offsets");
    if (DT == Value.end() || !DT->is_string())
      throw Error(What + ": missing or non-string 'dtype'");
    if (Shape == Value.end() || !Shape->is_array())
      throw Error(What + ": missing or non-array 'shape'");
    if (Offsets == Value.end() || !Offsets->is_array() || Offsets->size() != 2)
      throw Error(What + ": 'data_offsets' is not a [begin, end] pair");

    SafetensorsEntry E;
    E.Name = Key;
    E.DType = DT->get<std::string>();
    size_t Elt = stDTypeSize(E.DType);
    if (!Elt)
      throw Error(What + ": unknown dtype '" + E.DType + "'");
    for (const json &D : *Shape) {
      uint64_t Dim;
      if (!getIndex(D, Dim))
        throw Error(What + ": shape has a dimension that is not a "
                           "non-negative integer");
      E.Shape.push_back(static_cast<int64_t>(Dim));
    }
    if (!getIndex((*Offsets)[0], E.Begin) || !getIndex((*Offsets)[1], E.End))
      throw Error(What + ": 'data_offsets' are not non-negative integers");
    std::string Range =
        "[" + std::to_string(E.Begin) + ", " + std::to_string(E.End) + "]";
    if (E.Begin > E.End)
      throw Error(What + ": data_offsets " + Range + " has begin > end");
    if (E.End > DataSize)
      throw Error(What + ": data_offsets " + Range + " out of bounds of the " +
                  std::to_string(DataSize) + "-byte data section");
    // Sizes are bounded by the file, so the product cannot pass the check
    // unless it is exact; overflow is caught by checkedNumElements.
    uint64_t N = static_cast<uint64_t>(checkedNumElements(E.Shape, What));
    if (N > DataSize / Elt + 1 || N * Elt != E.End - E.Begin)
      throw Error(What + ": data_offsets " + Range + " span " +
                  std::to_string(E.End - E.Begin) + " bytes but shape " +
                  formatShape(E.Shape) + " of " + E.DType + " needs " +
                  (N > DataSize / Elt + 1 ? std::string("more than the file")
                                          : std::to_string(N * Elt)));
    Entries.emplace(Key, std::move(E));
  }

  // Overlap check: sort by begin; empty tensors overlap nothing.
  std::vector<const SafetensorsEntry *> ByBegin;
  for (auto &KV : Entries)
    if (KV.second.End > KV.second.Begin)
      ByBegin.push_back(&KV.second);
  std::sort(ByBegin.begin(), ByBegin.end(), [](auto *A, auto *B) {
    return A->Begin != B->Begin ? A->Begin < B->Begin : A->Name < B->Name;
  });
  for (size_t I = 1; I < ByBegin.size(); ++I) {
    const SafetensorsEntry *A = ByBegin[I - 1], *B = ByBegin[I];
    if (B->Begin < A->End)
      throw Error(Name + ": tensors '" + A->Name + "' and '" + B->Name +
                  "' overlap (bytes [" + std::to_string(A->Begin) + ", " +
                  std::to_string(A->End) + ") and [" +
                  std::to_string(B->Begin) + ", " + std::to_string(B->End) +
                  "))");
  }
}

template <typename T> static T load(const uint8_t *P, size_t I) {
  // Offsets in the data section are arbitrary, so never dereference.
  T V;
  std::memcpy(&V, P + I * sizeof(T), sizeof(T));
  return V;
}

void SafetensorsFile::readInto(const SafetensorsEntry &Entry, DType To,
                               void *Dst) const {
  readRowsInto(Entry, To, Dst, 0, Entry.Shape.empty() ? 1 : Entry.Shape[0]);
}

void SafetensorsFile::readRowsInto(const SafetensorsEntry &Entry, DType To,
                                   void *Dst, int64_t First,
                                   int64_t Count) const {
  size_t Total = Entry.End - Entry.Begin;
  int64_t Rows = Entry.Shape.empty() ? 1 : Entry.Shape[0];
  if (First < 0 || Count < 0 || First > Rows || Count > Rows - First)
    throw Error(Name + ": tensor '" + Entry.Name + "': rows [" +
                std::to_string(First) + ", " + std::to_string(First + Count) +
                ") are out of range (it has " + std::to_string(Rows) + ")");
  // The parser checked that the byte size matches the shape.
  size_t RowBytes = Rows ? Total / static_cast<size_t>(Rows) : 0;
  const uint8_t *Src = DataSection + Entry.Begin + First * RowBytes;
  size_t Bytes = static_cast<size_t>(Count) * RowBytes;
  size_t N = Bytes / stDTypeSize(Entry.DType);
  const std::string &From = Entry.DType;
  bool Same = (From == "F32" && To == DType::F32) ||
              (From == "F16" && To == DType::F16) ||
              (From == "BF16" && To == DType::BF16) ||
              (From == "I32" && To == DType::I32) ||
              (From == "I64" && To == DType::I64);
  if (Same) {
    if (Bytes)
      std::memcpy(Dst, Src, Bytes);
    return;
  }
  if (To == DType::F32 && (From == "F16" || From == "BF16")) {
    float *Out = static_cast<float *>(Dst);
    bool Half = From == "F16";
    for (size_t I = 0; I < N; ++I) {
      uint16_t B = load<uint16_t>(Src, I);
      Out[I] = Half ? halfToFloat(B) : bfloat16ToFloat(B);
    }
    return;
  }
  if (To == DType::BF16 && (From == "F32" || From == "F16")) {
    // A bf16 weight of the model from a wider checkpoint: rounded, as torch
    // rounds a model it casts to bf16.
    uint16_t *Out = static_cast<uint16_t *>(Dst);
    for (size_t I = 0; I < N; ++I)
      Out[I] =
          floatToBfloat16(From == "F32" ? load<float>(Src, I)
                                        : halfToFloat(load<uint16_t>(Src, I)));
    return;
  }
  if (To == DType::I64 && From == "I32") {
    int64_t *Out = static_cast<int64_t *>(Dst);
    for (size_t I = 0; I < N; ++I)
      Out[I] = load<int32_t>(Src, I);
    return;
  }
  throw Error(Name + ": tensor '" + Entry.Name + "' has dtype " + From +
              ", which cannot be loaded as " + dtypeName(To) +
              " (only widening conversions, and f32/f16 to bf16, are done)");
}

Tensor SafetensorsFile::read(const std::string &TensorName, DType To) const {
  const SafetensorsEntry *E = find(TensorName);
  if (!E)
    throw Error(Name + ": no tensor '" + TensorName + "'");
  Tensor T(To, E->Shape);
  readInto(*E, To, T.data());
  return T;
}
