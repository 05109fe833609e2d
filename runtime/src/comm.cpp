//===- comm.cpp - Launch detection and the single-rank communicator ------===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//

#include "moert/comm.h"
#include "moert/error.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <cerrno>

using namespace moert;

const char *moert::stageName(CommStage Stage) {
  switch (Stage) {
  case CommStage::Flat:
    return "flat";
  case CommStage::IntraNode:
    return "intra_node";
  case CommStage::InterNode:
    return "inter_node";
  }
  return "unknown";
}

/// The integer value of environment variable \p Name, if set.
static std::optional<int> envInt(const char *Name) {
  const char *V = std::getenv(Name);
  if (!V)
    return std::nullopt;
  char *End = nullptr;
  errno = 0;
  long N = std::strtol(V, &End, 10);
  if (End == V || *End || errno || N < 0 || N > (1 << 24))
    throw Error(std::string("environment variable ") + Name + "='" + V +
                "' is not a non-negative integer");
  return static_cast<int>(N);
}

LaunchInfo moert::detectLaunch() {
  LaunchInfo L;
  if (auto Size = envInt("OMPI_COMM_WORLD_SIZE")) {
    L.By = LaunchInfo::Launcher::Mpirun;
    L.Size = *Size;
    L.Rank = envInt("OMPI_COMM_WORLD_RANK").value_or(0);
    L.LocalRank = envInt("OMPI_COMM_WORLD_LOCAL_RANK").value_or(0);
    L.MachineRank = L.LocalRank;
    L.RanksPerNode = envInt("OMPI_COMM_WORLD_LOCAL_SIZE").value_or(L.Size);
  } else if (auto Size = envInt("WORLD_SIZE")) {
    L.By = LaunchInfo::Launcher::Torchrun;
    L.Size = *Size;
    L.Rank = envInt("RANK").value_or(0);
    L.LocalRank = envInt("LOCAL_RANK").value_or(0);
    L.MachineRank = L.LocalRank;
    L.RanksPerNode = envInt("LOCAL_WORLD_SIZE").value_or(L.Size);
  }
  if (L.Size < 1 || L.Rank >= L.Size)
    throw Error("the launcher's environment gives rank " +
                std::to_string(L.Rank) + " of " + std::to_string(L.Size) +
                " processes");
  if (auto G = envInt("MOEC_RANKS_PER_NODE")) {
    if (*G < 1 || L.Size % *G != 0)
      throw Error("MOEC_RANKS_PER_NODE=" + std::to_string(*G) +
                  " must divide the number of processes (" +
                  std::to_string(L.Size) + ")");
    L.RanksPerNode = *G;
    L.LocalRank = L.Rank % *G;
  }
  if (L.RanksPerNode < 1 || L.Size % L.RanksPerNode != 0)
    L.RanksPerNode = L.Size; // An uneven launcher layout: one node.
  return L;
}

Communicator::~Communicator() = default;

int Communicator::stageSize(CommStage Stage) const {
  switch (Stage) {
  case CommStage::Flat:
    return Size;
  case CommStage::IntraNode:
    return RanksPerNode;
  case CommStage::InterNode:
    return Size / RanksPerNode;
  }
  return Size;
}

int Communicator::worldRankOf(CommStage Stage, int Peer) const {
  int G = RanksPerNode;
  switch (Stage) {
  case CommStage::IntraNode:
    return Rank / G * G + Peer;
  case CommStage::InterNode:
    return Peer * G + Rank % G;
  case CommStage::Flat:
    break;
  }
  return Peer;
}

namespace {

/// One process: its own rows are all there is.
class SingleRankCommunicator : public Communicator {
public:
  SingleRankCommunicator() : Communicator(0, 1, 1) {}

  void exchangeCounts(CommStage Stage, const int32_t *Send,
                      int32_t *Recv) override {
    ++statsOf(Stage).Calls;
    Recv[0] = Send[0];
  }
  void exchange(CommStage Stage, const void *Send, const int32_t *SendCounts,
                void *Recv, const int32_t *RecvCounts,
                size_t RowBytes) override {
    ++statsOf(Stage).Calls;
    if (SendCounts[0] != RecvCounts[0])
      abort("all-to-all: sending " + std::to_string(SendCounts[0]) +
            " rows to itself but expecting " + std::to_string(RecvCounts[0]));
    if (SendCounts[0] > 0)
      std::memcpy(Recv, Send, SendCounts[0] * RowBytes);
  }
  std::vector<int64_t> gather(const std::vector<int64_t> &Local) override {
    return Local;
  }
  void gatherRows(const void *Local, const std::vector<int64_t> &Rows,
                  size_t RowBytes, void *All) override {
    if (Rows[0] > 0)
      std::memcpy(All, Local, Rows[0] * RowBytes);
  }
  void broadcast(void *, size_t) override {}
  const char *name() const override { return "single-rank"; }
  [[noreturn]] void abort(const std::string &Message) override {
    std::fprintf(stderr, "moe-run: error: %s\n", Message.c_str());
    std::exit(1);
  }
};

Communicator *Active = nullptr;

} // namespace

std::unique_ptr<Communicator> moert::makeSingleRankCommunicator() {
  return std::make_unique<SingleRankCommunicator>();
}

void moert::setActiveCommunicator(Communicator *Comm) {
  detail::commEntryPointsAnchor();
  Active = Comm;
}
Communicator *moert::activeCommunicator() { return Active; }
