//===- cuda_driver.h - The CUDA driver API, loaded at run time --*- C++ -*-===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//
///
/// \file
/// The runtime reaches NVIDIA GPUs through the CUDA driver API, which it loads
/// with dlopen instead of linking: the same moe-run starts on machines with
/// no GPU or no driver, and says which of the two is missing. Every failure
/// is a moert::Error naming the driver call and CUDA's own error name and
/// string.
///
//===----------------------------------------------------------------------===//

#ifndef MOERT_CUDA_DRIVER_H
#define MOERT_CUDA_DRIVER_H

#include <cstdint>
#include <memory>
#include <string>

namespace moert {

/// What moe-run reports about a device.
struct CudaDeviceInfo {
  std::string Name;
  int Major = 0, Minor = 0; ///< Compute capability (9.0 on an H100).
  uint64_t MemoryBytes = 0;

  /// "NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)".
  std::string describe() const;
};

/// Whether this runtime was built with the CUDA toolkit's cuda.h (the driver
/// itself is only needed at run time).
bool haveCudaSupport();

/// A loaded and initialized CUDA driver library.
class CudaDriver {
public:
  /// The library `open()` loads when given none: $MOERT_CUDA_DRIVER if set,
  /// else libcuda.so.1 (the driver's soname, found by the dynamic loader).
  static std::string defaultLibrary();

  /// Loads \p Library and calls cuInit. Throws Error when the library cannot
  /// be loaded, lacks a driver entry point, or the driver finds no device.
  static std::unique_ptr<CudaDriver> open(const std::string &Library);

  /// The process's driver, opened from defaultLibrary() on first use (a
  /// failed open is retried on the next call).
  static const CudaDriver &get();

  ~CudaDriver();
  CudaDriver(const CudaDriver &) = delete;
  CudaDriver &operator=(const CudaDriver &) = delete;

  /// The driver's CUDA version, "13.0".
  std::string version() const;
  int deviceCount() const;
  /// Throws Error when \p Ordinal is not a device of this machine.
  CudaDeviceInfo device(int Ordinal) const;

  struct Api; // The resolved entry points (src/cuda_api.h).
  Api &api() const;

private:
  explicit CudaDriver(std::unique_ptr<Api> A);
  std::unique_ptr<Api> A;
};

} // namespace moert

#endif // MOERT_CUDA_DRIVER_H
