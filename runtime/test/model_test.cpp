//===- model_test.cpp - Tests of model artifact loading -------------------===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//

#include "moert/abi.h"
#include "moert/error.h"
#include "moert/model.h"
#include "test_util.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

using namespace moert;
using namespace moert::test;
using ::testing::HasSubstr;
using ::testing::StartsWith;

namespace {

std::string loadError(const std::string &Path) {
  try {
    Model::load(Path);
  } catch (const Error &E) {
    return E.what();
  }
  return "no error";
}

} // namespace

TEST(Abi, Descriptor) {
  int64_t Buf[6];
  std::vector<int64_t> D = moert::abi::makeDescriptor(Buf, {2, 3});
  ASSERT_EQ(D.size(), moert::abi::descriptorWords(2));
  EXPECT_EQ(D[0], reinterpret_cast<intptr_t>(Buf));
  EXPECT_EQ(D[1], D[0]);
  EXPECT_EQ(D[2], 0);
  EXPECT_EQ(D[3], 2);
  EXPECT_EQ(D[4], 3);
  EXPECT_EQ(D[5], 3);
  EXPECT_EQ(D[6], 1);
  EXPECT_EQ(moert::abi::makeDescriptor(Buf, {}).size(), 3u);
}

TEST(Model, LoadsTheFakeModel) {
  auto M = Model::load(fakeModel("fake_model"));
  const Metadata &Meta = M->metadata();
  EXPECT_EQ(Meta.AbiVersion, moert::abi::kVersion);
  EXPECT_EQ(Meta.Function, "forward");
  ASSERT_EQ(Meta.Args.size(), 6u);
  EXPECT_EQ(Meta.Args[1].Name, "w.{e}");
  EXPECT_EQ(Meta.Args[5].Role, ArgRole::Stat);
}

TEST(Model, Errors) {
  EXPECT_EQ(loadError("/nonexistent/m.so"),
            "cannot open '/nonexistent/m.so': No such file or directory");
  EXPECT_EQ(loadError("/"), "cannot open '/': not a regular file");
  std::string Text = scratchDir() + "/text.so";
  writeText(Text, "not a library\n");
  EXPECT_THAT(loadError(Text),
              StartsWith("cannot load model '" + Text + "': "));
  EXPECT_EQ(loadError(fakeModel("fake_model_abi1")),
            fakeModel("fake_model_abi1") +
                ": model was built for ABI version 1, this runtime "
                "implements version 3");
  EXPECT_EQ(loadError(fakeModel("fake_model_no_forward")),
            fakeModel("fake_model_no_forward") +
                ": missing symbol 'moert_forward' (not a moec model?)");
  EXPECT_THAT(loadError(fakeModel("fake_model_bad_metadata")),
              HasSubstr(": metadata: not valid JSON"));
  // A real shared library that is not a model.
  EXPECT_THAT(loadError("/lib/x86_64-linux-gnu/libm.so.6"),
              HasSubstr("missing symbol 'moert_abi_version'"));
}
