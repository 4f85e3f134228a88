#include "plan/instance_options.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <set>

namespace gpuslice::plan {
namespace {

// What the overlays change on one instance type for one NodePool.
struct Update {
  std::optional<std::string> price;  // a price or price adjustment string
  int price_weight = 0;
  std::map<std::string, core::Quantity> capacity;
  bool has_capacity = false;
  int capacity_weight = 0;                   // weight of the lowest-weight overlay applied
  std::set<std::string> capacity_resources;  // resources that overlay set
};

std::string PriceChange(const kube::NodeOverlay& overlay) {
  return overlay.price ? *overlay.price : overlay.price_adjustment.value_or("");
}

double ApplyPrice(double price, const std::string& change) {
  if (change.empty()) return price;
  if (change.back() == '%') {
    price *= 1 + std::stod(change.substr(0, change.size() - 1)) / 100;
  } else if (change[0] == '+' || change[0] == '-') {
    price += std::stod(change);
  } else {
    price = std::stod(change);
  }
  return std::max(price, 0.0);
}

// The overlay's offering requirements (capacity type) against the one offering the catalog has:
// on demand, in every zone.
bool MatchesOnDemandOffering(const Requirements& overlay) {
  const Requirement* capacity_type = overlay.Get(kLabelCapacityType);
  return capacity_type == nullptr || capacity_type->Has("on-demand");
}

std::vector<const kube::NodeOverlay*> ByPrecedence(std::vector<const kube::NodeOverlay*> overlays) {
  std::stable_sort(overlays.begin(), overlays.end(), [](const auto* a, const auto* b) {
    if (a->weight != b->weight) return a->weight > b->weight;
    return a->name > b->name;
  });
  return overlays;
}

bool Conflicts(const Update& update, const kube::NodeOverlay& overlay) {
  const bool sets_price = overlay.price || overlay.price_adjustment;
  if (sets_price && update.price && update.price_weight == overlay.weight) return true;
  if (overlay.capacity.empty() || !update.has_capacity ||
      update.capacity_weight != overlay.weight) {
    return false;
  }
  for (const auto& [resource, quantity] : overlay.capacity) {
    if (update.capacity_resources.contains(resource)) return true;
  }
  return false;
}

void Apply(const kube::NodeOverlay& overlay, Update* update) {
  if (overlay.price || overlay.price_adjustment) {
    if (!update->price) update->price = PriceChange(overlay);
    update->price_weight = overlay.weight;
  }
  if (!overlay.capacity.empty()) {
    for (const auto& [resource, quantity] : overlay.capacity)
      update->capacity.emplace(resource, quantity);
    update->has_capacity = true;
    update->capacity_weight = overlay.weight;
    update->capacity_resources.clear();
    for (const auto& [resource, quantity] : overlay.capacity) {
      update->capacity_resources.insert(resource);
    }
  }
}

InstanceOption MakeOption(const InstanceType& type, const std::string& region, const Update* update,
                          ResourceSpace* space) {
  InstanceOption option;
  option.type = &type;
  option.labels = InstanceTypeLabels(type, region);
  option.capacity = {type.vcpu * int64_t{1000}, static_cast<int64_t>(type.capacity_memory_bytes),
                     type.max_pods, type.karpenter_gpus};
  option.allocatable = {type.allocatable_cpu_millis,
                        static_cast<int64_t>(type.allocatable_memory_bytes), type.max_pods,
                        type.karpenter_gpus};
  option.launchable = type.price_per_hour.has_value();
  option.price = type.price_per_hour.value_or(0);
  if (update == nullptr) return option;
  if (update->price) option.price = ApplyPrice(option.price, *update->price);
  for (const auto& [resource, quantity] : update->capacity) {
    const int index = space->Index(resource);
    const int64_t amount = kube::ScaledAmount(resource, quantity).value_or(kUnlimited);
    for (Amounts* amounts : {&option.capacity, &option.allocatable}) {
      if (static_cast<int>(amounts->size()) <= index) amounts->resize(index + 1, 0);
      (*amounts)[index] = amount;
    }
    // Hugepages are carved out of memory, as Karpenter accounts for them.
    if (resource.starts_with("hugepages-")) {
      int64_t& memory = option.allocatable[ResourceSpace::kMemory];
      memory = std::max<int64_t>(0, memory - amount);
    }
  }
  return option;
}

}  // namespace

Requirements InstanceTypeLabels(const InstanceType& type, const std::string& region) {
  Requirements labels;
  const auto set = [&](const char* key, std::string value) {
    labels.Add(key, Requirement::In({std::move(value)}));
  };
  set("node.kubernetes.io/instance-type", type.name);
  set("kubernetes.io/arch", type.arch);
  set("kubernetes.io/os", "linux");
  set("karpenter.sh/capacity-type", "on-demand");
  if (!region.empty() && region != "mixed") set("topology.kubernetes.io/region", region);
  set("karpenter.k8s.aws/instance-family", type.family);
  size_t letters = 0;
  while (letters < type.family.size() &&
         std::isalpha(static_cast<unsigned char>(type.family[letters]))) {
    ++letters;
  }
  size_t digits = letters;
  while (digits < type.family.size() &&
         std::isdigit(static_cast<unsigned char>(type.family[digits]))) {
    ++digits;
  }
  if (letters > 0) set("karpenter.k8s.aws/instance-category", type.family.substr(0, letters));
  if (digits > letters) {
    set("karpenter.k8s.aws/instance-generation", type.family.substr(letters, digits - letters));
  }
  const size_t dot = type.name.find('.');
  if (dot != std::string::npos) set("karpenter.k8s.aws/instance-size", type.name.substr(dot + 1));
  set("karpenter.k8s.aws/instance-cpu", std::to_string(type.vcpu));
  set("karpenter.k8s.aws/instance-memory", std::to_string(type.memory_bytes >> 20));
  if (!type.gpu_model.empty()) {
    set("karpenter.k8s.aws/instance-gpu-name", type.gpu_model);
    set("karpenter.k8s.aws/instance-gpu-manufacturer", "nvidia");
    set("karpenter.k8s.aws/instance-gpu-count", std::to_string(type.gpu_count));
    set("karpenter.k8s.aws/instance-gpu-memory", std::to_string(type.gpu_memory_bytes >> 20));
  }
  return labels;
}

Requirements NodePoolRequirements(const kube::NodePool& pool) {
  Requirements requirements = Requirements::FromSelectors(pool.requirements);
  requirements.Add(Requirements::FromLabels(pool.template_labels));
  requirements.Add(std::string(kLabelNodePool), Requirement::In({pool.name}));
  return requirements;
}

std::vector<std::vector<InstanceOption>> BuildInstanceOptions(
    const Catalog& catalog, const std::vector<kube::NodePool>& pools,
    const std::vector<const kube::NodeOverlay*>& overlays, ResourceSpace* space,
    std::vector<std::string>* warnings) {
  const size_t types = catalog.types.size();
  std::vector<Requirements> type_labels;
  for (const InstanceType& type : catalog.types) {
    type_labels.push_back(InstanceTypeLabels(type, catalog.region));
  }
  // What an overlay's requirements are matched against: the pool name, the pool's template
  // labels and the instance type's labels.
  std::vector<std::vector<Requirements>> overlay_targets(pools.size());
  for (size_t p = 0; p < pools.size(); ++p) {
    for (size_t t = 0; t < types; ++t) {
      Requirements target = Requirements::FromLabels(pools[p].template_labels);
      target.Add(std::string(kLabelNodePool), Requirement::In({pools[p].name}));
      target.Add(type_labels[t]);
      overlay_targets[p].push_back(std::move(target));
    }
  }

  std::vector<std::vector<std::optional<Update>>> updates(
      pools.size(), std::vector<std::optional<Update>>(types));
  for (const kube::NodeOverlay* overlay : ByPrecedence(overlays)) {
    const Requirements requirements = Requirements::FromSelectors(overlay->requirements);
    if (!MatchesOnDemandOffering(requirements)) continue;
    std::vector<std::pair<size_t, size_t>> matches;
    for (size_t p = 0; p < pools.size(); ++p) {
      for (size_t t = 0; t < types; ++t) {
        if (overlay_targets[p][t].Compatible(requirements).ok()) matches.emplace_back(p, t);
      }
    }
    const auto conflict = std::find_if(matches.begin(), matches.end(), [&](const auto& m) {
      return updates[m.first][m.second] && Conflicts(*updates[m.first][m.second], *overlay);
    });
    if (conflict != matches.end()) {
      warnings->push_back(overlay->source.ToString() + ": NodeOverlay " + overlay->name +
                          " sets the same price or capacity as another overlay of weight " +
                          std::to_string(overlay->weight) + " on " +
                          catalog.types[conflict->second].name +
                          "; Karpenter applies neither, so it is ignored");
      continue;
    }
    for (const auto& [p, t] : matches) {
      if (!updates[p][t]) updates[p][t].emplace();
      Apply(*overlay, &*updates[p][t]);
    }
  }

  std::vector<std::vector<InstanceOption>> out(pools.size());
  for (size_t p = 0; p < pools.size(); ++p) {
    const Requirements pool_requirements = Requirements::FromSelectors(pools[p].requirements);
    for (size_t t = 0; t < types; ++t) {
      if (!type_labels[t].Intersects(pool_requirements)) continue;
      out[p].push_back(MakeOption(catalog.types[t], catalog.region,
                                  updates[p][t] ? &*updates[p][t] : nullptr, space));
    }
    std::stable_sort(out[p].begin(), out[p].end(), [](const auto& a, const auto& b) {
      if (a.launchable != b.launchable) return a.launchable;
      return a.price < b.price;
    });
  }
  return out;
}

}  // namespace gpuslice::plan
