// Seeded random mutations of valid manifests: the reader must return OK or a clear error, never
// crash, hang or trip a sanitizer.
#include <gtest/gtest.h>

#include <string>

#include "fakes/text_mutator.h"
#include "kube/manifest.h"
#include "kube/scheduling.h"

namespace gpuslice::kube {
namespace {

constexpr const char* kCorpus[] = {
    R"(apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: ml}
spec:
  replicas: 3
  template:
    metadata: {annotations: {gpuslice.io/gpu-memory: 6Gi}}
    spec:
      nodeSelector: {karpenter.k8s.aws/instance-family: g5}
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions: [{key: a, operator: Gt, values: ["1"]}]
      initContainers:
      - {name: i, restartPolicy: Always, resources: {requests: {cpu: 100m}}}
      containers:
      - name: app
        resources:
          requests: {cpu: "1", memory: 2Gi}
          limits: {nvidia.com/gpu: 1}
      tolerations:
      - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}
)",
    R"(apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: gpu}
spec:
  weight: 5
  limits: {cpu: 100, nvidia.com/gpu: 8}
  template:
    metadata: {labels: {team: ml}}
    spec:
      requirements:
      - {key: karpenter.k8s.aws/instance-family, operator: In, values: [p3, g5]}
      taints: [{key: nvidia.com/gpu, value: "true", effect: NoSchedule}]
---
apiVersion: karpenter.sh/v1alpha1
kind: NodeOverlay
metadata: {name: o}
spec:
  weight: 10
  requirements: [{key: node.kubernetes.io/instance-type, operator: In, values: [p3.2xlarge]}]
  priceAdjustment: "-5%"
  capacity: {gpuslice.io/slice: "4"}
)",
    R"(apiVersion: batch/v1
kind: CronJob
metadata: {name: c}
spec:
  jobTemplate:
    spec:
      parallelism: 2
      completions: 1
      template:
        spec:
          containers: [{name: x, resources: {limits: {nvidia.com/gpu: 2}}}]
---
apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: DaemonSet
  metadata: {name: d}
  spec: {template: {spec: {containers: [{name: d}]}}}
)",
};

TEST(ManifestFuzz, MutatedManifestsNeverCrash) {
  testing::TextMutator mutator(20260720, "{}[]:-,'\"&*!|>#%@`\n \t0123456789.eEmMiGk/");
  int accepted = 0;
  for (int i = 0; i < 4000; ++i) {
    const std::string text = mutator.Mutate(kCorpus[i % std::size(kCorpus)]);
    Manifests manifests;
    Status status = ParseManifests(text, "fuzz.yaml", &manifests);
    if (status.ok()) {
      ++accepted;
      for (const Pod& pod : manifests.pods) (void)PodRequests(pod.spec());
    } else {
      EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.ToString();
      EXPECT_EQ(status.message().rfind("fuzz.yaml", 0), 0u) << status.message();
    }
  }
  // Mutations that leave a valid manifest are common; none at all would mean the corpus is bad.
  EXPECT_GT(accepted, 0);
}

// yaml-cpp 0.7's LoadAll loops forever on these (jbeder/yaml-cpp#1040).
TEST(ManifestFuzz, StreamsThatStallTheYamlParserAreErrors) {
  for (const char* text : {",", ",a", "apiVersion: v1\n---\n,\n"}) {
    Manifests manifests;
    Status status = ParseManifests(text, "stall.yaml", &manifests);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << text;
    EXPECT_EQ(status.message().rfind("stall.yaml:", 0), 0u) << status.message();
    EXPECT_NE(status.message().find("unexpected token where a document starts"), std::string::npos);
  }
}

TEST(ManifestFuzz, DeepNestingIsAnErrorNotAStackOverflow) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  Manifests manifests;
  Status status = ParseManifests(deep, "deep.yaml", &manifests);
  EXPECT_FALSE(status.ok());
}

}  // namespace
}  // namespace gpuslice::kube
