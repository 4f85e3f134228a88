// The client against a real kube-apiserver (tests/kubeapi/apiserver.sh, ctest fixture
// kube_apiserver): the credentials each way of configuring it uses, every verb, real 409
// conflicts between concurrent writers, paging, watches, token rotation and RBAC refusals.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <thread>

#include "fakes/apiserver_fixture.h"
#include "fakes/temp_dir.h"
#include "kubeapi/client.h"

namespace gpuslice::kubeapi {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;
using testing::ApiServerFixture;

class ApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string skip = ApiServerFixture::SkipReason();
    if (!skip.empty()) GTEST_SKIP() << skip;
    client_ = ApiServerFixture::AdminClient();
    ASSERT_NE(client_, nullptr);
    // One namespace per test: tests run in parallel against one API server.
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    ns_ = ApiServerFixture::UniqueName(info->name());
    Result<json> created = client_->Create(
        types::kNamespaces, "", {{"apiVersion", "v1"}, {"kind", "Namespace"},
                                 {"metadata", {{"name", ns_}}}});
    ASSERT_TRUE(created.ok()) << created.status().ToString();
  }
  void TearDown() override {
    if (client_ != nullptr && !ns_.empty()) (void)client_->Delete(types::kNamespaces, "", ns_);
  }

  json ConfigMap(const std::string& name, int counter) const {
    return {{"apiVersion", "v1"},
            {"kind", "ConfigMap"},
            {"metadata", {{"name", name}, {"namespace", ns_}}},
            {"data", {{"counter", std::to_string(counter)}}}};
  }

  std::unique_ptr<Client> client_;
  std::string ns_;
};

std::string WhoAmI(Client& client) {
  Result<json> review = client.Create(
      types::kSelfSubjectReviews, "",
      {{"apiVersion", "authentication.k8s.io/v1"}, {"kind", "SelfSubjectReview"}});
  EXPECT_TRUE(review.ok()) << review.status().ToString();
  return review.ok() ? (*review)["status"]["userInfo"]["username"].get<std::string>() : "";
}

TEST_F(ApiServerTest, KubeconfigWithInlineCertificatesAndWithRelativeFiles) {
  EXPECT_EQ(WhoAmI(*client_), "gpuslice-test-admin");
  Result<ClusterConfig> files =
      LoadKubeconfig(ApiServerFixture::StatePath("admin-files.kubeconfig"));
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  EXPECT_EQ(files->namespace_name, "kube-system");
  Result<std::unique_ptr<Client>> client = Client::Create(*files);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  EXPECT_EQ(WhoAmI(**client), "gpuslice-test-admin");
  Result<json> ns = (*client)->Get(types::kNamespaces, "", "kube-system");
  ASSERT_TRUE(ns.ok()) << ns.status().ToString();
  EXPECT_EQ((*ns)["metadata"]["name"], "kube-system");
}

TEST_F(ApiServerTest, CreateGetUpdatePatchDelete) {
  Result<json> created = client_->Create(types::kConfigMaps, ns_, ConfigMap("a", 1));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(client_->Create(types::kConfigMaps, ns_, ConfigMap("a", 1)).status().code(),
            StatusCode::kAlreadyExists);

  json stale = *created;
  json update = *created;
  update["data"]["counter"] = "2";
  Result<json> updated = client_->Update(types::kConfigMaps, ns_, update);
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_NE((*updated)["metadata"]["resourceVersion"], stale["metadata"]["resourceVersion"]);
  // Optimistic concurrency: a write against the old version is refused.
  stale["data"]["counter"] = "3";
  Result<json> conflict = client_->Update(types::kConfigMaps, ns_, stale);
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(conflict.status().message(), HasSubstr("409 Conflict"));

  Result<json> patched = client_->Patch(types::kConfigMaps, ns_, "a", PatchType::kMerge,
                                        {{"data", {{"extra", "yes"}}}});
  ASSERT_TRUE(patched.ok()) << patched.status().ToString();
  EXPECT_EQ((*patched)["data"]["counter"], "2");
  EXPECT_EQ((*patched)["data"]["extra"], "yes");
  Result<json> json_patched = client_->Patch(
      types::kConfigMaps, ns_, "a", PatchType::kJson,
      json::array({{{"op", "remove"}, {"path", "/data/extra"}}}));
  ASSERT_TRUE(json_patched.ok()) << json_patched.status().ToString();
  EXPECT_FALSE((*json_patched)["data"].contains("extra"));

  EXPECT_TRUE(client_->Delete(types::kConfigMaps, ns_, "a").ok());
  EXPECT_EQ(client_->Get(types::kConfigMaps, ns_, "a").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(client_->Delete(types::kConfigMaps, ns_, "a").code(), StatusCode::kNotFound);
}

TEST_F(ApiServerTest, MutateKeepsEveryIncrementOfConcurrentWriters) {
  ASSERT_TRUE(client_->Create(types::kConfigMaps, ns_, ConfigMap("counter", 0)).ok());
  constexpr int kWriters = 3;
  constexpr int kIncrements = 10;
  std::vector<std::thread> writers;
  std::atomic<int> mutations{0};
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&] {
      auto client = ApiServerFixture::AdminClient();
      for (int i = 0; i < kIncrements; ++i) {
        Result<json> done = client->Mutate(types::kConfigMaps, ns_, "counter", [&](json& object) {
          ++mutations;
          const int value = std::stoi(object["data"]["counter"].get<std::string>());
          object["data"]["counter"] = std::to_string(value + 1);
          return Status::Ok();
        });
        EXPECT_TRUE(done.ok()) << done.status().ToString();
      }
    });
  }
  for (std::thread& writer : writers) writer.join();
  Result<json> counter = client_->Get(types::kConfigMaps, ns_, "counter");
  ASSERT_TRUE(counter.ok());
  EXPECT_EQ((*counter)["data"]["counter"], std::to_string(kWriters * kIncrements));
  // Each conflict costs one more mutation; none is lost.
  EXPECT_GE(mutations.load(), kWriters * kIncrements);
}

TEST_F(ApiServerTest, ListFollowsPagesAndWatchSeesChangesFromTheListsVersion) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(client_->Create(types::kConfigMaps, ns_, ConfigMap("m" + std::to_string(i), i)).ok());
  }
  ListOptions paged;
  paged.page_size = 2;
  Result<json> list = client_->List(types::kConfigMaps, ns_, paged);
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  int ours = 0;
  for (const json& item : (*list)["items"]) {
    ours += item["metadata"]["name"].get<std::string>().rfind("m", 0) == 0 ? 1 : 0;
  }
  EXPECT_EQ(ours, 5);

  std::thread writer([&] {
    auto client = ApiServerFixture::AdminClient();
    EXPECT_TRUE(client->Create(types::kConfigMaps, ns_, ConfigMap("late", 9)).ok());
    EXPECT_TRUE(client->Patch(types::kConfigMaps, ns_, "late", PatchType::kMerge,
                              {{"data", {{"counter", "10"}}}})
                    .ok());
    EXPECT_TRUE(client->Delete(types::kConfigMaps, ns_, "late").ok());
  });
  WatchOptions options;
  options.resource_version = (*list)["metadata"]["resourceVersion"];
  options.field_selector = "metadata.name=late";
  options.timeout_seconds = 60;
  std::vector<std::string> seen;
  Result<WatchEnd> end = client_->Watch(types::kConfigMaps, ns_, options, [&](const WatchEvent& e) {
    if (e.type != "BOOKMARK") seen.push_back(e.type);
    return e.type != "DELETED";
  });
  writer.join();
  ASSERT_TRUE(end.ok()) << end.status().ToString();
  EXPECT_EQ(*end, WatchEnd::kStopped);
  EXPECT_THAT(seen, ::testing::ElementsAre("ADDED", "MODIFIED", "DELETED"));
}

TEST_F(ApiServerTest, RotatedTokenFileChangesWhoTheClientIs) {
  testing::TempDir dir;
  const std::string token = dir.Sub("token");
  std::ofstream(token) << "token-alice\n";
  ClusterConfig config;
  config.server = ApiServerFixture::Server();
  config.ca_file = ApiServerFixture::StatePath("ca.crt");
  config.token_file = token;
  config.source = "test";
  Result<std::unique_ptr<Client>> client = Client::Create(config);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  EXPECT_EQ(WhoAmI(**client), "alice");
  std::ofstream(dir.Sub("token.new")) << "token-bob\n";
  ASSERT_EQ(std::rename(dir.Sub("token.new").c_str(), token.c_str()), 0);
  EXPECT_EQ(WhoAmI(**client), "bob");

  // RBAC's refusal is a clear error naming the user and the verb.
  Result<json> nodes = (*client)->List(types::kNodes, "");
  ASSERT_FALSE(nodes.ok());
  EXPECT_EQ(nodes.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(nodes.status().message(), HasSubstr("403 Forbidden"));
  EXPECT_THAT(nodes.status().message(), HasSubstr("\"bob\" cannot list resource \"nodes\""));
}

TEST_F(ApiServerTest, InClusterConfigWithAServiceAccountToken) {
  ASSERT_TRUE(client_
                  ->Create(types::kServiceAccounts, ns_,
                           {{"apiVersion", "v1"},
                            {"kind", "ServiceAccount"},
                            {"metadata", {{"name", "driver"}}}})
                  .ok());
  Result<json> token = client_->CreateSubresource(
      types::kServiceAccounts, ns_, "driver", "token",
      {{"apiVersion", "authentication.k8s.io/v1"},
       {"kind", "TokenRequest"},
       {"spec", {{"expirationSeconds", 3600}}}});
  ASSERT_TRUE(token.ok()) << token.status().ToString();
  testing::TempDir dir;
  std::ofstream(dir.Sub("token")) << (*token)["status"]["token"].get<std::string>();
  std::ofstream(dir.Sub("namespace")) << ns_;
  std::ifstream ca(ApiServerFixture::StatePath("ca.crt"));
  std::ofstream(dir.Sub("ca.crt")) << ca.rdbuf();

  const std::string server = ApiServerFixture::Server();  // https://127.0.0.1:<port>
  const size_t colon = server.rfind(':');
  setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", server.substr(colon + 1).c_str(), 1);
  Result<ClusterConfig> config = LoadInCluster({dir.path()});
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->namespace_name, ns_);
  Result<std::unique_ptr<Client>> client = Client::Create(*config);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  EXPECT_EQ(WhoAmI(**client), "system:serviceaccount:" + ns_ + ":driver");
}

TEST_F(ApiServerTest, ServesResourceSlicesWithConsumableCapacity) {
  const std::string name = ns_ + "-slice";
  json slice = {
      {"apiVersion", "resource.k8s.io/v1"},
      {"kind", "ResourceSlice"},
      {"metadata", {{"name", name}}},
      {"spec",
       {{"driver", "gpu.gpuslice.io"},
        {"nodeName", name},
        {"pool", {{"name", name}, {"generation", 1}, {"resourceSliceCount", 1}}},
        {"devices",
         json::array({{{"name", "gpu-0"},
                       {"allowMultipleAllocations", true},
                       {"capacity",
                        {{"memory",
                          {{"value", "24Gi"},
                           {"requestPolicy",
                            {{"default", "1Gi"},
                             {"validRange",
                              {{"min", "256Mi"}, {"max", "24Gi"}, {"step", "256Mi"}}}}}}}}}}})}}}};
  Result<json> created = client_->Create(types::kResourceSlices, "", slice);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ((*created)["spec"]["devices"][0]["allowMultipleAllocations"], true);
  ListOptions mine;
  mine.field_selector = "spec.nodeName=" + name;
  EXPECT_EQ((*client_->List(types::kResourceSlices, "", mine))["items"].size(), 1u);
  EXPECT_TRUE(client_->DeleteCollection(types::kResourceSlices, "", mine).ok());
  EXPECT_EQ((*client_->List(types::kResourceSlices, "", mine))["items"].size(), 0u);
}

}  // namespace
}  // namespace gpuslice::kubeapi
