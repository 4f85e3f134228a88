// gpu_proof_driver: the proof kit's driver-API program (scripts/gpu-proof.sh runs it). It
// reaches the driver the way the CUDA runtime does, with nothing but a C++ compiler to build
// it, and reports one line per check on stdout:
//   RESULT <tab> check <tab> pass|fail|skip <tab> figure <tab> detail
// Subcommands (sizes in bytes):
//   probe                         the GPU as the driver shows it (no library needed): INFO lines
//   memory --slice B [--simulated]
//                                 memory info is the slice (driver and NVML), every allocation
//                                 path refused past it with CUDA_ERROR_OUT_OF_MEMORY, frees
//                                 come back, and the kernel's results are right
//   processes --slice B           a second process of the same container holds memory: both
//                                 see one limit; SIGKILL of the holder gives its memory back
//   hold --bytes B                (used by processes) allocates B, says "holding", waits for EOF
//   calibrate --target-ms T       iterations of the work kernel that take about T ms
//   burn --iterations N --seconds S [--start-at-ms EPOCH_MS]
//                                 runs the work kernel back to back: "BURN <kernels> <seconds>"
//   launch-cost --count N         N empty kernels: "LAUNCH <ns per launch>"
//   ptx                           prints the kit's PTX module
// Exit codes: 0 ran (whatever the results), 2 bad arguments, 3 no usable driver or GPU.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "driver_session.h"

namespace gpuslice::proof {
namespace {

struct WorkLaunch {
  CUfunction function;
  unsigned int grid;
  CUdeviceptr out;
};

WorkLaunch PrepareWork(Session& s) {
  WorkLaunch work{s.Kernel("gpuslice_proof_work"), 0, 0};
  const int sms = std::max(1, s.Attribute(CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT));
  work.grid = static_cast<unsigned int>(sms) * 8;  // 8 blocks of 256 threads fill an SM
  s.Must(s.api().mem_alloc(&work.out, uint64_t{work.grid} * 256 * sizeof(float)), "cuMemAlloc");
  return work;
}

CUresult LaunchWork(Session& s, WorkLaunch& work, unsigned int iterations) {
  void* params[] = {&work.out, &iterations};
  return s.api().launch_kernel(work.function, work.grid, 1, 1, 256, 1, 1, 0, nullptr, params,
                               nullptr);
}

int RunCalibrate(const Arguments& arguments) {
  const uint64_t target_ms = Number(arguments, "target-ms", true);
  Session s;
  WorkLaunch work = PrepareWork(s);
  CUevent start = nullptr, stop = nullptr;
  s.Must(s.api().event_create(&start, 0), "cuEventCreate");
  s.Must(s.api().event_create(&stop, 0), "cuEventCreate");
  unsigned int iterations = 1u << 12;
  float milliseconds = 0;
  // Doubles until one kernel takes long enough to time well, then scales to the target.
  for (int round = 0; round < 24; ++round) {
    s.Must(s.api().event_record(start, nullptr), "cuEventRecord");
    s.Must(LaunchWork(s, work, iterations), "cuLaunchKernel");
    s.Must(s.api().event_record(stop, nullptr), "cuEventRecord");
    s.Must(s.api().event_synchronize(stop), "cuEventSynchronize");
    s.Must(s.api().event_elapsed_time(&milliseconds, start, stop), "cuEventElapsedTime");
    if (milliseconds >= 0.25f * static_cast<float>(target_ms) || iterations >= (1u << 30)) break;
    iterations *= 2;
  }
  const double scaled =
      milliseconds > 0
          ? iterations * (static_cast<double>(target_ms) / static_cast<double>(milliseconds))
          : iterations;
  std::printf("ITERATIONS %llu\n",
              static_cast<unsigned long long>(std::clamp(scaled, 1.0, double{1u << 30})));
  return 0;
}

int RunBurn(const Arguments& arguments) {
  constexpr int kBatch = 4;
  const auto iterations = static_cast<unsigned int>(Number(arguments, "iterations", true));
  const uint64_t seconds = Number(arguments, "seconds", true);
  const uint64_t start_at_ms = Number(arguments, "start-at-ms", false, 0);
  Session s;
  WorkLaunch work = PrepareWork(s);
  CUevent done[2] = {};
  s.Must(s.api().event_create(&done[0], 0), "cuEventCreate");
  s.Must(s.api().event_create(&done[1], 0), "cuEventCreate");
  s.Must(LaunchWork(s, work, iterations), "cuLaunchKernel");  // warm-up: JIT and first launch
  s.Must(s.api().ctx_synchronize(), "cuCtxSynchronize");
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  if (start_at_ms > static_cast<uint64_t>(now_ms)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(start_at_ms - now_ms));
  }
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::seconds(seconds);
  uint64_t kernels = 0;
  // Two batches in flight: while one runs the next is queued, so the GPU never waits for this
  // process, and the queue never runs far past the deadline.
  for (int batch = 0; std::chrono::steady_clock::now() < end; ++batch) {
    for (int i = 0; i < kBatch; ++i) s.Must(LaunchWork(s, work, iterations), "cuLaunchKernel");
    s.Must(s.api().event_record(done[batch % 2], nullptr), "cuEventRecord");
    if (batch > 0) {
      s.Must(s.api().event_synchronize(done[(batch + 1) % 2]), "cuEventSynchronize");
      kernels += kBatch;
    }
  }
  s.Must(s.api().ctx_synchronize(), "cuCtxSynchronize");
  kernels += kBatch;
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("BURN %llu %.3f\n", static_cast<unsigned long long>(kernels), elapsed);
  return 0;
}

int RunLaunchCost(const Arguments& arguments) {
  const uint64_t count = Number(arguments, "count", true);
  Session s;
  CUfunction empty = s.Kernel("gpuslice_proof_empty");
  auto launch_all = [&](uint64_t n) {
    for (uint64_t i = 0; i < n; ++i) {
      s.Must(s.api().launch_kernel(empty, 1, 1, 1, 32, 1, 1, 0, nullptr, nullptr, nullptr),
             "cuLaunchKernel");
    }
    s.Must(s.api().ctx_synchronize(), "cuCtxSynchronize");
  };
  launch_all(std::min<uint64_t>(count, 1000));
  const auto start = std::chrono::steady_clock::now();
  launch_all(count);
  const double nanos =
      std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
  std::printf("LAUNCH %.1f\n", count > 0 ? nanos / static_cast<double>(count) : 0.0);
  return 0;
}

// ---- probe ----

int RunProbe() {
  Session s;
  char name[256] = {};
  s.api().device_get_name(name, sizeof(name), s.device());
  size_t total = 0;
  s.Must(s.api().device_total_mem(&total, s.device()), "cuDeviceTotalMem");
  std::printf("INFO\tgpu\t%s\n", name);
  std::printf("INFO\tuuid\t%s\n", s.Uuid().c_str());
  std::printf("INFO\tmemory_bytes\t%zu\n", total);
  std::printf("INFO\tcuda_driver_version\t%d\n", s.driver().version);
  std::printf("INFO\tcompute_capability\t%d.%d\n",
              s.Attribute(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
              s.Attribute(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR));
  std::printf("INFO\tsm_count\t%d\n", s.Attribute(CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT));
  return 0;
}

}  // namespace
}  // namespace gpuslice::proof

int main(int argc, char** argv) {
  using namespace gpuslice::proof;
  if (argc < 2) Fail(2, "usage: gpu_proof_driver <subcommand> [--name value ...] (see the source)");
  const std::string command = argv[1];
  Arguments arguments;
  for (int i = 2; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag.rfind("--", 0) != 0) Fail(2, "unexpected argument '" + flag + "'");
    const bool has_value = i + 1 < argc && std::strncmp(argv[i + 1], "--", 2) != 0;
    arguments[flag.substr(2)] = has_value ? argv[++i] : "";
  }
  if (command == "probe") return RunProbe();
  if (command == "memory") return RunMemory(arguments);
  if (command == "processes") return RunProcesses(arguments);
  if (command == "hold") return RunHold(arguments);
  if (command == "calibrate") return RunCalibrate(arguments);
  if (command == "burn") return RunBurn(arguments);
  if (command == "launch-cost") return RunLaunchCost(arguments);
  if (command == "ptx") {
    std::fputs(kProofPtx, stdout);
    return 0;
  }
  Fail(2, "unknown subcommand '" + command + "'");
}
