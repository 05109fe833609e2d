//===- npy.h - NumPy .npy files ---------------------------------*- C++ -*-===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//
///
/// \file
/// Reading and writing NumPy `.npy` files. Reads format versions 1.0, 2.0 and
/// 3.0 with little-endian `<f4`, `<f2`, `<i4` and `<i8` data in C order;
/// writes version 1.0 (2.0 if the header would not fit). bf16 has no `.npy`
/// spelling and cannot be written.
///
//===----------------------------------------------------------------------===//

#ifndef MOERT_NPY_H
#define MOERT_NPY_H

#include "moert/tensor.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace moert {

/// Parses the image of a whole `.npy` file; \p Name names it in messages.
/// Throws Error on anything malformed or unsupported.
Tensor parseNpy(const uint8_t *Data, size_t Size, const std::string &Name);

/// Reads the `.npy` file at \p Path.
Tensor readNpy(const std::string &Path);

/// Encodes \p T as a `.npy` file image.
std::vector<uint8_t> encodeNpy(const Tensor &T);

/// Writes \p T to \p Path as a `.npy` file.
void writeNpy(const std::string &Path, const Tensor &T);

} // namespace moert

#endif // MOERT_NPY_H
