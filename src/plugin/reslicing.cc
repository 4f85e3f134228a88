#include "plugin/reslicing.h"

namespace gpuslice::plugin {

bool SameSlicing(const core::SlicingProfile& a, const core::SlicingProfile& b) {
  return a.slices == b.slices && a.reserved_memory_bytes == b.reserved_memory_bytes &&
         a.resource_name == b.resource_name;
}

std::set<std::string> GpusOf(const std::vector<LiveAllocation>& live) {
  std::set<std::string> uuids;
  for (const LiveAllocation& allocation : live) {
    for (const std::string& id : allocation.device_ids) {
      Result<core::DeviceIdParts> parts = core::ParseDeviceId(id);
      if (parts.ok()) uuids.insert(parts->gpu_uuid);
    }
  }
  return uuids;
}

std::map<std::string, core::SlicingProfile> ProfilesToKeep(
    const std::vector<core::GpuInfo>& gpus, const std::vector<const core::SlicingProfile*>& assigned,
    const Inventory* current, const std::vector<AllocationRecord>& records,
    const std::set<std::string>& live_gpus) {
  std::map<std::string, core::SlicingProfile> keep;
  for (size_t i = 0; i < gpus.size(); ++i) {
    const std::string& uuid = gpus[i].uuid;
    if (live_gpus.count(uuid) == 0) continue;
    core::SlicingProfile now;
    bool known = false;
    if (current != nullptr) {
      const int position = current->FindGpu(uuid);
      if (position >= 0) {
        now = current->gpus()[static_cast<size_t>(position)].profile;
        known = true;
      }
    } else {
      for (const AllocationRecord& record : records) {  // oldest first: the last match wins
        for (const RecordedSlicing& gpu : record.gpus) {
          if (gpu.gpu_uuid != uuid) continue;
          now = *assigned[i];
          now.slices = gpu.slices;
          now.reserved_memory_bytes = gpu.reserved_memory_bytes;
          now.resource_name = record.resource;
          known = true;
        }
      }
    }
    if (!known || SameSlicing(now, *assigned[i])) continue;
    core::SlicingProfile kept = *assigned[i];
    kept.slices = now.slices;
    kept.reserved_memory_bytes = now.reserved_memory_bytes;
    kept.resource_name = now.resource_name;
    keep[uuid] = kept;
  }
  return keep;
}

}  // namespace gpuslice::plugin
