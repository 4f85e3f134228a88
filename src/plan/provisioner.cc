#include "plan/provisioner.h"

#include <algorithm>
#include <numeric>
#include <optional>

#include "kube/scheduling.h"

namespace gpuslice::plan {
namespace {

// A NodeClaim being planned.
struct Claim {
  int pool = 0;
  Requirements requirements;
  std::vector<int> options;  // into the pool's options, cheapest first
  Amounts requests;          // the pods' so far (DaemonSet overhead depends on the option)
  Amounts max_allocatable;   // per resource, over `options`, less their DaemonSet overhead:
                             // a quick way to refuse a pod
  std::vector<size_t> pods;
};

class Scheduler {
 public:
  Scheduler(const std::vector<PodDemand>& pods, const std::vector<NodePoolTemplate>& pools,
            const ResourceSpace& space)
      : pods_(pods), pools_(pools), space_(space) {
    for (const NodePoolTemplate& pool : pools) remaining_.push_back(pool.limits);
  }

  Provisioning Run() {
    std::vector<size_t> order(pods_.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      const Amounts& x = pods_[a].requests;
      const Amounts& y = pods_[b].requests;
      if (At(x, ResourceSpace::kCpu) != At(y, ResourceSpace::kCpu)) {
        return At(x, ResourceSpace::kCpu) > At(y, ResourceSpace::kCpu);
      }
      return At(x, ResourceSpace::kMemory) > At(y, ResourceSpace::kMemory);
    });
    Provisioning result;
    for (size_t index : order) {
      std::string reason;
      if (!Schedule(index, &reason)) result.unplaced.push_back({index, std::move(reason)});
    }
    for (const Claim& claim : claims_) {
      result.nodes.push_back({claim.pool, claim.options.front(), claim.pods});
    }
    return result;
  }

 private:
  // Karpenter relaxes a pod that fits nowhere: first it drops required node-affinity terms
  // one at a time, then preferred ones, then it tolerates PreferNoSchedule taints.
  bool Schedule(size_t index, std::string* reason) {
    const PodDemand& pod = pods_[index];
    const size_t last = pod.relaxations.size() - 1;
    for (size_t alt = 0; alt <= last; ++alt) {
      if (Add(index, pod.relaxations[alt], /*strict=*/true, reason)) return true;
    }
    return Add(index, pod.relaxations[last], /*strict=*/false, reason);
  }

  bool Add(size_t index, const Requirements& alternative, bool strict, std::string* reason) {
    std::string ignored;
    for (size_t i = 0; i < order_.size(); ++i) {
      if (TryAdd(index, alternative, strict, &claims_[order_[i]], &ignored)) {
        Resort(i);
        return true;
      }
    }
    std::string errors;
    for (size_t p = 0; p < pools_.size(); ++p) {
      std::string error;
      if (NewClaim(index, alternative, strict, static_cast<int>(p), &error)) return true;
      if (!errors.empty()) errors += "; ";
      errors += "nodepool " + pools_[p].pool->name + ": " + error;
    }
    *reason = pools_.empty() ? "no NodePool to provision from" : errors;
    return false;
  }

  bool NewClaim(size_t index, const Requirements& alternative, bool strict, int p,
                std::string* error) {
    const NodePoolTemplate& pool = pools_[p];
    Claim claim;
    claim.pool = p;
    claim.requirements = pool.requirements;
    for (size_t o = 0; o < pool.options.size(); ++o) {
      if (Fits(pool.options[o].capacity, remaining_[p]))
        claim.options.push_back(static_cast<int>(o));
    }
    if (claim.options.empty()) {
      *error = "every instance type would exceed its limits (" + space_.Format(pool.limits) + ")";
      return false;
    }
    UpdateMaxAllocatable(&claim);
    if (!TryAdd(index, alternative, strict, &claim, error)) return false;
    // Charge the largest capacity the NodeClaim could still launch.
    Amounts largest;
    for (int o : claim.options) {
      const Amounts& capacity = pool.options[o].capacity;
      if (largest.size() < capacity.size()) largest.resize(capacity.size(), 0);
      for (size_t i = 0; i < capacity.size(); ++i) largest[i] = std::max(largest[i], capacity[i]);
    }
    Amounts& remaining = remaining_[p];
    for (size_t i = 0; i < remaining.size(); ++i) {
      if (remaining[i] != kUnlimited) remaining[i] -= At(largest, static_cast<int>(i));
    }
    claims_.push_back(std::move(claim));
    order_.push_back(static_cast<int>(claims_.size() - 1));
    Resort(order_.size() - 1);
    return true;
  }

  bool TryAdd(size_t index, const Requirements& alternative, bool strict, Claim* claim,
              std::string* error) {
    const PodDemand& pod = pods_[index];
    const NodePoolTemplate& pool = pools_[claim->pool];
    if (const kube::Taint* taint =
            kube::FirstUntoleratedTaint(*pod.tolerations, pool.pool->taints, strict)) {
      *error = "the pod does not tolerate taint " + kube::TaintToString(*taint);
      return false;
    }
    Amounts requests = claim->requests;
    AddTo(&requests, pod.requests);
    const int short_of = FirstExceeded(requests, claim->max_allocatable);
    if (short_of >= 0) {
      *error = "no instance type has enough " + space_.name(short_of) + " (requests " +
               space_.Format(requests) + ")";
      return false;
    }
    if (Status compatible = claim->requirements.Compatible(alternative); !compatible.ok()) {
      *error = "incompatible requirements: " + compatible.message();
      return false;
    }
    Requirements merged = claim->requirements;
    merged.Add(alternative);
    const bool narrowed = !(merged == claim->requirements);
    const Requirement* capacity_type = merged.Get(kLabelCapacityType);
    const bool on_demand = capacity_type == nullptr || capacity_type->Has("on-demand");

    std::vector<int> kept;
    bool any_compatible = false, any_fits = false, any_offering = false;
    for (int o : claim->options) {
      const InstanceOption& option = pool.options[o];
      const bool compatible = !narrowed || option.labels.Intersects(merged);
      const bool fits = FitsWith(requests, pool.daemon_overhead[o], option.allocatable);
      const bool offering = option.launchable && on_demand;
      any_compatible |= compatible;
      any_fits |= fits;
      any_offering |= offering;
      if (compatible && fits && offering) kept.push_back(o);
    }
    if (kept.empty()) {
      *error = !any_compatible ? "no instance type meets the requirements " + merged.ToString()
               : !any_fits     ? "no instance type has enough resources (requests " +
                                 space_.Format(requests) + ")"
               : !any_offering ? "no instance type has an on-demand offering (the catalog has "
                                 "on-demand prices only)"
                               : "no instance type meets the requirements, has enough resources "
                                 "and an offering at once";
      return false;
    }
    claim->options = std::move(kept);
    claim->requests = std::move(requests);
    if (narrowed) claim->requirements = std::move(merged);
    claim->pods.push_back(index);
    UpdateMaxAllocatable(claim);
    return true;
  }

  // Karpenter sorts its NodeClaims by pod count before each pod (sort.Slice, an insertion sort
  // for up to 12 NodeClaims, so claims with as many pods keep their order). Only the claim at
  // `i` changed since the last sort: it moves behind the claims now holding fewer pods.
  void Resort(size_t i) {
    const int moved = order_[i];
    const size_t pods = claims_[moved].pods.size();
    while (i + 1 < order_.size() && claims_[order_[i + 1]].pods.size() < pods) {
      order_[i] = order_[i + 1];
      ++i;
    }
    while (i > 0 && claims_[order_[i - 1]].pods.size() > pods) {
      order_[i] = order_[i - 1];
      --i;
    }
    order_[i] = moved;
  }

  void UpdateMaxAllocatable(Claim* claim) const {
    const NodePoolTemplate& pool = pools_[claim->pool];
    claim->max_allocatable.assign(space_.size(), 0);
    for (int o : claim->options) {
      const Amounts& allocatable = pool.options[o].allocatable;
      for (size_t i = 0; i < allocatable.size() && i < claim->max_allocatable.size(); ++i) {
        claim->max_allocatable[i] =
            std::max(claim->max_allocatable[i],
                     allocatable[i] - At(pool.daemon_overhead[o], static_cast<int>(i)));
      }
    }
  }

  // True when `requests` plus `overhead` fit `allocatable`.
  static bool FitsWith(const Amounts& requests, const Amounts& overhead,
                       const Amounts& allocatable) {
    for (size_t i = 0; i < std::max(requests.size(), overhead.size()); ++i) {
      int64_t total = 0;
      const int index = static_cast<int>(i);
      if (__builtin_add_overflow(At(requests, index), At(overhead, index), &total) ||
          total > At(allocatable, index)) {
        return false;
      }
    }
    return true;
  }

  const std::vector<PodDemand>& pods_;
  const std::vector<NodePoolTemplate>& pools_;
  const ResourceSpace& space_;
  std::vector<Amounts> remaining_;
  std::vector<Claim> claims_;
  std::vector<int> order_;  // claim indices in the order Karpenter tries them: fewest pods first
};

}  // namespace

Provisioning Provision(const std::vector<PodDemand>& pods,
                       const std::vector<NodePoolTemplate>& pools, const ResourceSpace& space) {
  return Scheduler(pods, pools, space).Run();
}

}  // namespace gpuslice::plan
