#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "check.h"
#include "core/region.h"
#include "preload/internal/region_file.h"
#include "targets.h"

namespace gpuslice::fuzz {

// The input is a region file's first bytes. The layout check judges them as they are, and as
// the start of a file of the region's full size; libgpuslice then maps a file holding them
// (padded to the full size when the first byte is odd), as every process of a container does.
int Region(const uint8_t* data, size_t size) {
  namespace region = core::region;
  (void)region::CheckLayout(data, size);
  static std::vector<char> full(region::kRegionSize);
  std::memset(full.data(), 0, full.size());
  std::memcpy(full.data(), data, std::min(size, full.size()));
  if (region::CheckLayout(full.data(), full.size()).ok()) {
    const auto* laid_out = reinterpret_cast<const region::Region*>(full.data());
    for (int device = 0; device < region::kMaxDevices; ++device) {
      (void)region::SumSlotUsage(*laid_out, device);
    }
  }

  static const int kFd = memfd_create("gpuslice-fuzz-region", MFD_CLOEXEC);
  static const std::string kPath = "/proc/self/fd/" + std::to_string(kFd);
  Expect(kFd >= 0, "memfd_create works");
  const bool pad = size > 0 && data[0] % 2 == 1;
  const size_t length = pad ? std::max(size, region::kRegionSize) : size;
  Expect(ftruncate(kFd, 0) == 0 && ftruncate(kFd, static_cast<off_t>(length)) == 0 &&
             pwrite(kFd, data, size, 0) == static_cast<ssize_t>(size),
         "the region is written");
  Result<preload::internal::RegionMapping> mapping =
      preload::internal::RegionMapping::MapShared(kPath);
  if (mapping.ok()) {
    const region::Region& mapped = *mapping->region();
    Expect(region::CheckLayout(&mapped, region::kRegionSize).ok(),
           "a mapped region has the current layout");
    (void)region::SumSlotUsage(mapped, 0);
  }
  return 0;
}

}  // namespace gpuslice::fuzz
