//===- cuda_device_test.cpp - The GPU a CUDA model runs on ----------------===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//
//
// On the stand-in driver (fake_cuda_driver.c), whose "device" memory is host
// memory: selection, copies, fills, timing, and the recorded errors of the
// mgpu* functions. The selected device is process-wide, so one test.
//
//===----------------------------------------------------------------------===//

#include "moert/cuda_device.h"
#include "moert/error.h"
#include "test_util.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <vector>

using namespace moert;
using namespace moert::test;
using ::testing::HasSubstr;

extern "C" void *mgpuModuleLoad(void *Image, size_t Bytes);
extern "C" void *mgpuModuleGetFunction(void *Module, const char *Name);
extern "C" void mgpuModuleUnload(void *Module);
extern "C" void *mgpuStreamCreate();
extern "C" void *mgpuMemAlloc(uint64_t Bytes, void *Stream, bool HostShared);
extern "C" void mgpuMemFree(void *Ptr, void *Stream);

TEST(CudaDevice, OnTheStandInDriver) {
  if (!haveCudaSupport())
    GTEST_SKIP() << "runtime built without cuda.h";
  // Before a device is selected, a model's kernels have none to run on.
  ::setenv("MOERT_CUDA_DRIVER", fakeModel("fake_cuda_driver").c_str(), 1);
  EXPECT_EQ(CudaDevice::current(), nullptr);
  EXPECT_EQ(mgpuStreamCreate(), nullptr);
  try {
    CudaDevice::checkErrors("before");
    ADD_FAILURE() << "no error recorded";
  } catch (const Error &E) {
    EXPECT_THAT(E.what(), HasSubstr("before: the model's kernels need a CUDA "
                                    "device: run it with moe-run "
                                    "--device=cuda"));
  }
  CudaDevice::checkErrors("cleared"); // The error was taken.

  CudaDevice &Dev = CudaDevice::select(0);
  EXPECT_EQ(&CudaDevice::select(0), &Dev);
  EXPECT_EQ(CudaDevice::current(), &Dev);
  EXPECT_EQ(Dev.info().Name, "Fake GPU");
  EXPECT_EQ(Dev.driverVersion(), "13.0");
  try {
    CudaDevice::select(1);
    ADD_FAILURE() << "switched devices";
  } catch (const Error &E) {
    EXPECT_THAT(E.what(), HasSubstr("CUDA device 0 is already in use"));
  }

  std::vector<float> Host = {1, 2, 3, 4}, Back(4, 0);
  void *D = Dev.allocate(Host.size() * sizeof(float));
  Dev.copyToDevice(D, Host.data(), Host.size() * sizeof(float));
  Dev.copyToHost(Back.data(), D, Back.size() * sizeof(float));
  EXPECT_EQ(Back, Host);
  Dev.fillBytes(D, 2 * sizeof(float), 0);
  Dev.copyToHost(Back.data(), D, Back.size() * sizeof(float));
  EXPECT_EQ(Back, (std::vector<float>{0, 0, 3, 4}));
  EXPECT_EQ(Dev.allocate(0), nullptr);
  Dev.release(D);
  EXPECT_GE(Dev.timeMs([] {}), 0.0f);

  // The mgpu* functions use the device's stream and memory; a kernel that
  // does not load is recorded and reported once.
  EXPECT_EQ(mgpuStreamCreate(), Dev.stream());
  void *Scratch = mgpuMemAlloc(64, Dev.stream(), false);
  EXPECT_NE(Scratch, nullptr);
  mgpuMemFree(Scratch, Dev.stream());
  // With a workspace, scratch buffers are its bytes, 256-byte aligned, and
  // one too many is a recorded error, not an allocation.
  std::vector<char> Arena(512);
  Dev.useWorkspace(Arena.data(), 300);
  EXPECT_EQ(mgpuMemAlloc(200, Dev.stream(), false), Arena.data());
  mgpuMemFree(Arena.data(), Dev.stream()); // Left to the workspace.
  EXPECT_EQ(mgpuMemAlloc(100, Dev.stream(), false), nullptr);
  try {
    CudaDevice::checkErrors("the forward");
    ADD_FAILURE() << "no error recorded";
  } catch (const Error &E) {
    EXPECT_THAT(E.what(), HasSubstr("the forward: the forward's scratch "
                                    "buffers need more than the 300-byte "
                                    "workspace"));
  }
  Dev.useWorkspace(Arena.data(), 512);
  EXPECT_EQ(mgpuMemAlloc(1, Dev.stream(), false), Arena.data());
  EXPECT_EQ(mgpuMemAlloc(1, Dev.stream(), false), Arena.data() + 256);
  // Measuring hands out made-up addresses and counts the aligned bytes.
  EXPECT_EQ(Dev.measureScratch([&] {
    EXPECT_NE(mgpuMemAlloc(10, Dev.stream(), false), nullptr);
    EXPECT_NE(mgpuMemAlloc(10, Dev.stream(), false), nullptr);
  }),
            266u);
  Dev.useStreamAllocator();

  static const char Image[] = "not a fatbin";
  void *Module = mgpuModuleLoad(const_cast<char *>(Image), sizeof(Image));
  EXPECT_EQ(mgpuModuleGetFunction(Module, "forward_kernel"), nullptr);
  // After a failure, the forward's later calls do nothing.
  EXPECT_EQ(mgpuMemAlloc(64, Dev.stream(), false), nullptr);
  try {
    CudaDevice::checkErrors("the forward");
    ADD_FAILURE() << "no error recorded";
  } catch (const Error &E) {
    EXPECT_THAT(E.what(),
                HasSubstr("the forward: loading the kernels of forward_kernel "
                          "(cuModuleLoadData; compiled for another GPU? see "
                          "moe-compile --gpu-arch) failed: "
                          "CUDA_ERROR_NO_BINARY_FOR_GPU"));
  }
  mgpuModuleUnload(Module);
  ::unsetenv("MOERT_CUDA_DRIVER");
}
