// Kubernetes scheduling rules on the objects of kube/objects.h: how taints are tolerated and
// what a pod requests, computed as kube-scheduler and Karpenter compute them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "kube/objects.h"

namespace gpuslice::kube {

inline constexpr std::string_view kResourceCpu = "cpu";
inline constexpr std::string_view kResourceMemory = "memory";
inline constexpr std::string_view kResourcePods = "pods";
inline constexpr std::string_view kResourceNvidiaGpu = "nvidia.com/gpu";

// Resource name -> amount in the scheduler's integer unit: millicores for "cpu", whole units
// (bytes, devices, pods) for everything else.
using ResourceAmounts = std::map<std::string, int64_t, std::less<>>;

// Returns `quantity` of resource `name` in the scheduler's unit (MilliValue for cpu, Value
// otherwise, both rounded up like Kubernetes), or InvalidArgument when it does not fit int64.
Result<int64_t> ScaledAmount(std::string_view name, const core::Quantity& quantity);

// Formats an amount of resource `name` for people: "1500m" / "2" for cpu, "10Gi" for memory
// and hugepages, plain integers otherwise.
std::string FormatAmount(std::string_view name, int64_t amount);

// True when `toleration` tolerates `taint` (Kubernetes' ToleratesTaint).
bool Tolerates(const Toleration& toleration, const Taint& taint);

// Returns the first taint of `taints` that no toleration tolerates, or nullptr. With
// `strict` false, PreferNoSchedule taints are soft (never block), as kube-scheduler treats
// them; Karpenter is strict first and only relaxes them when nothing else fits.
const Taint* FirstUntoleratedTaint(const std::vector<Toleration>& tolerations,
                                   const std::vector<Taint>& taints, bool strict);

// The pod's request per resource as kube-scheduler computes it: the sum over app containers
// and sidecars, or the largest init container step (an init container runs next to the sidecars
// started before it) if that is larger, plus the pod overhead. Containers' requests are already
// defaulted from limits. Resources requested as zero are omitted. Returns InvalidArgument when a
// sum overflows int64.
Result<ResourceAmounts> PodRequests(const PodSpec& spec);

// "key=value:NoSchedule" / "key:NoSchedule", as kubectl prints taints.
std::string TaintToString(const Taint& taint);

}  // namespace gpuslice::kube
