// Readers for the pod-level parts of manifests (pod specs, tolerations, taints, label
// requirements), shared by every workload kind and by the Karpenter objects.
#pragma once

#include <vector>

#include "core/status.h"
#include "kube/internal/yaml_field.h"
#include "kube/objects.h"

namespace gpuslice::kube::internal {

// Reads a PodSpec (`spec` of a Pod, `spec.template.spec` of a workload), validating it as the
// API server would: container names, non-negative quantities, requests <= limits, extended
// resources and hugepages only as whole equal request/limit pairs.
Result<PodSpec> ReadPodSpec(const Field& spec);

Result<Taint> ReadTaint(const Field& field);
Result<std::vector<Taint>> ReadTaints(const Field& list);

// Which operators a requirement list accepts: pods' node selector terms and NodePools take
// In, NotIn, Exists, DoesNotExist, Gt, Lt; NodeOverlays also Gte and Lte.
enum class OperatorSet { kKubernetes, kWithGteLte };

Result<std::vector<NodeSelectorRequirement>> ReadRequirements(const Field& list,
                                                              OperatorSet operators);

}  // namespace gpuslice::kube::internal
