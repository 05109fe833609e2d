//===- cuda_api.h - Driver entry points the runtime resolves ----*- C++ -*-===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//
//
// Private to the runtime: cuda_driver.cpp resolves the queries when it opens
// the driver, cuda_device.cpp the execution entry points when a model first
// needs a device (so a driver stand-in that only answers queries still
// opens).
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_SRC_CUDA_API_H
#define MOERT_SRC_CUDA_API_H

#include "moert/cuda_driver.h"

#ifdef MOERT_HAVE_CUDA

#include "moert/error.h"

#include <cuda.h>
#include <dlfcn.h>

#include <string>

namespace moert {

struct CudaDriver::Api {
  std::string Library;
  void *Handle = nullptr;
  decltype(&::cuInit) Init = nullptr;
  decltype(&::cuDriverGetVersion) DriverGetVersion = nullptr;
  decltype(&::cuDeviceGetCount) DeviceGetCount = nullptr;
  decltype(&::cuDeviceGet) DeviceGet = nullptr;
  decltype(&::cuDeviceGetName) DeviceGetName = nullptr;
  decltype(&::cuDeviceGetAttribute) DeviceGetAttribute = nullptr;
  decltype(&::cuDeviceTotalMem) DeviceTotalMem = nullptr; // cuDeviceTotalMem_v2
  decltype(&::cuGetErrorName) GetErrorName = nullptr;
  decltype(&::cuGetErrorString) GetErrorString = nullptr;

  // Execution, resolved by resolveExecution().
  bool HaveExecution = false;
  decltype(&::cuDevicePrimaryCtxRetain) DevicePrimaryCtxRetain = nullptr;
  decltype(&::cuCtxSetCurrent) CtxSetCurrent = nullptr;
  decltype(&::cuStreamCreate) StreamCreate = nullptr;
  decltype(&::cuStreamSynchronize) StreamSynchronize = nullptr;
  decltype(&::cuStreamQuery) StreamQuery = nullptr;
  decltype(&::cuModuleLoadData) ModuleLoadData = nullptr;
  decltype(&::cuModuleGetFunction) ModuleGetFunction = nullptr;
  decltype(&::cuLaunchKernel) LaunchKernel = nullptr;
  decltype(&::cuMemAlloc) MemAlloc = nullptr; // cuMemAlloc_v2
  decltype(&::cuMemFree) MemFree = nullptr;   // cuMemFree_v2
  decltype(&::cuMemAllocAsync) MemAllocAsync = nullptr;
  decltype(&::cuMemFreeAsync) MemFreeAsync = nullptr;
  decltype(&::cuMemcpyAsync) MemcpyAsync = nullptr;
  decltype(&::cuMemsetD8Async) MemsetD8Async = nullptr;
  decltype(&::cuEventCreate) EventCreate = nullptr;
  decltype(&::cuEventRecord) EventRecord = nullptr;
  decltype(&::cuEventSynchronize) EventSynchronize = nullptr;
  decltype(&::cuEventElapsedTime) EventElapsedTime = nullptr;
  decltype(&::cuEventDestroy) EventDestroy = nullptr; // cuEventDestroy_v2
  // Ordering against a caller's stream (the Python API).
  decltype(&::cuStreamWaitEvent) StreamWaitEvent = nullptr;
  // CUDA graphs (moe-run --graph).
  decltype(&::cuStreamBeginCapture) StreamBeginCapture = nullptr; // _v2
  decltype(&::cuStreamEndCapture) StreamEndCapture = nullptr;
  decltype(&::cuGraphInstantiate) GraphInstantiate = nullptr; // WithFlags
  decltype(&::cuGraphLaunch) GraphLaunch = nullptr;
  decltype(&::cuGraphDestroy) GraphDestroy = nullptr;
  decltype(&::cuGraphExecDestroy) GraphExecDestroy = nullptr;

  void resolveExecution() {
    if (HaveExecution)
      return;
    resolve(DevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
    resolve(CtxSetCurrent, "cuCtxSetCurrent");
    resolve(StreamCreate, "cuStreamCreate");
    resolve(StreamSynchronize, "cuStreamSynchronize");
    resolve(StreamQuery, "cuStreamQuery");
    resolve(ModuleLoadData, "cuModuleLoadData");
    resolve(ModuleGetFunction, "cuModuleGetFunction");
    resolve(LaunchKernel, "cuLaunchKernel");
    resolve(MemAlloc, "cuMemAlloc_v2");
    resolve(MemFree, "cuMemFree_v2");
    resolve(MemAllocAsync, "cuMemAllocAsync");
    resolve(MemFreeAsync, "cuMemFreeAsync");
    resolve(MemcpyAsync, "cuMemcpyAsync");
    resolve(MemsetD8Async, "cuMemsetD8Async");
    resolve(EventCreate, "cuEventCreate");
    resolve(EventRecord, "cuEventRecord");
    resolve(EventSynchronize, "cuEventSynchronize");
    // CUDA 12.8 added the _v2 name (cuda.h 13 maps cuEventElapsedTime to
    // it); older drivers have only the first, with the same signature.
    EventElapsedTime = reinterpret_cast<decltype(EventElapsedTime)>(
        dlsym(Handle, "cuEventElapsedTime_v2"));
    if (!EventElapsedTime)
      resolve(EventElapsedTime, "cuEventElapsedTime");
    resolve(EventDestroy, "cuEventDestroy_v2");
    resolve(StreamWaitEvent, "cuStreamWaitEvent");
    resolve(StreamBeginCapture, "cuStreamBeginCapture_v2");
    resolve(StreamEndCapture, "cuStreamEndCapture");
    resolve(GraphInstantiate, "cuGraphInstantiateWithFlags");
    resolve(GraphLaunch, "cuGraphLaunch");
    resolve(GraphDestroy, "cuGraphDestroy");
    resolve(GraphExecDestroy, "cuGraphExecDestroy");
    HaveExecution = true;
  }

  ~Api() {
    if (Handle)
      dlclose(Handle);
  }

  template <typename Fn> void resolve(Fn &Out, const char *Symbol) {
    Out = reinterpret_cast<Fn>(dlsym(Handle, Symbol));
    if (!Out)
      throw Error(Library + " has no '" + Symbol +
                  "': not a CUDA driver library, or one older than CUDA 12");
  }

  /// "CUDA_ERROR_NO_DEVICE (no CUDA-capable device is detected)".
  std::string describe(CUresult R) const {
    const char *Name = nullptr, *Text = nullptr;
    if (GetErrorName(R, &Name) != CUDA_SUCCESS || !Name)
      return "CUresult " + std::to_string(static_cast<int>(R));
    if (GetErrorString(R, &Text) != CUDA_SUCCESS || !Text)
      return Name;
    return std::string(Name) + " (" + Text + ")";
  }

  void check(CUresult R, const char *Call) const {
    if (R != CUDA_SUCCESS)
      throw Error(std::string(Call) + " failed: " + describe(R));
  }
};

namespace detail {
/// The driver of the selected CudaDevice, without CudaDriver::get()'s lock
/// (the mgpu* functions call it on every launch); the process's driver
/// before a device is selected.
CudaDriver::Api &deviceApi();
} // namespace detail

} // namespace moert

#endif // MOERT_HAVE_CUDA

#endif // MOERT_SRC_CUDA_API_H
