// What libgpuslice.so enforces in this process, read once from the environment when the
// library loads (the Allocate contract of core/contract.h), so no hook ever calls getenv.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/contract.h"
#include "core/status.h"

namespace gpuslice::preload {

// Set to 1 in a container's environment to turn enforcement off for debugging: every call
// goes straight to the driver, and nothing is written to the region.
inline constexpr std::string_view kDisableEnv = "GPUSLICE_DISABLE";

// Compute share meaning "not enforced".
inline constexpr int kUnlimitedComputePercent = 100;

// The slice of one visible GPU.
struct DeviceLimit {
  std::string uuid;           // from NVIDIA_VISIBLE_DEVICES; empty when it holds no UUIDs
  uint64_t memory_bytes = 0;  // GPUSLICE_MEMORY_LIMIT_<i>
  int compute_percent = kUnlimitedComputePercent;  // GPUSLICE_COMPUTE_LIMIT_<i>, 1-100
};

struct Options {
  // False when the environment carries no limits or the off switch is set: the library then
  // passes every call through untouched.
  bool enforce = false;
  // Visible GPUs with a slice, in NVIDIA_VISIBLE_DEVICES order.
  int device_count = 0;
  DeviceLimit devices[core::contract::kMaxVisibleGpus];
  // Container path of the accounting region; empty = accounting private to this process.
  std::string region_path;

  // Index of the slice whose GPU has this UUID ("GPU-..."), or -1.
  int IndexOfUuid(std::string_view uuid) const;
};

// Looks up one environment variable; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// Looks variables up in an environment block as /proc/<pid>/environ holds it
// ("NAME=value\0NAME=value\0..."). A process that reset its environment (env -i) is still
// loaded through /etc/ld.so.preload; the container's first process keeps the Allocate
// environment, so its block is where such a process finds its limits.
EnvLookup EnvironBlockLookup(std::string block);

// True when `env` sets any of the contract's variables or the off switch.
bool HasGpusliceVariables(const EnvLookup& env);

// Reads the contract's variables through `env`. Returns InvalidArgument naming the variable
// and its value when one is malformed (a limit that is not a number, a share outside 1-100,
// a limit for a GPU past the last visible one, more than kMaxVisibleGpus GPUs).
// Variables for GPU i are read for i = 0, 1, ... while either limit is set.
Result<Options> ParseOptions(const EnvLookup& env);

// The options to run with when the environment is malformed: every GPU gets a zero memory
// limit, so the container fails loudly instead of taking its neighbours' memory.
Options FailClosedOptions();

}  // namespace gpuslice::preload
