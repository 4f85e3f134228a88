// Readers for whole Kubernetes objects: metadata, workloads (expanded into pods) and the
// Karpenter kinds. Each returns a Status naming the field path and line on bad input.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"
#include "kube/internal/yaml_field.h"
#include "kube/manifest.h"
#include "kube/objects.h"

namespace gpuslice::kube::internal {

struct Metadata {
  std::string name;
  std::string namespace_name;  // "default" for namespaced objects without one
  Labels labels;
  Labels annotations;
};

Result<Metadata> ReadMetadata(const Field& metadata, bool namespaced);

// Reads a Pod, Deployment, ReplicaSet, StatefulSet, Job, CronJob or DaemonSet document and
// appends its pods (or the DaemonSet) to `*out`. `source` names the document.
// REQUIRES: IsWorkloadKind(kind).
Status ReadWorkload(const Field& root, std::string_view kind, const Source& source, Manifests* out);
bool IsWorkloadKind(std::string_view kind);

Result<NodePool> ReadNodePool(const Field& root);
// A ResourceClaim (`is_template` false) or ResourceClaimTemplate document.
Result<ClaimSpec> ReadClaim(const Field& root, bool is_template);
Result<NodeOverlay> ReadNodeOverlay(const Field& root);

}  // namespace gpuslice::kube::internal
