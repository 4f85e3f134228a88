// How fast the simulated GPUs answer: XID delivery from `gpuslice sim xid` (an injection into
// the shared state) to a process blocked in nvmlEventSetWait_v2, and the simulated driver's
// cost per call for the entry points the enforcement library wraps (so its own overhead can
// be told apart). Runs against a temporary node; no GPU needed.
#include <benchmark/benchmark.h>
#include <dlfcn.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/abi/cuda.h"
#include "core/abi/nvml.h"
#include "sim/environment.h"
#include "sim/internal/clock.h"
#include "sim/state.h"

namespace {

using gpuslice::sim::SimState;
using gpuslice::sim::internal::MonotonicNs;

std::string g_directory;
std::unique_ptr<SimState> g_state;

// A process blocked in nvmlEventSetWait_v2 on GPU 0 that reports when each XID arrived.
struct Waiter {
  pid_t pid = -1;
  int from_waiter = -1;
};

Waiter StartWaiter() {
  int ready[2];
  if (pipe(ready) != 0) std::abort();
  Waiter waiter;
  waiter.pid = fork();
  if (waiter.pid == 0) {
    close(ready[0]);
    void* nvml =
        dlopen((std::string(GPUSLICE_LIB_DIR) + "/libgpuslice-sim-nvml.so").c_str(), RTLD_NOW);
    auto init = reinterpret_cast<nvmlReturn_t (*)()>(dlsym(nvml, "nvmlInit_v2"));
    auto handle = reinterpret_cast<nvmlReturn_t (*)(unsigned, nvmlDevice_t*)>(
        dlsym(nvml, "nvmlDeviceGetHandleByIndex_v2"));
    auto create =
        reinterpret_cast<nvmlReturn_t (*)(nvmlEventSet_t*)>(dlsym(nvml, "nvmlEventSetCreate"));
    auto do_register =
        reinterpret_cast<nvmlReturn_t (*)(nvmlDevice_t, unsigned long long, nvmlEventSet_t)>(
            dlsym(nvml, "nvmlDeviceRegisterEvents"));
    auto wait = reinterpret_cast<nvmlReturn_t (*)(nvmlEventSet_t, nvmlEventData_t*, unsigned)>(
        dlsym(nvml, "nvmlEventSetWait_v2"));
    nvmlDevice_t device = nullptr;
    nvmlEventSet_t set = nullptr;
    if (init() != NVML_SUCCESS || handle(0, &device) != NVML_SUCCESS ||
        create(&set) != NVML_SUCCESS ||
        do_register(device, nvmlEventTypeXidCriticalError, set) != NVML_SUCCESS) {
      _exit(1);
    }
    uint64_t now = 0;
    if (write(ready[1], &now, sizeof(now)) != sizeof(now)) _exit(1);
    for (;;) {
      nvmlEventData_t event;
      if (wait(set, &event, 10'000) != NVML_SUCCESS) continue;
      now = MonotonicNs();
      if (write(ready[1], &now, sizeof(now)) != sizeof(now)) _exit(0);
    }
  }
  close(ready[1]);
  waiter.from_waiter = ready[0];
  uint64_t started = 0;
  if (read(waiter.from_waiter, &started, sizeof(started)) != sizeof(started)) std::abort();
  return waiter;
}

void BM_XidToWaitingProcess(benchmark::State& state) {
  Waiter waiter = StartWaiter();
  std::vector<double> latencies_ms;
  for (auto _ : state) {
    const uint64_t injected = MonotonicNs();
    if (!g_state->InjectXid(0, 48).ok()) std::abort();
    uint64_t received = 0;
    if (read(waiter.from_waiter, &received, sizeof(received)) != sizeof(received)) std::abort();
    const double seconds = static_cast<double>(received - injected) / 1e9;
    state.SetIterationTime(seconds);
    latencies_ms.push_back(seconds * 1e3);
  }
  kill(waiter.pid, SIGKILL);
  close(waiter.from_waiter);
  std::sort(latencies_ms.begin(), latencies_ms.end());
  state.counters["p50_ms"] = latencies_ms[latencies_ms.size() / 2];
  state.counters["p99_ms"] = latencies_ms[latencies_ms.size() * 99 / 100];
  state.counters["max_ms"] = latencies_ms.back();
}
BENCHMARK(BM_XidToWaitingProcess)->UseManualTime()->Iterations(500)->Unit(benchmark::kMicrosecond);

CUcontext g_context = nullptr;

void BM_MemAllocFree(benchmark::State& state) {
  cuCtxSetCurrent(g_context);
  for (auto _ : state) {
    CUdeviceptr pointer = 0;
    if (cuMemAlloc_v2(&pointer, 1024) != CUDA_SUCCESS) state.SkipWithError("cuMemAlloc failed");
    cuMemFree_v2(pointer);
  }
}
BENCHMARK(BM_MemAllocFree)->Threads(1)->Threads(2);

void BM_MemGetInfo(benchmark::State& state) {
  cuCtxSetCurrent(g_context);
  size_t free = 0, total = 0;
  for (auto _ : state) benchmark::DoNotOptimize(cuMemGetInfo_v2(&free, &total));
}
BENCHMARK(BM_MemGetInfo);

void BM_LaunchKernel(benchmark::State& state) {
  cuCtxSetCurrent(g_context);
  static const char kImage[] =
      "\x7f"
      "ELF";
  CUmodule module = nullptr;
  CUfunction function = nullptr;
  cuModuleLoadData(&module, kImage);
  cuModuleGetFunction(&function, module, "kernel");
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        cuLaunchKernel(function, 1, 1, 1, 128, 1, 1, 0, nullptr, nullptr, nullptr));
  }
  cuCtxSynchronize();
}
BENCHMARK(BM_LaunchKernel);

void BM_GetProcAddress(benchmark::State& state) {
  void* function = nullptr;
  CUdriverProcAddressQueryResult status;
  for (auto _ : state) {
    benchmark::DoNotOptimize(cuGetProcAddress_v2("cuMemcpyHtoDAsync", &function, 13000,
                                                 CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM,
                                                 &status));
  }
}
BENCHMARK(BM_GetProcAddress);

}  // namespace

int main(int argc, char** argv) {
  char directory[] = "/tmp/gpuslice-sim-bench-XXXXXX";
  if (mkdtemp(directory) == nullptr) return 1;
  g_directory = directory;
  // 1 ns kernels keep launches from ever waiting on the GPU: the cost measured is the call's.
  std::ofstream(g_directory + "/node.yaml")
      << "version: v1\ngpus:\n  - {model: H100-80GB, count: 2, kernelDuration: 1ns}\n";
  setenv(std::string(gpuslice::sim::kStateEnv).c_str(), (g_directory + "/node.state").c_str(), 1);
  setenv(std::string(gpuslice::sim::kSpecEnv).c_str(), (g_directory + "/node.yaml").c_str(), 1);
  unsetenv(std::string(gpuslice::sim::kVisibleDevicesEnv).c_str());
  if (cuInit(0) != CUDA_SUCCESS || cuDevicePrimaryCtxRetain(&g_context, 0) != CUDA_SUCCESS) {
    return 1;
  }
  auto state = SimState::Open(g_directory + "/node.state");
  if (!state.ok()) return 1;
  g_state = std::move(*state);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  std::filesystem::remove_all(g_directory);
  return 0;
}
