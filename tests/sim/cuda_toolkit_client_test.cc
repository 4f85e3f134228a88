// A driver-API client compiled against NVIDIA's own cuda.h, as applications are:
// its macros pick the versioned entry points (cuMemAlloc is cuMemAlloc_v2, cuCtxCreate is
// cuCtxCreate_v4), which the simulated driver must export with matching behaviour. Built
// against NVIDIA's header only where it is installed (from the CUDA runtime wheel,
// cmake/cuda_headers.cmake); elsewhere the test skips.
#include <gtest/gtest.h>

#if GPUSLICE_HAVE_CUDA_H

#include <cuda.h>

#include <cstring>

namespace {

TEST(CudaToolkitClient, VersionedEntryPointsWork) {
  ASSERT_EQ(cuInit(0), CUDA_SUCCESS);
  CUcontext ctx = nullptr;
  ASSERT_EQ(cuCtxCreate(&ctx, nullptr, 0, 1), CUDA_SUCCESS);  // cuCtxCreate_v4
  size_t free = 0, total = 0;
  ASSERT_EQ(cuMemGetInfo(&free, &total), CUDA_SUCCESS);  // cuMemGetInfo_v2
  EXPECT_EQ(total, 64u << 20);                           // device 1, the T4 of the test node
  CUdeviceptr pointer = 0;
  ASSERT_EQ(cuMemAlloc(&pointer, 4096), CUDA_SUCCESS);  // cuMemAlloc_v2
  const char text[] = "through the toolkit's cuda.h";
  char back[sizeof(text)] = {};
  ASSERT_EQ(cuMemcpyHtoD(pointer, text, sizeof(text)), CUDA_SUCCESS);
  ASSERT_EQ(cuMemcpyDtoH(back, pointer, sizeof(text)), CUDA_SUCCESS);
  EXPECT_STREQ(back, text);
  CUmodule module = nullptr;
  CUfunction function = nullptr;
  ASSERT_EQ(
      cuModuleLoadData(&module, ".version 8.0\n.target sm_75\n.visible .entry k() { ret; }\n"),
      CUDA_SUCCESS);
  ASSERT_EQ(cuModuleGetFunction(&function, module, "k"), CUDA_SUCCESS);
  ASSERT_EQ(cuLaunchKernel(function, 1, 1, 1, 32, 1, 1, 0, nullptr, nullptr, nullptr),
            CUDA_SUCCESS);
  ASSERT_EQ(cuCtxSynchronize(), CUDA_SUCCESS);
  ASSERT_EQ(cuMemFree(pointer), CUDA_SUCCESS);  // cuMemFree_v2
  ASSERT_EQ(cuCtxDestroy(ctx), CUDA_SUCCESS);   // cuCtxDestroy_v2
}

}  // namespace

#else

TEST(CudaToolkitClient, VersionedEntryPointsWork) {
  GTEST_SKIP() << "NVIDIA's cuda.h was not in " GPUSLICE_CUDA_INCLUDE_DIR
                  " at configure time (scripts/setup.sh --test-tools installs it)";
}

#endif
