//===- half_test.cpp - Tests of f16/bf16 conversions ----------------------===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//

#include "moert/half.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

using namespace moert;

static uint32_t bitsOf(float F) {
  uint32_t B;
  std::memcpy(&B, &F, 4);
  return B;
}

TEST(Half, Normals) {
  EXPECT_EQ(halfToFloat(0x3c00), 1.0f);
  EXPECT_EQ(halfToFloat(0xc000), -2.0f);
  EXPECT_EQ(halfToFloat(0x3555), 0.333251953125f);
  EXPECT_EQ(halfToFloat(0x7bff), 65504.0f);              // largest finite
  EXPECT_EQ(halfToFloat(0x0400), std::ldexp(1.0f, -14)); // smallest normal
}

TEST(Half, ZerosAndSubnormals) {
  EXPECT_EQ(bitsOf(halfToFloat(0x0000)), 0u);
  EXPECT_EQ(bitsOf(halfToFloat(0x8000)), 0x80000000u);   // -0 keeps its sign
  EXPECT_EQ(halfToFloat(0x0001), std::ldexp(1.0f, -24)); // smallest subnormal
  EXPECT_EQ(halfToFloat(0x03ff), std::ldexp(1023.0f, -24));
  EXPECT_EQ(halfToFloat(0x8200), -std::ldexp(512.0f, -24));
}

TEST(Half, InfAndNaN) {
  EXPECT_EQ(halfToFloat(0x7c00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(halfToFloat(0xfc00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(halfToFloat(0x7e00)));
  EXPECT_TRUE(std::isnan(halfToFloat(0x7c01))); // signalling payload kept
  EXPECT_EQ(bitsOf(halfToFloat(0x7c01)), 0x7f802000u);
}

TEST(Half, Bfloat16) {
  EXPECT_EQ(bfloat16ToFloat(0x3f80), 1.0f);
  EXPECT_EQ(bfloat16ToFloat(0xc0a0), -5.0f);
  EXPECT_EQ(bfloat16ToFloat(0x3eaa), 0.33203125f);
  EXPECT_EQ(bfloat16ToFloat(0x0001), std::ldexp(1.0f, -133)); // subnormal
  EXPECT_EQ(bitsOf(bfloat16ToFloat(0x8000)), 0x80000000u);
  EXPECT_EQ(bfloat16ToFloat(0x7f80), std::numeric_limits<float>::infinity());
  EXPECT_EQ(bfloat16ToFloat(0xff80), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(bfloat16ToFloat(0x7fc0)));
  EXPECT_TRUE(std::isnan(bfloat16ToFloat(0xffc1)));
}

static float fromBits(uint32_t B) {
  float F;
  std::memcpy(&F, &B, 4);
  return F;
}

TEST(Half, FloatToBfloat16RoundsToNearestEven) {
  EXPECT_EQ(floatToBfloat16(1.0f), 0x3f80);
  EXPECT_EQ(floatToBfloat16(-5.0f), 0xc0a0);
  EXPECT_EQ(floatToBfloat16(fromBits(0x3f808000)), 0x3f80); // tie, even below
  EXPECT_EQ(floatToBfloat16(fromBits(0x3f818000)), 0x3f82); // tie, even above
  EXPECT_EQ(floatToBfloat16(fromBits(0x3f808001)), 0x3f81); // past the tie
  EXPECT_EQ(floatToBfloat16(fromBits(0x3f807fff)), 0x3f80);
  EXPECT_EQ(floatToBfloat16(-0.0f), 0x8000);
  EXPECT_EQ(floatToBfloat16(fromBits(0x00010000)), 0x0001); // subnormal
  EXPECT_EQ(floatToBfloat16(std::numeric_limits<float>::max()), 0x7f80);
  EXPECT_EQ(floatToBfloat16(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(floatToBfloat16(-std::numeric_limits<float>::infinity()), 0xff80);
  // NaN stays NaN (never rounds into infinity), sign kept.
  uint16_t N = floatToBfloat16(fromBits(0xff800001));
  EXPECT_TRUE(std::isnan(bfloat16ToFloat(N)));
  EXPECT_EQ(N & 0x8000, 0x8000);
  // Round trip of every bf16 value that is not NaN.
  for (uint32_t B = 0; B < 0x10000; ++B) {
    float F = bfloat16ToFloat(static_cast<uint16_t>(B));
    if (!std::isnan(F))
      EXPECT_EQ(floatToBfloat16(F), B);
  }
}
