// The Allocate contract between gpuslice-device-plugin and libgpuslice.so: the environment
// variables and container paths the plugin sets up and the library reads. Both sides include
// this header, so the names exist in exactly one place.
#pragma once

#include <string>
#include <string_view>

namespace gpuslice::core::contract {

// The physical GPUs of the container, comma-separated UUIDs, for the NVIDIA container runtime.
inline constexpr std::string_view kVisibleDevicesEnv = "NVIDIA_VISIBLE_DEVICES";

// Per visible GPU i, in the order of kVisibleDevicesEnv: the memory limit in bytes and the
// compute share in percent (1-100; 100 means the share is not enforced).
inline constexpr std::string_view kMemoryLimitEnvPrefix = "GPUSLICE_MEMORY_LIMIT_";
inline constexpr std::string_view kComputeLimitEnvPrefix = "GPUSLICE_COMPUTE_LIMIT_";

// Container path of the per-allocation accounting region file shared by the container's
// processes. The plugin creates it empty (mode 0666) in a fresh host directory; the library
// lays it out on first use.
inline constexpr std::string_view kRegionEnv = "GPUSLICE_REGION";

// Where the per-allocation host directory is mounted (read-write) in the container.
inline constexpr std::string_view kContainerRegionDir = "/var/run/gpuslice";
inline constexpr std::string_view kRegionFileName = "region";

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

// A container sees at most this many GPUs through one allocation.
inline constexpr int kMaxVisibleGpus = 16;

inline std::string MemoryLimitEnv(int gpu_index) {
  return std::string(kMemoryLimitEnvPrefix) + std::to_string(gpu_index);
}
inline std::string ComputeLimitEnv(int gpu_index) {
  return std::string(kComputeLimitEnvPrefix) + std::to_string(gpu_index);
}

}  // namespace gpuslice::core::contract
