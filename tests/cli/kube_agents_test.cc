// Reading kubeconfigs and PodLists for `gpuslice top --kubeconfig`: the fields kubectl's
// kubeconfigs use, files relative to the kubeconfig, and the clear refusals.
#include "cli/kube_agents.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "fakes/temp_dir.h"

namespace gpuslice::cli {
namespace {

using ::testing::HasSubstr;

class KubeConfigTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_.Sub(name)) << text;
    return dir_.Sub(name);
  }
  testing::TempDir dir_;
};

constexpr const char* kContexts =
    "apiVersion: v1\nkind: Config\ncurrent-context: prod\n"
    "contexts:\n- name: prod\n  context: {cluster: prod, user: admin}\n"
    "- name: dev\n  context: {cluster: dev, user: reader}\n";

TEST_F(KubeConfigTest, ReadsTheCurrentContextsClusterAndCredentials) {
  // "-----BEGIN CERTIFICATE-----\n" and "key" base64-encoded, as kubeconfigs carry them.
  const std::string path = Write(
      "config", std::string(kContexts) +
                    "clusters:\n- name: prod\n  cluster:\n    server: https://api.example:6443/\n"
                    "    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==\n"
                    "- name: dev\n  cluster: {server: 'http://127.0.0.1:8001', "
                    "insecure-skip-tls-verify: true, certificate-authority: ca.pem}\n"
                    "users:\n- name: admin\n  user:\n    client-certificate-data: "
                    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==\n    client-key-data: a2V5\n"
                    "- name: reader\n  user: {tokenFile: token}\n");
  Result<KubeConfig> prod = ReadKubeConfig(path, "");
  ASSERT_TRUE(prod.ok()) << prod.status().ToString();
  EXPECT_EQ(prod->server, "https://api.example:6443");
  EXPECT_EQ(prod->ca_pem, "-----BEGIN CERTIFICATE-----\n");
  EXPECT_EQ(prod->client_cert_pem, "-----BEGIN CERTIFICATE-----\n");
  EXPECT_EQ(prod->client_key_pem, "key");
  EXPECT_TRUE(prod->token.empty());

  Write("ca.pem", "PEM");
  Write("token", "abc.def\n");
  Result<KubeConfig> dev = ReadKubeConfig(path, "dev");
  ASSERT_TRUE(dev.ok()) << dev.status().ToString();
  EXPECT_EQ(dev->server, "http://127.0.0.1:8001");
  EXPECT_TRUE(dev->insecure_skip_tls_verify);
  EXPECT_EQ(dev->ca_pem, "PEM");
  EXPECT_EQ(dev->token, "abc.def");
}

TEST_F(KubeConfigTest, WhatItCannotUseIsRefusedNamingTheFileAndField) {
  EXPECT_EQ(ReadKubeConfig(dir_.Sub("missing"), "").status().code(), StatusCode::kNotFound);
  const std::pair<std::string, std::string> cases[] = {
      {"apiVersion: v1\n", "no current-context; pass --context"},
      {std::string(kContexts) + "clusters: []\n", "clusters: no cluster named \"prod\""},
      {std::string(kContexts) + "clusters:\n- name: prod\n  cluster: {server: api:6443}\n",
       "cluster \"prod\": server \"api:6443\" is not an http(s) URL"},
      {std::string(kContexts) + "clusters:\n- name: prod\n  cluster: {server: 'https://a', "
                                "certificate-authority-data: 'no!'}\n",
       "certificate-authority-data: not base64"},
      {std::string(kContexts) +
           "clusters:\n- name: prod\n  cluster: {server: 'https://a'}\nusers:\n- name: admin\n"
           "  user:\n    exec: {command: aws, args: [eks, get-token]}\n",
       "user \"admin\" authenticates through exec, which gpuslice top does not run"},
      {std::string(kContexts) +
           "clusters:\n- name: prod\n  cluster: {server: 'https://a'}\nusers:\n- name: admin\n"
           "  user: {client-certificate-data: a2V5}\n",
       "client-certificate and client-key go together"},
      {std::string(kContexts) +
           "clusters:\n- name: prod\n  cluster: {server: 'https://a', certificate-authority: "
           "nope.pem}\n",
       "nope.pem"},
      {std::string(kContexts) +
           "clusters:\n- name: prod\n  cluster: {server: 'https://a', tls-server-name: k}\n",
       "tls-server-name is not supported"},
  };
  for (const auto& [text, message] : cases) {
    const std::string path = Write("config", text);
    Result<KubeConfig> config = ReadKubeConfig(path, "");
    ASSERT_FALSE(config.ok()) << text;
    EXPECT_THAT(config.status().message(), HasSubstr(message)) << text;
    EXPECT_THAT(config.status().message(), HasSubstr(path)) << text;
  }
  const std::string path = Write("config", kContexts);
  EXPECT_THAT(ReadKubeConfig(path, "staging").status().message(),
              HasSubstr("no context named \"staging\""));
}

TEST(ParseAgentPods, KeepsRunningPodsWithAMetricsPortInOrder) {
  Result<std::vector<AgentPod>> pods = ParseAgentPods(R"({"kind": "PodList", "items": [
    {"metadata": {"namespace": "gpuslice", "name": "b"}, "spec": {"nodeName": "n2",
     "containers": [{"ports": [{"name": "grpc", "containerPort": 1},
                               {"name": "metrics", "containerPort": 9410}]}]},
     "status": {"phase": "Running"}},
    {"metadata": {"namespace": "gpuslice", "name": "a"}, "spec": {"nodeName": "n1",
     "containers": [{"ports": [{"name": "metrics", "containerPort": 9411}]}]},
     "status": {"phase": "Running"}},
    {"metadata": {"namespace": "gpuslice", "name": "pending"}, "spec": {"nodeName": "n3",
     "containers": [{"ports": [{"name": "metrics", "containerPort": 9410}]}]},
     "status": {"phase": "Pending"}},
    {"metadata": {"namespace": "gpuslice", "name": "no-port"}, "spec": {"nodeName": "n4",
     "containers": [{}]}, "status": {"phase": "Running"}}]})",
                                                      "api");
  ASSERT_TRUE(pods.ok()) << pods.status().ToString();
  ASSERT_EQ(pods->size(), 2u);
  EXPECT_EQ((*pods)[0].name, "a");
  EXPECT_EQ((*pods)[0].node, "n1");
  EXPECT_EQ((*pods)[0].port, 9411);
  EXPECT_EQ((*pods)[1].port, 9410);
  EXPECT_EQ(AgentMetricsPath((*pods)[1]), "/api/v1/namespaces/gpuslice/pods/b:9410/proxy/metrics");

  for (const char* bad :
       {"{", "[]", R"({"items": 3})", R"({"items": [{"status": {"phase": 1}}]})"}) {
    Result<std::vector<AgentPod>> refused = ParseAgentPods(bad, "api");
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_THAT(refused.status().message(), HasSubstr("api: not a PodList")) << bad;
  }
}

TEST(AgentPodsPath, EncodesTheSelector) {
  EXPECT_EQ(
      AgentPodsPath("app.kubernetes.io/name=gpuslice,tier in (a b)"),
      "/api/v1/pods?labelSelector=app.kubernetes.io%2Fname%3Dgpuslice%2Ctier%20in%20%28a%20b%29");
}

}  // namespace
}  // namespace gpuslice::cli
