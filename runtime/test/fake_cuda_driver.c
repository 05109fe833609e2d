/*===- fake_cuda_driver.c - A stand-in for libcuda.so.1 in tests ----------===*
 *
 * Part of moec, the Mixture-of-Experts compiler.
 *
 *===----------------------------------------------------------------------===*
 *
 * The driver entry points the runtime resolves, defined against cuda.h's own
 * declarations (so a wrong signature does not compile): one "Fake GPU" of
 * compute capability 9.0 and 80 GiB, driver version 13.0. Built with FAKE_NO_DEVICE,
 * cuInit fails with CUDA_ERROR_NO_DEVICE, as the real driver does on a
 * machine whose GPU is missing or unusable. CI machines have no driver, so
 * this is how the runtime's device path is tested there.
 *
 *===----------------------------------------------------------------------===*/

#include <cuda.h>
#include <stddef.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

static int Initialized;

EXPORT CUresult CUDAAPI cuInit(unsigned int Flags) {
  if (Flags != 0)
    return CUDA_ERROR_INVALID_VALUE;
#ifdef FAKE_NO_DEVICE
  return CUDA_ERROR_NO_DEVICE;
#else
  Initialized = 1;
  return CUDA_SUCCESS;
#endif
}

EXPORT CUresult CUDAAPI cuDriverGetVersion(int *Version) {
  *Version = 13000;
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuDeviceGetCount(int *Count) {
  if (!Initialized)
    return CUDA_ERROR_NOT_INITIALIZED;
  *Count = 1;
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuDeviceGet(CUdevice *Device, int Ordinal) {
  if (!Initialized)
    return CUDA_ERROR_NOT_INITIALIZED;
  if (Ordinal != 0)
    return CUDA_ERROR_INVALID_DEVICE;
  *Device = 0;
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuDeviceGetName(char *Name, int Len, CUdevice Device) {
  if (Device != 0 || Len <= 0)
    return CUDA_ERROR_INVALID_VALUE;
  strncpy(Name, "Fake GPU", (size_t)Len);
  Name[Len - 1] = '\0';
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuDeviceGetAttribute(int *Value,
                                             CUdevice_attribute Attribute,
                                             CUdevice Device) {
  if (Device != 0)
    return CUDA_ERROR_INVALID_DEVICE;
  if (Attribute == CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)
    *Value = 9;
  else if (Attribute == CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)
    *Value = 0;
  else
    return CUDA_ERROR_INVALID_VALUE;
  return CUDA_SUCCESS;
}

/* cuda.h maps cuDeviceTotalMem to the exported cuDeviceTotalMem_v2. */
EXPORT CUresult CUDAAPI cuDeviceTotalMem(size_t *Bytes, CUdevice Device) {
  if (Device != 0)
    return CUDA_ERROR_INVALID_DEVICE;
  *Bytes = (size_t)80 << 30;
  return CUDA_SUCCESS;
}

/* The errors this fake returns, named as the driver names them. */
static const struct {
  CUresult Code;
  const char *Name, *Text;
} Errors[] = {
    {CUDA_ERROR_INVALID_VALUE, "CUDA_ERROR_INVALID_VALUE", NULL},
    {CUDA_ERROR_NOT_INITIALIZED, "CUDA_ERROR_NOT_INITIALIZED", NULL},
    {CUDA_ERROR_NO_DEVICE, "CUDA_ERROR_NO_DEVICE",
     "no CUDA-capable device is detected"},
    {CUDA_ERROR_INVALID_DEVICE, "CUDA_ERROR_INVALID_DEVICE",
     "invalid device ordinal"},
};

/* Sets *Out to the name (or text) of Error; fails for codes it does not
 * know, and for texts it has none of, so the runtime's fallbacks run. */
static CUresult describe(CUresult Error, int Text, const char **Out) {
  for (size_t I = 0; I < sizeof(Errors) / sizeof(Errors[0]); ++I)
    if (Errors[I].Code == Error) {
      *Out = Text ? Errors[I].Text : Errors[I].Name;
      return *Out ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
    }
  *Out = NULL;
  return CUDA_ERROR_INVALID_VALUE;
}

EXPORT CUresult CUDAAPI cuGetErrorName(CUresult Error, const char **Name) {
  return describe(Error, 0, Name);
}

EXPORT CUresult CUDAAPI cuGetErrorString(CUresult Error, const char **Text) {
  return describe(Error, 1, Text);
}
