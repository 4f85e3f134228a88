#include "core/region.h"

#include <algorithm>
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

namespace {

uint64_t LoadAt(const void* base, size_t offset) {
  uint64_t value;
  std::memcpy(&value, static_cast<const unsigned char*>(base) + offset, sizeof(value));
  return value;
}

}  // namespace

size_t LayoutSize(uint32_t version) {
  switch (version) {
    case 1:
      return kVersion1Size;
    case 2:
      return kVersion2Size;
    case 3:
      return kRegionSize;
    default:
      return 0;
  }
}

Result<uint32_t> CheckReadable(const void* data, size_t file_size) {
  if (file_size == 0) return Status::FailedPrecondition("region is empty (not laid out yet)");
  if (file_size < sizeof(Header)) {
    return Status::FailedPrecondition("region is " + std::to_string(file_size) +
                                      " bytes, shorter than its header");
  }
  Header header;
  std::memcpy(&header, data, sizeof(header));
  if (header.magic != kMagic) {
    return Status::FailedPrecondition("region does not start with the gpuslice magic");
  }
  if (header.version < kOldestReadableVersion || header.version > kLayoutVersion) {
    return Status::FailedPrecondition(
        "region layout version " + std::to_string(header.version) + ", this build reads versions " +
        std::to_string(kOldestReadableVersion) + " to " + std::to_string(kLayoutVersion));
  }
  const size_t expected = LayoutSize(header.version);
  if (header.max_devices != static_cast<uint32_t>(kMaxDevices) ||
      header.max_processes != static_cast<uint32_t>(kMaxProcesses) || header.size != expected ||
      file_size != expected) {
    return Status::FailedPrecondition(
        "region geometry differs from layout version " + std::to_string(header.version) +
        " (file " + std::to_string(file_size) + " bytes, header says " +
        std::to_string(header.size) + ", expected " + std::to_string(expected) + ")");
  }
  return header.version;
}

DeviceUsage ReadDeviceUsage(const void* devices, const void* counters, int device) {
  DeviceUsage usage;
  const size_t state = offsetof(Region, devices) + sizeof(DeviceState) * device;
  usage.used_bytes = LoadAt(devices, state + offsetof(DeviceState, used_bytes));
  if (counters == nullptr) return usage;
  const size_t at = sizeof(Counters) * device;
  usage.peak_bytes = LoadAt(counters, at + offsetof(Counters, peak_bytes));
  usage.refused_allocations = LoadAt(counters, at + offsetof(Counters, refused_allocations));
  usage.refused_bytes = LoadAt(counters, at + offsetof(Counters, refused_bytes));
  usage.throttled_launches = LoadAt(counters, at + offsetof(Counters, throttled_launches));
  usage.throttled_ns = LoadAt(counters, at + offsetof(Counters, throttled_ns));
  return usage;
}

std::vector<uint32_t> ReadNvmlPids(const void* nvml_pids) {
  std::vector<uint32_t> pids(kMaxProcesses);
  std::memcpy(pids.data(), nvml_pids, kNvmlPidsEnd - kNvmlPidsBegin);
  std::sort(pids.begin(), pids.end());
  pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
  if (!pids.empty() && pids.front() == 0) pids.erase(pids.begin());
  return pids;
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
