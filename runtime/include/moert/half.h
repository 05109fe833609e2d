//===- half.h - 16-bit float widening ---------------------------*- C++ -*-===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//
///
/// \file
/// Exact conversions of IEEE binary16 and bfloat16 bit patterns to float, used
/// to load 16-bit checkpoints into f32 weights. Both keep subnormals, signed
/// zeros, infinities and NaN (payload included) exact. And the one narrowing
/// conversion, float to bfloat16 (for bf16 weights from an f32 or f16
/// checkpoint), rounded to nearest even as torch's `.to(torch.bfloat16)`.
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

/// Rounds a float to the nearest bfloat16 (ties to even); infinities stay
/// infinite, a NaN stays a (quiet) NaN of the same sign, and values past
/// bfloat16's largest finite one round to infinity.
uint16_t floatToBfloat16(float Value);

} // namespace moert

#endif // MOERT_HALF_H
