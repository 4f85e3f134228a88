// What a simulated node has: the spec of its GPUs, parsed from a short string such as
// "2xH100-80GB,1xT4" or from a YAML file that can set every fact and knob per GPU. A parsed
// SimSpec is complete: every GPU has its UUID, PCI bus ID, minor number and NUMA node,
// either given or derived deterministically from the spec.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace gpuslice::sim {

// A node holds at most this many simulated GPUs (the shared state has a slot for each).
inline constexpr int kMaxGpus = 32;

// One simulated GPU, fully resolved.
struct GpuSpec {
  std::string model;  // model key, e.g. "H100-80GB"
  std::string name;   // NVML product name
  std::string uuid;   // "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", lower-case hex
  uint64_t memory_bytes = 0;
  int minor = 0;           // /dev/nvidia<minor>
  std::string pci_bus_id;  // NVML form "00000000:18:00.0" (upper-case hex)
  int numa_node = -1;      // -1: no NUMA affinity
  uint32_t pci_device_id = 0;
  uint32_t pci_subsystem_id = 0;
  int cc_major = 0;
  int cc_minor = 0;
  int sm_count = 0;
  int clock_khz = 0;
  int memory_clock_khz = 0;
  int memory_bus_width = 0;
  int l2_cache_bytes = 0;
  int max_threads_per_sm = 0;
  int shared_memory_per_sm = 0;
  int shared_memory_per_block_optin = 0;
  // How long one kernel launch (or one kernel node of a graph) occupies the GPU.
  uint64_t kernel_duration_ns = 1'000'000;
  // Device memory a context takes when it is created, at its default limits (the real driver's
  // is a few hundred MiB).
  uint64_t context_memory_bytes = 0;
  // Device memory a module's code and data take in each context it is loaded into: when it is
  // first used there (lazy loading, CUDA 12's default), or when it loads with
  // CUDA_MODULE_LOADING=EAGER.
  uint64_t module_memory_bytes = 0;
  // Local memory (stack) per thread each kernel needs: a launch that needs more than the
  // context's stack size grows the context's stack reservation on the GPU, as the real driver
  // does (0: kernels fit the default stack).
  uint64_t kernel_local_memory_bytes = 0;
  // Launches a process may queue on the GPU before cuLaunchKernel blocks, as on real hardware.
  uint32_t launch_queue_depth = 1024;
  // In MIG mode, as nvmlDeviceGetMigMode reports it: the device plugin must not slice it whole.
  bool mig_mode = false;
};

struct SimSpec {
  std::string driver_version = "580.65.06";  // nvmlSystemGetDriverVersion
  int cuda_version = 13000;                  // cuDriverGetVersion: 1000*major + 10*minor
  std::vector<GpuSpec> gpus;
};

// Parses a spec given on a command line or in GPUSLICE_SIM_SPEC: a YAML file when `text`
// contains '/' or ends in ".yaml"/".yml", otherwise the spec string grammar
//   spec  := item ("," item)*        item := [count ("x"|"X")] model
// e.g. "2xH100-80GB,1xT4" (model names ignore case, spaces around items are allowed).
// Returns InvalidArgument naming the offending item, field or line and value.
Result<SimSpec> ParseSpec(std::string_view text);

// The string grammar only (see ParseSpec).
Result<SimSpec> ParseSpecString(std::string_view text);

// A YAML spec document; `source` names it in error messages (a file path).
Result<SimSpec> ParseSpecYaml(std::string_view yaml, std::string_view source);

// Parses a duration such as "1ms", "250us", "1.5ms", "2s", "100ns" into nanoseconds.
Result<uint64_t> ParseDuration(std::string_view text);

// Formats nanoseconds the way ParseDuration reads them ("1ms", "250us", "1500ns").
std::string FormatDuration(uint64_t ns);

// Checks a complete spec: count, formats and uniqueness of UUIDs, minors and bus IDs, and
// the ranges of every knob. Returns InvalidArgument naming the GPU index, field and value.
Status ValidateSpec(const SimSpec& spec);

}  // namespace gpuslice::sim
