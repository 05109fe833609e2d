//===- half.cpp - 16-bit float widening -----------------------------------===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//

#include "moert/half.h"

#include <cmath>
#include <cstring>

using namespace moert;

static float fromBits(uint32_t Bits) {
  float F;
  std::memcpy(&F, &Bits, sizeof(F));
  return F;
}

float moert::halfToFloat(uint16_t Bits) {
  uint32_t Sign = static_cast<uint32_t>(Bits >> 15) << 31;
  uint32_t Exp = (Bits >> 10) & 0x1f;
  uint32_t Mant = Bits & 0x3ff;
  if (Exp == 0x1f) // Inf or NaN: keep the payload in the high mantissa bits.
    return fromBits(Sign | 0x7f800000u | (Mant << 13));
  if (Exp == 0) {
    // Zero or subnormal: Mant * 2^-24 is exact in float.
    float F = std::ldexp(static_cast<float>(Mant), -24);
    return Sign ? -F : F;
  }
  // Normal: rebias the exponent from 15 to 127.
  return fromBits(Sign | ((Exp + 112) << 23) | (Mant << 13));
}

float moert::bfloat16ToFloat(uint16_t Bits) {
  // bfloat16 is the top half of a float, so widening is a shift.
  return fromBits(static_cast<uint32_t>(Bits) << 16);
}

uint16_t moert::floatToBfloat16(float Value) {
  uint32_t Bits;
  std::memcpy(&Bits, &Value, sizeof(Bits));
  if ((Bits & 0x7fffffffu) > 0x7f800000u) // NaN: keep the sign, make it quiet.
    return static_cast<uint16_t>((Bits >> 16) | 0x0040u);
  // Round to nearest even: add 0x7fff plus the lowest kept bit, then cut.
  // A carry out of the mantissa bumps the exponent, up to infinity.
  uint32_t Lsb = (Bits >> 16) & 1u;
  return static_cast<uint16_t>((Bits + 0x7fffu + Lsb) >> 16);
}
