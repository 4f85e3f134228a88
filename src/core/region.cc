#include "core/region.h"

#include <cstring>
#include <string>

namespace gpuslice::core::region {

Header CurrentHeader() {
  Header header{};
  header.magic = kMagic;
  header.version = kLayoutVersion;
  header.max_devices = kMaxDevices;
  header.max_processes = kMaxProcesses;
  header.size = kRegionSize;
  return header;
}

Status CheckLayout(const void* data, size_t size) {
  if (size == 0) return Status::FailedPrecondition("region is empty (not laid out yet)");
  if (size < sizeof(Header)) {
    return Status::FailedPrecondition("region is " + std::to_string(size) +
                                      " bytes, shorter than its header");
  }
  Header header;
  std::memcpy(&header, data, sizeof(header));
  if (header.magic != kMagic) {
    return Status::FailedPrecondition("region does not start with the gpuslice magic");
  }
  if (header.version != kLayoutVersion) {
    return Status::FailedPrecondition("region layout version " + std::to_string(header.version) +
                                      ", this build reads version " +
                                      std::to_string(kLayoutVersion));
  }
  const Header expected = CurrentHeader();
  if (header.max_devices != expected.max_devices ||
      header.max_processes != expected.max_processes || header.size != expected.size ||
      size != expected.size) {
    return Status::FailedPrecondition(
        "region geometry differs from layout version " + std::to_string(kLayoutVersion) +
        " (file " + std::to_string(size) + " bytes, header says " + std::to_string(header.size) +
        ", expected " + std::to_string(expected.size) + ")");
  }
  return Status::Ok();
}

uint64_t SumSlotUsage(const Region& region, int device) {
  uint64_t sum = 0;
  for (const ProcessSlot& slot : region.slots) {
    if (slot.pid.load(std::memory_order_acquire) != 0) {
      // Any process of the container may have written a slot: a sum that wraps around
      // would hide usage, so it stops at the largest count.
      const uint64_t used = slot.used_bytes[device].load(std::memory_order_relaxed);
      sum = used > UINT64_MAX - sum ? UINT64_MAX : sum + used;
    }
  }
  return sum;
}

}  // namespace gpuslice::core::region
