#include "plan/cluster_model.h"

#include <algorithm>
#include <map>

#include "kube/scheduling.h"
#include "plan/instance_options.h"
#include "plan/slicing.h"

namespace gpuslice::plan {
namespace {

constexpr std::string_view kInstanceGpuCountLabel = "karpenter.k8s.aws/instance-gpu-count";

std::vector<Requirements> Alternatives(const kube::PodSpec& spec) {
  const Requirements selector = Requirements::FromLabels(spec.node_selector);
  std::vector<Requirements> out;
  for (const kube::NodeSelectorTerm& term : spec.required_node_affinity) {
    Requirements alternative = selector;
    alternative.Add(Requirements::FromSelectors(term));
    out.push_back(std::move(alternative));
  }
  if (out.empty()) out.push_back(selector);
  return out;
}

// Karpenter's preference relaxation: the pod's `alternatives` in turn, all with its heaviest
// preferred node-affinity term, then the last alternative with each lighter preferred term,
// then with none.
std::vector<Requirements> Relaxations(const kube::PodSpec& spec,
                                      const std::vector<Requirements>& alternatives) {
  if (spec.preferred_node_affinity.empty()) return alternatives;
  std::vector<const kube::PreferredSchedulingTerm*> preferred;
  for (const kube::PreferredSchedulingTerm& term : spec.preferred_node_affinity) {
    preferred.push_back(&term);
  }
  std::stable_sort(preferred.begin(), preferred.end(),
                   [](const auto* a, const auto* b) { return a->weight > b->weight; });
  const auto with = [](Requirements requirements, const kube::PreferredSchedulingTerm* term) {
    requirements.Add(Requirements::FromSelectors(term->preference));
    return requirements;
  };
  std::vector<Requirements> out;
  for (const Requirements& a : alternatives) out.push_back(with(a, preferred.front()));
  for (size_t i = 1; i < preferred.size(); ++i)
    out.push_back(with(alternatives.back(), preferred[i]));
  out.push_back(alternatives.back());
  return out;
}

Result<uint64_t> StatedGpuMemory(const kube::Pod& pod) {
  auto it = pod.annotations().find(std::string(kGpuMemoryAnnotation));
  if (it == pod.annotations().end()) return uint64_t{0};
  Result<core::Quantity> quantity = core::Quantity::Parse(it->second);
  Result<int64_t> bytes = quantity.ok() ? quantity->Value() : Result<int64_t>(quantity.status());
  if (!bytes.ok() || *bytes <= 0) {
    return Status::InvalidArgument(pod.source.ToString() + ": annotation " +
                                   std::string(kGpuMemoryAnnotation) + ": \"" + it->second +
                                   "\" is not a positive amount of memory such as 6Gi");
  }
  return static_cast<uint64_t>(*bytes);
}

// Requests in the scheduler's units, with GPUs rewritten to slices when asked.
Result<kube::ResourceAmounts> Requests(const kube::Pod& pod, uint64_t stated_memory,
                                       const std::optional<GpuRewrite>& rewrite,
                                       bool* requests_storage) {
  Result<kube::ResourceAmounts> amounts = kube::PodRequests(pod.spec());
  if (!amounts.ok()) return amounts.status().WithContext(pod.source.ToString());
  *requests_storage |= amounts->erase("ephemeral-storage") > 0;
  amounts->erase(std::string(kube::kResourcePods));
  auto gpus = amounts->find(kube::kResourceNvidiaGpu);
  if (rewrite && gpus != amounts->end()) {
    int64_t units = gpus->second;
    if (rewrite->slice_memory && stated_memory > 0) {
      units = static_cast<int64_t>((stated_memory + *rewrite->slice_memory - 1) /
                                   *rewrite->slice_memory);
    }
    amounts->erase(gpus);
    (*amounts)[rewrite->resource_name] = units;
  }
  (*amounts)[std::string(kube::kResourcePods)] = 1;
  return amounts;
}

Amounts Limits(const kube::NodePool& pool, ResourceSpace* space) {
  Amounts limits(space->size(), kUnlimited);
  for (const auto& [name, quantity] : pool.limits) {
    const int index = space->Index(name);
    if (static_cast<int>(limits.size()) <= index) limits.resize(index + 1, kUnlimited);
    limits[index] = kube::ScaledAmount(name, quantity).value_or(kUnlimited);
  }
  return limits;
}

}  // namespace

Result<ClusterModel> BuildClusterModel(const ClusterModelInput& input) {
  const kube::Manifests& manifests = *input.manifests;
  ClusterModel model;
  if (input.rewrite) model.gpu_resource = model.space.Index(input.rewrite->resource_name);

  std::vector<const kube::NodePool*> pools;
  for (const kube::NodePool& pool : manifests.node_pools) pools.push_back(&pool);
  // Karpenter's order (nodepoolutils.OrderByWeight): weight descending, equal weights by name
  // descending.
  std::stable_sort(pools.begin(), pools.end(), [](const auto* a, const auto* b) {
    if (a->weight != b->weight) return a->weight > b->weight;
    return a->name > b->name;
  });
  std::vector<kube::NodePool> ordered;
  for (const kube::NodePool* pool : pools) ordered.push_back(*pool);
  std::vector<std::vector<InstanceOption>> options =
      BuildInstanceOptions(*input.catalog, ordered, input.overlays, &model.space, &model.warnings);

  std::map<const kube::PodTemplate*, int> shapes;
  bool storage_ignored = false;
  for (size_t i = 0; i < manifests.pods.size(); ++i) {
    const kube::Pod& pod = manifests.pods[i];
    Result<uint64_t> stated = StatedGpuMemory(pod);
    if (!stated.ok()) return stated.status();
    Result<kube::ResourceAmounts> amounts = Requests(pod, *stated, input.rewrite, &storage_ignored);
    if (!amounts.ok()) return amounts.status();
    PodDemand demand;
    demand.pod = i;
    demand.shape =
        shapes.emplace(pod.pod_template.get(), static_cast<int>(shapes.size())).first->second;
    demand.requests = model.space.FromAmounts(*amounts);
    demand.alternatives = Alternatives(pod.spec());
    if (input.rewrite && input.rewrite->distinct_gpus) {
      const auto slices = amounts->find(input.rewrite->resource_name);
      if (slices != amounts->end() && slices->second > 1) {
        // As a user would say it to Karpenter: more than k-1 GPUs.
        const Requirement enough = Requirement::FromSelector({std::string(kInstanceGpuCountLabel),
                                                              kube::SelectorOperator::kGt,
                                                              {std::to_string(slices->second - 1)},
                                                              std::nullopt});
        for (Requirements& alternative : demand.alternatives) {
          alternative.Add(std::string(kInstanceGpuCountLabel), enough);
        }
      }
    }
    demand.relaxations = Relaxations(pod.spec(), demand.alternatives);
    demand.tolerations = &pod.spec().tolerations;
    model.pods.push_back(std::move(demand));
    model.pod_gpu_memory.push_back(*stated);
  }
  if (storage_ignored) {
    model.warnings.push_back(
        "ephemeral-storage requests are not checked: the catalog does not list node storage");
  }

  for (size_t p = 0; p < ordered.size(); ++p) {
    NodePoolTemplate pool;
    pool.pool = pools[p];
    pool.requirements = NodePoolRequirements(*pools[p]);
    pool.options = std::move(options[p]);
    // The DaemonSets Karpenter expects on each instance type of the pool: those tolerating the
    // pool's taints (PreferNoSchedule ones need no toleration) whose node selector and one of
    // whose required node-affinity terms fit the pool's requirements and the type's labels.
    pool.daemon_overhead.assign(pool.options.size(), Amounts());
    for (const kube::DaemonSet& daemon_set : manifests.daemon_sets) {
      if (kube::FirstUntoleratedTaint(daemon_set.spec.tolerations, pools[p]->taints, false))
        continue;
      std::vector<Requirements> alternatives;
      for (Requirements& a : Alternatives(daemon_set.spec)) {
        if (pool.requirements.Compatible(a).ok()) alternatives.push_back(std::move(a));
      }
      if (alternatives.empty()) continue;
      Result<kube::ResourceAmounts> amounts = kube::PodRequests(daemon_set.spec);
      if (!amounts.ok()) return amounts.status().WithContext(daemon_set.source.ToString());
      amounts->erase("ephemeral-storage");
      (*amounts)[std::string(kube::kResourcePods)] = 1;
      const Amounts requests = model.space.FromAmounts(*amounts);
      for (size_t o = 0; o < pool.options.size(); ++o) {
        const bool runs = std::any_of(alternatives.begin(), alternatives.end(), [&](const auto& a) {
          return pool.options[o].labels.Intersects(a);
        });
        if (runs) AddTo(&pool.daemon_overhead[o], requests);
      }
    }
    pool.limits = Limits(*pools[p], &model.space);
    model.pools.push_back(std::move(pool));
  }
  // Every resource is known now: give limits the full width.
  for (NodePoolTemplate& pool : model.pools) pool.limits.resize(model.space.size(), kUnlimited);
  return model;
}

}  // namespace gpuslice::plan
