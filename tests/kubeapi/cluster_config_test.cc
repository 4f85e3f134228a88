#include "kubeapi/cluster_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>

#include "fakes/temp_dir.h"
#include "fakes/text_mutator.h"
#include "kubeapi/internal/base64.h"

namespace gpuslice::kubeapi {
namespace {

using ::testing::HasSubstr;

// "-----BEGIN CERTIFICATE-----\nfake\n" in base64; the parser only decodes, the client checks.
const std::string kCertPem = "-----BEGIN CERTIFICATE-----\nfake\n";

std::string Kubeconfig() {
  const std::string data = internal::EncodeBase64(kCertPem);
  return "apiVersion: v1\nkind: Config\n"
         "clusters:\n"
         "- name: prod\n  cluster: {server: \"https://prod.example:6443/\", "
         "certificate-authority-data: " +
         data +
         "}\n"
         "- name: lab\n  cluster: {server: \"https://10.0.0.1\", certificate-authority: "
         "pki/ca.crt, "
         "insecure-skip-tls-verify: true}\n"
         "users:\n"
         "- name: admin\n  user: {client-certificate-data: " +
         data + ", client-key-data: " + data +
         "}\n"
         "- name: robot\n  user: {token: abc123}\n"
         "- name: proxied\n  user: {username: alice, password: \"s3 cret\"}\n"
         "- name: files\n  user: {client-certificate: /etc/pki/me.crt, client-key: me.key, "
         "tokenFile: tok}\n"
         "contexts:\n"
         "- name: prod-admin\n  context: {cluster: prod, user: admin}\n"
         "- name: lab-robot\n  context: {cluster: lab, user: robot, namespace: team-a}\n"
         "- name: lab-files\n  context: {cluster: lab, user: files}\n"
         "- name: prod-proxied\n  context: {cluster: prod, user: proxied}\n"
         "current-context: prod-admin\n";
}

TEST(Base64, RoundTripsAndRejectsGarbage) {
  for (const std::string text : {"", "a", "ab", "abc", "abcd", "hello, world\n"}) {
    Result<std::string> decoded = internal::DecodeBase64(internal::EncodeBase64(text));
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(*decoded, text);
  }
  EXPECT_EQ(*internal::DecodeBase64("aGVs\nbG8="), "hello");
  EXPECT_FALSE(internal::DecodeBase64("aGVsbG8").ok());
  EXPECT_FALSE(internal::DecodeBase64("aG=sbG8=").ok());
  EXPECT_FALSE(internal::DecodeBase64("a$==").ok());
}

TEST(Kubeconfig, CurrentContextWithInlineData) {
  Result<ClusterConfig> config = ParseKubeconfig(Kubeconfig(), "/home/me/.kube/config");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->server, "https://prod.example:6443");
  EXPECT_EQ(config->ca_data, kCertPem);
  EXPECT_EQ(config->client_cert_data, kCertPem);
  EXPECT_EQ(config->client_key_data, kCertPem);
  EXPECT_EQ(config->namespace_name, "default");
  EXPECT_THAT(config->source, HasSubstr("prod-admin"));
}

TEST(Kubeconfig, NamedContextTokenAndNamespace) {
  Result<ClusterConfig> config =
      ParseKubeconfig(Kubeconfig(), "/home/me/.kube/config", "lab-robot");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->server, "https://10.0.0.1");
  EXPECT_EQ(config->ca_file, "/home/me/.kube/pki/ca.crt");
  EXPECT_TRUE(config->insecure_skip_tls_verify);
  EXPECT_EQ(config->token, "abc123");
  EXPECT_EQ(config->namespace_name, "team-a");
}

TEST(Kubeconfig, RelativeFilesAreTakenFromTheKubeconfigsDirectory) {
  Result<ClusterConfig> config = ParseKubeconfig(Kubeconfig(), "conf/kubeconfig", "lab-files");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->client_cert_file, "/etc/pki/me.crt");
  EXPECT_EQ(config->client_key_file, "conf/me.key");
  EXPECT_EQ(config->token_file, "conf/tok");
}

TEST(Kubeconfig, BasicAuthenticationUser) {
  Result<ClusterConfig> config =
      ParseKubeconfig(Kubeconfig(), "/home/me/.kube/config", "prod-proxied");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->username, "alice");
  EXPECT_EQ(config->password, "s3 cret");
  EXPECT_TRUE(config->token.empty());
}

TEST(Kubeconfig, ErrorsNameTheFileAndField) {
  const auto error = [](const std::string& text, const std::string& context = "") {
    Result<ClusterConfig> config = ParseKubeconfig(text, "/k/config", context);
    EXPECT_FALSE(config.ok());
    return config.ok() ? std::string() : config.status().message();
  };
  EXPECT_THAT(error(Kubeconfig(), "nope"), HasSubstr("contexts: no entry named \"nope\""));
  EXPECT_THAT(error("clusters: []\n"), HasSubstr("current-context"));
  EXPECT_THAT(error("current-context: a\ncontexts:\n- name: a\n  context: {user: u}\n"),
              HasSubstr("contexts[a].context.cluster: is required"));
  EXPECT_THAT(error("current-context: a\ncontexts:\n- name: a\n  context: {cluster: c}\n"
                    "clusters:\n- name: c\n  cluster: {server: ftp://x}\n"),
              HasSubstr("is not an http:// or https:// URL"));
  EXPECT_THAT(error("current-context: a\ncontexts:\n- name: a\n  context: {cluster: c, user: u}\n"
                    "clusters:\n- name: c\n  cluster: {server: https://x}\n"
                    "users:\n- name: u\n  user: {exec: {command: aws}}\n"),
              HasSubstr("users[u].user.exec: credential plugins are not supported"));
  EXPECT_THAT(error("current-context: a\ncontexts:\n- name: a\n  context: {cluster: c, user: u}\n"
                    "clusters:\n- name: c\n  cluster: {server: https://x}\n"
                    "users:\n- name: u\n  user: {client-certificate-data: \"%%%\"}\n"),
              HasSubstr("users[u].user.client-certificate-data: not base64"));
  EXPECT_THAT(error("current-context: a\ncontexts:\n- name: a\n  context: {cluster: c, user: u}\n"
                    "clusters:\n- name: c\n  cluster: {server: https://x}\n"
                    "users:\n- name: u\n  user: {client-certificate: c.crt}\n"),
              HasSubstr("needs its key"));
  EXPECT_THAT(error("current-context: a\ncontexts:\n- name: a\n  context: {cluster: c}\n"
                    "clusters:\n- name: c\n  cluster: {server: https://x, tls-server-name: k}\n"),
              HasSubstr("clusters[c].cluster.tls-server-name: is not supported"));
  EXPECT_THAT(error("[unclosed"), HasSubstr("not valid YAML"));
  EXPECT_THAT(error("- a list\n"), HasSubstr("expected a mapping"));
}

TEST(Kubeconfig, MissingFileIsNotFound) {
  Result<ClusterConfig> config = LoadKubeconfig("/nonexistent/kubeconfig");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(config.status().message(), HasSubstr("/nonexistent/kubeconfig"));
}

TEST(KubeconfigFuzz, MutatedKubeconfigsNeverCrash) {
  testing::TextMutator mutator(20261206, ":-[]{}#&*!|>'\"%@`,? \n\t0123456789abc=/.");
  const std::string seed = Kubeconfig();
  int accepted = 0;
  for (int i = 0; i < 3000; ++i) {
    Result<ClusterConfig> config = ParseKubeconfig(mutator.Mutate(seed), "/fuzz/config");
    if (config.ok()) {
      ++accepted;
      EXPECT_TRUE(config->server.rfind("http", 0) == 0) << config->server;
    } else {
      EXPECT_THAT(config.status().message(), HasSubstr("/fuzz/config"));
    }
  }
  // Most single edits leave a usable document: the fuzzing reaches past the YAML parser.
  EXPECT_GT(accepted, 100);
}

class InClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "KUBECONFIG"}) {
      const char* value = getenv(name);
      saved_.emplace_back(name, value != nullptr ? std::optional<std::string>(value) : std::nullopt);
    }
  }
  void TearDown() override {
    for (const auto& [name, value] : saved_) {
      if (value) {
        setenv(name.c_str(), value->c_str(), 1);
      } else {
        unsetenv(name.c_str());
      }
    }
  }
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
  testing::TempDir dir_;
};

TEST_F(InClusterTest, OutsideAPodIsFailedPrecondition) {
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
  Result<ClusterConfig> config = LoadInCluster({dir_.path()});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(config.status().message(), HasSubstr("--kubeconfig"));
}

TEST_F(InClusterTest, ReadsTheServiceAccountDirectory) {
  setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  Result<ClusterConfig> missing = LoadInCluster({dir_.path()});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr(dir_.Sub("token")));

  std::ofstream(dir_.Sub("token")) << "tok\n";
  std::ofstream(dir_.Sub("ca.crt")) << kCertPem;
  std::ofstream(dir_.Sub("namespace")) << "gpuslice\n";
  Result<ClusterConfig> config = LoadInCluster({dir_.path()});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->server, "https://[fd00::1]:443");
  EXPECT_EQ(config->token_file, dir_.Sub("token"));
  EXPECT_EQ(config->ca_file, dir_.Sub("ca.crt"));
  EXPECT_EQ(config->namespace_name, "gpuslice");
}

TEST_F(InClusterTest, LoadDefaultTakesTheKubeconfigsContextOverThePodsServiceAccount) {
  if (access(InClusterOptions().service_account_dir.c_str(), F_OK) == 0) {
    GTEST_SKIP() << "this test runs in a pod: its own service account would answer";
  }
  setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  std::ofstream(dir_.Sub("kubeconfig")) << Kubeconfig();
  setenv("KUBECONFIG", (dir_.Sub("kubeconfig") + ":/elsewhere").c_str(), 1);
  Result<ClusterConfig> named = LoadDefault("", "lab-robot");
  ASSERT_TRUE(named.ok()) << named.status().ToString();
  EXPECT_EQ(named->server, "https://10.0.0.1");
  EXPECT_EQ(named->token, "abc123");

  // Without a context, a pod's own service account comes first, as in client-go.
  Result<ClusterConfig> in_pod = LoadDefault("");
  ASSERT_FALSE(in_pod.ok());
  EXPECT_EQ(in_pod.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(in_pod.status().message(), HasSubstr("serviceaccount"));

  unsetenv("KUBERNETES_SERVICE_HOST");
  Result<ClusterConfig> outside = LoadDefault("");
  ASSERT_TRUE(outside.ok()) << outside.status().ToString();
  EXPECT_EQ(outside->server, "https://prod.example:6443");
}

}  // namespace
}  // namespace gpuslice::kubeapi
