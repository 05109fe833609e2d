//===- cuda_driver.cpp - The CUDA driver API, loaded at run time ----------===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//
//
// cuda.h supplies the types and signatures; the entry points come from
// dlsym, so nothing links against libcuda and a machine without the driver
// only fails when a GPU is asked for.
//
//===----------------------------------------------------------------------===//

#include "moert/cuda_driver.h"
#include "cuda_api.h"
#include "moert/error.h"

#include <cstdio>
#include <cstdlib>
#include <mutex>

#ifdef MOERT_HAVE_CUDA
#include <dlfcn.h>
#endif

using namespace moert;

std::string CudaDeviceInfo::describe() const {
  char Buf[64];
  std::snprintf(Buf, sizeof(Buf), " (sm_%d%d, %.1f GiB)", Major, Minor,
                static_cast<double>(MemoryBytes) / (1u << 30));
  return Name + Buf;
}

std::string CudaDriver::defaultLibrary() {
  const char *Env = std::getenv("MOERT_CUDA_DRIVER");
  return Env && *Env ? Env : "libcuda.so.1";
}

const CudaDriver &CudaDriver::get() {
  static std::mutex M;
  // Never unloaded: kernels and contexts live as long as the process.
  static CudaDriver *Driver = nullptr;
  std::lock_guard<std::mutex> Lock(M);
  if (!Driver)
    Driver = open(defaultLibrary()).release();
  return *Driver;
}

#ifndef MOERT_HAVE_CUDA

struct CudaDriver::Api {};

bool moert::haveCudaSupport() { return false; }

std::unique_ptr<CudaDriver> CudaDriver::open(const std::string &) {
  throw Error("this runtime was built without CUDA support (cuda.h was not "
              "found at build time; install the CUDA toolkit and rebuild)");
}

CudaDriver::CudaDriver(std::unique_ptr<Api> A) : A(std::move(A)) {}
CudaDriver::~CudaDriver() = default;
CudaDriver::Api &CudaDriver::api() const { return *A; }
std::string CudaDriver::version() const { return ""; }
int CudaDriver::deviceCount() const { return 0; }
CudaDeviceInfo CudaDriver::device(int) const { return {}; }

#else

bool moert::haveCudaSupport() { return true; }

std::unique_ptr<CudaDriver> CudaDriver::open(const std::string &Library) {
  auto A = std::make_unique<Api>();
  A->Library = Library;
  A->Handle = dlopen(Library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!A->Handle) {
    const char *Why = dlerror();
    throw Error("no CUDA driver: cannot load " + Library + " (" +
                (Why ? Why : "unknown dlopen error") +
                "); a GPU needs the NVIDIA driver, or MOERT_CUDA_DRIVER naming "
                "its libcuda.so.1");
  }
  A->resolve(A->Init, "cuInit");
  A->resolve(A->DriverGetVersion, "cuDriverGetVersion");
  A->resolve(A->DeviceGetCount, "cuDeviceGetCount");
  A->resolve(A->DeviceGet, "cuDeviceGet");
  A->resolve(A->DeviceGetName, "cuDeviceGetName");
  A->resolve(A->DeviceGetAttribute, "cuDeviceGetAttribute");
  A->resolve(A->DeviceTotalMem, "cuDeviceTotalMem_v2");
  A->resolve(A->GetErrorName, "cuGetErrorName");
  A->resolve(A->GetErrorString, "cuGetErrorString");
  CUresult R = A->Init(0);
  // The toolkit's link-time stub answers every call with this code, and
  // cannot name it.
  if (R == CUDA_ERROR_STUB_LIBRARY)
    throw Error(Library + " is the CUDA toolkit's stub library, not a driver "
                          "(is lib64/stubs on LD_LIBRARY_PATH?); a GPU needs "
                          "the NVIDIA driver");
  if (R != CUDA_SUCCESS)
    throw Error("the CUDA driver (" + Library +
                ") found no usable GPU: cuInit failed: " + A->describe(R));
  return std::unique_ptr<CudaDriver>(new CudaDriver(std::move(A)));
}

CudaDriver::CudaDriver(std::unique_ptr<Api> A) : A(std::move(A)) {}
CudaDriver::~CudaDriver() = default;
CudaDriver::Api &CudaDriver::api() const { return *A; }

std::string CudaDriver::version() const {
  int V = 0;
  A->check(A->DriverGetVersion(&V), "cuDriverGetVersion");
  return std::to_string(V / 1000) + "." + std::to_string(V % 1000 / 10);
}

int CudaDriver::deviceCount() const {
  int N = 0;
  A->check(A->DeviceGetCount(&N), "cuDeviceGetCount");
  return N;
}

CudaDeviceInfo CudaDriver::device(int Ordinal) const {
  int N = deviceCount();
  if (Ordinal < 0 || Ordinal >= N)
    throw Error("there is no CUDA device " + std::to_string(Ordinal) +
                " (this machine has " + std::to_string(N) + ")");
  CUdevice Dev;
  A->check(A->DeviceGet(&Dev, Ordinal), "cuDeviceGet");
  CudaDeviceInfo Info;
  char Name[256] = {};
  A->check(A->DeviceGetName(Name, sizeof(Name) - 1, Dev), "cuDeviceGetName");
  Info.Name = Name;
  A->check(A->DeviceGetAttribute(
               &Info.Major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, Dev),
           "cuDeviceGetAttribute");
  A->check(A->DeviceGetAttribute(
               &Info.Minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, Dev),
           "cuDeviceGetAttribute");
  size_t Bytes = 0;
  A->check(A->DeviceTotalMem(&Bytes, Dev), "cuDeviceTotalMem");
  Info.MemoryBytes = Bytes;
  return Info;
}

#endif // MOERT_HAVE_CUDA
