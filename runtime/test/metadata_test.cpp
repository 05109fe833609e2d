//===- metadata_test.cpp - Tests of metadata JSON validation --------------===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//

#include "moert/error.h"
#include "moert/metadata.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

using namespace moert;
using ::testing::HasSubstr;

namespace {

std::string parseError(const std::string &Json) {
  try {
    parseMetadata(Json);
  } catch (const Error &E) {
    return E.what();
  }
  return "no error";
}

/// Metadata with one argument \p Arg (plus an input binding T).
std::string withArg(const std::string &Arg) {
  return "{\"abi_version\": 1, \"args\": [{\"role\": \"input\", \"name\": "
         "\"x\", \"dtype\": \"f32\", \"shape\": [-1, 4]}, " +
         Arg + "]}";
}

} // namespace

TEST(Metadata, ParsesTheAbiExample) {
  Metadata M = parseMetadata(R"({
    "abi_version": 1, "function": "forward", "unknown_top": [1, 2],
    "args": [
      {"role": "input", "name": "h", "dtype": "f32", "shape": [-1, 64]},
      {"role": "weight", "name": "g", "dtype": "bf16", "shape": [8, 64]},
      {"role": "weight", "name": "e.{e}.w1", "dtype": "f32",
       "shape": [8, 96, 64], "note": "ignored"},
      {"role": "output", "name": "out", "dtype": "f32", "shape": [-1, 64]},
      {"role": "stat", "name": "expert_counts", "dtype": "i32", "shape": [8]},
      {"role": "stat", "name": "scalar", "dtype": "i64", "shape": []}
    ],
    "moe": {"num_experts": 8, "top_k": 2, "lowering": "dynamic"}})");
  EXPECT_EQ(M.AbiVersion, 1u);
  EXPECT_EQ(M.Function, "forward");
  ASSERT_EQ(M.Args.size(), 6u);
  EXPECT_EQ(M.Args[1].Type, DType::BF16);
  EXPECT_TRUE(M.Args[2].isStacked());
  EXPECT_FALSE(M.Args[1].isStacked());
  EXPECT_TRUE(M.Args[3].isDynamic());
  EXPECT_EQ(M.Args[3].Role, ArgRole::Output);
  EXPECT_TRUE(M.Args[5].Shape.empty());
  EXPECT_EQ(M.argsWithRole(ArgRole::Weight).size(), 2u);
  EXPECT_EQ(M.find("out"), &M.Args[3]);
  EXPECT_THAT(M.MoeJson, HasSubstr("\"top_k\":2"));
}

TEST(Metadata, Errors) {
  EXPECT_THAT(parseError("{"), HasSubstr("metadata: not valid JSON"));
  EXPECT_EQ(parseError("[]"), "metadata: not a JSON object");
  EXPECT_EQ(parseError("{\"abi_version\": 1E400}"),
            "metadata: not valid JSON (number out of range)");
  EXPECT_EQ(parseError("{\"args\": []}"),
            "metadata: missing or non-integer 'abi_version'");
  EXPECT_EQ(parseError("{\"abi_version\": \"1\", \"args\": []}"),
            "metadata: missing or non-integer 'abi_version'");
  EXPECT_EQ(parseError("{\"abi_version\": 1}"),
            "metadata: missing or non-array 'args'");
  EXPECT_EQ(parseError("{\"abi_version\": 1, \"function\": 3, \"args\": []}"),
            "metadata: 'function' is not a string");
  EXPECT_EQ(parseError("{\"abi_version\": 1, \"args\": [], \"moe\": 1}"),
            "metadata: 'moe' is not an object");
  EXPECT_EQ(parseError(withArg("7")), "metadata: args[1] is not an object");
  EXPECT_EQ(parseError(withArg("{\"role\": \"input\", \"dtype\": \"f32\", "
                               "\"shape\": []}")),
            "metadata: args[1]: missing or non-string 'name'");
  EXPECT_EQ(parseError(withArg("{\"role\": \"bias\", \"name\": \"b\", "
                               "\"dtype\": \"f32\", \"shape\": []}")),
            "metadata: args[1] ('b'): unknown role 'bias' (expected input, "
            "weight, output or stat)");
  EXPECT_THAT(parseError(withArg("{\"role\": \"weight\", \"name\": \"b\", "
                                 "\"dtype\": \"f64\", \"shape\": []}")),
              HasSubstr("args[1] ('b'): unknown dtype 'f64'"));
  EXPECT_EQ(parseError(withArg("{\"role\": \"weight\", \"name\": \"b\", "
                               "\"dtype\": \"f32\"}")),
            "metadata: args[1] ('b'): missing or non-array 'shape'");
  EXPECT_EQ(parseError(withArg("{\"role\": \"weight\", \"name\": \"b\", "
                               "\"dtype\": \"f32\", \"shape\": [-2]}")),
            "metadata: args[1] ('b'): shape entries must be integers >= -1");
  EXPECT_EQ(parseError(withArg("{\"role\": \"weight\", \"name\": \"b\", "
                               "\"dtype\": \"f32\", \"shape\": [2.5]}")),
            "metadata: args[1] ('b'): shape entries must be integers >= -1");
  EXPECT_EQ(parseError(withArg("{\"role\": \"weight\", \"name\": \"b\", "
                               "\"dtype\": \"f32\", \"shape\": [-1]}")),
            "metadata: args[1] ('b'): a weight cannot have a dynamic (-1) "
            "dimension");
  EXPECT_THAT(parseError(withArg("{\"role\": \"weight\", \"name\": \"w.{e}\", "
                                 "\"dtype\": \"f32\", \"shape\": []}")),
              HasSubstr("needs a leading expert dimension"));
  EXPECT_EQ(parseError(withArg("{\"role\": \"output\", \"name\": \"x\", "
                               "\"dtype\": \"f32\", \"shape\": [-1]}")),
            "metadata: duplicate argument name 'x'");
  EXPECT_EQ(parseError("{\"abi_version\": 1, \"args\": [{\"role\": "
                       "\"output\", \"name\": \"y\", \"dtype\": \"f32\", "
                       "\"shape\": [-1]}]}"),
            "metadata: 'y' has a dynamic (-1) dimension but no input binds T");
}

TEST(Metadata, Target) {
  EXPECT_EQ(parseMetadata("{\"abi_version\": 1, \"args\": []}").Target,
            ModelTarget::CPU);
  EXPECT_EQ(parseMetadata("{\"abi_version\": 1, \"args\": [], \"target\": "
                          "\"cpu\"}")
                .Target,
            ModelTarget::CPU);
  EXPECT_EQ(parseMetadata("{\"abi_version\": 1, \"args\": [], \"target\": "
                          "\"cuda\"}")
                .Target,
            ModelTarget::CUDA);
  EXPECT_EQ(parseError("{\"abi_version\": 1, \"args\": [], \"target\": "
                       "\"rocm\"}"),
            "metadata: 'target' must be \"cpu\" or \"cuda\"");
  EXPECT_EQ(parseError("{\"abi_version\": 1, \"args\": [], \"target\": 1}"),
            "metadata: 'target' must be \"cpu\" or \"cuda\"");
}
