// Per-allocation accounting regions on the host. Every container that gets slices gets a
// fresh directory holding an empty region file (laid out by libgpuslice.so inside the
// container) and a record of the allocation; directories whose allocation the kubelet no
// longer holds are removed.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/status.h"

namespace gpuslice::plugin {

// One container's devices of one resource, as the kubelet reports them (PodResources List).
struct LiveAllocation {
  std::string resource;
  std::vector<std::string> device_ids;
};

struct RegionStoreOptions {
  std::string root;  // host directory; created if missing
  // Directories younger than this are never removed: the kubelet may not yet report an
  // allocation whose container is still being created.
  std::chrono::seconds grace{std::chrono::minutes(2)};
};

// Thread-safe: directories are created with unique names and removal only touches
// directories that are past the grace period.
class RegionStore {
 public:
  RegionStore(RegionStoreOptions options, const core::Clock& clock);

  // Creates a directory for one container allocation: "region" (empty, mode 0666) and
  // "allocation.json" (resource, device IDs, creation time). Returns the directory's path,
  // or the I/O error naming the path.
  Result<std::string> Create(const std::string& resource, const std::vector<std::string>& ids);

  // Removes `directory` (a path Create returned), e.g. when the rest of an Allocate failed.
  void Remove(const std::string& directory);

  // Removes the directories whose allocation is not in `live`. When several directories record
  // the same live allocation (devices reused by a new container), only the newest is kept.
  // Returns how many were removed. Directories it cannot read are left alone.
  Result<int> CollectGarbage(const std::vector<LiveAllocation>& live);

  const std::string& root() const { return options_.root; }

 private:
  RegionStoreOptions options_;
  const core::Clock& clock_;
};

}  // namespace gpuslice::plugin
