//===- tensor.cpp - Owning dense tensors ----------------------------------===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//

#include "moert/tensor.h"
#include "moert/abi.h"
#include "moert/error.h"

#include <cstring>
#include <limits>
#include <new>

using namespace moert;

// 64 bytes covers every vector width and a cache line.
static constexpr std::align_val_t kAlignment{64};

size_t moert::dtypeSize(DType Type) {
  switch (Type) {
  case DType::F32:
  case DType::I32:
    return 4;
  case DType::F16:
  case DType::BF16:
    return 2;
  case DType::I64:
    return 8;
  }
  return 0;
}

const char *moert::dtypeName(DType Type) {
  switch (Type) {
  case DType::F32:
    return abi::kDTypeF32;
  case DType::F16:
    return abi::kDTypeF16;
  case DType::BF16:
    return abi::kDTypeBF16;
  case DType::I32:
    return abi::kDTypeI32;
  case DType::I64:
    return abi::kDTypeI64;
  }
  return "?";
}

std::optional<DType> moert::parseDType(std::string_view Name) {
  for (DType T : {DType::F32, DType::F16, DType::BF16, DType::I32, DType::I64})
    if (Name == dtypeName(T))
      return T;
  return std::nullopt;
}

std::string moert::formatShape(const std::vector<int64_t> &Shape) {
  std::string S = "[";
  for (size_t I = 0; I < Shape.size(); ++I) {
    if (I)
      S += ", ";
    S += std::to_string(Shape[I]);
  }
  return S + "]";
}

int64_t moert::checkedNumElements(const std::vector<int64_t> &Shape,
                                  const std::string &What) {
  int64_t N = 1;
  for (int64_t D : Shape) {
    if (D < 0)
      throw Error(What + ": negative dimension in shape " + formatShape(Shape));
    if (D != 0 && N > std::numeric_limits<int64_t>::max() / D)
      throw Error(What + ": shape " + formatShape(Shape) + " is too large");
    N *= D;
  }
  return N;
}

size_t moert::checkedByteSize(const std::vector<int64_t> &Shape, DType Type,
                              const std::string &What) {
  int64_t N = checkedNumElements(Shape, What);
  size_t Elt = dtypeSize(Type);
  if (static_cast<uint64_t>(N) > std::numeric_limits<size_t>::max() / 2 / Elt)
    throw Error(What + ": shape " + formatShape(Shape) + " is too large");
  return static_cast<size_t>(N) * Elt;
}

void Tensor::AlignedFree::operator()(std::byte *P) const {
  ::operator delete[](P, kAlignment);
}

Tensor::Tensor(DType Type, std::vector<int64_t> Shape)
    : Type(Type), Shape(std::move(Shape)) {
  Bytes = checkedByteSize(this->Shape, Type, "tensor");
  // Allocate at least one byte so that even empty tensors get a real pointer
  // in their descriptor.
  size_t Alloc = Bytes ? Bytes : 1;
  std::byte *P = static_cast<std::byte *>(
      ::operator new[](Alloc, kAlignment, std::nothrow));
  if (!P)
    throw Error("out of memory allocating a " + formatShape(this->Shape) + " " +
                dtypeName(Type) + " tensor (" + std::to_string(Bytes) +
                " bytes)");
  Data.reset(P);
  fillZero();
}

int64_t Tensor::numElements() const {
  int64_t N = 1;
  for (int64_t D : Shape)
    N *= D;
  return N;
}

void Tensor::fillZero() {
  if (Data)
    std::memset(Data.get(), 0, Bytes);
}
