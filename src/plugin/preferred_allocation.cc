#include "plugin/preferred_allocation.h"

#include <algorithm>
#include <map>
#include <set>

namespace gpuslice::plugin {
namespace {

// Joins up to a few IDs for an error message.
std::string ListIds(const std::vector<std::string>& ids) {
  std::string out;
  for (size_t i = 0; i < ids.size() && i < 5; ++i) out += (i ? ", " : "") + ids[i];
  if (ids.size() > 5) out += " and " + std::to_string(ids.size() - 5) + " more";
  return out;
}

struct GpuCandidate {
  size_t gpu;
  int used;                  // slices not available to this request
  std::set<int> free;        // available slices not yet chosen
  bool holds_must_include;   // a slice of this GPU is already in the answer
  int capacity = 0;          // slices this GPU can still add to the answer
};

}  // namespace

Result<std::vector<std::string>> PreferAllocation(const Inventory& inventory,
                                                  std::string_view resource,
                                                  core::AllocationPolicy policy,
                                                  const std::vector<std::string>& available,
                                                  const std::vector<std::string>& must_include,
                                                  int size) {
  if (size <= 0) {
    return Status::InvalidArgument("allocation size " + std::to_string(size) + " is not positive");
  }
  std::map<size_t, GpuCandidate> candidates;
  std::vector<std::string> unknown;
  for (const std::string& id : available) {
    // The kubelet offers devices it knows; one this inventory no longer has (a reload just
    // changed it) is simply not chosen.
    Result<SliceRef> ref = inventory.Resolve(resource, id);
    if (!ref.ok()) continue;
    auto [it, inserted] = candidates.try_emplace(ref->gpu, GpuCandidate{ref->gpu, 0, {}, false, 0});
    it->second.free.insert(ref->slice);
  }
  std::set<std::pair<size_t, int>> chosen;
  for (const std::string& id : must_include) {
    Result<SliceRef> ref = inventory.Resolve(resource, id);
    if (!ref.ok()) {
      unknown.push_back(id);
      continue;
    }
    chosen.insert({ref->gpu, ref->slice});
  }
  if (!unknown.empty()) {
    return Status::NotFound("unknown " + std::string(resource) + " devices: " + ListIds(unknown));
  }
  if (chosen.size() > static_cast<size_t>(size)) {
    return Status::InvalidArgument(std::to_string(chosen.size()) +
                                   " devices must be included in an allocation of " +
                                   std::to_string(size));
  }
  int free_total = 0;
  int distinct_free = 0;  // GPUs of distinct-GPU profiles that can still give a slice
  std::string distinct_profile;
  for (auto& [gpu, candidate] : candidates) {
    const core::SlicingProfile& profile = inventory.gpus()[gpu].profile;
    candidate.used = profile.slices - static_cast<int>(candidate.free.size());
    int included = 0;
    for (const auto& [chosen_gpu, slice] : chosen) {
      if (chosen_gpu != gpu) continue;
      candidate.holds_must_include = true;
      candidate.free.erase(slice);
      ++included;
    }
    if (profile.distinct_gpus) {
      distinct_profile = profile.name.empty() ? "defaultProfile" : profile.name;
      if (included > 1) {
        return Status::InvalidArgument(
            std::to_string(included) + " devices that must be included are on GPU " +
            inventory.gpus()[gpu].gpu.uuid + ", but profile \"" + distinct_profile +
            "\" gives each slice of a container a GPU of its own (distinctGpus)");
      }
      // One slice per GPU: a GPU that already gives a must-include slice gives no other.
      candidate.capacity = included > 0 || candidate.free.empty() ? 0 : 1;
      distinct_free += candidate.capacity;
    } else {
      candidate.capacity = static_cast<int>(candidate.free.size());
    }
    free_total += candidate.capacity;
  }
  int remaining = size - static_cast<int>(chosen.size());
  if (remaining > free_total) {
    if (!distinct_profile.empty()) {
      return Status::ResourceExhausted(
          "profile \"" + distinct_profile +
          "\" gives each slice of a container a GPU of its own "
          "(distinctGpus): " +
          std::to_string(size) + " " + std::string(resource) + " devices need " +
          std::to_string(size) + " GPUs with a free slice, and only " +
          std::to_string(free_total + chosen.size()) + " can give one");
    }
    return Status::ResourceExhausted("only " + std::to_string(free_total + chosen.size()) + " of " +
                                     std::to_string(size) + " requested " + std::string(resource) +
                                     " devices are available");
  }

  std::vector<GpuCandidate*> order;
  for (auto& [gpu, candidate] : candidates) {
    if (candidate.capacity > 0) order.push_back(&candidate);
  }
  const bool packed = policy == core::AllocationPolicy::kPacked;
  auto prefer = [packed](const GpuCandidate* a, const GpuCandidate* b) {
    if (a->holds_must_include != b->holds_must_include) return a->holds_must_include;
    if (a->used != b->used) return packed ? a->used > b->used : a->used < b->used;
    return a->gpu < b->gpu;
  };
  // One GPU that holds the whole rest of the request, if there is one.
  GpuCandidate* single = nullptr;
  for (GpuCandidate* candidate : order) {
    if (candidate->capacity < remaining) continue;
    if (single == nullptr || prefer(candidate, single)) single = candidate;
  }
  if (single != nullptr) {
    order = {single};
  } else {
    // The fewest GPUs: those that can give the most first. GPUs of distinct-GPU profiles give
    // one each, so among them the policy alone decides.
    std::sort(order.begin(), order.end(), [&](const GpuCandidate* a, const GpuCandidate* b) {
      if (a->holds_must_include != b->holds_must_include) return a->holds_must_include;
      if (a->capacity != b->capacity) return a->capacity > b->capacity;
      return prefer(a, b);
    });
  }
  for (GpuCandidate* candidate : order) {
    int taken = 0;
    for (auto it = candidate->free.begin();
         it != candidate->free.end() && remaining > 0 && taken < candidate->capacity; ++it) {
      chosen.insert({candidate->gpu, *it});
      --remaining;
      ++taken;
    }
  }
  std::vector<std::string> ids;
  ids.reserve(chosen.size());
  for (const auto& [gpu, slice] : chosen) {
    ids.push_back(core::MakeDeviceId(inventory.gpus()[gpu].gpu.uuid, slice));
  }
  return ids;
}

}  // namespace gpuslice::plugin
