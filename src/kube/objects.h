// The Kubernetes objects gpuslice reads from manifests, reduced to the fields that scheduling,
// provisioning and the kubelet act on: pods (bare or expanded from workloads), DaemonSets,
// Karpenter NodePools (karpenter.sh/v1) and NodeOverlays (karpenter.sh/v1alpha1), and the
// ResourceClaims and ResourceClaimTemplates (resource.k8s.io/v1) pods name.
//
// Quantities stay exact (core::Quantity); kube/scheduling.h turns them into the integer units
// the scheduler compares. Plain structs: copyable, thread-compatible.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/quantity.h"

namespace gpuslice::kube {

// Where an object was read from, for messages: "deploy.yaml: document 2 (Deployment
// default/web)". `document` counts from 1; `line` is 1-based, 0 when unknown.
struct Source {
  std::string file;
  int document = 0;
  int line = 0;
  std::string kind;
  std::string name;  // "<namespace>/<name>" for namespaced objects

  std::string ToString() const;
};

// Resource name -> exact quantity, ordered by name.
using ResourceList = std::map<std::string, core::Quantity>;
using Labels = std::map<std::string, std::string>;

struct Container {
  std::string name;
  // After the API server's defaulting: a resource with a limit and no request gets a request
  // equal to the limit, as the scheduler sees it.
  ResourceList requests;
  ResourceList limits;
  // An init container with `restartPolicy: Always` (a sidecar): it keeps running next to the
  // app containers, so its requests add to theirs.
  bool sidecar = false;
  // resources.claims: the pod's resource claims (PodSpec::resource_claims) this container uses.
  std::vector<std::string> claims;
};

enum class TaintEffect { kNoSchedule, kPreferNoSchedule, kNoExecute };

struct Taint {
  std::string key;
  std::string value;
  TaintEffect effect = TaintEffect::kNoSchedule;
};

struct Toleration {
  enum class Operator { kEqual, kExists };
  std::string key;  // empty with kExists: tolerates every taint
  Operator op = Operator::kEqual;
  std::string value;
  std::optional<TaintEffect> effect;  // unset: every effect
};

enum class SelectorOperator { kIn, kNotIn, kExists, kDoesNotExist, kGt, kLt, kGte, kLte };

// One label requirement, as in a node selector term or a NodePool/NodeOverlay requirement.
// Values of Gt/Lt/Gte/Lte hold exactly one integer (validated when read).
struct NodeSelectorRequirement {
  std::string key;
  SelectorOperator op = SelectorOperator::kIn;
  std::vector<std::string> values;
  std::optional<int> min_values;  // Karpenter's minValues; not used by the scheduler
};

// All requirements of a term must hold (AND).
using NodeSelectorTerm = std::vector<NodeSelectorRequirement>;

// One entry of a pod's spec.resourceClaims: a claim made per pod from a template, or a claim
// shared by name. Exactly one of the two names is set.
struct PodResourceClaim {
  std::string name;
  std::string template_name;  // resourceClaimTemplateName
  std::string claim_name;     // resourceClaimName
};

// A preferredDuringSchedulingIgnoredDuringExecution term: kube-scheduler scores it; Karpenter
// treats the heaviest as required until the pod fits nowhere with it.
struct PreferredSchedulingTerm {
  int weight = 1;  // 1-100
  NodeSelectorTerm preference;
};

// What scheduling and the kubelet use of a pod spec.
struct PodSpec {
  std::vector<PodResourceClaim> resource_claims;
  std::vector<Container> init_containers;
  std::vector<Container> containers;
  Labels node_selector;
  // requiredDuringSchedulingIgnoredDuringExecution terms; a node must match one of them (OR).
  std::vector<NodeSelectorTerm> required_node_affinity;
  std::vector<PreferredSchedulingTerm> preferred_node_affinity;  // in the order written
  std::vector<Toleration> tolerations;
  ResourceList overhead;  // spec.overhead (RuntimeClass pod overhead)
  // Constraints gpuslice does not model (pod (anti-)affinity, topology spread), named for
  // warnings, e.g. "spec.topologySpreadConstraints".
  std::vector<std::string> unmodelled;
};

// A pod's labels, annotations and spec: a bare Pod's own, or a workload's pod template.
struct PodTemplate {
  Labels labels;
  Labels annotations;
  PodSpec spec;
};

// One pod: a bare Pod, or one replica of a workload. Replicas share their workload's template.
struct Pod {
  std::string namespace_name;  // "default" when the manifest names none
  std::string name;            // workload replicas: "<workload>-<index>", index from 0
  std::string owner_kind;      // "Deployment", "StatefulSet", ...; empty for a bare Pod
  std::string owner_name;
  Source source;
  std::shared_ptr<const PodTemplate> pod_template;  // never null

  const PodSpec& spec() const { return pod_template->spec; }
  const Labels& labels() const { return pod_template->labels; }
  const Labels& annotations() const { return pod_template->annotations; }
};

// A DaemonSet: one pod of `spec` on every node it tolerates and selects.
struct DaemonSet {
  std::string namespace_name;
  std::string name;
  PodSpec spec;
  Source source;
};

// karpenter.sh/v1 NodePool.
struct NodePool {
  std::string name;
  Labels template_labels;  // spec.template.metadata.labels, become node labels
  std::vector<NodeSelectorRequirement> requirements;
  std::vector<Taint> taints;
  std::vector<Taint> startup_taints;  // pods need not tolerate these
  ResourceList limits;                // caps on the summed capacity of the pool's nodes
  int weight = 0;                     // higher is tried first; unset is 0
  Source source;
  std::string document_yaml;  // the whole document, so it can be written back with changes
};

// karpenter.sh/v1alpha1 NodeOverlay. `price` and `price_adjustment` are validated against the
// CRD's patterns when read and never both set.
struct NodeOverlay {
  std::string name;
  Labels labels;  // metadata.labels
  std::vector<NodeSelectorRequirement> requirements;
  std::optional<std::string> price;             // "5.00": replaces the price
  std::optional<std::string> price_adjustment;  // "+10%", "-0.5": changes the price
  ResourceList capacity;                        // extended resources set on matching instance types
  int weight = 0;                               // higher takes precedence; unset is 0
  Source source;
};

// One request of a claim for devices: `count` devices of `device_class`, each with the
// consumable capacity `capacity` (capacity.requests). A request that lists alternatives
// (firstAvailable) is read as its first one, which the scheduler tries first.
struct DeviceRequest {
  std::string name;
  std::string device_class;
  int64_t count = 1;
  ResourceList capacity;
};

// A ResourceClaim or ResourceClaimTemplate (resource.k8s.io/v1): the requests of its claim.
struct ClaimSpec {
  std::string namespace_name;
  std::string name;
  bool is_template = false;
  std::vector<DeviceRequest> requests;
  Source source;
};

// Everything read from a set of manifests, in input order.
struct Manifests {
  std::vector<ClaimSpec> claims;  // ResourceClaims and ResourceClaimTemplates
  std::vector<Pod> pods;
  std::vector<DaemonSet> daemon_sets;
  std::vector<NodePool> node_pools;
  std::vector<NodeOverlay> node_overlays;
  // One line per document that was skipped (unknown kind, not a Kubernetes object) or
  // constraint that is not modelled, e.g. "svc.yaml: document 2 (Service default/web):
  // kind Service is not read; skipped".
  std::vector<std::string> warnings;
};

std::string_view TaintEffectName(TaintEffect effect);
std::string_view SelectorOperatorName(SelectorOperator op);

}  // namespace gpuslice::kube
