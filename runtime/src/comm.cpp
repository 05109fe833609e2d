//===- comm.cpp - Launch detection, single rank, model entry points -------===//
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
    L.RanksPerNode = envInt("OMPI_COMM_WORLD_LOCAL_SIZE").value_or(L.Size);
  } else if (auto Size = envInt("WORLD_SIZE")) {
    L.By = LaunchInfo::Launcher::Torchrun;
    L.Size = *Size;
    L.Rank = envInt("RANK").value_or(0);
    L.LocalRank = envInt("LOCAL_RANK").value_or(0);
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

void moert::setActiveCommunicator(Communicator *Comm) { Active = Comm; }
Communicator *moert::activeCommunicator() { return Active; }

//===----------------------------------------------------------------------===//
// The entry points a compiled model calls (abi::kComm*)
//===----------------------------------------------------------------------===//

namespace {

/// MLIR's C-interface descriptors (docs/abi.md).
struct MemRef1DI32 {
  int32_t *Allocated;
  int32_t *Aligned;
  int64_t Offset;
  int64_t Size;
  int64_t Stride;
};
struct UnrankedMemRef {
  int64_t Rank;
  void *Descriptor;
};

/// A contiguous buffer of rows (dim 0) from an unranked descriptor.
struct Rows {
  std::byte *Data;
  int64_t Count;
  size_t RowBytes;
};

Communicator &active() {
  if (!Active) {
    std::fprintf(stderr, "moe-run: error: the model exchanges rows between "
                         "ranks (it was compiled with --expert-parallel) but "
                         "no communicator is active: run it with moe-run\n");
    std::exit(1);
  }
  return *Active;
}

CommStage stageOf(Communicator &C, int64_t Stage) {
  if (Stage < 0 || Stage >= static_cast<int64_t>(kNumStages))
    C.abort("the model asks for an unknown exchange stage " +
            std::to_string(Stage));
  return static_cast<CommStage>(Stage);
}

Rows rowsOf(Communicator &C, const UnrankedMemRef *M, size_t ElemBytes) {
  if (!M || M->Rank < 1 || !M->Descriptor)
    C.abort("the model passed an invalid exchange buffer");
  const int64_t *W = static_cast<const int64_t *>(M->Descriptor);
  auto *Aligned = reinterpret_cast<std::byte *>(static_cast<intptr_t>(W[1]));
  int64_t Offset = W[2];
  const int64_t *Sizes = W + 3;
  const int64_t *Strides = W + 3 + M->Rank;
  int64_t Expected = 1;
  for (int64_t I = M->Rank; I-- > 0;) {
    if (Sizes[I] > 1 && Strides[I] != Expected)
      C.abort("the model passed a non-contiguous exchange buffer");
    Expected *= Sizes[I];
  }
  size_t RowElems = 1;
  for (int64_t I = 1; I < M->Rank; ++I)
    RowElems *= static_cast<size_t>(Sizes[I]);
  return {Aligned + Offset * ElemBytes, Sizes[0], RowElems * ElemBytes};
}

/// The counts of one exchange, checked against the stage's size.
const int32_t *countsOf(Communicator &C, CommStage Stage,
                        const MemRef1DI32 *M, const char *What) {
  int Expected = C.stageSize(Stage);
  if (!M || M->Size != Expected || (M->Size > 1 && M->Stride != 1))
    C.abort(std::string("the model's ") + What + " have " +
            std::to_string(M ? M->Size : 0) + " entries but the " +
            stageName(Stage) + " exchange spans " + std::to_string(Expected) +
            " ranks");
  return M->Aligned + M->Offset;
}

int64_t sum(const int32_t *Counts, int N) {
  int64_t S = 0;
  for (int I = 0; I < N; ++I)
    S += Counts[I];
  return S;
}

void exchangeRows(int64_t StageCode, const UnrankedMemRef *Payload,
                  const MemRef1DI32 *SendCounts, const UnrankedMemRef *Recv,
                  const MemRef1DI32 *RecvCounts, size_t ElemBytes) {
  Communicator &C = active();
  CommStage Stage = stageOf(C, StageCode);
  Rows Send = rowsOf(C, Payload, ElemBytes);
  Rows Into = rowsOf(C, Recv, ElemBytes);
  const int32_t *SC = countsOf(C, Stage, SendCounts, "send counts");
  const int32_t *RC = countsOf(C, Stage, RecvCounts, "receive counts");
  int N = C.stageSize(Stage);
  for (int I = 0; I < N; ++I)
    if (SC[I] < 0 || RC[I] < 0)
      C.abort("negative row count in an exchange");
  if (sum(SC, N) > Send.Count || sum(RC, N) > Into.Count)
    C.abort("exchange counts exceed the model's buffers (sending " +
            std::to_string(sum(SC, N)) + " of " + std::to_string(Send.Count) +
            " rows, receiving " + std::to_string(sum(RC, N)) + " into " +
            std::to_string(Into.Count) + ")");
  C.exchange(Stage, Send.Data, SC, Into.Data, RC, Send.RowBytes);
}

} // namespace

#define MOERT_EXPORT extern "C" __attribute__((visibility("default")))

MOERT_EXPORT void _mlir_ciface_moert_comm_counts(int64_t StageCode,
                                                 MemRef1DI32 *Send,
                                                 MemRef1DI32 *Recv) {
  Communicator &C = active();
  CommStage Stage = stageOf(C, StageCode);
  C.exchangeCounts(Stage, countsOf(C, Stage, Send, "send counts"),
                   const_cast<int32_t *>(
                       countsOf(C, Stage, Recv, "receive counts")));
}

#define MOERT_EXCHANGE(SUFFIX, BYTES)                                          \
  MOERT_EXPORT void _mlir_ciface_moert_comm_exchange_##SUFFIX(                 \
      int64_t Stage, UnrankedMemRef *Payload, MemRef1DI32 *SendCounts,         \
      UnrankedMemRef *Recv, MemRef1DI32 *RecvCounts) {                         \
    exchangeRows(Stage, Payload, SendCounts, Recv, RecvCounts, BYTES);         \
  }
MOERT_EXCHANGE(f32, 4)
MOERT_EXCHANGE(f16, 2)
MOERT_EXCHANGE(bf16, 2)
MOERT_EXCHANGE(i32, 4)
MOERT_EXCHANGE(i64, 8)
