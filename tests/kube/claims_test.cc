#include "kube/claims.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "kube/manifest.h"

namespace gpuslice::kube {
namespace {

using ::testing::HasSubstr;

Result<Manifests> Parse(std::string_view text) {
  Manifests manifests;
  Status status = ParseManifests(text, "claims.yaml", &manifests);
  if (!status.ok()) return status;
  return manifests;
}

TEST(Claims, TheShippedExampleAsksEachReplicaForSixGibibytesAndAQuarter) {
  std::ifstream file(std::string(GPUSLICE_SOURCE_DIR) + "/examples/dra/deployment.yaml");
  std::stringstream text;
  text << file.rdbuf();
  Result<Manifests> manifests = Parse(text.str());
  ASSERT_TRUE(manifests.ok()) << manifests.status().ToString();
  ASSERT_EQ(manifests->claims.size(), 1u);
  EXPECT_TRUE(manifests->claims[0].is_template);
  ASSERT_EQ(manifests->pods.size(), 3u);
  for (const Pod& pod : manifests->pods) {
    ASSERT_EQ(pod.spec().resource_claims.size(), 1u);
    Result<std::vector<ClaimedRequest>> requests =
        ClaimedRequests(pod, *manifests, "gpu.gpuslice.io");
    ASSERT_TRUE(requests.ok()) << requests.status().ToString();
    ASSERT_EQ(requests->size(), 1u);
    const ClaimedRequest& request = (*requests)[0];
    EXPECT_EQ(request.claim, "default/inference-gpu");
    EXPECT_FALSE(request.shared);
    EXPECT_EQ(request.request->count, 1);
    EXPECT_EQ(*request.request->capacity.at("memory").Value(), int64_t{6} << 30);
    EXPECT_EQ(*request.request->capacity.at("compute").Value(), 25);
  }
  EXPECT_TRUE(ClaimedRequests(manifests->pods[0], *manifests, "other.example.com")->empty());
}

TEST(Claims, SharedClaimsAlternativesAndMissingOnes) {
  Result<Manifests> manifests = Parse(R"(
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {name: shared, namespace: ml}
spec:
  devices:
    requests:
    - name: gpu
      firstAvailable:
      - {name: big, deviceClassName: gpu.gpuslice.io, capacity: {requests: {memory: 40Gi}}}
      - {name: small, deviceClassName: gpu.gpuslice.io, capacity: {requests: {memory: 8Gi}}}
    - name: nic
      exactly: {deviceClassName: nic.example.com, count: 2}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: ml}
spec:
  resourceClaims: [{name: gpu, resourceClaimName: shared}]
  containers: [{name: c, image: x, resources: {claims: [{name: gpu}]}}]
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: other}
spec:
  resourceClaims: [{name: gpu, resourceClaimName: shared}]
  containers: [{name: c, image: x}]
)");
  ASSERT_TRUE(manifests.ok()) << manifests.status().ToString();
  Result<std::vector<ClaimedRequest>> a = ClaimedRequests(manifests->pods[0], *manifests,
                                                          "gpu.gpuslice.io");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_EQ(a->size(), 1u);
  EXPECT_TRUE((*a)[0].shared);
  // The scheduler tries the first alternative first.
  EXPECT_EQ(*(*a)[0].request->capacity.at("memory").Value(), int64_t{40} << 30);
  EXPECT_EQ(ClaimedRequests(manifests->pods[0], *manifests, "nic.example.com")->at(0).request->count, 2);
  Result<std::vector<ClaimedRequest>> b = ClaimedRequests(manifests->pods[1], *manifests,
                                                          "gpu.gpuslice.io");
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(b.status().message(), HasSubstr("ResourceClaim other/shared"));
}

TEST(Claims, MalformedClaimsNameTheField) {
  const auto error = [](std::string_view text) {
    Result<Manifests> manifests = Parse(text);
    EXPECT_FALSE(manifests.ok());
    return manifests.ok() ? std::string() : manifests.status().message();
  };
  EXPECT_THAT(error("apiVersion: resource.k8s.io/v1\nkind: ResourceClaimTemplate\n"
                    "metadata: {name: t}\nspec: {spec: {devices: {requests: [{name: g}]}}}\n"),
              HasSubstr("give exactly one of exactly and firstAvailable"));
  EXPECT_THAT(error("apiVersion: resource.k8s.io/v1\nkind: ResourceClaim\nmetadata: {name: c}\n"
                    "spec: {devices: {requests: [{name: g, exactly: {deviceClassName: x, "
                    "capacity: {requests: {memory: lots}}}}]}}\n"),
              HasSubstr("memory"));
  EXPECT_THAT(error("apiVersion: resource.k8s.io/v1beta1\nkind: ResourceClaim\n"
                    "metadata: {name: c}\nspec: {}\n"),
              HasSubstr("use resource.k8s.io/v1"));
  EXPECT_THAT(error("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n"
                    "  resourceClaims: [{name: gpu}]\n  containers: [{name: c, image: x}]\n"),
              HasSubstr("give exactly one of resourceClaimTemplateName and resourceClaimName"));
}

}  // namespace
}  // namespace gpuslice::kube

namespace gpuslice::kube {
namespace {

TEST(Claims, ContainersNameTheClaimsTheyUse) {
  Result<Manifests> manifests = Parse(
      "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n"
      "  resourceClaims: [{name: gpu, resourceClaimTemplateName: t}]\n"
      "  containers:\n  - {name: a, resources: {claims: [{name: gpu}]}}\n  - {name: b}\n");
  ASSERT_TRUE(manifests.ok()) << manifests.status().ToString();
  EXPECT_EQ(manifests->pods[0].spec().containers[0].claims, std::vector<std::string>{"gpu"});
  EXPECT_TRUE(manifests->pods[0].spec().containers[1].claims.empty());
  Result<Manifests> unknown = Parse(
      "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n"
      "  containers:\n  - {name: a, resources: {claims: [{name: gpu}]}}\n");
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.status().message(),
              HasSubstr("container a uses claim \"gpu\", which spec.resourceClaims does not list"));
}

}  // namespace
}  // namespace gpuslice::kube
