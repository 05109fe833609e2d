//===- device_exchange_check.cpp - Exchanges of device buffers, W ranks ---===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//
//
// Run under `mpirun -np W` with the stand-in CUDA driver (MOERT_CUDA_DRIVER)
// and the stand-in NCCL (MOEC_NCCL_LIBRARY), whose device memory is host
// memory. Each rank calls the entry points a compiled CUDA model calls
// (moert_comm_counts, moert_comm_total, moert_comm_exchange_f32) on device
// buffers, once through host memory over MPI and once over NCCL, for every
// stage, and checks every received count and row against what the sending
// rank wrote (each row holds its sender, receiver and index). Rank 0 prints
// one line per check and "N passed, N failed"; the exit status is 1 if any
// rank failed.
//
//===----------------------------------------------------------------------===//

#include "moert/comm.h"
#include "moert/cuda_device.h"
#include "moert/error.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace moert;

namespace {

struct MemRef1DI32 {
  int32_t *Allocated, *Aligned;
  int64_t Offset, Size, Stride;
};
struct MemRef2DF32 {
  float *Allocated, *Aligned;
  int64_t Offset, Sizes[2], Strides[2];
};
struct UnrankedMemRef {
  int64_t Rank;
  void *Descriptor;
};

} // namespace

extern "C" {
int64_t _mlir_ciface_moert_comm_counts(int64_t, MemRef1DI32 *, MemRef1DI32 *);
int64_t _mlir_ciface_moert_comm_total(int64_t, MemRef1DI32 *);
void _mlir_ciface_moert_comm_exchange_f32(int64_t, UnrankedMemRef *,
                                          MemRef1DI32 *, UnrankedMemRef *,
                                          MemRef1DI32 *);
}

namespace {

constexpr int kWidth = 3; // floats per row

/// How many rows world rank \p From sends world rank \p To (0 for some
/// pairs, so empty messages are covered).
int32_t rowsBetween(int From, int To) { return (From * 7 + To * 3) % 4; }

float rowValue(int From, int To, int Row, int Col) {
  return static_cast<float>(From * 1000 + To * 100 + Row * 10 + Col);
}

MemRef1DI32 counts(void *Device, int N) {
  auto *P = static_cast<int32_t *>(Device);
  return {P, P, 0, N, 1};
}

MemRef2DF32 rows(void *Device, int64_t N) {
  auto *P = static_cast<float *>(Device);
  return {P, P, 0, {N, kWidth}, {kWidth, 1}};
}

struct Checker {
  Communicator &C;
  int Failed = 0, Passed = 0;

  void expect(bool Ok, const std::string &What) {
    // Every rank's verdict, so rank 0 reports a failure anywhere.
    std::vector<int64_t> All = C.gather({Ok ? 1 : 0});
    if (C.rank() != 0)
      return;
    std::string Bad;
    for (size_t R = 0; R < All.size(); ++R)
      if (!All[R])
        Bad += (Bad.empty() ? "" : ", ") + std::to_string(R);
    if (Bad.empty()) {
      ++Passed;
      std::printf("PASS: %s\n", What.c_str());
    } else {
      ++Failed;
      std::printf("FAIL: %s (rank %s)\n", What.c_str(), Bad.c_str());
    }
    std::fflush(stdout);
  }
};

/// One exchange of \p Stage through the entry points, checked.
void checkStage(Communicator &C, CudaDevice &Dev, CommStage Stage,
                const std::string &Label, Checker &Check) {
  int N = C.stageSize(Stage);
  int Me = C.rank();
  std::vector<int32_t> Send(N), Expected(N);
  int64_t SendRows = 0, ExpectedRows = 0;
  for (int P = 0; P < N; ++P) {
    Send[P] = rowsBetween(Me, C.worldRankOf(Stage, P));
    Expected[P] = rowsBetween(C.worldRankOf(Stage, P), Me);
    SendRows += Send[P];
    ExpectedRows += Expected[P];
  }
  std::vector<float> Payload;
  for (int P = 0; P < N; ++P)
    for (int R = 0; R < Send[P]; ++R)
      for (int K = 0; K < kWidth; ++K)
        Payload.push_back(rowValue(Me, C.worldRankOf(Stage, P), R, K));

  void *SendCountsDev = Dev.allocate(N * 4);
  void *RecvCountsDev = Dev.allocate(N * 4);
  void *PayloadDev = Dev.allocate(Payload.size() * 4 + 4);
  Dev.copyToDevice(SendCountsDev, Send.data(), N * 4);
  if (!Payload.empty())
    Dev.copyToDevice(PayloadDev, Payload.data(), Payload.size() * 4);
  Dev.synchronize();

  auto StageCode = static_cast<int64_t>(Stage);
  MemRef1DI32 SC = counts(SendCountsDev, N), RC = counts(RecvCountsDev, N);
  int64_t Total = _mlir_ciface_moert_comm_counts(StageCode, &SC, &RC);
  std::vector<int32_t> Got(N);
  Dev.copyToHost(Got.data(), RecvCountsDev, N * 4);
  Check.expect(Total == ExpectedRows && Got == Expected,
               Label + ": counts and their total");
  Check.expect(_mlir_ciface_moert_comm_total(StageCode, &RC) == ExpectedRows,
               Label + ": moert_comm_total of the received counts");

  void *IntoDev = Dev.allocate(ExpectedRows * kWidth * 4 + 4);
  MemRef2DF32 From = rows(PayloadDev, SendRows);
  MemRef2DF32 Into = rows(IntoDev, ExpectedRows);
  UnrankedMemRef FromU{2, &From}, IntoU{2, &Into};
  C.resetStats();
  _mlir_ciface_moert_comm_exchange_f32(StageCode, &FromU, &SC, &IntoU, &RC);
  std::vector<float> Received(ExpectedRows * kWidth);
  if (!Received.empty())
    Dev.copyToHost(Received.data(), IntoDev, Received.size() * 4);
  bool RowsOk = true;
  size_t I = 0;
  int64_t PeersSending = 0;
  for (int P = 0; P < N; ++P) {
    int From = C.worldRankOf(Stage, P);
    PeersSending += From != Me && Expected[P] > 0;
    for (int R = 0; R < Expected[P]; ++R)
      for (int K = 0; K < kWidth; ++K)
        RowsOk &= Received[I++] == rowValue(From, Me, R, K);
  }
  Check.expect(RowsOk, Label + ": every row from its sender, in rank order");
  const StageStats &S = C.stats()[static_cast<size_t>(Stage)];
  Check.expect(S.Calls == 1 && S.MessagesReceived == PeersSending,
               Label + ": messages counted from other ranks only");
  for (void *P : {SendCountsDev, RecvCountsDev, PayloadDev, IntoDev})
    Dev.release(P);
}

void checkAll(Communicator &C, CudaDevice &Dev, const char *Name,
              Checker &Check) {
  setActiveCommunicator(&C);
  for (CommStage Stage :
       {CommStage::Flat, CommStage::IntraNode, CommStage::InterNode})
    checkStage(C, Dev, Stage, std::string(Name) + ", " + stageName(Stage),
               Check);
  setActiveCommunicator(nullptr);
}

} // namespace

int main() {
  try {
    LaunchInfo L = detectLaunch();
    std::unique_ptr<Communicator> Host = makeMpiCommunicator(L, 60);
    CudaDevice &Dev = CudaDevice::select(0);
    Host->setDevice(&Dev);
    Checker Check{*Host};
    checkAll(*Host, Dev, "MPI through host memory", Check);
    const char *Lib = std::getenv("MOEC_NCCL_LIBRARY");
    std::unique_ptr<Communicator> Nccl =
        makeNcclCommunicator(*Host, Dev, Lib ? Lib : "libnccl.so.2", 60);
    Check.expect(Nccl->movesDeviceBuffers() &&
                     std::string(Nccl->name()) == "NCCL",
                 "the NCCL communicator moves device buffers");
    checkAll(*Nccl, Dev, "NCCL", Check);
    Nccl.reset();
    if (Host->rank() == 0)
      std::printf("%d passed, %d failed\n", Check.Passed, Check.Failed);
    int Failed = Check.Failed;
    Host->broadcast(&Failed, sizeof(Failed));
    return Failed ? 1 : 0;
  } catch (const Error &E) {
    std::fprintf(stderr, "device_exchange_check: error: %s\n", E.what());
    return 1;
  }
}
