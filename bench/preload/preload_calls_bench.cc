// The driver calls libgpuslice.so interposes on the hot path, timed in one process. Run it
// through preload_overhead, which runs this program with and without the library over the
// simulated driver and reports the difference; on its own it times whatever it is given.
#include <benchmark/benchmark.h>

#include <cstdlib>

#include "core/abi/cuda.h"

namespace {

CUcontext context = nullptr;
CUfunction function = nullptr;

bool SetUpDriver() {
  static const bool ready = [] {
    CUdevice device = 0;
    CUmodule module = nullptr;
    static const char kImage[] = "gpuslice benchmark module";
    return cuInit(0) == CUDA_SUCCESS && cuDeviceGet(&device, 0) == CUDA_SUCCESS &&
           cuDevicePrimaryCtxRetain(&context, device) == CUDA_SUCCESS &&
           cuCtxSetCurrent(context) == CUDA_SUCCESS &&
           cuModuleLoadData(&module, kImage) == CUDA_SUCCESS &&
           cuModuleGetFunction(&function, module, "kernel") == CUDA_SUCCESS;
  }();
  return ready;
}

// Every thread of a CUDA program works in a context; threads share the primary one.
bool SetUpThread(benchmark::State& state) {
  if (!SetUpDriver() || cuCtxSetCurrent(context) != CUDA_SUCCESS) {
    state.SkipWithError("the driver did not initialize");
    return false;
  }
  return true;
}

void BM_LaunchKernel(benchmark::State& state) {
  if (!SetUpThread(state)) return;
  for (auto _ : state) {
    CUresult result = cuLaunchKernel(function, 1, 1, 1, 32, 1, 1, 0, nullptr, nullptr, nullptr);
    benchmark::DoNotOptimize(result);
  }
}
BENCHMARK(BM_LaunchKernel);
BENCHMARK(BM_LaunchKernel)->Threads(16)->UseRealTime();

void BM_MemAllocFree(benchmark::State& state) {
  if (!SetUpThread(state)) return;
  for (auto _ : state) {
    CUdeviceptr pointer = 0;
    CUresult result = cuMemAlloc_v2(&pointer, 1 << 20);
    if (result == CUDA_SUCCESS) result = cuMemFree_v2(pointer);
    if (result != CUDA_SUCCESS) {
      state.SkipWithError("cuMemAlloc or cuMemFree failed");
      return;
    }
  }
}
BENCHMARK(BM_MemAllocFree);
BENCHMARK(BM_MemAllocFree)->Threads(16)->UseRealTime();

void BM_MemGetInfo(benchmark::State& state) {
  if (!SetUpThread(state)) return;
  for (auto _ : state) {
    size_t free = 0, total = 0;
    benchmark::DoNotOptimize(cuMemGetInfo_v2(&free, &total));
  }
}
BENCHMARK(BM_MemGetInfo);
BENCHMARK(BM_MemGetInfo)->Threads(16)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
