//===- safetensors.h - Memory-mapped safetensors checkpoints ----*- C++ -*-===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//
///
/// \file
/// A validated, memory-mapped safetensors file. Opening checks the whole
/// header (sizes, JSON shape, dtypes, offsets in bounds, byte counts, no
/// overlap) so that reading a tensor afterwards cannot run off the mapping.
/// Tensors are copied out on demand with dtype conversion.
///
//===----------------------------------------------------------------------===//

#ifndef MOERT_SAFETENSORS_H
#define MOERT_SAFETENSORS_H

#include "moert/tensor.h"

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace moert {

/// The largest header the loader accepts; real headers are a few MB at most.
inline constexpr uint64_t kMaxSafetensorsHeader = 100ull * 1000 * 1000;

/// One tensor of a safetensors header.
struct SafetensorsEntry {
  std::string Name;
  /// The safetensors dtype spelling ("F32", "BF16", ...).
  std::string DType;
  std::vector<int64_t> Shape;
  /// Byte range [Begin, End) inside the data section.
  uint64_t Begin = 0;
  uint64_t End = 0;
};

/// A validated safetensors file.
class SafetensorsFile {
public:
  /// Maps and validates the file at \p Path.
  static SafetensorsFile open(const std::string &Path);
  /// Validates an in-memory file image; \p Name names it in messages.
  static SafetensorsFile fromBuffer(std::vector<uint8_t> Bytes,
                                    const std::string &Name);

  /// The path or name used in messages.
  const std::string &name() const { return Name; }
  /// All tensors by name (`__metadata__` excluded).
  const std::map<std::string, SafetensorsEntry> &entries() const {
    return Entries;
  }
  /// The tensor called \p TensorName, or null.
  const SafetensorsEntry *find(const std::string &TensorName) const;

  /// Copies \p Entry into \p Dst, which holds its element count of \p To
  /// elements. Widening conversions (F16/BF16/F32 to f32, I32 to i64),
  /// same-type copies, and F32/F16 to bf16 rounded to nearest even (a bf16
  /// model's weights from a wider checkpoint); anything else throws Error.
  void readInto(const SafetensorsEntry &Entry, DType To, void *Dst) const;
  /// Like readInto, for rows [First, First + Count) of dim 0 only (a scalar
  /// has one row). Only their pages of the mapping are touched.
  void readRowsInto(const SafetensorsEntry &Entry, DType To, void *Dst,
                    int64_t First, int64_t Count) const;

  /// Reads the tensor \p TensorName as a new \p To tensor.
  Tensor read(const std::string &TensorName, DType To) const;

private:
  SafetensorsFile() = default;
  void parse();

  std::string Name;
  /// Keeps the mapping (or owned buffer) alive; shared so copies are cheap.
  std::shared_ptr<const uint8_t> Base;
  size_t Size = 0;
  const uint8_t *DataSection = nullptr;
  size_t DataSize = 0;
  std::map<std::string, SafetensorsEntry> Entries;
};

} // namespace moert

#endif // MOERT_SAFETENSORS_H
