#include "random_cases.h"

#include <algorithm>
#include <random>

namespace gpuslice::plan::testing {
namespace {

// GPU families of the built-in catalog with on-demand prices, and their GPU models.
struct Family {
  const char* name;
  const char* gpu;
};
constexpr Family kFamilies[] = {
    {"g4dn", "t4"},         {"g5", "a10g"},
    {"g6", "l4"},           {"g6e", "l40s"},
    {"g5g", "t4g"},         {"p3", "v100"},
    {"g7", "rtx-pro-4500"}, {"gr6", "l4"},
    {"p5", "h100"},         {"g7e", "rtx-pro-server-6000"},
};
constexpr const char* kPoolNames[] = {"gpu", "alpha", "zeta", "infer", "batch"};

// Draws from the generator with plain modulo, so a seed means the same case with every
// standard library.
class Dice {
 public:
  explicit Dice(uint64_t seed) : rng_(seed) {}
  size_t Below(size_t n) { return static_cast<size_t>(rng_() % n); }
  bool Chance(int percent) { return static_cast<int>(Below(100)) < percent; }
  template <typename T, size_t N>
  const T& Pick(const T (&items)[N]) {
    return items[Below(N)];
  }
  template <typename T>
  const T& Pick(const std::vector<T>& items) {
    return items[Below(items.size())];
  }

 private:
  std::mt19937_64 rng_;
};

std::string List(const std::vector<std::string>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) out += (i ? ", " : "") + values[i];
  return out + "]";
}

struct Pool {
  std::string name;
  std::vector<std::string> families;
  bool gpu_taint = false;
  bool dedicated = false;
  bool team_label = false;
};

std::string Requirement(const std::string& key, const std::string& op,
                        const std::vector<std::string>& values) {
  std::string out = "{key: " + key + ", operator: " + op;
  if (!values.empty()) out += ", values: " + List(values);
  return out + "}";
}

Pool MakePool(Dice& dice, const std::string& name, std::string* yaml) {
  Pool pool;
  pool.name = name;
  const size_t count = 1 + dice.Below(3);
  while (pool.families.size() < count) {
    const std::string family = dice.Pick(kFamilies).name;
    if (std::find(pool.families.begin(), pool.families.end(), family) == pool.families.end()) {
      pool.families.push_back(family);
    }
  }
  std::vector<std::string> requirements = {
      Requirement("karpenter.k8s.aws/instance-family", "In", pool.families)};
  // amd64 alone would leave a Graviton-only pool (g5g) without instance types.
  const bool graviton_only = pool.families == std::vector<std::string>{"g5g"};
  if (dice.Chance(30) && !graviton_only) {
    requirements.push_back(Requirement("kubernetes.io/arch", "In", {"amd64"}));
  }
  if (dice.Chance(20)) {
    requirements.push_back(
        Requirement("karpenter.k8s.aws/instance-gpu-count", "Lt", {dice.Chance(50) ? "5" : "2"}));
  }
  if (dice.Chance(15)) {
    requirements.push_back(Requirement("karpenter.k8s.aws/instance-size", "NotIn", {"metal"}));
  }
  if (dice.Chance(15)) {
    requirements.push_back(Requirement("karpenter.k8s.aws/instance-cpu", "Gte", {"8"}));
  }
  if (dice.Chance(10)) {
    requirements.push_back(Requirement("karpenter.sh/capacity-type", "In", {"on-demand"}));
  }
  std::vector<std::string> taints;
  pool.gpu_taint = dice.Chance(85);
  if (pool.gpu_taint)
    taints.push_back("{key: nvidia.com/gpu, value: \"true\", effect: NoSchedule}");
  pool.dedicated = dice.Chance(20);
  if (pool.dedicated) taints.push_back("{key: dedicated, value: " + name + ", effect: NoSchedule}");
  if (dice.Chance(15)) taints.push_back("{key: spare, value: \"yes\", effect: PreferNoSchedule}");
  pool.team_label = dice.Chance(30);

  *yaml += "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: " + name + "}\nspec:\n";
  if (dice.Chance(50)) *yaml += "  weight: " + std::to_string(dice.Chance(60) ? 10 : 50) + "\n";
  if (dice.Chance(30)) {
    switch (dice.Below(3)) {
      case 0:
        *yaml += "  limits: {nvidia.com/gpu: " + std::to_string(2 + dice.Below(15)) + "}\n";
        break;
      case 1:
        *yaml += "  limits: {cpu: \"" + std::to_string(16 + 8 * dice.Below(24)) + "\"}\n";
        break;
      default:
        *yaml += "  limits: {memory: " + std::to_string(64 * (1 + dice.Below(16))) + "Gi}\n";
        break;
    }
  }
  *yaml += "  template:\n";
  if (pool.team_label) *yaml += "    metadata: {labels: {team: " + name + "}}\n";
  *yaml +=
      "    spec:\n"
      "      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}\n"
      "      requirements:\n";
  for (const std::string& r : requirements) *yaml += "      - " + r + "\n";
  if (!taints.empty()) *yaml += "      taints: " + List(taints) + "\n";
  *yaml += "---\n";
  return pool;
}

std::string AffinityTerm(Dice& dice, const std::vector<Pool>& pools) {
  const Pool& pool = dice.Pick(pools);
  switch (dice.Below(5)) {
    case 0:
      return Requirement("karpenter.k8s.aws/instance-family", "In", {dice.Pick(pool.families)});
    case 1:
      return Requirement("karpenter.k8s.aws/instance-gpu-name", "In",
                         {dice.Pick(kFamilies).gpu, dice.Pick(kFamilies).gpu});
    case 2:
      return Requirement("karpenter.k8s.aws/instance-gpu-count", "Gt", {"1"});
    case 3:
      return Requirement("karpenter.k8s.aws/instance-cpu", "Lt", {dice.Chance(50) ? "32" : "17"});
    default:
      return Requirement("kubernetes.io/arch", "NotIn", {"arm64"});
  }
}

std::string PodSpec(Dice& dice, const std::vector<Pool>& pools, const std::string& indent) {
  static constexpr const char* kCpus[] = {"", "100m", "500m", "1", "2", "4", "7", "15", "30"};
  static constexpr const char* kMemories[] = {"", "512Mi", "2Gi", "8Gi", "16Gi", "30Gi", "60Gi"};
  std::string out;
  std::vector<std::string> tolerations;
  if (dice.Chance(3)) {
    tolerations.push_back("{operator: Exists}");
  } else {
    if (dice.Chance(88))
      tolerations.push_back("{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}");
    if (dice.Chance(25)) tolerations.push_back("{key: dedicated, operator: Exists}");
  }
  std::vector<std::string> selector;
  const Pool& pool = dice.Pick(pools);
  if (dice.Chance(15)) selector.push_back("karpenter.sh/nodepool: " + pool.name);
  if (dice.Chance(10)) selector.push_back("team: " + pool.name);
  if (dice.Chance(10))
    selector.push_back("karpenter.k8s.aws/instance-family: " + dice.Pick(pool.families));
  if (!selector.empty()) out += indent + "nodeSelector: {" + selector[0];
  for (size_t i = 1; i < selector.size(); ++i) out += ", " + selector[i];
  if (!selector.empty()) out += "}\n";
  if (dice.Chance(15)) {
    out += indent + "affinity:\n" + indent + "  nodeAffinity:\n" + indent +
           "    requiredDuringSchedulingIgnoredDuringExecution:\n" + indent +
           "      nodeSelectorTerms:\n";
    const size_t terms = 1 + dice.Below(2);
    for (size_t t = 0; t < terms; ++t) {
      out += indent + "      - matchExpressions: [" + AffinityTerm(dice, pools) + "]\n";
    }
  }
  if (dice.Chance(12)) {
    if (out.find(indent + "affinity:\n") == std::string::npos) {
      out += indent + "affinity:\n" + indent + "  nodeAffinity:\n";
    }
    out += indent + "    preferredDuringSchedulingIgnoredDuringExecution:\n";
    const size_t terms = 1 + dice.Below(2);
    for (size_t t = 0; t < terms; ++t) {
      out += indent + "    - {weight: " + std::to_string(1 + dice.Below(100)) +
             ", preference: {matchExpressions: [" + AffinityTerm(dice, pools) + "]}}\n";
    }
  }
  if (!tolerations.empty()) out += indent + "tolerations: " + List(tolerations) + "\n";
  const std::string cpu = dice.Pick(kCpus);
  const std::string memory = dice.Pick(kMemories);
  const int roll = static_cast<int>(dice.Below(100));
  const int gpus = roll < 5 ? 0 : roll < 85 ? 1 : roll < 95 ? 2 : 4;
  out += indent + "containers:\n" + indent + "- name: app\n" + indent + "  resources:\n";
  std::string requests;
  if (!cpu.empty()) requests += "cpu: \"" + cpu + "\"";
  if (!memory.empty())
    requests += (requests.empty() ? "" : ", ") + std::string("memory: ") + memory;
  if (!requests.empty()) out += indent + "    requests: {" + requests + "}\n";
  if (gpus > 0) out += indent + "    limits: {nvidia.com/gpu: " + std::to_string(gpus) + "}\n";
  return out;
}

std::string Annotations(Dice& dice) {
  if (!dice.Chance(40)) return "";
  return "{annotations: {gpuslice.io/gpu-memory: " + std::to_string(1 + dice.Below(24)) + "Gi}}";
}

}  // namespace

RandomCase GenerateRandomCase(uint64_t seed, int scale) {
  Dice dice(seed);
  RandomCase out;
  std::vector<Pool> pools;
  const size_t pool_count = 1 + dice.Below(3);
  std::vector<std::string> names(std::begin(kPoolNames), std::end(kPoolNames));
  for (size_t p = 0; p < pool_count; ++p) {
    const size_t pick = dice.Below(names.size());
    pools.push_back(MakePool(dice, names[pick], &out.node_pools_yaml));
    names.erase(names.begin() + static_cast<long>(pick));
  }

  const size_t deployments = 2 + dice.Below(5);
  for (size_t d = 0; d < deployments; ++d) {
    const std::string annotations = Annotations(dice);
    out.workloads_yaml +=
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app-" + std::to_string(d) +
        "}\nspec:\n  replicas: " + std::to_string(scale * (1 + static_cast<int>(dice.Below(8)))) +
                          "\n  template:\n";
    if (!annotations.empty()) out.workloads_yaml += "    metadata: " + annotations + "\n";
    out.workloads_yaml += "    spec:\n" + PodSpec(dice, pools, "      ") + "---\n";
  }
  const size_t bare = dice.Below(3);
  for (size_t b = 0; b < bare; ++b) {
    const std::string annotations = Annotations(dice);
    out.workloads_yaml +=
        "apiVersion: v1\nkind: Pod\nmetadata: {name: single-" + std::to_string(b) +
        (annotations.empty() ? "" : ", " + annotations.substr(1, annotations.size() - 2)) +
        "}\nspec:\n" + PodSpec(dice, pools, "  ") + "---\n";
  }
  const size_t daemon_sets = dice.Below(3);
  for (size_t s = 0; s < daemon_sets; ++s) {
    out.workloads_yaml += "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent-" +
                          std::to_string(s) +
                          ", namespace: kube-system}\nspec:\n  template:\n    spec:\n";
    const int roll = static_cast<int>(dice.Below(100));
    if (roll < 40) {
      out.workloads_yaml += "      tolerations: [{operator: Exists}]\n";
    } else if (roll < 70) {
      out.workloads_yaml += "      tolerations: [{key: nvidia.com/gpu, operator: Exists}]\n";
    }
    if (dice.Chance(20)) {
      out.workloads_yaml += "      nodeSelector: {karpenter.k8s.aws/instance-gpu-name: " +
                            std::string(dice.Pick(kFamilies).gpu) + "}\n";
    }
    out.workloads_yaml +=
        "      containers:\n      - name: agent\n        resources:\n"
        "          requests: {cpu: " +
        std::to_string(100 * (1 + dice.Below(10))) +
        "m, memory: " + std::to_string(128 * (1 + dice.Below(16))) + "Mi}\n---\n";
  }

  if (dice.Chance(15)) {
    const Pool& pool = dice.Pick(pools);
    out.workloads_yaml +=
        "apiVersion: karpenter.sh/v1alpha1\nkind: NodeOverlay\nmetadata: {name: "
        "discount}\nspec:\n";
    if (dice.Chance(50)) out.workloads_yaml += "  weight: 10\n";
    out.workloads_yaml +=
        "  requirements: [" +
        Requirement("karpenter.k8s.aws/instance-family", "In", {dice.Pick(pool.families)}) + "]\n";
    out.workloads_yaml += dice.Chance(70) ? "  priceAdjustment: \"-" +
                                                std::to_string(10 * (1 + dice.Below(7))) + "%\"\n"
                                          : "  price: \"0.5\"\n";
    out.workloads_yaml += "---\n";
  }

  switch (dice.Below(6)) {
    case 0:
      out.render_flags = {"--slices", "2"};
      break;
    case 1:
      out.render_flags = {"--slices", "4"};
      break;
    case 2:
      out.render_flags = {"--slices", "7"};
      break;
    case 3:
      out.render_flags = {"--slices", "t4=2,a10g=4,*=3"};
      break;
    case 4:
      out.render_flags = {"--slice-memory", "4Gi"};
      break;
    default:
      out.render_flags = {"--slice-memory", "6Gi"};
      break;
  }
  return out;
}

}  // namespace gpuslice::plan::testing
