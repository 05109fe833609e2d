/*===- fake_cuda_driver.c - A stand-in for libcuda.so.1 in tests ----------===*
 *
 * Part of moec, the Mixture-of-Experts compiler.
 *
 *===----------------------------------------------------------------------===*
 *
 * The driver entry points the runtime resolves, defined against cuda.h's own
 * declarations (so a wrong signature does not compile): one "Fake GPU" of
 * compute capability 9.0 and 80 GiB, driver version 13.0. Built with
 * FAKE_NO_DEVICE, cuInit fails with CUDA_ERROR_NO_DEVICE, as the real driver
 * does on a machine whose GPU is missing or unusable. CI machines have no
 * driver, so this is how the runtime's device path is tested there.
 *
 * Two environment variables make it a witness of what a forward asks of
 * the driver: FAKE_CUDA_KERNELS=1 loads every kernel image and launches
 * nothing (each launch succeeds), and FAKE_CUDA_TRACE=1 prints one line
 * per execution call on stderr ("fake-cuda: cuLaunchKernel grid 4x1x1
 * block 256x1x1"). During a graph capture, a synchronization or a
 * synchronous allocation or free fails and invalidates the capture, as with
 * the real driver in thread-local capture mode.
 *
 *===----------------------------------------------------------------------===*/

#include <cuda.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
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
    {CUDA_ERROR_NO_BINARY_FOR_GPU, "CUDA_ERROR_NO_BINARY_FOR_GPU",
     "no kernel image is available for execution on the device"},
    {CUDA_ERROR_OUT_OF_MEMORY, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED,
     "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED",
     "operation not permitted when stream is capturing"},
    {CUDA_ERROR_STREAM_CAPTURE_INVALIDATED,
     "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED",
     "operation failed due to a previous error during capture"},
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

/* Execution: device memory is host memory, the context and the stream are
 * tokens, and no kernel image loads (CUDA_ERROR_NO_BINARY_FOR_GPU, the real
 * driver's answer for an image built for another GPU): enough to run a CUDA
 * model's host code up to its first launch. With FAKE_CUDA_KERNELS set,
 * images load and launches do nothing. */

static int Token;
static int Capturing;     /* Between cuStreamBeginCapture and its end. */
static int Invalidated;   /* A call the capture cannot record was made. */
static int CapturedCalls; /* Stream calls recorded by the capture. */

/* A call that a thread-local capture refuses: it fails, and so does the
 * capture's end, as with the real driver. */
static CUresult refuseWhileCapturing(void) {
  Invalidated = 1;
  return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
}

/* Counts a stream call into the capture in progress, if any. */
static void record(void) {
  if (Capturing)
    ++CapturedCalls;
}

static int envSet(const char *Name) {
  const char *V = getenv(Name);
  return V && strcmp(V, "1") == 0;
}

/* One "fake-cuda: ..." line on stderr under FAKE_CUDA_TRACE=1. */
static void trace(const char *Format, ...) {
  if (!envSet("FAKE_CUDA_TRACE"))
    return;
  va_list Args;
  va_start(Args, Format);
  fputs("fake-cuda: ", stderr);
  vfprintf(stderr, Format, Args);
  fputs(Capturing ? " (captured)\n" : "\n", stderr);
  va_end(Args);
}

EXPORT CUresult CUDAAPI cuDevicePrimaryCtxRetain(CUcontext *Ctx,
                                                 CUdevice Device) {
  if (!Initialized)
    return CUDA_ERROR_NOT_INITIALIZED;
  if (Device != 0)
    return CUDA_ERROR_INVALID_DEVICE;
  *Ctx = (CUcontext)&Token;
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuCtxSetCurrent(CUcontext Ctx) {
  (void)Ctx;
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuStreamCreate(CUstream *Stream, unsigned int Flags) {
  (void)Flags;
  *Stream = (CUstream)&Token;
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuStreamSynchronize(CUstream Stream) {
  (void)Stream;
  trace("cuStreamSynchronize");
  return Capturing ? refuseWhileCapturing() : CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuStreamQuery(CUstream Stream) {
  (void)Stream;
  trace("cuStreamQuery");
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuModuleLoadData(CUmodule *Module, const void *Image) {
  (void)Image;
  trace("cuModuleLoadData");
  if (!envSet("FAKE_CUDA_KERNELS"))
    return CUDA_ERROR_NO_BINARY_FOR_GPU;
  *Module = (CUmodule)&Token;
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuModuleGetFunction(CUfunction *F, CUmodule Module,
                                            const char *Name) {
  (void)Module;
  trace("cuModuleGetFunction %s", Name);
  if (!envSet("FAKE_CUDA_KERNELS"))
    return CUDA_ERROR_NOT_FOUND;
  *F = (CUfunction)&Token;
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuLaunchKernel(CUfunction F, unsigned GX, unsigned GY,
                                       unsigned GZ, unsigned BX, unsigned BY,
                                       unsigned BZ, unsigned Shared,
                                       CUstream Stream, void **Params,
                                       void **Extra) {
  (void)F, (void)Shared, (void)Stream, (void)Params, (void)Extra;
  trace("cuLaunchKernel grid %ux%ux%u block %ux%ux%u", GX, GY, GZ, BX, BY, BZ);
  record();
  return envSet("FAKE_CUDA_KERNELS") ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

EXPORT CUresult CUDAAPI cuMemAlloc(CUdeviceptr *Ptr, size_t Bytes) {
  trace("cuMemAlloc %zu", Bytes);
  if (Capturing)
    return refuseWhileCapturing();
  /* At least one byte, so every allocation is a distinct non-null address;
   * zeroed, so counts no kernel wrote (FAKE_CUDA_KERNELS) are 0, not noise. */
  void *P = calloc(Bytes ? Bytes : 1, 1);
  if (!P)
    return CUDA_ERROR_OUT_OF_MEMORY;
  *Ptr = (CUdeviceptr)P;
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuMemFree(CUdeviceptr Ptr) {
  trace("cuMemFree");
  if (Capturing)
    return refuseWhileCapturing();
  free((void *)Ptr);
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuMemAllocAsync(CUdeviceptr *Ptr, size_t Bytes,
                                        CUstream Stream) {
  (void)Stream;
  trace("cuMemAllocAsync %zu", Bytes);
  record();
  void *P = calloc(Bytes ? Bytes : 1, 1);
  if (!P)
    return CUDA_ERROR_OUT_OF_MEMORY;
  *Ptr = (CUdeviceptr)P;
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuMemFreeAsync(CUdeviceptr Ptr, CUstream Stream) {
  (void)Stream;
  trace("cuMemFreeAsync");
  record();
  free((void *)Ptr);
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuMemcpyAsync(CUdeviceptr Dst, CUdeviceptr Src,
                                      size_t Bytes, CUstream Stream) {
  (void)Stream;
  trace("cuMemcpyAsync %zu", Bytes);
  record();
  if (!Capturing)
    memcpy((void *)Dst, (const void *)Src, Bytes);
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuMemsetD8Async(CUdeviceptr Dst, unsigned char Value,
                                        size_t Bytes, CUstream Stream) {
  (void)Stream;
  trace("cuMemsetD8Async %zu", Bytes);
  record();
  if (!Capturing)
    memset((void *)Dst, Value, Bytes);
  return CUDA_SUCCESS;
}

/* Graphs: a capture counts the stream calls it records; a replay prints
 * that count. */

struct FakeGraph {
  int Calls;
};

EXPORT CUresult CUDAAPI cuStreamBeginCapture(CUstream Stream,
                                             CUstreamCaptureMode Mode) {
  (void)Stream;
  (void)Mode;
  if (Capturing)
    return CUDA_ERROR_ILLEGAL_STATE;
  trace("cuStreamBeginCapture");
  Capturing = 1;
  Invalidated = 0;
  CapturedCalls = 0;
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuStreamEndCapture(CUstream Stream, CUgraph *Graph) {
  (void)Stream;
  if (!Capturing)
    return CUDA_ERROR_ILLEGAL_STATE;
  Capturing = 0;
  if (Invalidated) {
    trace("cuStreamEndCapture (invalidated)");
    *Graph = NULL;
    return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
  }
  struct FakeGraph *G = malloc(sizeof(struct FakeGraph));
  if (!G)
    return CUDA_ERROR_OUT_OF_MEMORY;
  G->Calls = CapturedCalls;
  *Graph = (CUgraph)G;
  trace("cuStreamEndCapture (%d calls)", G->Calls);
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuGraphInstantiate(CUgraphExec *Exec, CUgraph Graph,
                                           unsigned long long Flags) {
  (void)Flags;
  struct FakeGraph *G = malloc(sizeof(struct FakeGraph));
  if (!G)
    return CUDA_ERROR_OUT_OF_MEMORY;
  *G = *(struct FakeGraph *)Graph;
  *Exec = (CUgraphExec)G;
  trace("cuGraphInstantiate");
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuGraphLaunch(CUgraphExec Exec, CUstream Stream) {
  (void)Stream;
  trace("cuGraphLaunch (%d calls)", ((struct FakeGraph *)Exec)->Calls);
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuGraphDestroy(CUgraph Graph) {
  free(Graph);
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuGraphExecDestroy(CUgraphExec Exec) {
  trace("cuGraphExecDestroy");
  free(Exec);
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuEventCreate(CUevent *Event, unsigned int Flags) {
  (void)Flags;
  *Event = (CUevent)&Token;
  return CUDA_SUCCESS;
}

/* The stream cuStreamCreate made (the runtime's), or a caller's. */
static const char *streamName(CUstream Stream) {
  return Stream == (CUstream)&Token ? "model-stream" : "caller-stream";
}

EXPORT CUresult CUDAAPI cuEventRecord(CUevent Event, CUstream Stream) {
  (void)Event;
  trace("cuEventRecord %s", streamName(Stream));
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuStreamWaitEvent(CUstream Stream, CUevent Event,
                                          unsigned int Flags) {
  (void)Event;
  (void)Flags;
  trace("cuStreamWaitEvent %s", streamName(Stream));
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuEventSynchronize(CUevent Event) {
  (void)Event;
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuEventElapsedTime(float *Ms, CUevent Start,
                                           CUevent Stop) {
  (void)Start;
  (void)Stop;
  *Ms = 0;
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuEventDestroy(CUevent Event) {
  (void)Event;
  return CUDA_SUCCESS;
}
