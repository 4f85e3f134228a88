#include "kube/manifest.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "io/file.h"
#include "kube/scheduling.h"

namespace gpuslice::kube {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Manifests Parse(std::string_view text) {
  Manifests manifests;
  Status status = ParseManifests(text, "test.yaml", &manifests);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return manifests;
}

std::string ParseError(std::string_view text) {
  Manifests manifests;
  Status status = ParseManifests(text, "test.yaml", &manifests);
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  return status.message();
}

std::vector<std::string> PodNames(const Manifests& manifests) {
  std::vector<std::string> names;
  for (const Pod& pod : manifests.pods) names.push_back(pod.namespace_name + "/" + pod.name);
  return names;
}

constexpr std::string_view kTemplate = R"(
  template:
    metadata:
      labels: {app: web}
      annotations: {gpuslice.io/gpu-memory: 6Gi}
    spec:
      containers:
      - name: app
        resources:
          limits: {nvidia.com/gpu: 1}
)";

// The seed's Pod: requests and limits of one GPU, and the toleration of the GPU pool's taint.
TEST(ParseManifests, ReadsSeedPod) {
  Manifests m = Parse(R"(
apiVersion: v1
kind: Pod
metadata:
  name: gpu-example-pod
spec:
  containers:
  - name: gpu-example-app
    resources:
      requests:
        nvidia.com/gpu: 1
      limits:
        nvidia.com/gpu: 1
    image: gpu-example-image
  tolerations:
  - key: "nvidia.com/gpu"
    operator: "Exists"
    effect: "NoSchedule"
)");
  ASSERT_EQ(m.pods.size(), 1u);
  const Pod& pod = m.pods[0];
  EXPECT_EQ(pod.namespace_name, "default");
  EXPECT_EQ(pod.name, "gpu-example-pod");
  EXPECT_TRUE(pod.owner_kind.empty());
  ASSERT_EQ(pod.spec().containers.size(), 1u);
  EXPECT_EQ(pod.spec().containers[0].name, "gpu-example-app");
  EXPECT_EQ(pod.spec().containers[0].limits.at("nvidia.com/gpu").text(), "1");
  ASSERT_EQ(pod.spec().tolerations.size(), 1u);
  EXPECT_EQ(pod.spec().tolerations[0].key, "nvidia.com/gpu");
  EXPECT_EQ(pod.spec().tolerations[0].op, Toleration::Operator::kExists);
  EXPECT_EQ(pod.spec().tolerations[0].effect, TaintEffect::kNoSchedule);
  EXPECT_EQ(pod.source.ToString(), "test.yaml: document 1 (Pod default/gpu-example-pod)");
}

TEST(ParseManifests, ExpandsReplicatedWorkloadsIntoNamedPods) {
  const std::string text = std::string(R"(
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: ml}
spec:
  replicas: 3)") + std::string(kTemplate) +
                           R"(---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 2)" + std::string(kTemplate) +
                           R"(---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: rs}
spec:)" + std::string(kTemplate);
  Manifests m = Parse(text);
  EXPECT_THAT(PodNames(m), ElementsAre("ml/web-0", "ml/web-1", "ml/web-2", "default/db-0",
                                       "default/db-1", "default/rs-0"));
  EXPECT_EQ(m.pods[0].owner_kind, "Deployment");
  EXPECT_EQ(m.pods[0].owner_name, "web");
  EXPECT_EQ(m.pods[0].labels().at("app"), "web");
  EXPECT_EQ(m.pods[0].annotations().at("gpuslice.io/gpu-memory"), "6Gi");
  EXPECT_EQ(m.pods[3].owner_kind, "StatefulSet");
  EXPECT_EQ(m.pods[3].source.document, 2);
}

TEST(ParseManifests, ZeroReplicasMeansNoPods) {
  Manifests m = Parse(std::string("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: w}\n"
                                  "spec:\n  replicas: 0") +
                      std::string(kTemplate));
  EXPECT_TRUE(m.pods.empty());
}

TEST(ParseManifests, JobsRunMinOfParallelismAndCompletions) {
  const std::string job = R"(
apiVersion: batch/v1
kind: Job
metadata: {name: train}
spec:
  parallelism: 4
  completions: 2)" + std::string(kTemplate);
  EXPECT_THAT(PodNames(Parse(job)), ElementsAre("default/train-0", "default/train-1"));
  const std::string parallel = R"(
apiVersion: batch/v1
kind: Job
metadata: {name: p}
spec:
  parallelism: 3)" + std::string(kTemplate);
  EXPECT_EQ(Parse(parallel).pods.size(), 3u);
  const std::string suspended = R"(
apiVersion: batch/v1
kind: Job
metadata: {name: s}
spec:
  suspend: true)" + std::string(kTemplate);
  EXPECT_TRUE(Parse(suspended).pods.empty());
}

TEST(ParseManifests, CronJobRunsOneJobsPods) {
  Manifests m = Parse(R"(
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 2 * * *"
  jobTemplate:
    spec:
      parallelism: 2
      template:
        spec:
          restartPolicy: Never
          containers:
          - name: batch
            resources: {limits: {nvidia.com/gpu: 2}}
)");
  EXPECT_THAT(PodNames(m), ElementsAre("default/nightly-0", "default/nightly-1"));
  EXPECT_EQ(m.pods[0].owner_kind, "CronJob");
}

TEST(ParseManifests, DaemonSetsAreKeptApartFromPods) {
  Manifests m = Parse(R"(
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: kube-system}
spec:
  template:
    spec:
      tolerations: [{operator: Exists}]
      containers:
      - name: agent
        resources: {requests: {cpu: 100m, memory: 128Mi}}
)");
  EXPECT_TRUE(m.pods.empty());
  ASSERT_EQ(m.daemon_sets.size(), 1u);
  EXPECT_EQ(m.daemon_sets[0].name, "agent");
  EXPECT_EQ(m.daemon_sets[0].namespace_name, "kube-system");
  EXPECT_EQ(m.daemon_sets[0].spec.tolerations[0].key, "");
}

TEST(ParseManifests, DefaultsRequestsFromLimits) {
  Manifests m = Parse(R"(
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - name: c
    resources:
      requests: {cpu: 500m}
      limits: {cpu: "1", memory: 1Gi, nvidia.com/gpu: 2}
)");
  const Container& c = m.pods[0].spec().containers[0];
  EXPECT_EQ(c.requests.at("cpu").text(), "500m");
  EXPECT_EQ(c.requests.at("memory").text(), "1Gi");
  EXPECT_EQ(c.requests.at("nvidia.com/gpu").text(), "2");
}

TEST(ParseManifests, ReadsNodeSelectorAffinityAndInitContainers) {
  Manifests m = Parse(R"(
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  nodeSelector: {karpenter.k8s.aws/instance-gpu-name: a10g}
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions:
          - {key: karpenter.k8s.aws/instance-gpu-count, operator: Gt, values: ["1"]}
          - {key: kubernetes.io/arch, operator: In, values: [amd64]}
        - matchExpressions:
          - {key: node.kubernetes.io/instance-type, operator: DoesNotExist}
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 20
        preference:
          matchExpressions: [{key: karpenter.k8s.aws/instance-family, operator: In, values: [g6]}]
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution: []
  initContainers:
  - name: fetch
    resources: {requests: {cpu: "2"}}
  - name: proxy
    restartPolicy: Always
    resources: {requests: {cpu: 250m}}
  containers:
  - name: app
    resources: {requests: {cpu: "1"}}
)");
  const PodSpec& spec = m.pods[0].spec();
  EXPECT_EQ(spec.node_selector.at("karpenter.k8s.aws/instance-gpu-name"), "a10g");
  ASSERT_EQ(spec.required_node_affinity.size(), 2u);
  ASSERT_EQ(spec.required_node_affinity[0].size(), 2u);
  EXPECT_EQ(spec.required_node_affinity[0][0].op, SelectorOperator::kGt);
  EXPECT_THAT(spec.required_node_affinity[0][0].values, ElementsAre("1"));
  EXPECT_EQ(spec.required_node_affinity[1][0].op, SelectorOperator::kDoesNotExist);
  ASSERT_EQ(spec.preferred_node_affinity.size(), 1u);
  EXPECT_EQ(spec.preferred_node_affinity[0].weight, 20);
  ASSERT_EQ(spec.preferred_node_affinity[0].preference.size(), 1u);
  EXPECT_THAT(spec.preferred_node_affinity[0].preference[0].values, ElementsAre("g6"));
  ASSERT_EQ(spec.init_containers.size(), 2u);
  EXPECT_FALSE(spec.init_containers[0].sidecar);
  EXPECT_TRUE(spec.init_containers[1].sidecar);
  EXPECT_THAT(spec.unmodelled, ElementsAre("spec.affinity.podAntiAffinity"));
  EXPECT_THAT(m.warnings, ElementsAre(HasSubstr("spec.affinity.podAntiAffinity is not modelled")));
}

TEST(ParseManifests, ReadsKarpenterNodePool) {
  Manifests m = Parse(R"(
apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: gpu
spec:
  weight: 10
  limits: {cpu: "1000", nvidia.com/gpu: 16}
  template:
    metadata:
      labels: {team: ml}
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements:
      - key: karpenter.k8s.aws/instance-family
        operator: In
        values: [p3]
      - {key: karpenter.k8s.aws/instance-generation, operator: Gt, values: ["2"]}
      - {key: karpenter.sh/capacity-type, operator: NotIn, values: [spot]}
      - {key: topology.kubernetes.io/zone, operator: Exists}
      - {key: karpenter.k8s.aws/instance-cpu, operator: Gte, values: ["8"]}
      taints:
      - key: nvidia.com/gpu
        value: "true"
        effect: "NoSchedule"
      startupTaints:
      - {key: node.example.com/init, effect: NoExecute}
)");
  ASSERT_EQ(m.node_pools.size(), 1u);
  const NodePool& pool = m.node_pools[0];
  EXPECT_EQ(pool.name, "gpu");
  EXPECT_EQ(pool.weight, 10);
  EXPECT_EQ(pool.limits.at("nvidia.com/gpu").text(), "16");
  EXPECT_EQ(pool.template_labels.at("team"), "ml");
  ASSERT_EQ(pool.requirements.size(), 5u);
  EXPECT_EQ(pool.requirements[0].op, SelectorOperator::kIn);
  EXPECT_EQ(pool.requirements[1].op, SelectorOperator::kGt);
  EXPECT_EQ(pool.requirements[2].op, SelectorOperator::kNotIn);
  EXPECT_EQ(pool.requirements[3].op, SelectorOperator::kExists);
  EXPECT_EQ(pool.requirements[4].op, SelectorOperator::kGte);  // Karpenter v1.15's CRD takes it
  ASSERT_EQ(pool.taints.size(), 1u);
  EXPECT_EQ(TaintToString(pool.taints[0]), "nvidia.com/gpu=true:NoSchedule");
  ASSERT_EQ(pool.startup_taints.size(), 1u);
  EXPECT_EQ(pool.startup_taints[0].effect, TaintEffect::kNoExecute);
  EXPECT_THAT(pool.document_yaml, HasSubstr("nodeClassRef"));
  EXPECT_EQ(pool.source.ToString(), "test.yaml: document 1 (NodePool gpu)");
}

TEST(ParseManifests, ReadsNodeOverlay) {
  Manifests m = Parse(R"(
apiVersion: karpenter.sh/v1alpha1
kind: NodeOverlay
metadata:
  name: slices-p3
  labels: {app.kubernetes.io/managed-by: gpuslice}
spec:
  weight: 100
  requirements:
  - {key: node.kubernetes.io/instance-type, operator: In, values: [p3.2xlarge]}
  - {key: karpenter.k8s.aws/instance-gpu-count, operator: Gte, values: ["1"]}
  priceAdjustment: "-10%"
  capacity:
    gpuslice.io/slice: 4
)");
  ASSERT_EQ(m.node_overlays.size(), 1u);
  const NodeOverlay& overlay = m.node_overlays[0];
  EXPECT_EQ(overlay.weight, 100);
  EXPECT_EQ(overlay.labels.at("app.kubernetes.io/managed-by"), "gpuslice");
  EXPECT_EQ(overlay.requirements[1].op, SelectorOperator::kGte);
  EXPECT_EQ(overlay.price_adjustment, "-10%");
  EXPECT_FALSE(overlay.price.has_value());
  EXPECT_EQ(overlay.capacity.at("gpuslice.io/slice").text(), "4");
}

TEST(ParseManifests, SkipsUnknownKindsAndNonObjectsWithAWarning) {
  Manifests m = Parse(R"(
apiVersion: v1
kind: Service
metadata: {name: web}
---
config:
  version: v1
---
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: listed}
  spec:
    containers: [{name: c}]
)");
  EXPECT_THAT(PodNames(m), ElementsAre("default/listed"));
  EXPECT_THAT(m.warnings,
              ElementsAre("test.yaml: document 1 (Service): kind Service (v1) is not read; skipped",
                          "test.yaml: document 2: not a Kubernetes object (no apiVersion and "
                          "kind); skipped"));
}

struct BadCase {
  const char* name;
  const char* yaml;
  const char* message;
};

// Each malformed object is refused with the file, document, object, line, field and value.
TEST(ParseManifests, NamesFileDocumentFieldAndValueOfMalformedObjects) {
  const BadCase cases[] = {
      {"bad quantity",
       "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n"
       "    resources:\n      limits:\n        nvidia.com/gpu: one\n",
       "test.yaml: document 1 (Pod default/p): line 9: spec.containers[0].resources.limits"
       "[nvidia.com/gpu]: quantity \"one\" is invalid: it has no digits"},
      {"negative request",
       "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n"
       "    resources: {requests: {cpu: -1}}\n",
       "spec.containers[0].resources.requests.cpu: \"-1\" is negative"},
      {"fractional gpu",
       "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
       "  - name: c\n    resources: {limits: {nvidia.com/gpu: 0.5}}\n",
       "0.5 of nvidia.com/gpu is not a whole number"},
      {"gpu request without limit",
       "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n"
       "    resources: {requests: {nvidia.com/gpu: 1}}\n",
       "resource nvidia.com/gpu cannot be overcommitted"},
      {"request above limit",
       "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n"
       "    resources: {requests: {cpu: 2}, limits: {cpu: 1}}\n",
       "request 2 of cpu exceeds its limit 1"},
      {"replicas not a number",
       "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: w}\nspec:\n  replicas: three\n",
       "test.yaml: document 1 (Deployment default/w): line 5: spec.replicas: \"three\" is not an "
       "integer"},
      {"negative replicas",
       "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: w}\nspec:\n  replicas: -2\n",
       "spec.replicas: \"-2\" is out of range"},
      {"missing template", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: w}\nspec: {}\n",
       "spec.template: is required"},
      {"missing name", "apiVersion: v1\nkind: Pod\nmetadata: {}\nspec: {containers: [{name: c}]}\n",
       "metadata.name: is required"},
      {"containers not a list",
       "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: {name: c}}\n",
       "spec.containers: expected a list, got a mapping"},
      {"no containers", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n",
       "a pod needs at least one container"},
      {"bad toleration operator",
       "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c}]\n"
       "  tolerations: [{key: k, operator: Matches}]\n",
       "spec.tolerations[0].operator: \"Matches\" is not a toleration operator"},
      {"bad taint effect",
       "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: gpu}\nspec:\n  template:\n"
       "    spec:\n      taints: [{key: nvidia.com/gpu, effect: NoPods}]\n",
       "spec.template.spec.taints[0].effect: \"NoPods\" is not a taint effect"},
      {"preferred term without weight",
       "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c}]\n"
       "  affinity: {nodeAffinity: {preferredDuringSchedulingIgnoredDuringExecution: "
       "[{preference: {matchExpressions: []}}]}}\n",
       "preferredDuringSchedulingIgnoredDuringExecution[0].weight: is required"},
      {"preferred weight out of range",
       "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c}]\n"
       "  affinity: {nodeAffinity: {preferredDuringSchedulingIgnoredDuringExecution: "
       "[{weight: 0, preference: {}}]}}\n",
       "weight: \"0\" is out of range [1, 100]"},
      {"bad requirement operator",
       "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: gpu}\nspec:\n  template:\n"
       "    spec:\n      requirements: [{key: a, operator: Matches, values: [\"1\"]}]\n",
       "spec.template.spec.requirements[0].operator: \"Matches\" is not a supported operator"},
      {"gt without integer",
       "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: gpu}\nspec:\n  template:\n"
       "    spec:\n      requirements: [{key: a, operator: Gt, values: [x]}]\n",
       "\"x\" is not a non-negative integer"},
      {"in without values",
       "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: gpu}\nspec:\n  template:\n"
       "    spec:\n      requirements: [{key: a, operator: In}]\n",
       "operator In needs at least one value"},
      {"restricted requirement",
       "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: gpu}\nspec:\n  template:\n"
       "    spec:\n      requirements: [{key: karpenter.sh/nodepool, operator: Exists}]\n",
       "is set by Karpenter"},
      {"weight out of range",
       "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: gpu}\nspec:\n  weight: 101\n"
       "  template: {spec: {}}\n",
       "spec.weight: \"101\" is out of range [1, 100]"},
      {"old NodePool version",
       "apiVersion: karpenter.sh/v1beta1\nkind: NodePool\nmetadata: {name: gpu}\nspec: {}\n",
       "apiVersion: \"karpenter.sh/v1beta1\" is not supported for kind NodePool; use "
       "karpenter.sh/v1"},
      {"overlay price and adjustment",
       "apiVersion: karpenter.sh/v1alpha1\nkind: NodeOverlay\nmetadata: {name: o}\nspec:\n"
       "  requirements: []\n  price: \"1.0\"\n  priceAdjustment: \"+1\"\n",
       "spec.priceAdjustment: cannot be set together with price"},
      {"overlay bad adjustment",
       "apiVersion: karpenter.sh/v1alpha1\nkind: NodeOverlay\nmetadata: {name: o}\nspec:\n"
       "  requirements: []\n  priceAdjustment: \"10%\"\n",
       "spec.priceAdjustment: \"10%\" is not a price adjustment"},
      {"overlay cpu capacity",
       "apiVersion: karpenter.sh/v1alpha1\nkind: NodeOverlay\nmetadata: {name: o}\nspec:\n"
       "  requirements: []\n  capacity: {cpu: 4}\n",
       "spec.capacity.cpu: a NodeOverlay can only add extended resources, not cpu"},
      {"scalar document", "just text\n",
       "test.yaml: document 1: line 1: document: expected a "
       "Kubernetes object (a mapping), got \"just text\""},
      {"invalid yaml", "apiVersion: v1\nkind: [Pod\n", "test.yaml:3:1: not valid YAML"},
      {"duplicate key",
       "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: w}\nspec:\n  replicas: 1\n"
       "  replicas: 500\n",
       "test.yaml:6:3: duplicate key \"replicas\" (first at line 5, column 3)"},
      {"duplicate pods",
       "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c}]}\n---\n"
       "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c}]}\n",
       "pod default/p is defined twice: test.yaml: document 1 (Pod default/p) and test.yaml: "
       "document 2 (Pod default/p)"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_THAT(ParseError(c.yaml), HasSubstr(c.message));
  }
}

TEST(ParseManifests, RefusesAbsurdReplicaCountsInsteadOfExhaustingMemory) {
  EXPECT_THAT(ParseError(std::string("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: w}\n"
                                     "spec:\n  replicas: 2000000000") +
                         std::string(kTemplate)),
              HasSubstr("pods would take the input past 50000 pods"));
}

class LoadManifestsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("gpuslice-kube-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_ / "nested");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }
  std::filesystem::path dir_;
};

TEST_F(LoadManifestsTest, ReadsDirectoriesRecursivelyInPathOrder) {
  Write("b.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: b}\nspec: {containers: [{name: c}]}\n");
  Write("nested/a.yml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c}]}\n");
  Write("c.json", R"({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "c"},
                      "spec": {"containers": [{"name": "c"}]}})");
  Write("notes.txt", "not a manifest");
  Result<Manifests> m = LoadManifests({dir_.string()});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_THAT(PodNames(*m), ElementsAre("default/b", "default/c", "default/a"));
  EXPECT_EQ(m->pods[2].source.file, (dir_ / "nested/a.yml").string());
}

TEST_F(LoadManifestsTest, ReportsMissingPathsAndEmptyDirectories) {
  Result<Manifests> missing = LoadManifests({(dir_ / "nope.yaml").string()});
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("nope.yaml: no such file or directory"));
  Result<Manifests> empty = LoadManifests({(dir_ / "nested").string()});
  EXPECT_THAT(empty.status().message(), HasSubstr("holds no .yaml"));
}

TEST_F(LoadManifestsTest, NamesASymlinkLoopAndRefusesSpecialFiles) {
  Write("pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n");
  std::filesystem::create_directory_symlink("loop-b", dir_ / "loop-a");
  std::filesystem::create_directory_symlink("loop-a", dir_ / "loop-b");
  Result<Manifests> loop = LoadManifests({dir_.string()});
  EXPECT_EQ(loop.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(loop.status().message(), HasSubstr("(a symlink loop)"));
  std::filesystem::remove(dir_ / "loop-a");
  std::filesystem::remove(dir_ / "loop-b");

  ASSERT_EQ(::mkfifo((dir_ / "nested/fifo.yaml").c_str(), 0600), 0);
  Result<Manifests> fifo = LoadManifests({dir_.string()});
  EXPECT_EQ(fifo.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(fifo.status().message(), HasSubstr("fifo.yaml: is a FIFO (named pipe)"));
  EXPECT_EQ(LoadManifests({"/dev/zero"}).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(LoadManifestsTest, RefusesMoreThanTheInputLimitTogether) {
  // Each file is under the limit; together they are over it.
  const std::string comment = "# " + std::string(io::kMaxInputBytes / 2, 'x') + "\n";
  Write("a.yaml", comment);
  Write("b.yaml", comment);
  Result<Manifests> m = LoadManifests({(dir_ / "a.yaml").string(), (dir_ / "b.yaml").string()});
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(m.status().message(),
              HasSubstr("b.yaml: the manifests together are more than the 67108864-byte limit"));
}

TEST_F(LoadManifestsTest, RefusesAnAliasBombNodePool) {
  std::string text =
      "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: bomb}\nspec:\n"
      "  template:\n    metadata:\n      labels:\n        a0: &a0 [x, x, x, x, x, x, x, x]\n";
  for (int level = 1; level < 9; ++level) {
    const std::string previous = "*a" + std::to_string(level - 1);
    text += "        a" + std::to_string(level) + ": &a" + std::to_string(level) + " [";
    for (int i = 0; i < 8; ++i) text += (i == 0 ? "" : ", ") + previous;
    text += "]\n";
  }
  Write("bomb.yaml", text);
  Result<Manifests> m = LoadManifests({(dir_ / "bomb.yaml").string()});
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(m.status().message(), HasSubstr("aliases expand to more than"));
}

TEST_F(LoadManifestsTest, ErrorsNameTheFile) {
  Write("bad.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: 3}\n");
  Result<Manifests> m = LoadManifests({(dir_ / "bad.yaml").string()});
  EXPECT_THAT(m.status().message(),
              HasSubstr((dir_ / "bad.yaml").string() + ": document 1 (Pod default/p): line 4"));
}

}  // namespace
}  // namespace gpuslice::kube
