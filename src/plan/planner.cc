#include "plan/planner.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "plan/cluster_model.h"
#include "plan/dra_packing.h"
#include "plan/instance_options.h"
#include "plan/provisioner.h"

namespace gpuslice::plan {
namespace {

std::string PodName(const kube::Pod& pod) { return pod.namespace_name + "/" + pod.name; }

// Builds one scenario's summary from the nodes it launches and the pods they hold.
class ScenarioBuilder {
 public:
  ScenarioBuilder(std::string name, const ClusterModel& model, const kube::Manifests& manifests,
                  const SlicingProfile* profile)
      : model_(model), manifests_(manifests), profile_(profile) {
    scenario_.name = std::move(name);
  }

  // `count` nodes of the pool's option, each holding `pods` (demand indices) or, for the
  // optimum, `pods_per_class` pods of each class.
  void AddNodes(int pool, int option, double count) {
    const InstanceOption& o = model_.pools[pool].options[option];
    NodeGroup& group = groups_[{pool, option}];
    if (group.instance_type.empty()) {
      group.node_pool = model_.pools[pool].pool->name;
      group.instance_type = o.type->name;
      group.gpus_per_node = o.type->gpu_count;
      group.gpu_model = o.type->gpu_model;
      group.slices_per_gpu = SlicesPerGpu(o);
    }
    group.count += count;
    group.cost_per_hour += count * o.price;
    scenario_.node_count += count;
    scenario_.gpus += count * o.type->gpu_count;
    scenario_.cost_per_hour += count * o.price;
    scenario_.gpu_memory_provisioned +=
        count * o.type->gpu_count * static_cast<double>(o.type->gpu_memory_bytes);
  }

  // `weight` pods like demand `d` placed on the pool's option (fractional in an LP bound).
  void AddPod(size_t d, int pool, int option, double weight = 1) {
    scenario_.gpu_memory_requested += weight * PodGpuMemory(d, model_.pools[pool].options[option]);
  }

  void Unschedulable(size_t d, std::string reason) {
    scenario_.unschedulable.push_back(
        {PodName(manifests_.pods[model_.pods[d].pod]), std::move(reason)});
  }

  Scenario Finish(size_t pods) {
    for (auto& [key, group] : groups_) scenario_.nodes.push_back(std::move(group));
    scenario_.pods_placed = pods - scenario_.unschedulable.size();
    std::sort(scenario_.unschedulable.begin(), scenario_.unschedulable.end(),
              [](const auto& a, const auto& b) { return a.pod < b.pod; });
    return std::move(scenario_);
  }

 private:
  int SlicesPerGpu(const InstanceOption& option) const {
    if (option.type->gpu_count == 0) return 1;
    const int64_t units = At(option.capacity, model_.gpu_resource);
    return std::max<int64_t>(1, units / option.type->gpu_count);
  }

  double PodGpuMemory(size_t d, const InstanceOption& option) const {
    if (model_.pod_gpu_memory[d] > 0) return static_cast<double>(model_.pod_gpu_memory[d]);
    const int64_t units = At(model_.pods[d].requests, model_.gpu_resource);
    if (units == 0 || option.type->gpu_count == 0) return 0;
    GpuSlices slices;
    if (profile_ != nullptr) slices = profile_->For(*option.type).value_or(GpuSlices());
    slices.slices = SlicesPerGpu(option);
    return static_cast<double>(units) *
           static_cast<double>(slices.SliceMemory(option.type->gpu_memory_bytes));
  }

  const ClusterModel& model_;
  const kube::Manifests& manifests_;
  const SlicingProfile* profile_;
  std::map<std::pair<int, int>, NodeGroup> groups_;
  Scenario scenario_;
};

Scenario Greedy(std::string name, const ClusterModel& model, const kube::Manifests& manifests,
                const SlicingProfile* profile) {
  const Provisioning provisioning = Provision(model.pods, model.pools, model.space);
  ScenarioBuilder builder(std::move(name), model, manifests, profile);
  for (const PlannedNode& node : provisioning.nodes) {
    builder.AddNodes(node.pool, node.option, 1);
    for (size_t d : node.pods) builder.AddPod(d, node.pool, node.option);
  }
  for (const UnplacedPod& pod : provisioning.unplaced)
    builder.Unschedulable(pod.demand, pod.reason);
  return builder.Finish(model.pods.size());
}

Result<Scenario> Optimal(const ClusterModel& model, const kube::Manifests& manifests,
                         const SlicingProfile* profile, const OptimizerOptions& options) {
  Result<Optimum> optimum = Optimize(model, options);
  if (!optimum.ok()) return optimum.status();
  ScenarioBuilder builder("optimal", model, manifests, profile);
  std::set<size_t> unplaced;
  for (const UnplacedPod& pod : optimum->unplaced) {
    builder.Unschedulable(pod.demand, pod.reason);
    unplaced.insert(pod.demand);
  }
  // Patterns may cover a class more than once over; place each class's pods in order.
  std::vector<size_t> next(optimum->classes.size(), 0);
  for (const OptimalNodes& nodes : optimum->nodes) {
    builder.AddNodes(nodes.pool, nodes.option, nodes.count);
    for (const auto& [c, per_node] : nodes.pods_per_class) {
      const std::vector<size_t>& demands = optimum->classes[c];
      double room = per_node * nodes.count;
      while (room > 1e-9 && next[c] < demands.size()) {
        const size_t d = demands[next[c]];
        if (unplaced.contains(d)) {
          ++next[c];
          continue;
        }
        const double weight = std::min(1.0, room);
        builder.AddPod(d, nodes.pool, nodes.option, weight);
        room -= weight;
        if (weight >= 1.0 - 1e-9) ++next[c];
      }
    }
  }
  Scenario scenario = builder.Finish(model.pods.size());
  scenario.lower_bound_only = !optimum->integral;
  scenario.proven_optimal = optimum->proven;
  scenario.lower_bound = optimum->lower_bound;
  return scenario;
}

// The one slice resource a set of overlays declares.
Result<std::string> SliceResource(const std::vector<const kube::NodeOverlay*>& overlays) {
  std::set<std::string> resources;
  for (const kube::NodeOverlay* overlay : overlays) {
    for (const auto& [name, quantity] : overlay->capacity) resources.insert(name);
  }
  if (resources.size() > 1) {
    std::string names;
    for (const std::string& r : resources) names += (names.empty() ? "" : ", ") + r;
    return Status::InvalidArgument("the gpuslice NodeOverlays declare several resources (" + names +
                                   "); plan turns GPU requests into one slice resource");
  }
  return resources.empty() ? std::string(kube::kResourceNvidiaGpu) : *resources.begin();
}

// The slice memory target gpuslice's overlays were written for, if any.
Result<std::optional<uint64_t>> SliceMemoryOf(
    const std::vector<const kube::NodeOverlay*>& overlays) {
  std::set<std::string> values;
  for (const kube::NodeOverlay* overlay : overlays) {
    auto it = overlay->labels.find(std::string(kSliceMemoryLabel));
    values.insert(it == overlay->labels.end() ? "" : it->second);
  }
  if (values.size() != 1) {
    return Status::InvalidArgument("the gpuslice NodeOverlays disagree on label " +
                                   std::string(kSliceMemoryLabel));
  }
  if (values.begin()->empty()) return std::optional<uint64_t>();
  Result<core::Quantity> quantity = core::Quantity::Parse(*values.begin());
  Result<int64_t> bytes = quantity.ok() ? quantity->Value() : Result<int64_t>(quantity.status());
  if (!bytes.ok() || *bytes <= 0) {
    return Status::InvalidArgument("label " + std::string(kSliceMemoryLabel) + ": \"" +
                                   *values.begin() + "\" is not an amount of memory");
  }
  return std::optional<uint64_t>(static_cast<uint64_t>(*bytes));
}

// Warns where the overlays Karpenter plans with and the device plugin config disagree: nodes
// whose advertised capacity never matches what Karpenter waits for do not initialize. Fails
// where the device plugin would refuse a GPU of the pools (profile.For).
Status CheckAgreement(const ClusterModel& model, const SlicingProfile& profile,
                      std::vector<std::string>* warnings) {
  const std::string& resource = model.space.name(model.gpu_resource);
  for (const NodePoolTemplate& pool : model.pools) {
    for (const InstanceOption& option : pool.options) {
      Result<GpuSlices> slices = profile.For(*option.type);
      if (!slices.ok()) return slices.status();
      if (option.type->gpu_count == 0) continue;
      const int64_t advertised =
          slices->resource_name == resource ? int64_t{option.type->gpu_count} * slices->slices : 0;
      const int64_t declared = At(option.capacity, model.gpu_resource);
      if (advertised == declared || (declared == 0 && !slices->sliced())) continue;
      warnings->push_back(
          "NodePool " + pool.pool->name + ", " + option.type->name + ": the NodeOverlays declare " +
          std::to_string(declared) + " " + resource + " but the device plugin config advertises " +
          std::to_string(advertised) + "; Karpenter would wait for capacity that never appears");
    }
  }
  return Status::Ok();
}

}  // namespace

std::vector<const InstanceType*> NodePoolTypes(const Catalog& catalog, const kube::NodePool& pool) {
  const Requirements requirements = Requirements::FromSelectors(pool.requirements);
  std::vector<const InstanceType*> types;
  for (const InstanceType& type : catalog.types) {
    if (InstanceTypeLabels(type, catalog.region).Intersects(requirements)) types.push_back(&type);
  }
  return types;
}

Result<Plan> MakePlan(const kube::Manifests& input, const PlanOptions& options) {
  if (input.node_pools.empty()) {
    return Status::InvalidArgument(
        "the manifests define no Karpenter NodePool (karpenter.sh/v1); plan provisions nodes "
        "from NodePools");
  }
  const Catalog& catalog = *options.catalog;
  // Pods sized through DRA stay out of the provisioning simulation rather than be guessed at.
  kube::Manifests manifests = input;
  Result<DraPlan> dra = SetAsideDraPods(&manifests, catalog, options.dra_policy,
                                         options.profile ? &*options.profile : nullptr);
  if (!dra.ok()) return dra.status();
  Plan plan;
  plan.pods = manifests.pods.size();
  plan.warnings = manifests.warnings;
  if (dra->pods > 0) {
    plan.warnings.insert(plan.warnings.end(), dra->warnings.begin(), dra->warnings.end());
    plan.dra = std::make_shared<const DraPlan>(*std::move(dra));
  }
  const auto progress = [&](const std::string& line) {
    if (options.progress) options.progress(line);
  };

  std::vector<const kube::NodeOverlay*> own, managed;
  for (const kube::NodeOverlay& overlay : manifests.node_overlays) {
    (IsManagedOverlay(overlay) ? managed : own).push_back(&overlay);
  }

  progress("whole GPUs: provisioning " + std::to_string(plan.pods) + " pods");
  Result<ClusterModel> whole = BuildClusterModel({&manifests, &catalog, own, std::nullopt});
  if (!whole.ok()) return whole.status();
  plan.warnings.insert(plan.warnings.end(), whole->warnings.begin(), whole->warnings.end());
  plan.scenarios.push_back(Greedy("whole", *whole, manifests, nullptr));

  std::optional<SlicingProfile> profile = options.profile;
  std::optional<uint64_t> slice_memory = profile ? profile->slice_memory() : std::nullopt;
  std::vector<kube::NodeOverlay> generated;
  std::vector<const kube::NodeOverlay*> sliced_overlays = own;
  if (!managed.empty()) {
    Result<std::string> resource = SliceResource(managed);
    if (!resource.ok()) return resource.status();
    plan.slice_resource = *resource;
    Result<std::optional<uint64_t>> memory = SliceMemoryOf(managed);
    if (!memory.ok()) return memory.status();
    slice_memory = *memory;
    plan.slicing =
        "as the gpuslice NodeOverlays in the input declare (" + *resource +
        (slice_memory ? ", slices of at least " + core::FormatBytes(*slice_memory) : "") + ")";
    sliced_overlays.insert(sliced_overlays.end(), managed.begin(), managed.end());
  } else {
    if (!profile) {
      Result<SlicingProfile> fallback = SlicingProfile::FromSliceCounts(
          std::to_string(kDefaultSlices), catalog, std::string(kSliceResource), 0);
      if (!fallback.ok()) return fallback.status();
      profile = *std::move(fallback);
    }
    plan.slicing = profile->description();
    for (const kube::NodePool& pool : manifests.node_pools) {
      Result<std::vector<kube::NodeOverlay>> overlays =
          SliceOverlays(pool, NodePoolTypes(catalog, pool), *profile);
      if (!overlays.ok()) return overlays.status();
      generated.insert(generated.end(), overlays->begin(), overlays->end());
    }
    std::vector<const kube::NodeOverlay*> pointers;
    for (const kube::NodeOverlay& overlay : generated) pointers.push_back(&overlay);
    Result<std::string> resource = SliceResource(pointers);
    if (!resource.ok()) return resource.status();
    plan.slice_resource = *resource;
    if (generated.empty())
      plan.warnings.push_back("the slicing profile slices no GPU of the NodePools");
    sliced_overlays.insert(sliced_overlays.end(), pointers.begin(), pointers.end());
  }

  progress("slices: provisioning " + std::to_string(plan.pods) + " pods");
  GpuRewrite rewrite{plan.slice_resource, slice_memory,
                     profile && profile->DistinctGpus(plan.slice_resource)};
  Result<ClusterModel> sliced = BuildClusterModel({&manifests, &catalog, sliced_overlays, rewrite});
  if (!sliced.ok()) return sliced.status();
  plan.warnings.insert(plan.warnings.end(), sliced->warnings.begin(), sliced->warnings.end());
  if (!managed.empty() && profile) {
    GPUSLICE_RETURN_IF_ERROR(CheckAgreement(*sliced, *profile, &plan.warnings));
  }
  const SlicingProfile* slicing = profile ? &*profile : nullptr;
  plan.scenarios.push_back(Greedy("sliced", *sliced, manifests, slicing));

  if (options.optimize) {
    OptimizerOptions optimizer = options.optimizer;
    const Scenario& greedy = plan.scenarios.back();
    if (greedy.unschedulable.empty() && !optimizer.upper_bound) {
      optimizer.upper_bound = greedy.cost_per_hour;
    }
    if (!optimizer.progress) optimizer.progress = options.progress;
    Result<Scenario> optimal = Optimal(*sliced, manifests, slicing, optimizer);
    if (!optimal.ok()) return optimal.status();
    plan.scenarios.push_back(*std::move(optimal));
  }
  std::sort(plan.warnings.begin(), plan.warnings.end());
  plan.warnings.erase(std::unique(plan.warnings.begin(), plan.warnings.end()), plan.warnings.end());
  return plan;
}

}  // namespace gpuslice::plan
