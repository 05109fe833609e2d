/*===- fake_cuda_driver.c - A stand-in for libcuda.so.1 in tests ----------===*
 *
 * Part of moec, the Mixture-of-Experts compiler.
 *
 *===----------------------------------------------------------------------===*
 *
 * The driver entry points the runtime resolves, with cuda.h's ABI (CUresult
 * and CUdevice are ints, enums pass as int): one "Fake GPU" of compute
 * capability 9.0 and 80 GiB, driver version 13.0. Built with FAKE_NO_DEVICE,
 * cuInit fails with CUDA_ERROR_NO_DEVICE, as the real driver does on a
 * machine whose GPU is missing or unusable. CI machines have no driver, so
 * this is how the runtime's device path is tested there.
 *
 *===----------------------------------------------------------------------===*/

#include <stddef.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

enum {
  kSuccess = 0,
  kInvalidValue = 1,
  kNotInitialized = 3,
  kNoDevice = 100,
  kInvalidDevice = 101,
  kComputeCapabilityMajor = 75,
  kComputeCapabilityMinor = 76,
};

static int Initialized;

EXPORT int cuInit(unsigned Flags) {
  if (Flags != 0)
    return kInvalidValue;
#ifdef FAKE_NO_DEVICE
  return kNoDevice;
#else
  Initialized = 1;
  return kSuccess;
#endif
}

EXPORT int cuDriverGetVersion(int *Version) {
  *Version = 13000;
  return kSuccess;
}

EXPORT int cuDeviceGetCount(int *Count) {
  if (!Initialized)
    return kNotInitialized;
  *Count = 1;
  return kSuccess;
}

EXPORT int cuDeviceGet(int *Device, int Ordinal) {
  if (!Initialized)
    return kNotInitialized;
  if (Ordinal != 0)
    return kInvalidDevice;
  *Device = 0;
  return kSuccess;
}

EXPORT int cuDeviceGetName(char *Name, int Len, int Device) {
  if (Device != 0 || Len <= 0)
    return kInvalidValue;
  strncpy(Name, "Fake GPU", (size_t)Len);
  Name[Len - 1] = '\0';
  return kSuccess;
}

EXPORT int cuDeviceGetAttribute(int *Value, int Attribute, int Device) {
  if (Device != 0)
    return kInvalidDevice;
  if (Attribute == kComputeCapabilityMajor)
    *Value = 9;
  else if (Attribute == kComputeCapabilityMinor)
    *Value = 0;
  else
    return kInvalidValue;
  return kSuccess;
}

EXPORT int cuDeviceTotalMem_v2(size_t *Bytes, int Device) {
  if (Device != 0)
    return kInvalidDevice;
  *Bytes = (size_t)80 << 30;
  return kSuccess;
}

EXPORT int cuGetErrorName(int Error, const char **Name) {
  switch (Error) {
  case kInvalidValue:
    *Name = "CUDA_ERROR_INVALID_VALUE";
    return kSuccess;
  case kNotInitialized:
    *Name = "CUDA_ERROR_NOT_INITIALIZED";
    return kSuccess;
  case kNoDevice:
    *Name = "CUDA_ERROR_NO_DEVICE";
    return kSuccess;
  case kInvalidDevice:
    *Name = "CUDA_ERROR_INVALID_DEVICE";
    return kSuccess;
  }
  *Name = NULL;
  return kInvalidValue;
}

EXPORT int cuGetErrorString(int Error, const char **Text) {
  switch (Error) {
  case kNoDevice:
    *Text = "no CUDA-capable device is detected";
    return kSuccess;
  case kInvalidDevice:
    *Text = "invalid device ordinal";
    return kSuccess;
  }
  *Text = NULL;
  return kInvalidValue;
}
