//===- tensor.h - Owning dense tensors --------------------------*- C++ -*-===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//
///
/// \file
/// The element types the ABI knows and an owning, contiguous, row-major
/// tensor used for inputs, weights, outputs and stats.
///
//===----------------------------------------------------------------------===//

#ifndef MOERT_TENSOR_H
#define MOERT_TENSOR_H

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace moert {

/// Element types of ABI arguments (the metadata's `dtype` spellings).
enum class DType : uint8_t { F32, F16, BF16, I32, I64 };

/// The size of one element of \p Type in bytes.
size_t dtypeSize(DType Type);

/// The metadata spelling of \p Type: "f32", "f16", "bf16", "i32", "i64".
const char *dtypeName(DType Type);

/// Parses a metadata dtype spelling; std::nullopt if unknown.
std::optional<DType> parseDType(std::string_view Name);

/// Formats \p Shape as "[2, 4]" for messages.
std::string formatShape(const std::vector<int64_t> &Shape);

/// The number of bytes of a \p Type tensor of \p Shape. Throws Error, with
/// \p What naming the tensor, on a negative dimension or an overflow.
size_t checkedByteSize(const std::vector<int64_t> &Shape, DType Type,
                       const std::string &What);

/// The number of elements of \p Shape. Throws Error, with \p What naming the
/// tensor, on a negative dimension or an overflow.
int64_t checkedNumElements(const std::vector<int64_t> &Shape,
                           const std::string &What);

/// An owning, zero-initialised, 64-byte aligned, row-major tensor.
class Tensor {
public:
  Tensor() = default;
  /// Allocates a zero-filled tensor; throws Error if the size overflows or
  /// memory runs out.
  Tensor(DType Type, std::vector<int64_t> Shape);

  DType dtype() const { return Type; }
  const std::vector<int64_t> &shape() const { return Shape; }
  size_t rank() const { return Shape.size(); }
  int64_t numElements() const;
  size_t byteSize() const { return Bytes; }

  void *data() { return Data.get(); }
  const void *data() const { return Data.get(); }
  template <typename T> T *dataAs() { return reinterpret_cast<T *>(data()); }
  template <typename T> const T *dataAs() const {
    return reinterpret_cast<const T *>(data());
  }

  /// Sets every byte to zero.
  void fillZero();

private:
  struct AlignedFree {
    void operator()(std::byte *P) const;
  };
  DType Type = DType::F32;
  std::vector<int64_t> Shape;
  size_t Bytes = 0;
  std::unique_ptr<std::byte[], AlignedFree> Data;
};

} // namespace moert

#endif // MOERT_TENSOR_H
