// What libgpuslice.so enforces in this process, decided once when the library loads (so no
// hook ever calls getenv): from the container's limits file (core/contract.h) where the device
// plugin mounted one, otherwise from the environment, which stays the way to limit a process
// run by hand outside Kubernetes. Parsing is pure (bytes in, options and messages out), so it
// is fuzzed; the runtime does the reading.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/contract.h"
#include "core/status.h"

namespace gpuslice::preload {

inline constexpr std::string_view kDisableEnv = core::contract::kDisableEnv;

// Compute share meaning "not enforced".
inline constexpr int kUnlimitedComputePercent = 100;

// Where the GPUs the process can see without a limit of their own are accounted: a slice with
// a zero memory limit, so nothing can be allocated there.
inline constexpr int kUnlistedSlice = core::contract::kUnlistedSlice;

// The slice of one visible GPU.
struct DeviceLimit {
  std::string uuid;  // empty when the limits came from the environment without UUIDs
  uint64_t memory_bytes = 0;
  int compute_percent = kUnlimitedComputePercent;  // 1-100
};

struct Options {
  // False when there are no limits at all, or the off switch is set (and allowed): the library
  // then passes every call through untouched.
  bool enforce = false;
  // GPUs with limits of their own (0 to kMaxAllocatedGpus), in NVIDIA_VISIBLE_DEVICES order;
  // their slices are 0..device_count-1. Any other GPU the process sees is kUnlistedSlice, whose
  // memory limit is zero.
  int device_count = 0;
  DeviceLimit devices[core::contract::kMaxVisibleGpus];
  // Container path of the accounting region; empty = accounting private to this process.
  std::string region_path;
  // True when the region came from the limits file: if it cannot be used, every allocation is
  // refused instead of each process keeping its own count.
  bool region_required = false;
  // Where the limits came from, for messages: the limits file's path or "the environment".
  std::string source;

  // Index of the slice whose GPU has this UUID ("GPU-..."), or -1.
  int IndexOfUuid(std::string_view uuid) const;
  // True when the limits name GPUs by UUID (else CUDA ordinals map to slices).
  bool HasUuids() const { return device_count > 0 && !devices[0].uuid.empty(); }
};

// Decides the options from `environ`, the process environment as /proc/<pid>/environ holds it
// ("NAME=value\0NAME=value\0..."; the first of repeated names counts, as for getenv), and
// `limits_file`, the contents of core::contract::kContainerLimitsFile (nullopt where there is
// none). Pure: no I/O.
//
// With a limits file, the limits, the GPUs' UUIDs and the region come from it alone; the
// environment's GPUSLICE_* limit variables are ignored, GPUSLICE_DISABLE counts only where the
// file allows it, and NVIDIA_VISIBLE_DEVICES cannot move the limits to another GPU.
// Without one, the environment's GPUSLICE_MEMORY_LIMIT_<i>, GPUSLICE_COMPUTE_LIMIT_<i>,
// GPUSLICE_REGION and GPUSLICE_DISABLE are read; a visible GPU without a memory limit of its
// own while another GPU has one gets a zero limit.
//
// Returns InvalidArgument naming the variable or file line when something meant as a limit is
// malformed (a bad value, a misspelt limit variable such as GPUSLICE_MEMORY_LIMIT_00, more GPUs
// than an allocation holds, an invalid limits file): the caller then fails closed. Appends to
// `warnings` one line for each thing it ignores or decides on the caller's behalf (an unknown
// GPUSLICE_* variable, environment limits overridden by the file, a GPU given a zero limit).
Result<Options> ParseOptions(std::string_view environ, std::optional<std::string_view> limits_file,
                             std::vector<std::string>* warnings);

// True when `environ` (as for ParseOptions) sets any GPUSLICE_* variable other than the
// simulated driver's.
bool HasGpusliceVariables(std::string_view environ);

// The options to run with when the limits are malformed: every GPU gets a zero memory limit,
// so the container fails loudly instead of taking its neighbours' memory.
Options FailClosedOptions();

}  // namespace gpuslice::preload
