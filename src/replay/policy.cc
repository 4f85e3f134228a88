#include "replay/policy.h"

#include "replay/internal/policies.h"
#include "replay/internal/random.h"

namespace gpuslice::replay {

const std::vector<PolicyInfo>& KnownPolicies() {
  static const std::vector<PolicyInfo> kPolicies = {
      {"random", "Random", "a uniformly random node that fits", false},
      {"dot-product", "DotProd",
       "Tetris alignment: the smallest dot product of free (CPU, GPU) and the request", false},
      {"clustering", "Clustering", "Gandiva: keep pods of one GPU kind together", false},
      {"packing", "Packing", "fill used GPUs, then used nodes, then idle nodes", false},
      {"best-fit", "BestFit", "the node left with the least free CPU and GPU", false},
      {"fgd", "FGD", "fragmentation gradient descent (Weng et al., ATC '23)", true},
      {"fgd-host", "FGD-Host",
       "gpuslice: FGD over every observed pod shape, also counting GPUs stranded by their "
       "node's free CPU and memory",
       true},
  };
  return kPolicies;
}

const PolicyInfo* FindPolicy(std::string_view name) {
  for (const PolicyInfo& info : KnownPolicies()) {
    if (info.name == name) return &info;
  }
  return nullptr;
}

Result<std::unique_ptr<PlacementPolicy>> MakePolicy(std::string_view name,
                                                    const PolicyContext& context) {
  const PolicyInfo* info = FindPolicy(name);
  if (info == nullptr) {
    std::string known;
    for (const PolicyInfo& policy : KnownPolicies()) {
      known += (known.empty() ? "" : ", ") + std::string(policy.name);
    }
    return Status::InvalidArgument("unknown policy '" + std::string(name) + "' (known: " + known +
                                   ")");
  }
  if (info->needs_target_mix && context.target_mix == nullptr) {
    return Status::InvalidArgument("policy '" + std::string(name) + "' needs the target pod mix");
  }
  if (name == "random") return internal::MakeRandomPolicy(context.seed);
  if (name == "dot-product") return internal::MakeDotProductPolicy();
  if (name == "clustering") return internal::MakeGpuClusteringPolicy();
  if (name == "packing") return internal::MakeGpuPackingPolicy();
  if (name == "best-fit") return internal::MakeBestFitPolicy();
  if (name == "fgd") return internal::MakeFgdPolicy(*context.target_mix);
  return internal::MakeFgdHostPolicy(*context.target_mix);
}

}  // namespace gpuslice::replay
