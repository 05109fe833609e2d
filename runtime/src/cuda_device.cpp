//===- cuda_device.cpp - The GPU a CUDA model runs on ---------------------===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//

#include "moert/cuda_device.h"
#include "cuda_api.h"
#include "moert/error.h"

#include <atomic>
#include <cstdint>
#include <mutex>

using namespace moert;

namespace {

std::mutex ErrorMutex;
std::string FirstError; // Guarded by ErrorMutex.
// Read without the lock by the mgpu* fast paths.
std::atomic<bool> HaveError{false};

std::mutex DeviceMutex;
CudaDevice *Selected = nullptr; // Guarded by DeviceMutex; never freed.

} // namespace

void detail::recordCudaError(const std::string &What) {
  std::lock_guard<std::mutex> Lock(ErrorMutex);
  if (!HaveError)
    FirstError = What;
  HaveError = true;
}

bool detail::hasCudaError() { return HaveError; }

void CudaDevice::checkErrors(const std::string &During) {
  std::lock_guard<std::mutex> Lock(ErrorMutex);
  if (!HaveError)
    return;
  std::string What = FirstError;
  FirstError.clear();
  HaveError = false;
  throw Error(During + ": " + What);
}

CudaDevice *CudaDevice::current() {
  std::lock_guard<std::mutex> Lock(DeviceMutex);
  return Selected;
}

#ifndef MOERT_HAVE_CUDA

CudaDevice &CudaDevice::select(int) {
  detail::mgpuAnchor();
  CudaDriver::get(); // Throws: built without CUDA support.
  throw Error("unreachable: no CUDA support");
}

static Error noCuda() { return Error("this runtime has no CUDA support"); }
void *CudaDevice::allocate(size_t) { throw noCuda(); }
void CudaDevice::release(void *) {}
void CudaDevice::copyToDevice(void *, const void *, size_t) { throw noCuda(); }
void CudaDevice::copyToHost(void *, const void *, size_t) { throw noCuda(); }
void CudaDevice::fillBytes(void *, size_t, unsigned char) { throw noCuda(); }
void CudaDevice::synchronize() {}
bool CudaDevice::streamIdle() { return true; }
float CudaDevice::timeMs(const std::function<void()> &) { throw noCuda(); }
void CudaDevice::makeCurrent() { throw noCuda(); }
void CudaDevice::waitForStream(void *) { throw noCuda(); }
void CudaDevice::makeStreamWait(void *) { throw noCuda(); }
size_t CudaDevice::measureScratch(const std::function<void()> &) {
  throw noCuda();
}
void CudaDevice::useWorkspace(void *, size_t) {}
void *CudaDevice::takeScratch(size_t) { return nullptr; }
std::unique_ptr<CudaDevice::Graph>
CudaDevice::capture(const std::function<void()> &) {
  throw noCuda();
}
void CudaDevice::launchGraph(const Graph &) { throw noCuda(); }
CudaDevice::Graph::~Graph() {}

#else

namespace {
std::atomic<CudaDriver::Api *> SelectedApi{nullptr};
CudaDriver::Api &api() { return detail::deviceApi(); }
} // namespace

CudaDriver::Api &detail::deviceApi() {
  CudaDriver::Api *A = SelectedApi.load(std::memory_order_acquire);
  return A ? *A : CudaDriver::get().api();
}

CudaDevice &CudaDevice::select(int Ordinal) {
  detail::mgpuAnchor();
  std::lock_guard<std::mutex> Lock(DeviceMutex);
  if (Selected) {
    if (Selected->Ordinal != Ordinal)
      throw Error("CUDA device " + std::to_string(Selected->Ordinal) +
                  " is already in use by this process; cannot switch to " +
                  std::to_string(Ordinal));
    return *Selected;
  }
  const CudaDriver &Driver = CudaDriver::get();
  auto Dev = std::unique_ptr<CudaDevice>(new CudaDevice());
  Dev->Ordinal = Ordinal;
  Dev->Info = Driver.device(Ordinal);
  Dev->Version = Driver.version();
  CudaDriver::Api &A = Driver.api();
  A.resolveExecution();
  CUdevice Handle;
  // device() checked the ordinal; cuDeviceGet cannot fail now.
  A.check(A.DeviceGet(&Handle, Ordinal), "cuDeviceGet");
  // Retained for the life of the process (never released).
  CUcontext Ctx;
  A.check(A.DevicePrimaryCtxRetain(&Ctx, Handle), "cuDevicePrimaryCtxRetain");
  A.check(A.CtxSetCurrent(Ctx), "cuCtxSetCurrent");
  Dev->Context = Ctx;
  CUstream S;
  A.check(A.StreamCreate(&S, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
  Dev->Stream = S;
  SelectedApi.store(&A, std::memory_order_release);
  Selected = Dev.release();
  return *Selected;
}

void *CudaDevice::allocate(size_t Bytes) {
  if (Bytes == 0)
    return nullptr;
  CUdeviceptr P = 0;
  CUresult R = api().MemAlloc(&P, Bytes);
  if (R != CUDA_SUCCESS)
    throw Error("cannot allocate " + std::to_string(Bytes) +
                " bytes on CUDA device " + std::to_string(Ordinal) + ": " +
                api().describe(R));
  return reinterpret_cast<void *>(P);
}

void CudaDevice::release(void *Ptr) {
  if (Ptr)
    api().MemFree(reinterpret_cast<CUdeviceptr>(Ptr));
}

void CudaDevice::copyToDevice(void *Dst, const void *Src, size_t Bytes) {
  if (Bytes == 0)
    return;
  api().check(api().MemcpyAsync(reinterpret_cast<CUdeviceptr>(Dst),
                                reinterpret_cast<CUdeviceptr>(Src), Bytes,
                                static_cast<CUstream>(Stream)),
              "cuMemcpyAsync (to the device)");
}

void CudaDevice::copyToHost(void *Dst, const void *Src, size_t Bytes) {
  if (Bytes != 0)
    api().check(api().MemcpyAsync(reinterpret_cast<CUdeviceptr>(Dst),
                                  reinterpret_cast<CUdeviceptr>(Src), Bytes,
                                  static_cast<CUstream>(Stream)),
                "cuMemcpyAsync (to the host)");
  synchronize();
}

void CudaDevice::fillBytes(void *Dst, size_t Bytes, unsigned char Value) {
  if (Bytes != 0)
    api().check(api().MemsetD8Async(reinterpret_cast<CUdeviceptr>(Dst), Value,
                                    Bytes, static_cast<CUstream>(Stream)),
                "cuMemsetD8Async");
}

void CudaDevice::synchronize() {
  api().check(api().StreamSynchronize(static_cast<CUstream>(Stream)),
              "cuStreamSynchronize");
}

bool CudaDevice::streamIdle() {
  CUresult R = api().StreamQuery(static_cast<CUstream>(Stream));
  if (R == CUDA_ERROR_NOT_READY)
    return false;
  api().check(R, "cuStreamQuery");
  return true;
}

float CudaDevice::timeMs(const std::function<void()> &Work) {
  CudaDriver::Api &A = api();
  CUevent Start, Stop;
  A.check(A.EventCreate(&Start, CU_EVENT_DEFAULT), "cuEventCreate");
  CUresult R = A.EventCreate(&Stop, CU_EVENT_DEFAULT);
  if (R != CUDA_SUCCESS) {
    A.EventDestroy(Start);
    A.check(R, "cuEventCreate");
  }
  float Ms = 0;
  try {
    auto S = static_cast<CUstream>(Stream);
    A.check(A.EventRecord(Start, S), "cuEventRecord");
    Work();
    A.check(A.EventRecord(Stop, S), "cuEventRecord");
    A.check(A.EventSynchronize(Stop), "cuEventSynchronize");
    A.check(A.EventElapsedTime(&Ms, Start, Stop), "cuEventElapsedTime");
  } catch (...) {
    A.EventDestroy(Start);
    A.EventDestroy(Stop);
    throw;
  }
  A.EventDestroy(Start);
  A.EventDestroy(Stop);
  return Ms;
}

/// Makes \p Waiter wait for the work enqueued on \p Done so far, through an
/// event (destroying it after the wait is enqueued is allowed: the driver
/// releases it once the wait completes).
static void streamWaits(CUstream Waiter, CUstream Done) {
  CudaDriver::Api &A = api();
  CUevent E;
  A.check(A.EventCreate(&E, CU_EVENT_DISABLE_TIMING), "cuEventCreate");
  CUresult R = A.EventRecord(E, Done);
  if (R == CUDA_SUCCESS)
    R = A.StreamWaitEvent(Waiter, E, 0);
  A.EventDestroy(E);
  A.check(R, "cuEventRecord/cuStreamWaitEvent");
}

void CudaDevice::makeCurrent() {
  api().check(api().CtxSetCurrent(static_cast<CUcontext>(Context)),
              "cuCtxSetCurrent");
}

void CudaDevice::waitForStream(void *Other) {
  streamWaits(static_cast<CUstream>(Stream), static_cast<CUstream>(Other));
}

void CudaDevice::makeStreamWait(void *Other) {
  streamWaits(static_cast<CUstream>(Other), static_cast<CUstream>(Stream));
}

namespace {
// Scratch buffers are aligned as cuMemAlloc's are, for vector loads.
constexpr size_t kScratchAlign = 256;
// The made-up base address of measured scratch buffers: never dereferenced
// (the host code only passes it to kernels, which do not run).
constexpr uintptr_t kMeasureBase = uintptr_t(1) << 32;
} // namespace

size_t CudaDevice::measureScratch(const std::function<void()> &Forward) {
  Mode Saved = CurrentMode;
  CurrentMode = Mode::Measure;
  size_t SavedUsed = WorkspaceUsed;
  WorkspaceUsed = 0;
  try {
    Forward();
  } catch (...) {
    CurrentMode = Saved;
    WorkspaceUsed = SavedUsed;
    throw;
  }
  size_t Bytes = WorkspaceUsed;
  CurrentMode = Saved;
  WorkspaceUsed = SavedUsed;
  checkErrors("sizing the forward's workspace on CUDA device " +
              std::to_string(Ordinal));
  return Bytes;
}

void CudaDevice::useWorkspace(void *Base, size_t Bytes) {
  WorkspaceBase = Base;
  WorkspaceBytes = Bytes;
  WorkspaceUsed = 0;
  HaveWorkspace = true;
}

void *CudaDevice::takeScratch(size_t Bytes) {
  size_t Offset =
      (WorkspaceUsed + kScratchAlign - 1) / kScratchAlign * kScratchAlign;
  if (CurrentMode == Mode::Measure) {
    WorkspaceUsed = Offset + Bytes;
    return reinterpret_cast<void *>(kMeasureBase + Offset);
  }
  if (Offset + Bytes > WorkspaceBytes) {
    detail::recordCudaError(
        "the forward's scratch buffers need more than the " +
        std::to_string(WorkspaceBytes) +
        "-byte workspace sized when its inputs were bound");
    return nullptr;
  }
  WorkspaceUsed = Offset + Bytes;
  return static_cast<char *>(WorkspaceBase) + Offset;
}

std::unique_ptr<CudaDevice::Graph>
CudaDevice::capture(const std::function<void()> &Work) {
  CudaDriver::Api &A = api();
  auto S = static_cast<CUstream>(Stream);
  // Thread-local: a call of this thread that cannot be captured (an
  // allocation, a synchronization) fails instead of going unrecorded.
  A.check(A.StreamBeginCapture(S, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL),
          "cuStreamBeginCapture");
  Mode Saved = CurrentMode;
  CurrentMode = Mode::Capture;
  CUgraph G = nullptr;
  try {
    Work();
  } catch (...) {
    CurrentMode = Saved;
    if (A.StreamEndCapture(S, &G) == CUDA_SUCCESS && G)
      A.GraphDestroy(G);
    throw;
  }
  CurrentMode = Saved;
  A.check(A.StreamEndCapture(S, &G), "cuStreamEndCapture");
  CUgraphExec Exec = nullptr;
  CUresult R = A.GraphInstantiate(&Exec, G, 0);
  A.GraphDestroy(G);
  A.check(R, "cuGraphInstantiate");
  return std::make_unique<Graph>(Exec);
}

void CudaDevice::launchGraph(const Graph &G) {
  api().check(api().GraphLaunch(static_cast<CUgraphExec>(G.exec()),
                                static_cast<CUstream>(Stream)),
              "cuGraphLaunch");
}

CudaDevice::Graph::~Graph() {
  if (Exec)
    api().GraphExecDestroy(static_cast<CUgraphExec>(Exec));
}

#endif // MOERT_HAVE_CUDA
