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

  /// Runs \p Work and returns the milliseconds between CUDA events recorded
  /// on the stream before and after it.
  float timeMs(const std::function<void()> &Work);

  /// Throws Error naming \p During and the first driver failure recorded
  /// by the mgpu* functions since the last call; clears it.
  static void checkErrors(const std::string &During);

  CudaDevice(const CudaDevice &) = delete;
  CudaDevice &operator=(const CudaDevice &) = delete;

private:
  CudaDevice() = default;
  int Ordinal = 0;
  CudaDeviceInfo Info;
  std::string Version;
  void *Stream = nullptr;  // CUstream
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
