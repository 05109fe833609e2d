//===- mgpu.cpp - The mgpu* functions compiled CUDA models call -----------===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//
//
// MLIR's gpu-to-llvm lowering and its gpu.binary translation emit calls to
// these functions (the signatures of MLIR's CUDA runtime wrappers). moe-run
// exports them to the models it loads. They run on the selected CudaDevice:
// - the embedded kernels are registered when the model is loaded (a global
//   constructor calls mgpuModuleLoad) and handed to the driver on first use,
//   so loading a CUDA model touches no GPU;
// - every "stream" is the device's one stream, and scratch buffers come
//   from the workspace the Invocation sized at load time (or, without one,
//   the driver's stream-ordered allocator), so a forward neither allocates
//   nor waits for the device until its final synchronization;
// - the device's mode makes the same calls size the workspace (nothing is
//   launched, copied or awaited) or record a CUDA graph (nothing awaited);
// - a failing call is recorded and later calls do nothing: the compiled
//   code cannot take a C++ exception, and CudaDevice::checkErrors reports
//   the failure after the forward returns.
//
//===----------------------------------------------------------------------===//

#include "cuda_api.h"
#include "moert/cuda_device.h"

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

using namespace moert;

void detail::mgpuAnchor() {}

#define MOERT_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

/// A kernel image the model registered, loaded into the context on first use.
struct KernelModule {
  const void *Image = nullptr;
#ifdef MOERT_HAVE_CUDA
  CUmodule Module = nullptr;
  // Every forward asks for the same kernel(s) again: resolved once.
  std::map<std::string, CUfunction> Functions;
#endif
};

#ifdef MOERT_HAVE_CUDA

std::mutex KernelMutex;
std::map<CUfunction, std::string> KernelNames; // Guarded by KernelMutex.

CudaDriver::Api &api() { return detail::deviceApi(); }

/// Records \p R's failure of \p Call; true if it failed.
bool failed(CUresult R, const std::string &Call) {
  if (R == CUDA_SUCCESS)
    return false;
  detail::recordCudaError(Call + " failed: " + api().describe(R));
  return true;
}

CudaDevice *device() {
  CudaDevice *Dev = CudaDevice::current();
  if (!Dev)
    detail::recordCudaError("the model's kernels need a CUDA device: run it "
                            "with moe-run --device=cuda");
  return Dev;
}

/// True while the workspace is being sized: the work is not done.
bool measuring() {
  CudaDevice *Dev = CudaDevice::current();
  return Dev && Dev->mode() == CudaDevice::Mode::Measure;
}

#endif

} // namespace

MOERT_EXPORT void *mgpuModuleLoad(void *Image, size_t /*Bytes*/) {
  auto *M = new KernelModule();
  M->Image = Image;
  return M;
}

// The primary context lives as long as the process: modules are not
// unloaded from it (this runs from the model's global destructors, possibly
// after the driver has shut down).
MOERT_EXPORT void mgpuModuleUnload(void *Module) {
  delete static_cast<KernelModule *>(Module);
}

#ifndef MOERT_HAVE_CUDA

static void noCuda() {
  detail::recordCudaError("this runtime was built without CUDA support");
}
MOERT_EXPORT void *mgpuModuleGetFunction(void *, const char *) {
  noCuda();
  return nullptr;
}
MOERT_EXPORT void mgpuLaunchKernel(void *, intptr_t, intptr_t, intptr_t,
                                   intptr_t, intptr_t, intptr_t, int32_t,
                                   void *, void **, void **, size_t) {}
MOERT_EXPORT void *mgpuStreamCreate() {
  noCuda();
  return nullptr;
}
MOERT_EXPORT void mgpuStreamDestroy(void *) {}
MOERT_EXPORT void mgpuStreamSynchronize(void *) {}
MOERT_EXPORT void *mgpuMemAlloc(uint64_t, void *, bool) { return nullptr; }
MOERT_EXPORT void mgpuMemFree(void *, void *) {}
MOERT_EXPORT void mgpuMemcpy(void *, void *, size_t, void *) {}

#else

MOERT_EXPORT void *mgpuModuleGetFunction(void *Module, const char *Name) {
  if (detail::hasCudaError() || !device())
    return nullptr;
  auto *M = static_cast<KernelModule *>(Module);
  std::lock_guard<std::mutex> Lock(KernelMutex);
  if (!M->Module && failed(api().ModuleLoadData(&M->Module, M->Image),
                           std::string("loading the kernels of ") + Name +
                               " (cuModuleLoadData; compiled for another "
                               "GPU? see moe-compile --gpu-arch)"))
    return nullptr;
  auto [It, New] = M->Functions.try_emplace(Name, nullptr);
  if (!New)
    return It->second;
  if (failed(api().ModuleGetFunction(&It->second, M->Module, Name),
             std::string("cuModuleGetFunction(") + Name + ")")) {
    M->Functions.erase(It);
    return nullptr;
  }
  KernelNames.emplace(It->second, Name);
  return It->second;
}

MOERT_EXPORT void mgpuLaunchKernel(void *Function, intptr_t GridX,
                                   intptr_t GridY, intptr_t GridZ,
                                   intptr_t BlockX, intptr_t BlockY,
                                   intptr_t BlockZ, int32_t SharedBytes,
                                   void *Stream, void **Params, void **Extra,
                                   size_t /*ParamCount*/) {
  if (detail::hasCudaError() || !Function || measuring())
    return;
  // A loop with no iterations (T = 0, an empty expert list) is no launch.
  if (GridX <= 0 || GridY <= 0 || GridZ <= 0)
    return;
  auto *F = static_cast<CUfunction>(Function);
  CUresult R = api().LaunchKernel(F, GridX, GridY, GridZ, BlockX, BlockY,
                                  BlockZ, SharedBytes,
                                  static_cast<CUstream>(Stream), Params, Extra);
  if (R != CUDA_SUCCESS) {
    std::lock_guard<std::mutex> Lock(KernelMutex);
    failed(R, "cuLaunchKernel(" + KernelNames[F] + ", grid " +
                  std::to_string(GridX) + "x" + std::to_string(GridY) + "x" +
                  std::to_string(GridZ) + ", block " + std::to_string(BlockX) +
                  "x" + std::to_string(BlockY) + "x" + std::to_string(BlockZ) +
                  ")");
  }
}

// The forward's stream is the device's: created once, never destroyed here.
MOERT_EXPORT void *mgpuStreamCreate() {
  CudaDevice *Dev = device();
  return Dev ? Dev->stream() : nullptr;
}

MOERT_EXPORT void mgpuStreamDestroy(void *) {}

MOERT_EXPORT void mgpuStreamSynchronize(void *Stream) {
  // A graph being captured cannot wait; its replay is awaited by its caller.
  CudaDevice *Dev = CudaDevice::current();
  if (Stream && Dev && Dev->mode() == CudaDevice::Mode::Run)
    failed(api().StreamSynchronize(static_cast<CUstream>(Stream)),
           "cuStreamSynchronize (a kernel of the forward failed)");
}

MOERT_EXPORT void *mgpuMemAlloc(uint64_t Bytes, void *Stream, bool HostShared) {
  if (detail::hasCudaError() || Bytes == 0)
    return nullptr;
  if (HostShared) {
    detail::recordCudaError("host-shared GPU allocations are not supported");
    return nullptr;
  }
  CudaDevice *Dev = device();
  if (!Dev)
    return nullptr;
  if (Dev->usesWorkspace())
    return Dev->takeScratch(Bytes);
  CUdeviceptr P = 0;
  if (failed(api().MemAllocAsync(&P, Bytes, static_cast<CUstream>(Stream)),
             "cuMemAllocAsync(" + std::to_string(Bytes) + " bytes)"))
    return nullptr;
  return reinterpret_cast<void *>(P);
}

MOERT_EXPORT void mgpuMemFree(void *Ptr, void *Stream) {
  CudaDevice *Dev = CudaDevice::current();
  if (Ptr && Dev && !Dev->usesWorkspace())
    failed(api().MemFreeAsync(reinterpret_cast<CUdeviceptr>(Ptr),
                              static_cast<CUstream>(Stream)),
           "cuMemFreeAsync");
}

MOERT_EXPORT void mgpuMemcpy(void *Dst, void *Src, size_t Bytes, void *Stream) {
  if (detail::hasCudaError() || Bytes == 0 || measuring())
    return;
  failed(api().MemcpyAsync(reinterpret_cast<CUdeviceptr>(Dst),
                           reinterpret_cast<CUdeviceptr>(Src), Bytes,
                           static_cast<CUstream>(Stream)),
         "cuMemcpyAsync");
}

#endif // MOERT_HAVE_CUDA
