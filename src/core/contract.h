// The Allocate contract between gpuslice-device-plugin and libgpuslice.so: the environment
// variables, container paths and the limits file the plugin sets up and the library reads.
// Both sides include this header, so the names and the file's format exist in exactly one
// place. docs/device-plugin.md ("Allocate contract") describes it for users.
//
// Why a file as well as the environment: the kubelet puts a pod spec's `env` after a device
// plugin's, so any variable the plugin sets can be overridden by whoever writes the pod spec.
// The limits file lives on a read-only mount the plugin makes per allocation; when it is
// there, the library takes the container's limits from it and from nothing else.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace gpuslice::core::contract {

// The physical GPUs of the container, comma-separated UUIDs, for the NVIDIA container runtime.
inline constexpr std::string_view kVisibleDevicesEnv = "NVIDIA_VISIBLE_DEVICES";

// Per visible GPU i, in the order of kVisibleDevicesEnv: the memory limit in bytes and the
// compute share in percent (1-100; 100 means the share is not enforced). Set by the plugin for
// the container's programs to read; the library reads them only where there is no limits file
// (processes run by hand outside Kubernetes).
inline constexpr std::string_view kMemoryLimitEnvPrefix = "GPUSLICE_MEMORY_LIMIT_";
inline constexpr std::string_view kComputeLimitEnvPrefix = "GPUSLICE_COMPUTE_LIMIT_";

// Container path of the per-allocation accounting region file shared by the container's
// processes. The plugin creates it empty (mode 0666) and mounts that one file read-write, so
// no process of the container can delete or replace it; the library lays it out on first use.
inline constexpr std::string_view kRegionEnv = "GPUSLICE_REGION";
inline constexpr std::string_view kContainerRegionDir = "/var/run/gpuslice";
inline constexpr std::string_view kRegionFileName = "region";

// Set to 1 to turn enforcement off (every call goes straight to the driver). Honoured where
// there is no limits file, and where the limits file says the profile allows it.
inline constexpr std::string_view kDisableEnv = "GPUSLICE_DISABLE";

// Variables of the simulated driver (src/sim), which the library does not read.
inline constexpr std::string_view kSimEnvPrefix = "GPUSLICE_SIM_";

// Where the library is mounted (read-only) in the container, and the preload file naming it.
inline constexpr std::string_view kContainerLibraryPath = "/usr/local/gpuslice/lib/libgpuslice.so";
inline constexpr std::string_view kContainerPreloadFile = "/etc/ld.so.preload";

// Profiles that inject the library through the environment instead of /etc/ld.so.preload.
inline constexpr std::string_view kLdPreloadEnv = "LD_PRELOAD";

// Nodes on simulated GPUs (the plugin's --simulate): where a container gets the simulated
// driver libraries, at the place NVIDIA's container toolkit puts the real ones in Debian and
// Ubuntu images, and the directory of the simulated GPUs' shared state, which the state
// variable names.
inline constexpr std::string_view kContainerDriverLibraryDir = "/usr/lib/x86_64-linux-gnu";
inline constexpr std::string_view kSimCudaLibraryName = "libcuda.so.1";
inline constexpr std::string_view kSimNvmlLibraryName = "libnvidia-ml.so.1";
inline constexpr std::string_view kContainerSimStateDir = "/var/run/gpuslice-sim";
inline constexpr std::string_view kSimStateEnv = "GPUSLICE_SIM_STATE";
// Where containers get their GPUs through CDI (deviceListStrategy cdi-cri or cdi-annotations),
// each simulated GPU's CDI device sets <prefix><its UUID, '-' written '_'>=<its UUID>: the
// simulated driver then shows a process exactly those GPUs, as the device nodes of NVIDIA's CDI
// devices do on a GPU node, whatever NVIDIA_VISIBLE_DEVICES says.
inline constexpr std::string_view kSimCdiGpuEnvPrefix = "GPUSLICE_SIM_CDI_GPU_";

// The library keeps state for this many GPUs per process: the GPUs of the allocation, and one
// more that stands for every GPU the process can see without a limit of its own (it gets a zero
// memory limit: enforcement fails closed).
inline constexpr int kMaxVisibleGpus = 16;
// A container gets at most this many GPUs through one allocation.
inline constexpr int kMaxAllocatedGpus = kMaxVisibleGpus - 1;
// The library's index for the GPUs it can see without a limit of their own.
inline constexpr int kUnlistedSlice = kMaxVisibleGpus - 1;

inline std::string MemoryLimitEnv(int gpu_index) {
  return std::string(kMemoryLimitEnvPrefix) + std::to_string(gpu_index);
}
inline std::string ComputeLimitEnv(int gpu_index) {
  return std::string(kComputeLimitEnvPrefix) + std::to_string(gpu_index);
}

// The limits file. The plugin writes it into a per-allocation host directory of its own (never
// the one holding the region) and mounts that directory read-only at kContainerLimitsDir. The
// path is fixed, not named by any variable: a pod spec can override every variable.
//
// Format: UTF-8 text, at most kMaxLimitsFileBytes, lines ending in "\n", fields separated by
// one or more spaces. Empty lines and lines starting with '#' are ignored. The first other
// line is "version 1"; then, in any order, at most one of each of
//   region <absolute container path of the region file>
//   allow-disable true|false        (default false: GPUSLICE_DISABLE is ignored)
// and one to kMaxAllocatedGpus lines, in the container's GPU order,
//   gpu <GPU-UUID> memory <bytes> compute <percent 1-100>
// Anything else (an unknown key, a repeated one, a second "gpu" line for the same UUID, a
// value out of range) makes the whole file invalid: the library then gives every GPU a zero
// limit rather than guess.
inline constexpr std::string_view kContainerLimitsDir = "/etc/gpuslice";
inline constexpr std::string_view kLimitsFileName = "limits";
inline constexpr std::string_view kContainerLimitsFile = "/etc/gpuslice/limits";
inline constexpr int kLimitsFileVersion = 1;
inline constexpr size_t kMaxLimitsFileBytes = 16 * 1024;

// The largest memory limit either side accepts (what a signed 64-bit byte count holds).
inline constexpr uint64_t kMaxMemoryLimitBytes = 0x7fffffffffffffffULL;

struct GpuLimits {
  std::string uuid;  // "GPU-..."
  uint64_t memory_bytes = 0;
  int compute_percent = 100;
};

struct LimitsFile {
  std::vector<GpuLimits> gpus;  // the container's GPUs, in NVIDIA_VISIBLE_DEVICES order
  std::string region_path;      // empty: accounting private to each process
  bool allow_disable = false;   // whether GPUSLICE_DISABLE=1 may turn enforcement off
};

// Returns OK when `uuid` can name a GPU: "GPU-" followed by 1-92 letters, digits or '-'.
// Otherwise InvalidArgument quoting it.
Status ValidateGpuUuid(std::string_view uuid);

// Writes `limits` in the format above. REQUIRES: ValidateLimitsFile(limits) is OK.
std::string FormatLimitsFile(const LimitsFile& limits);

// Returns OK when `limits` can be written and read back: 1-kMaxAllocatedGpus GPUs with valid,
// distinct UUIDs, memory at most kMaxMemoryLimitBytes, compute 1-100, and a region path that
// is empty or absolute without spaces or control characters. Otherwise InvalidArgument naming
// the GPU or field.
Status ValidateLimitsFile(const LimitsFile& limits);

// Parses a limits file. Pure: no I/O, any bytes in. Returns InvalidArgument naming the line
// and what is wrong with it.
Result<LimitsFile> ParseLimitsFile(std::string_view text);

}  // namespace gpuslice::core::contract
