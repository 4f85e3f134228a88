// Reading Kubernetes manifests: multi-document YAML (or JSON) files and directories of them,
// as `kubectl apply -f` takes them.
//
// Kinds read: Pod (v1); Deployment, ReplicaSet, StatefulSet, DaemonSet (apps/v1); Job, CronJob
// (batch/v1); NodePool (karpenter.sh/v1); NodeOverlay (karpenter.sh/v1alpha1); List (v1) of
// those. Workloads are expanded into the pods their controllers run at once: `replicas` pods
// named "<name>-0", "<name>-1", ...; a Job's min(parallelism, completions); a CronJob one Job's
// worth; suspended Jobs and CronJobs none. DaemonSets are kept apart (one pod per node).
// Other kinds, and documents that are not Kubernetes objects, are skipped with a warning.
//
// A malformed object is an error naming the file, the document, the object, the line, the field
// path and the value, e.g. "web.yaml: document 2 (Deployment default/web): line 21:
// spec.template.spec.containers[0].resources.limits[nvidia.com/gpu]: quantity \"one\" is
// invalid: it has no digits". Thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "kube/objects.h"

namespace gpuslice::kube {

// Pods a set of manifests may expand to; more is taken as a mistake (a stray replica count),
// not as a plan anyone meant to compute: planning takes time quadratic in the pods, some
// 13 s of CPU at this bound (docs/input-limits.md).
inline constexpr int64_t kMaxPods = 50'000;

// Parses every document of `text` and appends what it holds to `*out`. `file_name` only labels
// messages. On error `*out` keeps the documents read before the bad one.
Status ParseManifests(std::string_view text, std::string_view file_name, Manifests* out);

// Reads each path in order: a file, "-" for standard input, or a directory whose *.yaml, *.yml
// and *.json files are read recursively in lexical path order (io::ListInputFiles). Returns
// NotFound for a missing path and InvalidArgument for a malformed document, a duplicate key,
// an alias bomb, an empty directory, a symlink loop, a file that is not a regular file, or
// more than io::kMaxInputBytes of manifests together.
Result<Manifests> LoadManifests(const std::vector<std::string>& paths);

}  // namespace gpuslice::kube
