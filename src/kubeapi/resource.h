// Names of API resources (group, version, plural) and the REST paths the API server serves
// them under: everything the client needs to address any object, built-in or custom.
#pragma once

#include <string>
#include <string_view>

namespace gpuslice::kubeapi {

struct ResourceType {
  std::string group;     // "" for the core group ("v1" pods, nodes)
  std::string version;   // "v1"
  std::string resource;  // the plural, lower case: "resourceslices"
  bool namespaced = false;

  // "resourceslices.resource.k8s.io" or "pods", as kubectl and error messages name it.
  std::string Name() const;
};

// The types gpuslice reads and writes.
namespace types {
inline const ResourceType kNodes{"", "v1", "nodes", false};
inline const ResourceType kPods{"", "v1", "pods", true};
inline const ResourceType kNamespaces{"", "v1", "namespaces", false};
inline const ResourceType kServiceAccounts{"", "v1", "serviceaccounts", true};
inline const ResourceType kConfigMaps{"", "v1", "configmaps", true};
inline const ResourceType kEvents{"", "v1", "events", true};
inline const ResourceType kResourceSlices{"resource.k8s.io", "v1", "resourceslices", false};
inline const ResourceType kResourceClaims{"resource.k8s.io", "v1", "resourceclaims", true};
inline const ResourceType kResourceClaimTemplates{"resource.k8s.io", "v1",
                                                  "resourceclaimtemplates", true};
inline const ResourceType kDeviceClasses{"resource.k8s.io", "v1", "deviceclasses", false};
inline const ResourceType kSelfSubjectReviews{"authentication.k8s.io", "v1",
                                              "selfsubjectreviews", false};
}  // namespace types

// Percent-encodes everything but RFC 3986's unreserved characters.
std::string PercentEncode(std::string_view text);

// "/api/v1/namespaces/ns/pods" or "/apis/resource.k8s.io/v1/resourceslices". `ns` is
// ignored for cluster-scoped types; empty for a namespaced type means all namespaces.
std::string CollectionPath(const ResourceType& type, std::string_view ns);

// The collection path plus "/<name>" and, when given, "/<subresource>" ("status").
std::string ObjectPath(const ResourceType& type, std::string_view ns, std::string_view name,
                       std::string_view subresource = "");

}  // namespace gpuslice::kubeapi
