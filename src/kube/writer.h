// Writing Karpenter objects back as YAML manifests, for `gpuslice render`.
#pragma once

#include <string>

#include "core/status.h"
#include "kube/objects.h"

namespace gpuslice::kube {

// Returns the NodePool's document (every field it was read with, nodeClassRef and disruption
// included) with `taint` in spec.template.spec.taints, unless a taint with the same key and
// effect is already there. Returns InvalidArgument if the document cannot be re-read.
Result<std::string> NodePoolYamlWithTaint(const NodePool& pool, const Taint& taint);

// Returns the NodeOverlay as a karpenter.sh/v1alpha1 document. Fields left unset are omitted.
std::string NodeOverlayYaml(const NodeOverlay& overlay);

}  // namespace gpuslice::kube
