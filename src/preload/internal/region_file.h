// Maps a container's accounting region (core/region.h) into this process, laying the file out
// when this process is the first to use it.
#pragma once

#include <string>

#include "core/region.h"
#include "core/status.h"

namespace gpuslice::preload::internal {

// An mmap of a Region; unmaps on destruction. Move-only. The Region itself is shared by
// every process that maps the same file and is safe to use from any thread.
class RegionMapping {
 public:
  // Maps the region file at `path`. An empty file (as the device plugin creates it), or one
  // whose layout a killed process left unfinished, is laid out under an exclusive lock on the
  // file, so concurrent first users agree on one layout; the kernel drops the lock if the
  // holder dies. Returns NotFound / FailedPrecondition (with the path and the OS error) when
  // the file cannot be opened, locked or mapped, or holds another layout version.
  static Result<RegionMapping> MapShared(const std::string& path);

  // A laid-out region private to this process, for processes without a region file.
  static Result<RegionMapping> MapPrivate();

  RegionMapping(RegionMapping&& other) noexcept;
  RegionMapping& operator=(RegionMapping&& other) noexcept;
  RegionMapping(const RegionMapping&) = delete;
  RegionMapping& operator=(const RegionMapping&) = delete;
  ~RegionMapping();

  core::region::Region* region() const { return region_; }

 private:
  explicit RegionMapping(core::region::Region* region) : region_(region) {}
  core::region::Region* region_ = nullptr;
};

// Writes a fresh layout into `memory` (kRegionSize zeroed bytes): the process-shared robust
// mutexes first, the header last, so a reader never sees a valid header over a half-made
// layout.
void LayOut(void* memory);

}  // namespace gpuslice::preload::internal
