//===- half.h - 16-bit float widening ---------------------------*- C++ -*-===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//
///
/// \file
/// Exact conversions of IEEE binary16 and bfloat16 bit patterns to float, used
/// to load 16-bit checkpoints into f32 weights. Both keep subnormals, signed
/// zeros, infinities and NaN (payload included) exact.
///
//===----------------------------------------------------------------------===//

#ifndef MOERT_HALF_H
#define MOERT_HALF_H

#include <cstdint>

namespace moert {

/// Widens an IEEE binary16 bit pattern to float.
float halfToFloat(uint16_t Bits);

/// Widens a bfloat16 bit pattern to float.
float bfloat16ToFloat(uint16_t Bits);

} // namespace moert

#endif // MOERT_HALF_H
