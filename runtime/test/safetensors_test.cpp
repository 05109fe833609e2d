//===- safetensors_test.cpp - Tests of safetensors validation and reads ---===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//

#include "moert/error.h"
#include "moert/safetensors.h"
#include "test_util.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

using namespace moert;
using namespace moert::test;
using ::testing::HasSubstr;

namespace {

std::string openError(const std::vector<uint8_t> &Image) {
  try {
    SafetensorsFile::fromBuffer(Image, "w.st");
  } catch (const Error &E) {
    return E.what();
  }
  return "no error";
}

std::string headerError(const std::string &Header, size_t DataBytes = 16) {
  return openError(safetensorsImage(Header, std::vector<uint8_t>(DataBytes)));
}

std::vector<uint8_t> u16Bytes(const std::vector<uint16_t> &V) {
  std::vector<uint8_t> Out;
  for (uint16_t X : V) {
    Out.push_back(static_cast<uint8_t>(X));
    Out.push_back(static_cast<uint8_t>(X >> 8));
  }
  return Out;
}

} // namespace

TEST(Safetensors, ValidFile) {
  std::string Path = scratchDir() + "/w.safetensors";
  writeBytes(Path, safetensorsImage(fakeWeightTensors()));
  SafetensorsFile F = SafetensorsFile::open(Path);
  EXPECT_EQ(F.entries().size(), 5u);
  ASSERT_NE(F.find("w.1"), nullptr);
  EXPECT_EQ(F.find("w.1")->Shape, (std::vector<int64_t>{4}));
  EXPECT_EQ(F.find("__metadata__"), nullptr);
  Tensor T = F.read("w.0", DType::F32);
  EXPECT_EQ(T.dataAs<float>()[3], 4.0f);
}

TEST(Safetensors, EmptyTensorsAndHeaderPadding) {
  // Zero-size tensors may share offsets; trailing header spaces are allowed.
  auto Image = safetensorsImage(
      "{\"a\": {\"dtype\": \"F32\", \"shape\": [0, 3], \"data_offsets\": "
      "[0, 0]}, \"b\": {\"dtype\": \"F32\", \"shape\": [0], "
      "\"data_offsets\": [0, 0]}}     ",
      {});
  EXPECT_EQ(SafetensorsFile::fromBuffer(Image, "w").entries().size(), 2u);
}

TEST(Safetensors, TooShort) {
  EXPECT_EQ(openError({1, 2, 3}),
            "w.st: file is 3 bytes, too short for the 8-byte header length");
  std::string Path = scratchDir() + "/empty.safetensors";
  writeBytes(Path, {});
  EXPECT_THROW(SafetensorsFile::open(Path), Error);
}

TEST(Safetensors, BadHeaderLength) {
  auto Image = safetensorsImage("{}", {});
  Image[0] = 200; // claims 200 header bytes, file has 2
  EXPECT_THAT(openError(Image),
              HasSubstr("header length 200 exceeds the 2 bytes after the "
                        "length field"));
  Image[0] = 0;
  Image[7] = 1; // 2^56
  EXPECT_THAT(openError(Image), HasSubstr("exceeds the limit of 100000000"));
}

TEST(Safetensors, BadJson) {
  EXPECT_THAT(headerError("{\"a\": "), HasSubstr("header is not valid JSON"));
  EXPECT_THAT(headerError("[1, 2]"), HasSubstr("header is not a JSON object"));
  EXPECT_EQ(headerError("{\"a\": 77E7777}"),
            "w.st: header is not valid JSON (number out of range)");
  EXPECT_THAT(headerError("{\"a\": 3}"),
              HasSubstr("tensor 'a': entry is not a JSON object"));
}

TEST(Safetensors, MissingFields) {
  EXPECT_THAT(
      headerError("{\"a\": {\"shape\": [1], \"data_offsets\": [0, 4]}}"),
      HasSubstr("w.st: tensor 'a': missing or non-string 'dtype'"));
  EXPECT_THAT(
      headerError("{\"a\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}"),
      HasSubstr("tensor 'a': missing or non-array 'shape'"));
  EXPECT_THAT(headerError("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], "
                          "\"data_offsets\": [0]}}"),
              HasSubstr("tensor 'a': 'data_offsets' is not a [begin, end]"));
  EXPECT_THAT(headerError("{\"a\": {\"dtype\": \"F32\", \"shape\": [-1], "
                          "\"data_offsets\": [0, 4]}}"),
              HasSubstr("tensor 'a': shape has a dimension that is not"));
  EXPECT_THAT(headerError("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], "
                          "\"data_offsets\": [0, 4.5]}}"),
              HasSubstr("'data_offsets' are not non-negative integers"));
}

TEST(Safetensors, UnknownDType) {
  EXPECT_THAT(headerError("{\"a\": {\"dtype\": \"Q4\", \"shape\": [1], "
                          "\"data_offsets\": [0, 4]}}"),
              HasSubstr("w.st: tensor 'a': unknown dtype 'Q4'"));
}

TEST(Safetensors, OutOfBounds) {
  EXPECT_THAT(headerError("{\"a\": {\"dtype\": \"F32\", \"shape\": [8], "
                          "\"data_offsets\": [0, 32]}}"),
              HasSubstr("w.st: tensor 'a': data_offsets [0, 32] out of "
                        "bounds of the 16-byte data section"));
  EXPECT_THAT(headerError("{\"a\": {\"dtype\": \"F32\", \"shape\": [0], "
                          "\"data_offsets\": [8, 4]}}"),
              HasSubstr("has begin > end"));
}

TEST(Safetensors, SizeMismatch) {
  EXPECT_THAT(headerError("{\"a\": {\"dtype\": \"F32\", \"shape\": [2, 2], "
                          "\"data_offsets\": [0, 12]}}"),
              HasSubstr("w.st: tensor 'a': data_offsets [0, 12] span 12 "
                        "bytes but shape [2, 2] of F32 needs 16"));
  // A shape whose byte size overflows must not wrap around to a match.
  EXPECT_THAT(headerError("{\"a\": {\"dtype\": \"F64\", \"shape\": "
                          "[2305843009213693952], \"data_offsets\": [0, 0]}}"),
              HasSubstr("tensor 'a'"));
  EXPECT_THAT(headerError("{\"a\": {\"dtype\": \"F32\", \"shape\": "
                          "[4294967296, 4294967296, 4], "
                          "\"data_offsets\": [0, 0]}}"),
              HasSubstr("tensor 'a'"));
}

TEST(Safetensors, Overlap) {
  EXPECT_THAT(headerError("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], "
                          "\"data_offsets\": [0, 8]}, "
                          "\"b\": {\"dtype\": \"F32\", \"shape\": [2], "
                          "\"data_offsets\": [4, 12]}}"),
              HasSubstr("w.st: tensors 'a' and 'b' overlap (bytes [0, 8) and "
                        "[4, 12))"));
}

TEST(Safetensors, MetadataEntryIgnored) {
  EXPECT_EQ(headerError("{\"__metadata__\": {\"k\": \"v\"}}"), "no error");
}

TEST(Safetensors, Float16ToF32) {
  auto Image = safetensorsImage(
      {{"h", "F16", {5}, u16Bytes({0x3c00, 0x0001, 0x8000, 0x7c00, 0x7e00})},
       {"b", "BF16", {4}, u16Bytes({0x3f80, 0x0001, 0xff80, 0x7fc0})}});
  SafetensorsFile F = SafetensorsFile::fromBuffer(Image, "w");
  Tensor H = F.read("h", DType::F32);
  const float *P = H.dataAs<float>();
  EXPECT_EQ(P[0], 1.0f);
  EXPECT_EQ(P[1], std::ldexp(1.0f, -24));
  EXPECT_TRUE(std::signbit(P[2]) && P[2] == 0.0f);
  EXPECT_EQ(P[3], std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(P[4]));
  Tensor B = F.read("b", DType::F32);
  const float *Q = B.dataAs<float>();
  EXPECT_EQ(Q[0], 1.0f);
  EXPECT_EQ(Q[1], std::ldexp(1.0f, -133));
  EXPECT_EQ(Q[2], -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(Q[3]));
  // Same-type copies keep the bits.
  Tensor B16 = F.read("b", DType::BF16);
  EXPECT_EQ(B16.dataAs<uint16_t>()[1], 0x0001);
}

TEST(Safetensors, NarrowsToBfloat16) {
  // 1 + 2^-8 is a tie between bf16 neighbours 1 and 1 + 2^-7: to even, 1.
  float F32[] = {1.0f, 1.0f + std::ldexp(1.0f, -8), -3.0f};
  std::vector<uint8_t> Bytes(sizeof(F32));
  std::memcpy(Bytes.data(), F32, sizeof(F32));
  auto Image =
      safetensorsImage({{"f", "F32", {3}, Bytes},
                        {"h", "F16", {2}, u16Bytes({0x3c00, 0xc000})}});
  SafetensorsFile F = SafetensorsFile::fromBuffer(Image, "w");
  Tensor Rounded = F.read("f", DType::BF16);
  const uint16_t *P = Rounded.dataAs<uint16_t>();
  EXPECT_EQ(P[0], 0x3f80);
  EXPECT_EQ(P[1], 0x3f80);
  EXPECT_EQ(P[2], 0xc040);
  Tensor FromHalf = F.read("h", DType::BF16);
  const uint16_t *Q = FromHalf.dataAs<uint16_t>();
  EXPECT_EQ(Q[0], 0x3f80);
  EXPECT_EQ(Q[1], 0xc000);
}

TEST(Safetensors, Integers) {
  std::vector<uint8_t> I32 = {1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
  auto Image = safetensorsImage({{"i", "I32", {2}, I32}});
  SafetensorsFile F = SafetensorsFile::fromBuffer(Image, "w");
  EXPECT_EQ(F.read("i", DType::I32).dataAs<int32_t>()[1], -1);
  Tensor W = F.read("i", DType::I64);
  EXPECT_EQ(W.dataAs<int64_t>()[0], 1);
  EXPECT_EQ(W.dataAs<int64_t>()[1], -1);
}

TEST(Safetensors, UnsupportedConversion) {
  auto Image = safetensorsImage(fakeWeightTensors());
  SafetensorsFile F = SafetensorsFile::fromBuffer(Image, "w.st");
  try {
    F.read("unused.f64", DType::F32);
    FAIL() << "no error";
  } catch (const Error &E) {
    EXPECT_STREQ(E.what(), "w.st: tensor 'unused.f64' has dtype F64, which "
                           "cannot be loaded as f32 (only widening "
                           "conversions, and f32/f16 to bf16, are done)");
  }
  EXPECT_THROW(F.read("w.0", DType::F16), Error); // narrowing
  EXPECT_THROW(F.read("w.0", DType::I32), Error);
}

TEST(Safetensors, MissingFile) {
  try {
    SafetensorsFile::open("/nonexistent/w.safetensors");
    FAIL() << "no error";
  } catch (const Error &E) {
    EXPECT_STREQ(E.what(), "cannot open '/nonexistent/w.safetensors': No such "
                           "file or directory");
  }
}
