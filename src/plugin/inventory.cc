#include "plugin/inventory.h"

#include <algorithm>
#include <set>

namespace gpuslice::plugin {

Result<Inventory> Inventory::Build(const core::Config& config, std::vector<core::GpuInfo> gpus,
                                  const std::map<std::string, core::SlicingProfile>& kept) {
  std::sort(gpus.begin(), gpus.end(),
            [](const core::GpuInfo& a, const core::GpuInfo& b) { return a.index < b.index; });
  Result<std::vector<const core::SlicingProfile*>> assigned = core::AssignProfiles(config, gpus);
  if (!assigned.ok()) return assigned.status();
  Inventory inventory;
  for (size_t i = 0; i < gpus.size(); ++i) {
    const core::GpuInfo& gpu = gpus[i];
    const auto kept_profile = kept.find(gpu.uuid);
    const core::SlicingProfile& profile =
        kept_profile != kept.end() ? kept_profile->second : *(*assigned)[i];
    const std::string profile_name = profile.name.empty() ? "defaultProfile" : profile.name;
    if (Status fits = core::CheckSliceMemory(profile, gpu.memory_bytes); !fits.ok()) {
      return fits.WithContext("GPU " + std::to_string(gpu.index) + " (" + gpu.uuid +
                              "): profile \"" + profile_name + "\"");
    }
    const std::string longest_id = core::MakeDeviceId(gpu.uuid, profile.slices - 1);
    if (longest_id.size() > core::kMaxDeviceIdLength) {
      return Status::InvalidArgument("GPU " + std::to_string(gpu.index) + ": device ID \"" +
                                     longest_id + "\" exceeds the kubelet's 63 characters");
    }
    inventory.gpus_.push_back(SlicedGpu{gpu, profile});
  }
  return inventory;
}

std::vector<std::string> Inventory::ResourceNames() const {
  std::set<std::string> names;
  for (const SlicedGpu& g : gpus_) names.insert(g.profile.resource_name);
  return {names.begin(), names.end()};
}

std::vector<size_t> Inventory::GpusOf(std::string_view resource) const {
  std::vector<size_t> positions;
  for (size_t i = 0; i < gpus_.size(); ++i) {
    if (gpus_[i].profile.resource_name == resource) positions.push_back(i);
  }
  return positions;
}

int Inventory::FindGpu(std::string_view uuid) const {
  for (size_t i = 0; i < gpus_.size(); ++i) {
    if (gpus_[i].gpu.uuid == uuid) return static_cast<int>(i);
  }
  return -1;
}

Result<SliceRef> Inventory::Resolve(std::string_view resource, std::string_view device_id) const {
  Result<core::DeviceIdParts> parts = core::ParseDeviceId(device_id);
  if (!parts.ok()) return Status::NotFound(parts.status().message());
  const int gpu = FindGpu(parts->gpu_uuid);
  auto unknown = [&](const std::string& why) {
    return Status::NotFound("device \"" + std::string(device_id) + "\" " + why);
  };
  if (gpu < 0) return unknown("names no GPU on this node");
  const SlicedGpu& sliced = gpus_[static_cast<size_t>(gpu)];
  if (sliced.profile.resource_name != resource) {
    return unknown("belongs to resource " + sliced.profile.resource_name + ", not " +
                   std::string(resource));
  }
  if (parts->slice >= sliced.profile.slices) {
    return unknown("is beyond the " + std::to_string(sliced.profile.slices) + " slices of its GPU");
  }
  return SliceRef{static_cast<size_t>(gpu), parts->slice};
}

}  // namespace gpuslice::plugin
