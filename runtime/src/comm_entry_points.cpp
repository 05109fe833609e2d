//===- comm_entry_points.cpp - The moert_comm_* functions models call ----===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//
//
// An expert-parallel model leaves these undefined (abi::kComm*); moe-run
// defines them on the active communicator. A CUDA model passes device
// memory: its counts are read back to the host (the stream was synchronized
// before the call), and its rows go to the communicator directly when it
// moves device buffers (NCCL), else through host memory (MPI). Receive
// sizes depend on the routing, so such a model's forward cannot be measured
// without running it: its scratch memory comes from the driver's
// stream-ordered allocator, not a workspace (Invocation).
//
//===----------------------------------------------------------------------===//

#include "moert/comm.h"
#include "moert/cuda_device.h"
#include "moert/error.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

using namespace moert;

void detail::commEntryPointsAnchor() {}

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
  Communicator *C = activeCommunicator();
  if (!C) {
    std::fprintf(stderr, "moe-run: error: the model exchanges rows between "
                         "ranks (it was compiled with --expert-parallel) but "
                         "no communicator is active: run it with moe-run\n");
    std::exit(1);
  }
  return *C;
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

/// Where the counts of one exchange are (host or device memory), checked
/// against the stage's size.
int32_t *countsAt(Communicator &C, CommStage Stage, const MemRef1DI32 *M,
                  const char *What) {
  int Expected = C.stageSize(Stage);
  if (!M || M->Size != Expected || (M->Size > 1 && M->Stride != 1))
    C.abort(std::string("the model's ") + What + " have " +
            std::to_string(M ? M->Size : 0) + " entries but the " +
            stageName(Stage) + " exchange spans " + std::to_string(Expected) +
            " ranks");
  return M->Aligned + M->Offset;
}

int64_t sum(const std::vector<int32_t> &Counts) {
  int64_t S = 0;
  for (int32_t N : Counts)
    S += N;
  return S;
}

/// A CUDA model's device, or null for a CPU model. Aborts the job when a
/// kernel of this forward failed: its counts would be garbage, and the
/// peers are waiting in the same exchange.
CudaDevice *deviceOf(Communicator &C) {
  CudaDevice *Dev = C.device();
  if (!Dev)
    return nullptr;
  if (Dev->mode() != CudaDevice::Mode::Run)
    C.abort("an expert-parallel model's exchanges wait for the host (their "
            "sizes depend on the routing), so its forward can be neither "
            "captured as a CUDA graph nor measured for a workspace");
  try {
    CudaDevice::checkErrors("the forward before an exchange");
  } catch (const Error &E) {
    C.abort(E.what());
  }
  return Dev;
}

/// Copies \p Bytes of the model's buffer \p From (host memory, or \p Dev's)
/// to host memory \p To; aborts the job if the copy fails.
void readBuffer(Communicator &C, CudaDevice *Dev, void *To, const void *From,
                size_t Bytes) {
  if (!Bytes)
    return;
  if (!Dev) {
    std::memcpy(To, From, Bytes);
    return;
  }
  try {
    Dev->copyToHost(To, From, Bytes);
  } catch (const Error &E) {
    C.abort(std::string("reading an exchange buffer: ") + E.what());
  }
}

/// Copies \p Bytes of host memory \p From into the model's buffer \p To, and
/// waits for the copy (\p From may go away on return).
void writeBuffer(Communicator &C, CudaDevice *Dev, void *To, const void *From,
                 size_t Bytes) {
  if (!Bytes)
    return;
  if (!Dev) {
    std::memcpy(To, From, Bytes);
    return;
  }
  try {
    Dev->copyToDevice(To, From, Bytes);
    Dev->synchronize();
  } catch (const Error &E) {
    C.abort(std::string("writing an exchange buffer: ") + E.what());
  }
}

/// The counts at \p At (host or \p Dev memory) on the host.
std::vector<int32_t> readCounts(Communicator &C, CudaDevice *Dev,
                                const int32_t *At, int N) {
  std::vector<int32_t> Counts(N);
  readBuffer(C, Dev, Counts.data(), At, N * sizeof(int32_t));
  for (int32_t V : Counts)
    if (V < 0)
      C.abort("negative row count in an exchange");
  return Counts;
}

void exchangeRows(int64_t StageCode, const UnrankedMemRef *Payload,
                  const MemRef1DI32 *SendCounts, const UnrankedMemRef *Recv,
                  const MemRef1DI32 *RecvCounts, size_t ElemBytes) {
  Communicator &C = active();
  CommStage Stage = stageOf(C, StageCode);
  CudaDevice *Dev = deviceOf(C);
  Rows Send = rowsOf(C, Payload, ElemBytes);
  Rows Into = rowsOf(C, Recv, ElemBytes);
  int32_t *SendAt = countsAt(C, Stage, SendCounts, "send counts");
  int32_t *RecvAt = countsAt(C, Stage, RecvCounts, "receive counts");
  int N = C.stageSize(Stage);
  std::vector<int32_t> SC = readCounts(C, Dev, SendAt, N);
  std::vector<int32_t> RC = readCounts(C, Dev, RecvAt, N);
  if (sum(SC) > Send.Count || sum(RC) > Into.Count)
    C.abort("exchange counts exceed the model's buffers (sending " +
            std::to_string(sum(SC)) + " of " + std::to_string(Send.Count) +
            " rows, receiving " + std::to_string(sum(RC)) + " into " +
            std::to_string(Into.Count) + ")");
  if (!Dev || C.movesDeviceBuffers()) {
    C.exchange(Stage, Send.Data, SC.data(), Into.Data, RC.data(),
               Send.RowBytes);
    return;
  }
  // Through host memory.
  size_t SendBytes = sum(SC) * Send.RowBytes;
  size_t RecvBytes = sum(RC) * Send.RowBytes;
  std::vector<std::byte> HostSend(SendBytes), HostRecv(RecvBytes);
  readBuffer(C, Dev, HostSend.data(), Send.Data, SendBytes);
  C.exchange(Stage, HostSend.data(), SC.data(), HostRecv.data(), RC.data(),
             Send.RowBytes);
  writeBuffer(C, Dev, Into.Data, HostRecv.data(), RecvBytes);
}

} // namespace

#define MOERT_EXPORT extern "C" __attribute__((visibility("default")))

MOERT_EXPORT int64_t _mlir_ciface_moert_comm_counts(int64_t StageCode,
                                                    MemRef1DI32 *Send,
                                                    MemRef1DI32 *Recv) {
  Communicator &C = active();
  CommStage Stage = stageOf(C, StageCode);
  CudaDevice *Dev = deviceOf(C);
  int N = C.stageSize(Stage);
  int32_t *SendAt = countsAt(C, Stage, Send, "send counts");
  int32_t *RecvAt = countsAt(C, Stage, Recv, "receive counts");
  std::vector<int32_t> SC = readCounts(C, Dev, SendAt, N), RC(N);
  C.exchangeCounts(Stage, SC.data(), RC.data());
  writeBuffer(C, Dev, RecvAt, RC.data(), N * sizeof(int32_t));
  return sum(RC);
}

MOERT_EXPORT int64_t _mlir_ciface_moert_comm_total(int64_t StageCode,
                                                   MemRef1DI32 *Counts) {
  Communicator &C = active();
  CommStage Stage = stageOf(C, StageCode);
  CudaDevice *Dev = deviceOf(C);
  int32_t *At = countsAt(C, Stage, Counts, "known counts");
  return sum(readCounts(C, Dev, At, C.stageSize(Stage)));
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
