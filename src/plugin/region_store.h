// Per-allocation directories on the host. Every container that gets slices gets a fresh
// directory holding an empty region file (laid out by libgpuslice.so inside the container),
// a `limits` subdirectory with the container's limits file (core/contract.h), and a record of
// the allocation: its resource, device IDs and how each of its GPUs was sliced. The region
// file alone is mounted read-write and the limits directory read-only, so nothing in the
// container can change its limits or the record. Directories whose allocation the kubelet no
// longer holds are removed.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/status.h"

namespace gpuslice::plugin {

// The subdirectory of an allocation directory that holds its limits file, mounted read-only at
// core::contract::kContainerLimitsDir.
inline constexpr std::string_view kLimitsDirName = "limits";

// One container's devices of one resource, as the kubelet reports them (PodResources List).
struct LiveAllocation {
  std::string resource;
  std::vector<std::string> device_ids;
  // Who holds them; empty where the listing does not say.
  std::string namespace_name = {};
  std::string pod = {};
  std::string container = {};
  // The DRA claim the devices came with; empty for a device plugin's allocation.
  std::string claim = {};
};

// How a GPU was sliced when an allocation was made on it.
struct RecordedSlicing {
  std::string gpu_uuid;
  int slices = 1;
  uint64_t reserved_memory_bytes = 0;
};

struct AllocationRecord {
  std::string directory;
  std::string resource;
  std::vector<std::string> device_ids;
  std::vector<RecordedSlicing> gpus;
  int64_t created_unix_millis = 0;
};

struct RegionStoreOptions {
  std::string root;  // host directory; created if missing
  // Directories younger than this are never removed: the kubelet may not yet report an
  // allocation whose container is still being created.
  std::chrono::seconds grace{std::chrono::minutes(2)};
  // A directory is removed only when two listings at least this far apart both miss it: one
  // listing taken while a restarted kubelet is still syncing its pods may be incomplete.
  std::chrono::milliseconds confirmation{std::chrono::minutes(1)};
};

// Thread-safe.
class RegionStore {
 public:
  RegionStore(RegionStoreOptions options, const core::Clock& clock);

  // Creates a directory for one container allocation: "region" (empty, mode 0666),
  // "limits/limits" (`limits_file`, mode 0644, in a directory of its own for a read-only
  // mount) and "allocation.json" (the record). Returns the directory's path, or the I/O error
  // naming it; nothing is left behind on error.
  Result<std::string> Create(const std::string& resource, const std::vector<std::string>& ids,
                             const std::vector<RecordedSlicing>& gpus,
                             const std::string& limits_file);

  // Removes `directory` (a path Create returned), e.g. when the rest of an Allocate failed.
  void Remove(const std::string& directory);

  // The records of every readable allocation directory, oldest first.
  std::vector<AllocationRecord> Records() const;

  // Judges every directory against `live`, the kubelet's listing of all device allocations.
  // A directory whose allocation is missing from two listings `confirmation` apart, and that
  // is past the grace period, is removed. When several directories record the same live
  // allocation (devices reused by a new container), only the newest is kept. Returns how
  // many were removed. Directories it cannot read are left alone.
  Result<int> CollectGarbage(const std::vector<LiveAllocation>& live);

  const std::string& root() const { return options_.root; }

 private:
  RegionStoreOptions options_;
  const core::Clock& clock_;
  std::mutex mutex_;  // guards missing_since_
  // Directories the last listings missed, and when they were first missed.
  std::map<std::string, core::Clock::TimePoint> missing_since_;
};

}  // namespace gpuslice::plugin
