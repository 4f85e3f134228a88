// Manifests for plan tests, written as users write them.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "kube/manifest.h"

namespace gpuslice::plan::testing {

inline kube::Manifests Parse(const std::string& yaml) {
  kube::Manifests manifests;
  Status status = kube::ParseManifests(yaml, "test.yaml", &manifests);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return manifests;
}

// A GPU NodePool as the seed defines it: one family, the nvidia.com/gpu taint.
inline std::string NodePool(const std::string& name, const std::string& families,
                            const std::string& extra_spec = "", const std::string& limits = "") {
  return "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: " + name + "}\nspec:\n" +
         (limits.empty() ? "" : "  limits: " + limits + "\n") + extra_spec +
         "  template:\n    spec:\n"
         "      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}\n"
         "      requirements:\n"
         "      - {key: karpenter.k8s.aws/instance-family, operator: In, values: [" +
         families +
         "]}\n"
         "      taints: [{key: nvidia.com/gpu, value: \"true\", effect: NoSchedule}]\n---\n";
}

struct Workload {
  std::string name;
  int replicas = 1;
  int gpus = 1;
  std::string cpu = "";         // empty: no request
  std::string memory = "";      // empty: no request
  std::string gpu_memory = "";  // gpuslice.io/gpu-memory; empty: none
  bool tolerate = true;
  std::string node_selector = "";  // "{key: value}" or empty
};

inline std::string Deployment(const Workload& w) {
  std::string requests;
  if (!w.cpu.empty()) requests += "cpu: \"" + w.cpu + "\", ";
  if (!w.memory.empty()) requests += "memory: " + w.memory + ", ";
  std::string out = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: " + w.name +
                    "}\nspec:\n  replicas: " + std::to_string(w.replicas) + "\n  template:\n";
  if (!w.gpu_memory.empty()) {
    out += "    metadata: {annotations: {gpuslice.io/gpu-memory: " + w.gpu_memory + "}}\n";
  }
  out += "    spec:\n";
  if (!w.node_selector.empty()) out += "      nodeSelector: " + w.node_selector + "\n";
  if (w.tolerate) {
    out += "      tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]\n";
  }
  out += "      containers:\n      - name: app\n        resources:\n";
  if (!requests.empty())
    out += "          requests: {" + requests.substr(0, requests.size() - 2) + "}\n";
  out += "          limits: {nvidia.com/gpu: " + std::to_string(w.gpus) + "}\n---\n";
  return out;
}

}  // namespace gpuslice::plan::testing
