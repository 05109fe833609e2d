//===- cuda_device.h - The GPU a CUDA model runs on -------------*- C++ -*-===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//
//
// A model compiled with `moe-compile --target=cuda` holds host code that
// calls the `mgpu*` functions (src/mgpu.cpp) and kernels embedded as fatbins.
// Those functions run on the process's selected CudaDevice: its primary
// context, one stream for every launch, copy and stream-ordered allocation,
// and the kernels of the loaded models. The compiled code cannot take a C++
// exception, so a failing driver call inside a forward is recorded and the
// work after it skipped; checkErrors() turns the first one into an Error.
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_CUDA_DEVICE_H
#define MOERT_CUDA_DEVICE_H

#include "moert/cuda_driver.h"

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

namespace moert {

class CudaDevice {
public:
  /// Opens the driver and makes device \p Ordinal the process's device
  /// (primary context, one stream). The context is made current on the
  /// calling thread only: models must run on that thread. Throws Error without a driver or such a
  /// device. Selecting again returns the same device; another ordinal is an
  /// error.
  static CudaDevice &select(int Ordinal);
  /// The selected device, or null.
  static CudaDevice *current();

  int ordinal() const { return Ordinal; }
  const CudaDeviceInfo &info() const { return Info; }
  /// The driver's version, "13.0".
  const std::string &driverVersion() const { return Version; }
  /// The stream every launch and copy goes to (a CUstream).
  void *stream() const { return Stream; }

  /// Device memory (cuMemAlloc); throws Error when it cannot be had.
  void *allocate(size_t Bytes);
  void release(void *Ptr);
  /// Stream-ordered copies and fill; copyToHost waits for the stream.
  void copyToDevice(void *Dst, const void *Src, size_t Bytes);
  void copyToHost(void *Dst, const void *Src, size_t Bytes);
  void fillBytes(void *Dst, size_t Bytes, unsigned char Value);
  void synchronize();
  /// Whether the stream's work is done (does not wait; throws Error if it
  /// failed).
  bool streamIdle();

  /// Makes the device's context current on the calling thread, as select()
  /// did on its own (for callers such as the C API that may come from any).
  void makeCurrent();

  /// Work enqueued on the device's stream from now on waits for the work
  /// already enqueued on \p Other (a CUstream of the same context; null is
  /// the legacy default stream). Does not block the host.
  void waitForStream(void *Other);
  /// Work enqueued on \p Other from now on waits for the work already
  /// enqueued on the device's stream. Does not block the host.
  void makeStreamWait(void *Other);

  /// Runs \p Work and returns the milliseconds between CUDA events recorded
  /// on the stream before and after it.
  float timeMs(const std::function<void()> &Work);

  /// The bytes of scratch memory a forward asks for: runs \p Forward with
  /// the mgpu* functions launching, copying and waiting for nothing, and
  /// handing out made-up addresses. The compiled host code never reads
  /// device memory, so this is exact. Kernels are loaded into the context
  /// here, so a forward never loads one. Throws Error on a recorded failure.
  size_t measureScratch(const std::function<void()> &Forward);

  /// Makes [Base, Base + Bytes) the scratch memory of the forwards that
  /// follow: mgpuMemAlloc hands it out in order (256-byte aligned, from
  /// Base again at each call of this function) and mgpuMemFree leaves it
  /// be, so a forward neither allocates nor frees device memory. A forward
  /// that asks for more records an error.
  void useWorkspace(void *Base, size_t Bytes);
  /// Back to the driver's stream-ordered allocator (cuMemAllocAsync), as
  /// before any useWorkspace().
  void useStreamAllocator() { HaveWorkspace = false; }

  /// Records the stream work of \p Work (launches, copies, fills; no
  /// waiting) into a CUDA graph and returns it instantiated, ready to
  /// replay with launchGraph(). Throws Error if capture or \p Work fails.
  class Graph;
  std::unique_ptr<Graph> capture(const std::function<void()> &Work);
  /// Replays \p G on the stream (does not wait for it).
  void launchGraph(const Graph &G);

  /// Throws Error naming \p During and the first driver failure recorded
  /// by the mgpu* functions since the last call; clears it.
  static void checkErrors(const std::string &During);

  CudaDevice(const CudaDevice &) = delete;
  CudaDevice &operator=(const CudaDevice &) = delete;

  /// What the mgpu* functions do with a forward's work.
  enum class Mode {
    Run,       ///< Enqueue it on the stream.
    Measure,   ///< Nothing; count the scratch bytes (measureScratch).
    Capture,   ///< Enqueue it into a graph: no stream synchronization.
  };
  Mode mode() const { return CurrentMode; }
  /// mgpuMemAlloc's scratch buffer: from the workspace when one is in use,
  /// else null (the caller allocates from the driver).
  void *takeScratch(size_t Bytes);
  bool usesWorkspace() const {
    return HaveWorkspace || CurrentMode == Mode::Measure;
  }

private:
  CudaDevice() = default;
  int Ordinal = 0;
  CudaDeviceInfo Info;
  std::string Version;
  void *Context = nullptr; // CUcontext (the primary one)
  void *Stream = nullptr;  // CUstream
  Mode CurrentMode = Mode::Run;
  // The workspace (useWorkspace), or the byte count of a measured forward.
  void *WorkspaceBase = nullptr;
  size_t WorkspaceBytes = 0;
  size_t WorkspaceUsed = 0;
  bool HaveWorkspace = false;
};

/// An instantiated CUDA graph (a CUgraphExec); destroyed with it.
class CudaDevice::Graph {
public:
  explicit Graph(void *Exec) : Exec(Exec) {}
  ~Graph();
  Graph(const Graph &) = delete;
  Graph &operator=(const Graph &) = delete;
  void *exec() const { return Exec; }

private:
  void *Exec;
};

namespace detail {
/// Records the first failure of an mgpu* call (checkErrors reports it).
void recordCudaError(const std::string &What);
/// True once a failure is recorded: later mgpu* calls do nothing.
bool hasCudaError();
/// Defined in mgpu.cpp; referencing it links the mgpu* functions into every
/// program that selects a device.
void mgpuAnchor();
} // namespace detail

} // namespace moert

#endif // MOERT_CUDA_DEVICE_H
