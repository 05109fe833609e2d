//===- cuda_driver_test.cpp - Loading the CUDA driver ---------------------===//
//
// Part of moec, the Mixture-of-Experts compiler.
//
//===----------------------------------------------------------------------===//
//
// CI machines have no GPU and no libcuda.so.1, so the driver is the fake of
// fake_cuda_driver.c: one device, or none (cuInit fails).
//
//===----------------------------------------------------------------------===//

#include "moert/cuda_driver.h"
#include "moert/error.h"
#include "test_util.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <sys/stat.h>

using namespace moert;
using namespace moert::test;
using ::testing::HasSubstr;

namespace {

/// The message \p Fn throws as moert::Error ("" if it does not throw).
template <typename Fn> std::string errorOf(Fn &&F) {
  try {
    F();
  } catch (const Error &E) {
    return E.what();
  }
  return "";
}

bool fileExists(const std::string &Path) {
  struct stat St;
  return ::stat(Path.c_str(), &St) == 0;
}

class CudaDriverTest : public ::testing::Test {
protected:
  void SetUp() override {
    if (!haveCudaSupport())
      GTEST_SKIP() << "runtime built without cuda.h";
  }
};

} // namespace

TEST_F(CudaDriverTest, DefaultLibrary) {
  ::unsetenv("MOERT_CUDA_DRIVER");
  EXPECT_EQ(CudaDriver::defaultLibrary(), "libcuda.so.1");
  ::setenv("MOERT_CUDA_DRIVER", "/opt/driver/libcuda.so.1", 1);
  EXPECT_EQ(CudaDriver::defaultLibrary(), "/opt/driver/libcuda.so.1");
  ::unsetenv("MOERT_CUDA_DRIVER");
}

TEST_F(CudaDriverTest, MissingLibraryIsNamed) {
  EXPECT_THAT(errorOf([] { CudaDriver::open("/nonexistent/libcuda.so.1"); }),
              HasSubstr("no CUDA driver: cannot load /nonexistent/libcuda.so.1 ("));
}

TEST_F(CudaDriverTest, LibraryWithoutTheDriverApi) {
  std::string NotADriver = fakeModel("fake_model");
  EXPECT_EQ(errorOf([&] { CudaDriver::open(NotADriver); }),
            NotADriver + " has no 'cuInit': not a CUDA driver library, or one "
                         "older than CUDA 12");
}

TEST_F(CudaDriverTest, NoDevice) {
  std::string Lib = fakeModel("fake_cuda_driver_no_device");
  EXPECT_EQ(errorOf([&] { CudaDriver::open(Lib); }),
            "the CUDA driver (" + Lib +
                ") found no usable GPU: cuInit failed: CUDA_ERROR_NO_DEVICE "
                "(no CUDA-capable device is detected)");
}

TEST_F(CudaDriverTest, DeviceQueries) {
  std::unique_ptr<CudaDriver> Driver =
      CudaDriver::open(fakeModel("fake_cuda_driver"));
  EXPECT_EQ(Driver->version(), "13.0");
  EXPECT_EQ(Driver->deviceCount(), 1);
  CudaDeviceInfo Info = Driver->device(0);
  EXPECT_EQ(Info.Name, "Fake GPU");
  EXPECT_EQ(Info.Major, 9);
  EXPECT_EQ(Info.Minor, 0);
  EXPECT_EQ(Info.MemoryBytes, uint64_t(80) << 30);
  EXPECT_EQ(Info.describe(), "Fake GPU (sm_90, 80.0 GiB)");
  EXPECT_EQ(errorOf([&] { Driver->device(1); }),
            "there is no CUDA device 1 (this machine has 1)");
  EXPECT_EQ(errorOf([&] { Driver->device(-1); }),
            "there is no CUDA device -1 (this machine has 1)");
}

TEST_F(CudaDriverTest, ToolkitStubIsNotADriver) {
  const std::string Stub = MOERT_TEST_CUDA_STUB;
  if (Stub.empty() || !fileExists(Stub))
    GTEST_SKIP() << "no stub libcuda.so in the CUDA toolkit";
  EXPECT_EQ(errorOf([&] { CudaDriver::open(Stub); }),
            Stub + " is the CUDA toolkit's stub library, not a driver (is "
                   "lib64/stubs on LD_LIBRARY_PATH?); a GPU needs the NVIDIA "
                   "driver");
}
