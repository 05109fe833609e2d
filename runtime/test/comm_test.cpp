//===- comm_test.cpp - Tests of launch detection and expert shards --------===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
// Multi-rank exchanges run with real MPI processes in
// test/Integration/check_expert_parallel.py; these cover what one process
// can check: the launcher's environment, the single-rank communicator and
// each rank's block of expert weights.
//
//===----------------------------------------------------------------------===//

#include "moert/comm.h"
#include "moert/error.h"
#include "moert/metadata.h"
#include "moert/safetensors.h"
#include "moert/weights.h"
#include "test_util.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

using namespace moert;
using namespace moert::test;
using ::testing::HasSubstr;

namespace {

/// Sets environment variables for one test and restores them after.
class ScopedEnv {
public:
  ScopedEnv(std::initializer_list<std::pair<const char *, const char *>> Vars) {
    for (const char *Name : {"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK",
                             "OMPI_COMM_WORLD_LOCAL_RANK",
                             "OMPI_COMM_WORLD_LOCAL_SIZE", "WORLD_SIZE", "RANK",
                             "LOCAL_RANK", "LOCAL_WORLD_SIZE",
                             "MOEC_RANKS_PER_NODE"}) {
      if (const char *V = std::getenv(Name))
        Saved.emplace_back(Name, V);
      unsetenv(Name);
      Cleared.push_back(Name);
    }
    for (auto &[Name, Value] : Vars)
      setenv(Name, Value, 1);
  }
  ~ScopedEnv() {
    for (const char *Name : Cleared)
      unsetenv(Name);
    for (auto &[Name, Value] : Saved)
      setenv(Name.c_str(), Value.c_str(), 1);
  }

private:
  std::vector<std::pair<std::string, std::string>> Saved;
  std::vector<const char *> Cleared;
};

TEST(Launch, NoLauncherIsOneRank) {
  ScopedEnv Env({});
  LaunchInfo L = detectLaunch();
  EXPECT_EQ(L.By, LaunchInfo::Launcher::None);
  EXPECT_EQ(L.Size, 1);
  EXPECT_EQ(L.Rank, 0);
}

TEST(Launch, Mpirun) {
  ScopedEnv Env({{"OMPI_COMM_WORLD_SIZE", "8"},
                 {"OMPI_COMM_WORLD_RANK", "5"},
                 {"OMPI_COMM_WORLD_LOCAL_RANK", "5"},
                 {"OMPI_COMM_WORLD_LOCAL_SIZE", "8"}});
  LaunchInfo L = detectLaunch();
  EXPECT_EQ(L.By, LaunchInfo::Launcher::Mpirun);
  EXPECT_EQ(L.Size, 8);
  EXPECT_EQ(L.Rank, 5);
  EXPECT_EQ(L.RanksPerNode, 8);
}

TEST(Launch, TorchrunAndSimulatedNodes) {
  ScopedEnv Env({{"WORLD_SIZE", "8"},
                 {"RANK", "5"},
                 {"LOCAL_RANK", "5"},
                 {"LOCAL_WORLD_SIZE", "8"},
                 {"MOEC_RANKS_PER_NODE", "4"}});
  LaunchInfo L = detectLaunch();
  EXPECT_EQ(L.By, LaunchInfo::Launcher::Torchrun);
  EXPECT_EQ(L.RanksPerNode, 4);
  EXPECT_EQ(L.LocalRank, 1);
  EXPECT_EQ(L.MachineRank, 5);
}

TEST(Launch, BadValuesAreErrors) {
  {
    ScopedEnv Env({{"OMPI_COMM_WORLD_SIZE", "4"},
                   {"MOEC_RANKS_PER_NODE", "3"}});
    EXPECT_THAT([] { detectLaunch(); },
                ::testing::ThrowsMessage<Error>(
                    HasSubstr("MOEC_RANKS_PER_NODE=3 must divide")));
  }
  {
    ScopedEnv Env({{"WORLD_SIZE", "two"}});
    EXPECT_THAT([] { detectLaunch(); },
                ::testing::ThrowsMessage<Error>(
                    HasSubstr("WORLD_SIZE='two' is not a non-negative")));
  }
  {
    ScopedEnv Env({{"OMPI_COMM_WORLD_SIZE", "2"},
                   {"OMPI_COMM_WORLD_RANK", "2"}});
    EXPECT_THAT([] { detectLaunch(); },
                ::testing::ThrowsMessage<Error>(HasSubstr("rank 2 of 2")));
  }
}

TEST(SingleRank, ExchangesCopyLocally) {
  auto C = makeSingleRankCommunicator();
  EXPECT_EQ(C->size(), 1);
  int32_t Send = 3, Recv = -1;
  C->exchangeCounts(CommStage::Flat, &Send, &Recv);
  EXPECT_EQ(Recv, 3);
  float Rows[6] = {1, 2, 3, 4, 5, 6}, Out[6] = {};
  C->exchange(CommStage::Flat, Rows, &Send, Out, &Send, 2 * sizeof(float));
  EXPECT_EQ(Out[5], 6.0f);
  EXPECT_EQ(C->stats()[0].Calls, 2);
  EXPECT_EQ(C->stats()[0].MessagesSent, 0);
}

/// A [4, 2, 3] stacked weight and its per-expert form; expert e's values
/// start at e * 6.
std::vector<StTensor> fourExperts(bool PerExpert) {
  std::vector<StTensor> T;
  if (!PerExpert) {
    std::vector<float> V(24);
    for (int I = 0; I < 24; ++I)
      V[I] = static_cast<float>(I);
    T.push_back({"w", "F32", {4, 2, 3}, f32Bytes(V)});
    return T;
  }
  for (int E = 0; E < 4; ++E) {
    std::vector<float> V(6);
    for (int I = 0; I < 6; ++I)
      V[I] = static_cast<float>(E * 6 + I);
    T.push_back({"w." + std::to_string(E), "F32", {2, 3}, f32Bytes(V)});
  }
  return T;
}

TEST(ExpertShards, EachRankLoadsItsBlock) {
  for (bool PerExpert : {false, true}) {
    SafetensorsFile F = SafetensorsFile::fromBuffer(
        safetensorsImage(fourExperts(PerExpert)), "w.st");
    ArgInfo A;
    A.Role = ArgRole::Weight;
    A.Name = PerExpert ? "w.{e}" : "w";
    A.Shape = {2, 2, 3};
    A.ExpertShards = 2;
    A.Sources = {WeightSource{A.Name}};
    for (int Rank = 0; Rank < 2; ++Rank) {
      Tensor T = loadWeight(F, A, Rank);
      ASSERT_EQ(T.shape(), (std::vector<int64_t>{2, 2, 3}));
      for (int I = 0; I < 12; ++I)
        EXPECT_EQ(T.dataAs<float>()[I], static_cast<float>(Rank * 12 + I))
            << "per-expert " << PerExpert << " rank " << Rank;
    }
  }
}

TEST(ExpertShards, MissingExpertIsNamed) {
  std::vector<StTensor> T = fourExperts(true);
  T.erase(T.begin() + 3); // Rank 1 owns experts 2 and 3.
  SafetensorsFile F = SafetensorsFile::fromBuffer(safetensorsImage(T), "w.st");
  ArgInfo A;
  A.Role = ArgRole::Weight;
  A.Name = "w.{e}";
  A.Shape = {2, 2, 3};
  A.ExpertShards = 2;
  A.Sources = {WeightSource{A.Name}};
  EXPECT_NO_THROW(loadWeight(F, A, 0));
  EXPECT_THAT([&] { loadWeight(F, A, 1); },
              ::testing::ThrowsMessage<Error>(HasSubstr("missing weight 'w.3'")));
}

TEST(ExpertShards, MetadataMustMatchTheWorldSize) {
  const char *Json =
      R"({"abi_version": 1, "world_size": 4, "args": [
          {"role": "weight", "name": "w", "dtype": "f32", "shape": [2, 3],
           "expert_shards": 2}]})";
  EXPECT_THAT([&] { parseMetadata(Json); },
              ::testing::ThrowsMessage<Error>(
                  HasSubstr("sharded 2 ways but the model runs on 4 ranks")));
}

TEST(RanksPerNode, ParsedAndChecked) {
  auto json = [](const std::string &PerNode) {
    return R"({"abi_version": 1, "world_size": 8, "ranks_per_node": )" +
           PerNode + R"(, "args": []})";
  };
  EXPECT_EQ(parseMetadata(json("4")).RanksPerNode, 4);
  EXPECT_EQ(parseMetadata(R"({"abi_version": 1, "args": []})").RanksPerNode,
            0);
  for (const char *Bad : {"3", "0", "16", "-2", "\"4\""})
    EXPECT_THAT([&] { parseMetadata(json(Bad)); },
                ::testing::ThrowsMessage<Error>(HasSubstr(
                    "'ranks_per_node' must be an integer that divides the "
                    "world size (8)")))
        << Bad;
}

} // namespace
