//===- npy_test.cpp - Tests of .npy reading and writing -------------------===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//

#include "moert/error.h"
#include "moert/npy.h"
#include "test_util.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

using namespace moert;
using ::testing::HasSubstr;

namespace {

/// A .npy image with a hand-written header dict and version.
std::vector<uint8_t> npyImage(const std::string &Dict,
                              const std::vector<uint8_t> &Data,
                              unsigned Major = 1) {
  std::vector<uint8_t> Out = {
      0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<uint8_t>(Major), 0};
  std::string H = Dict + "\n";
  size_t LenBytes = Major == 1 ? 2 : 4;
  for (size_t I = 0; I < LenBytes; ++I)
    Out.push_back(static_cast<uint8_t>(H.size() >> (8 * I)));
  Out.insert(Out.end(), H.begin(), H.end());
  Out.insert(Out.end(), Data.begin(), Data.end());
  return Out;
}

std::string parseError(const std::vector<uint8_t> &Image) {
  try {
    parseNpy(Image.data(), Image.size(), "t.npy");
  } catch (const Error &E) {
    return E.what();
  }
  return "no error";
}

const char *kF32Dict = "{'descr': '<f4', 'fortran_order': False, "
                       "'shape': (2, 3), }";

} // namespace

TEST(Npy, RoundTripEachDType) {
  for (DType Type : {DType::F32, DType::F16, DType::I32, DType::I64}) {
    Tensor T(Type, {2, 3});
    auto *P = static_cast<uint8_t *>(T.data());
    for (size_t I = 0; I < T.byteSize(); ++I)
      P[I] = static_cast<uint8_t>(I * 7 + 1);
    std::vector<uint8_t> Image = encodeNpy(T);
    // NumPy aligns the data to 64 bytes and ends the header with '\n'.
    size_t HeaderEnd = Image.size() - T.byteSize();
    EXPECT_EQ(HeaderEnd % 64, 0u);
    EXPECT_EQ(Image[HeaderEnd - 1], '\n');
    Tensor U = parseNpy(Image.data(), Image.size(), "t.npy");
    EXPECT_EQ(U.dtype(), Type);
    EXPECT_EQ(U.shape(), T.shape());
    EXPECT_EQ(std::memcmp(U.data(), T.data(), T.byteSize()), 0);
  }
}

TEST(Npy, RoundTripRanks) {
  for (std::vector<int64_t> Shape :
       {std::vector<int64_t>{}, {7}, {0, 3}, {2, 1, 3}}) {
    Tensor T(DType::F32, Shape);
    std::vector<uint8_t> Image = encodeNpy(T);
    Tensor U = parseNpy(Image.data(), Image.size(), "t.npy");
    EXPECT_EQ(U.shape(), Shape);
  }
}

TEST(Npy, HeaderSpellings) {
  // The dict runs from after the 10-byte v1.0 prefix to the '\n'.
  auto Header = [](const Tensor &T) {
    std::vector<uint8_t> Image = encodeNpy(T);
    std::string S(Image.begin() + 10, Image.end());
    return S.substr(0, S.find('\n'));
  };
  EXPECT_THAT(Header(Tensor(DType::F32, {7})), HasSubstr("'shape': (7,)"));
  std::string Scalar = Header(Tensor(DType::I64, {}));
  EXPECT_THAT(Scalar, HasSubstr("'descr': '<i8'"));
  EXPECT_THAT(Scalar, HasSubstr("'shape': ()"));
  EXPECT_THAT(Header(Tensor(DType::F16, {2, 3})),
              HasSubstr("'descr': '<f2', 'fortran_order': False, "
                        "'shape': (2, 3), }"));
}

TEST(Npy, FileRoundTrip) {
  std::string Path = test::scratchDir() + "/a.npy";
  writeNpy(Path, test::makeF32({2, 2}, {1, 2, 3, 4}));
  Tensor T = readNpy(Path);
  EXPECT_EQ(T.dataAs<float>()[3], 4.0f);
}

TEST(Npy, ReadsVersions2And3AndOddSpacing) {
  std::vector<uint8_t> Data(24, 0);
  for (unsigned V : {2u, 3u}) {
    auto Image = npyImage(kF32Dict, Data, V);
    EXPECT_EQ(parseNpy(Image.data(), Image.size(), "t").shape(),
              (std::vector<int64_t>{2, 3}));
  }
  auto Image = npyImage(
      "{\"shape\":(2,3),\"fortran_order\":False,\"descr\":\"<f4\"}", Data);
  EXPECT_EQ(parseNpy(Image.data(), Image.size(), "t").shape(),
            (std::vector<int64_t>{2, 3}));
  // Python 2 era headers spell dimensions as longs.
  Image = npyImage("{'descr': '<f4', 'fortran_order': False, "
                   "'shape': (2L, 3L), }",
                   Data);
  EXPECT_EQ(parseNpy(Image.data(), Image.size(), "t").numElements(), 6);
}

TEST(Npy, Errors) {
  std::vector<uint8_t> Data(24, 0);
  EXPECT_THAT(parseError({'x', 'y'}), HasSubstr("t.npy: not a .npy file"));
  EXPECT_THAT(parseError(npyImage(kF32Dict, Data, 4)),
              HasSubstr("unsupported .npy version 4.0"));
  EXPECT_THAT(parseError(npyImage("{'descr': '<f4', 'fortran_order': True, "
                                  "'shape': (2, 3), }",
                                  Data)),
              HasSubstr("fortran_order arrays are not supported"));
  EXPECT_THAT(parseError(npyImage("{'descr': '>f4', 'fortran_order': False, "
                                  "'shape': (2, 3), }",
                                  Data)),
              HasSubstr("big-endian data ('>f4') is not supported"));
  EXPECT_THAT(parseError(npyImage("{'descr': '<f8', 'fortran_order': False, "
                                  "'shape': (2, 3), }",
                                  Data)),
              HasSubstr("unsupported dtype '<f8'"));
  EXPECT_THAT(parseError(npyImage("{'descr': [('a', '<f4')], "
                                  "'fortran_order': False, 'shape': (2,), }",
                                  Data)),
              HasSubstr("structured dtypes"));
  EXPECT_THAT(parseError(npyImage(kF32Dict, std::vector<uint8_t>(23, 0))),
              HasSubstr("t.npy: truncated data: shape [2, 3] f32 needs 24 "
                        "bytes, file has 23"));
  EXPECT_THAT(parseError(npyImage(kF32Dict, std::vector<uint8_t>(25, 0))),
              HasSubstr("1 unexpected bytes after the array data"));
  EXPECT_THAT(parseError(npyImage("{'descr': '<f4', 'shape': (2, 3)}", Data)),
              HasSubstr("missing 'descr', 'fortran_order' or 'shape'"));
  EXPECT_THAT(parseError(npyImage("{'descr': '<f4', 'fortran_order': False, "
                                  "'shape': (2, -3), }",
                                  Data)),
              HasSubstr("bad .npy header"));
  EXPECT_THAT(parseError(npyImage("{'descr': '<f4', 'fortran_order': False, "
                                  "'shape': (99999999999, 99999999999), }",
                                  Data)),
              HasSubstr("too large"));
  EXPECT_THAT(parseError(npyImage("{'descr': '<f4'", Data)),
              HasSubstr("bad .npy header"));
  // Header length pointing past the end of the file.
  auto Image = npyImage(kF32Dict, {});
  Image[8] = 0xff;
  Image[9] = 0xff;
  EXPECT_THAT(parseError(Image), HasSubstr("truncated .npy header"));
}

TEST(Npy, MissingFile) {
  try {
    readNpy("/nonexistent/x.npy");
    FAIL() << "no error";
  } catch (const Error &E) {
    EXPECT_STREQ(E.what(),
                 "cannot open '/nonexistent/x.npy': No such file or directory");
  }
}

TEST(Npy, Bf16CannotBeWritten) {
  EXPECT_THROW(encodeNpy(Tensor(DType::BF16, {2})), Error);
}
