//===- weights_test.cpp - Tests of weight sources ------------------------===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//
//
// Each expected value is written as the index formula of the on-disk layout
// (docs/abi.md, "sources"), independently of the loader's stride walk.
//
//===----------------------------------------------------------------------===//

#include "moert/error.h"
#include "moert/metadata.h"
#include "moert/safetensors.h"
#include "moert/weights.h"
#include "test_util.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>

using namespace moert;
using namespace moert::test;
using ::testing::HasSubstr;

namespace {

/// A tensor whose element at flat index i is i (exactly representable).
StTensor iota(const std::string &Name, std::vector<int64_t> Shape) {
  int64_t N = 1;
  for (int64_t D : Shape)
    N *= D;
  std::vector<float> Values(N);
  for (int64_t I = 0; I < N; ++I)
    Values[I] = static_cast<float>(I);
  return {Name, "F32", std::move(Shape), f32Bytes(Values)};
}

SafetensorsFile fileOf(const std::vector<StTensor> &Tensors) {
  return SafetensorsFile::fromBuffer(safetensorsImage(Tensors), "w.st");
}

ArgInfo weight(const std::string &Name, std::vector<int64_t> Shape,
               std::vector<WeightSource> Sources) {
  ArgInfo A;
  A.Role = ArgRole::Weight;
  A.Name = Name;
  A.Shape = std::move(Shape);
  A.Sources = std::move(Sources);
  return A;
}

/// Checks every element of the rank-3 \p T against \p Expected(e, i, j).
void expect3(const Tensor &T,
             const std::function<float(int64_t, int64_t, int64_t)> &Expected) {
  const auto &S = T.shape();
  ASSERT_EQ(S.size(), 3u);
  const float *P = T.dataAs<float>();
  for (int64_t E = 0; E < S[0]; ++E)
    for (int64_t I = 0; I < S[1]; ++I)
      for (int64_t J = 0; J < S[2]; ++J)
        ASSERT_EQ(*P++, Expected(E, I, J))
            << "at [" << E << ", " << I << ", " << J << "]";
}

/// parseMetadata's error message for \p Json, or "no error".
std::string metadataError(const std::string &Json) {
  try {
    parseMetadata(Json);
  } catch (const Error &E) {
    return E.what();
  }
  return "no error";
}

std::string loadError(const SafetensorsFile &F, const ArgInfo &A) {
  try {
    loadWeight(F, A);
  } catch (const Error &E) {
    return E.what();
  }
  return "no error";
}

constexpr int64_t E = 2, F = 3, D = 4;

} // namespace

// Fused [E, 2F, D] with gate then up (transformers 5 MixtralExperts).
TEST(WeightSources, ConcatenatedParts) {
  SafetensorsFile File = fileOf({iota("gate_up", {E, 2 * F, D})});
  for (int64_t Part : {0, 1}) {
    Tensor T = loadWeight(
        File, weight("w", {E, F, D}, {{"gate_up", false, 2, Part, false}}));
    expect3(T, [&](int64_t e, int64_t f, int64_t d) {
      return float(e * 2 * F * D + (Part * F + f) * D + d);
    });
  }
}

// GPT-OSS: [E, D, 2F] on disk, gate = [..., ::2], up = [..., 1::2].
TEST(WeightSources, TransposedInterleavedParts) {
  SafetensorsFile File = fileOf({iota("gate_up_proj", {E, D, 2 * F})});
  for (int64_t Part : {0, 1}) {
    Tensor T = loadWeight(
        File, weight("w", {E, F, D}, {{"gate_up_proj", true, 2, Part, true}}));
    expect3(T, [&](int64_t e, int64_t f, int64_t d) {
      return float(e * D * 2 * F + d * 2 * F + (2 * f + Part));
    });
  }
}

// GPT-OSS biases: [E, 2F] interleaved.
TEST(WeightSources, InterleavedBias) {
  SafetensorsFile File = fileOf({iota("bias", {E, 2 * F})});
  Tensor T =
      loadWeight(File, weight("b", {E, F}, {{"bias", false, 2, 1, true}}));
  const float *P = T.dataAs<float>();
  for (int64_t e = 0; e < E; ++e)
    for (int64_t f = 0; f < F; ++f)
      EXPECT_EQ(*P++, float(e * 2 * F + 2 * f + 1));
}

// GPT-OSS down_proj: [E, F, D] on disk for a [E, D, F] argument.
TEST(WeightSources, Transposed) {
  SafetensorsFile File = fileOf({iota("down", {E, F, D})});
  Tensor T = loadWeight(File, weight("w", {E, D, F}, {{"down", true}}));
  expect3(T, [&](int64_t e, int64_t d, int64_t f) {
    return float(e * F * D + f * D + d);
  });
}

// Per-expert tensors with a transform: each [D, 2F], interleaved.
TEST(WeightSources, PerExpertTransformed) {
  SafetensorsFile File =
      fileOf({iota("x.0.gu", {D, 2 * F}), iota("x.1.gu", {D, 2 * F})});
  Tensor T = loadWeight(
      File, weight("w", {E, F, D}, {{"x.{e}.gu", true, 2, 0, true}}));
  expect3(T, [&](int64_t, int64_t f, int64_t d) {
    return float(d * 2 * F + 2 * f);
  });
}

// The first source present is used; earlier absent ones are skipped.
TEST(WeightSources, FirstPresentSourceWins) {
  SafetensorsFile File = fileOf({iota("stacked", {E, F, D})});
  Tensor T =
      loadWeight(File, weight("w", {E, F, D}, {{"per.{e}.w"}, {"stacked"}}));
  expect3(T, [&](int64_t e, int64_t f, int64_t d) {
    return float(e * F * D + f * D + d);
  });
}

TEST(WeightSources, Errors) {
  SafetensorsFile File = fileOf({iota("gate_up", {E, 2 * F + 1, D})});
  EXPECT_EQ(loadError(File, weight("w", {E, F, D}, {{"per.{e}.w"}, {"other"}})),
            "w.st: missing weight 'w': none of 'per.{e}.w', 'other' is in the "
            "file");
  // A present source of the wrong shape is an error, not a fall-through.
  EXPECT_EQ(
      loadError(File, weight("w", {E, F, D},
                             {{"gate_up", false, 2, 0, false}, {"other"}})),
      "w.st: weight 'gate_up' has shape [2, 7, 4], expected [2, 6, 4]");
  // One missing expert of a per-expert source names that tensor.
  SafetensorsFile Partial = fileOf({iota("p.0.w", {F, D})});
  EXPECT_EQ(loadError(Partial, weight("w", {E, F, D}, {{"p.{e}.w"}})),
            "w.st: missing weight 'p.1.w' (expert slice of 'p.{e}.w')");
}

// An argument too large to allocate is refused before its on-disk shape
// (axis 1 times the parts) is computed, which would overflow.
TEST(WeightSources, HugeSplitArgument) {
  SafetensorsFile File = fileOf({iota("a", {2, 0})});
  ArgInfo A = weight("w", {2, int64_t(1) << 62}, {{"a", false, 4, 0, false}});
  A.Type = DType::F32;
  EXPECT_THAT(loadError(File, A), HasSubstr("too large"));
}

// MXFP4-quantized GPT-OSS checkpoints are named, not reported as missing.
TEST(WeightSources, QuantizedCheckpoint) {
  SafetensorsFile File = fileOf({iota("gate_up_proj_blocks", {E, 4})});
  EXPECT_EQ(
      loadError(File,
                weight("w", {E, F, D}, {{"gate_up_proj", true, 2, 0, true}})),
      "w.st: weight 'w': the file has 'gate_up_proj_blocks' (an "
      "MXFP4-quantized checkpoint), which moec does not load; dequantize it "
      "to bf16 or f32 first");
}

TEST(WeightSources, MetadataParsing) {
  auto Parse = [](const std::string &Sources, const char *Role = "weight") {
    return "{\"abi_version\": 1, \"args\": [{\"role\": \"input\", \"name\": "
           "\"x\", \"dtype\": \"f32\", \"shape\": [-1, 4]}, {\"role\": \"" +
           std::string(Role) +
           "\", \"name\": \"w\", \"dtype\": \"f32\", \"shape\": [2, 3, 4], "
           "\"sources\": " +
           Sources + "}]}";
  };
  Metadata M = parseMetadata(Parse(
      R"([{"name": "a.{e}"}, {"name": "b", "transpose": true, "parts": 2,
          "part": 1, "interleave": true}])"));
  const ArgInfo &W = M.Args[1];
  ASSERT_EQ(W.Sources.size(), 2u);
  EXPECT_TRUE(W.Sources[0].isPerExpert());
  EXPECT_TRUE(W.Sources[0].isPlain());
  EXPECT_EQ(W.Sources[1].Name, "b");
  EXPECT_TRUE(W.Sources[1].Transpose);
  EXPECT_EQ(W.Sources[1].Parts, 2);
  EXPECT_EQ(W.Sources[1].Part, 1);
  EXPECT_TRUE(W.Sources[1].Interleave);
  // Without "sources", a weight has one plain source: its name.
  Metadata Plain = parseMetadata(
      R"({"abi_version": 1, "args": [{"role": "weight", "name": "v",
          "dtype": "f32", "shape": [2]}]})");
  ASSERT_EQ(Plain.Args[0].Sources.size(), 1u);
  EXPECT_EQ(Plain.Args[0].Sources[0].Name, "v");

  EXPECT_THAT(metadataError(Parse("[]")),
              HasSubstr("'sources' must be a non-empty "
                        "array"));
  EXPECT_THAT(metadataError(Parse(R"([{"transpose": true}])")),
              HasSubstr("sources[0]: missing or empty 'name'"));
  EXPECT_THAT(metadataError(Parse(R"([{"name": "b", "parts": 2, "part": 2}])")),
              HasSubstr("expects parts >= 1 and 0 <= part < parts"));
  EXPECT_THAT(metadataError(Parse(R"([{"name": "b", "transpose": 1}])")),
              HasSubstr("'transpose' must be true or false"));
  EXPECT_THAT(metadataError(Parse(R"([{"name": "b", "parts": 1e300}])")),
              HasSubstr("'parts' must be a small integer"));
  EXPECT_THAT(metadataError(Parse(R"([{"name": "b"}])", "output")),
              HasSubstr("only weights have 'sources'"));
}

// A weight the model takes packed in panels of P output columns:
// out[e, n / P, k, n % P] = w[e, n, k], after the source's own transform
// (here a transpose, so w[e, n, k] = disk[e, k, n]).
TEST(WeightPanels, PackedAfterTheSourceTransform) {
  constexpr int64_t N = 4, K = 3, P = 2;
  SafetensorsFile File = fileOf({iota("down", {E, K, N})});
  ArgInfo A = weight("w", {E, N, K}, {{"down", true}});
  A.Panels = P;
  Tensor T = loadWeight(File, A);
  ASSERT_EQ(T.shape(), (std::vector<int64_t>{E, N / P, K, P}));
  const float *Got = T.dataAs<float>();
  for (int64_t e = 0; e < E; ++e)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t k = 0; k < K; ++k)
        ASSERT_EQ(Got[((e * (N / P) + n / P) * K + k) * P + n % P],
                  float(e * K * N + k * N + n))
            << "at [" << e << ", " << n << ", " << k << "]";
}

// 2-byte elements move as they are (bf16 bits, not values).
TEST(WeightPanels, Bf16ElementsKeepTheirBits) {
  constexpr int64_t N = 4, K = 2, P = 4;
  std::vector<uint8_t> Bytes;
  for (int64_t I = 0; I < N * K; ++I) {
    Bytes.push_back(static_cast<uint8_t>(I));
    Bytes.push_back(0x3f);
  }
  SafetensorsFile File = fileOf({{"w", "BF16", {1, N, K}, Bytes}});
  ArgInfo A = weight("w", {1, N, K}, {});
  A.Type = DType::BF16;
  A.Panels = P;
  Tensor T = loadWeight(File, A);
  ASSERT_EQ(T.shape(), (std::vector<int64_t>{1, 1, K, P}));
  const auto *Got = static_cast<const uint16_t *>(T.data());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k)
      ASSERT_EQ(Got[k * P + n], 0x3f00 | (n * K + k))
          << "at [" << n << ", " << k << "]";
}

TEST(WeightPanels, MetadataParsing) {
  auto Parse = [](const std::string &Panels, const char *Role = "weight",
                  const char *Shape = "[2, 4, 3]") {
    return "{\"abi_version\": 1, \"args\": [{\"role\": \"input\", \"name\": "
           "\"x\", \"dtype\": \"f32\", \"shape\": [-1, 3]}, {\"role\": \"" +
           std::string(Role) + "\", \"name\": \"w\", \"dtype\": \"f32\", " +
           "\"shape\": " + Shape + ", \"panels\": " + Panels + "}]}";
  };
  EXPECT_EQ(parseMetadata(Parse("2")).Args[1].Panels, 2);
  EXPECT_EQ(parseMetadata(R"({"abi_version": 1, "args": [{"role": "weight",
      "name": "v", "dtype": "f32", "shape": [2, 4, 3]}]})")
                .Args[0]
                .Panels,
            0);
  EXPECT_THAT(metadataError(Parse("0")),
              HasSubstr("'panels' must be an integer"));
  EXPECT_THAT(metadataError(Parse("1.5")),
              HasSubstr("'panels' must be an integer"));
  EXPECT_THAT(metadataError(Parse("3")),
              HasSubstr("'panels' needs an [E, N, K] weight with N a "
                        "multiple of it"));
  EXPECT_THAT(metadataError(Parse("2", "weight", "[8, 3]")),
              HasSubstr("needs an [E, N, K] weight"));
  EXPECT_THAT(metadataError(Parse("2", "output", "[-1, 4, 3]")),
              HasSubstr("needs an [E, N, K] weight"));
}
