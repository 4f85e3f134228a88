// What the simulated CUDA driver's tests share: one simulated node per test process (the
// driver reads its environment once, at cuInit, as the real one reads the hardware), a
// handle on its shared state to check the driver's effects from outside, and a fixture that
// makes the primary context of device 0 current and resets it afterwards.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "core/abi/cuda.h"
#include "sim/state.h"

namespace gpuslice::sim::testing {

// Two GPUs: device 0 an H100 with 256 MiB, 1 ms kernels and 16 MiB per context; device 1 a
// T4 with 64 MiB and 2 ms kernels, whose modules take 4 MiB in each context they are loaded
// into and whose kernels need 1536 bytes of stack per thread (its 40 SMs of 1024 threads then
// take 20 MiB more stack than the default 1 KiB). Small memory lets tests fill a GPU.
inline constexpr uint64_t kH100Memory = 256ULL << 20;
inline constexpr uint64_t kContextMemory = 16ULL << 20;
inline constexpr uint64_t kH100KernelNs = 1'000'000;
inline constexpr uint64_t kT4Memory = 64ULL << 20;
inline constexpr uint64_t kT4ModuleMemory = 4ULL << 20;
inline constexpr uint64_t kT4KernelStack = 1536;
inline constexpr uint64_t kT4StackGrowth = (kT4KernelStack - 1024) * 40 * 1024;

// The node's state, opened after cuInit created it.
SimState& NodeState();
// Where the node's files live.
const std::string& NodeDirectory();

#define GPUSLICE_ASSERT_CU(expression) ASSERT_EQ((expression), CUDA_SUCCESS) << #expression
#define GPUSLICE_EXPECT_CU(expression) EXPECT_EQ((expression), CUDA_SUCCESS) << #expression

class CudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    GPUSLICE_ASSERT_CU(cuDevicePrimaryCtxRetain(&ctx_, 0));
    GPUSLICE_ASSERT_CU(cuCtxSetCurrent(ctx_));
  }
  void TearDown() override {
    // Releasing the last reference resets the primary context, freeing what it owns.
    cuCtxSetCurrent(nullptr);
    cuDevicePrimaryCtxRelease_v2(0);
  }

  // Bytes this process holds on GPU `gpu`, as every other process sees them.
  uint64_t MyMemory(int gpu);

  CUcontext ctx_ = nullptr;
};

}  // namespace gpuslice::sim::testing
