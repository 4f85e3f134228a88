// The chart's slice-node policy (templates/dra-slice-policy.yaml) on a real kube-apiserver
// (fixture kube_apiserver): the chart is rendered by the real Helm, its RBAC and policy are
// created on the server, and the driver's service account writes ResourceSlices with tokens the
// server issues the way the kubelet asks for them, bound to a pod on a node.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <yaml-cpp/yaml.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "fakes/apiserver_fixture.h"
#include "fakes/temp_dir.h"

namespace gpuslice {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;
using testing::ApiServerFixture;

const std::string kChart = std::string(GPUSLICE_SOURCE_DIR) + "/deploy/helm/gpuslice";

const kubeapi::ResourceType kPolicies{"admissionregistration.k8s.io", "v1",
                                      "validatingadmissionpolicies", false};
const kubeapi::ResourceType kPolicyBindings{"admissionregistration.k8s.io", "v1",
                                            "validatingadmissionpolicybindings", false};
const kubeapi::ResourceType kClusterRoles{"rbac.authorization.k8s.io", "v1", "clusterroles",
                                          false};
const kubeapi::ResourceType kClusterRoleBindings{"rbac.authorization.k8s.io", "v1",
                                                 "clusterrolebindings", false};

// The chart's manifests are plain YAML: a scalar is a string unless it was written unquoted as
// a boolean or an integer.
json ToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      json object = json::object();
      for (const auto& entry : node) object[entry.first.as<std::string>()] = ToJson(entry.second);
      return object;
    }
    case YAML::NodeType::Sequence: {
      json array = json::array();
      for (const auto& item : node) array.push_back(ToJson(item));
      return array;
    }
    case YAML::NodeType::Scalar: {
      const std::string text = node.Scalar();
      if (node.Tag() != "!") {
        if (text == "true" || text == "false") return text == "true";
        if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos) {
          return std::stoll(text);
        }
      }
      return text;
    }
    default:
      return nullptr;
  }
}

class DraSlicePolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string skip = ApiServerFixture::SkipReason();
    if (!skip.empty()) GTEST_SKIP() << skip;
    if (system("helm version >/dev/null 2>&1") != 0) {
      GTEST_SKIP() << "helm is not installed (scripts/setup.sh --test-tools installs it)";
    }
    admin_ = ApiServerFixture::AdminClient();
    ASSERT_NE(admin_, nullptr);
    // Names of this process's own, so a rerun against the same server starts clean.
    release_ = ApiServerFixture::UniqueName("slicepolicy");
    account_ = release_ + "-gpuslice";
    node_a_ = release_ + "-a";
    node_b_ = release_ + "-b";
  }

  void TearDown() override {
    if (admin_ == nullptr) return;
    for (const json& object : created_) {
      const std::string kind = object["kind"];
      const std::string name = object["metadata"]["name"];
      if (kind == "ValidatingAdmissionPolicy") (void)admin_->Delete(kPolicies, "", name);
      if (kind == "ValidatingAdmissionPolicyBinding") {
        (void)admin_->Delete(kPolicyBindings, "", name);
      }
      if (kind == "ClusterRole") (void)admin_->Delete(kClusterRoles, "", name);
      if (kind == "ClusterRoleBinding") (void)admin_->Delete(kClusterRoleBindings, "", name);
    }
    for (const std::string& node : {node_a_, node_b_}) {
      kubeapi::ListOptions slices;
      slices.field_selector = "spec.nodeName=" + node;
      (void)admin_->DeleteCollection(kubeapi::types::kResourceSlices, "", slices);
      (void)admin_->Delete(kubeapi::types::kNodes, "", node);
    }
    (void)admin_->Delete(kubeapi::types::kNamespaces, "", release_);
  }

  // The chart's documents in DRA mode, rendered into namespace release_.
  std::vector<YAML::Node> Render() {
    const std::string command = "helm template " + release_ + " " + kChart + " --namespace " +
                                release_ + " --set mode=dra 2>&1";
    std::string output;
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) return {};
    std::array<char, 4096> buffer{};
    size_t n = 0;
    while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) output.append(buffer.data(), n);
    const int status = pclose(pipe);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << output;
    std::vector<YAML::Node> documents;
    for (const YAML::Node& document : YAML::LoadAll(output)) {
      if (document.IsMap() && document["kind"]) documents.push_back(document);
    }
    return documents;
  }

  // Creates the chart's documents of `kind` whose name ends with `suffix`; returns how many.
  int CreateFromChart(const std::vector<YAML::Node>& documents, const std::string& kind,
                      const kubeapi::ResourceType& type, const std::string& suffix) {
    int count = 0;
    for (const YAML::Node& document : documents) {
      const std::string name = document["metadata"]["name"].as<std::string>();
      if (document["kind"].as<std::string>() != kind || !name.ends_with(suffix)) continue;
      const json object = ToJson(document);
      Result<json> made = admin_->Create(type, "", object);
      EXPECT_TRUE(made.ok()) << kind << " " << name << ": " << made.status().ToString();
      if (made.ok()) created_.push_back(object);
      ++count;
    }
    return count;
  }

  void CreateNode(const std::string& name) {
    Result<json> node = admin_->Create(
        kubeapi::types::kNodes, "",
        {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", name}}}});
    ASSERT_TRUE(node.ok()) << node.status().ToString();
  }

  // A token of the driver's service account as the kubelet gets it for the driver's pod on
  // `node` (a TokenRequest bound to that pod), or, with `node` empty, one bound to nothing.
  std::string Token(const std::string& node) {
    json request = {{"apiVersion", "authentication.k8s.io/v1"},
                    {"kind", "TokenRequest"},
                    {"spec", {{"expirationSeconds", 600}}}};
    if (!node.empty()) {
      Result<json> pod = admin_->Create(
          kubeapi::types::kPods, release_,
          {{"apiVersion", "v1"},
           {"kind", "Pod"},
           {"metadata", {{"name", "driver-on-" + node}}},
           {"spec",
            {{"nodeName", node},
             {"serviceAccountName", account_},
             {"automountServiceAccountToken", false},
             {"containers", json::array({{{"name", "driver"}, {"image", "gpuslice"}}})}}}});
      EXPECT_TRUE(pod.ok()) << pod.status().ToString();
      if (!pod.ok()) return "";
      request["spec"]["boundObjectRef"] = {{"apiVersion", "v1"},
                                           {"kind", "Pod"},
                                           {"name", (*pod)["metadata"]["name"]},
                                           {"uid", (*pod)["metadata"]["uid"]}};
    }
    Result<json> issued = admin_->CreateSubresource(kubeapi::types::kServiceAccounts, release_,
                                                    account_, "token", request);
    EXPECT_TRUE(issued.ok()) << issued.status().ToString();
    return issued.ok() ? (*issued)["status"]["token"].get<std::string>() : "";
  }

  std::unique_ptr<kubeapi::Client> ClientWithToken(const std::string& token) {
    kubeapi::ClusterConfig config;
    config.server = ApiServerFixture::Server();
    config.ca_file = ApiServerFixture::StatePath("ca.crt");
    config.token = token;
    config.source = "test token";
    kubeapi::ClientOptions options;
    // A refusal is the answer under test: no retries.
    options.max_attempts = 1;
    Result<std::unique_ptr<kubeapi::Client>> client = kubeapi::Client::Create(config, options);
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    return client.ok() ? std::move(*client) : nullptr;
  }

  json Slice(const std::string& name, const std::string& node) const {
    return {{"apiVersion", "resource.k8s.io/v1"},
            {"kind", "ResourceSlice"},
            {"metadata", {{"name", name}}},
            {"spec",
             {{"driver", "gpu.gpuslice.io"},
              {"nodeName", node},
              {"pool", {{"name", node}, {"generation", 1}, {"resourceSliceCount", 1}}},
              {"devices", json::array()}}}};
  }

  std::unique_ptr<kubeapi::Client> admin_;
  std::string release_;
  std::string account_;
  std::string node_a_;
  std::string node_b_;
  std::vector<json> created_;
};

TEST_F(DraSlicePolicyTest, TheDriverOfNodeAWritesOnlyNodeAsSlice) {
  const std::vector<YAML::Node> chart = Render();
  ASSERT_FALSE(chart.empty());
  ASSERT_TRUE(admin_
                  ->Create(kubeapi::types::kNamespaces, "",
                           {{"apiVersion", "v1"},
                            {"kind", "Namespace"},
                            {"metadata", {{"name", release_}}}})
                  .ok());
  ASSERT_TRUE(admin_
                  ->Create(kubeapi::types::kServiceAccounts, release_,
                           {{"apiVersion", "v1"},
                            {"kind", "ServiceAccount"},
                            {"metadata", {{"name", account_}}}})
                  .ok());
  ASSERT_EQ(CreateFromChart(chart, "ClusterRole", kClusterRoles, "-dra"), 1);
  ASSERT_EQ(CreateFromChart(chart, "ClusterRoleBinding", kClusterRoleBindings, "-dra"), 1);
  CreateNode(node_a_);
  CreateNode(node_b_);
  const std::unique_ptr<kubeapi::Client> on_a = ClientWithToken(Token(node_a_));
  const std::unique_ptr<kubeapi::Client> unbound = ClientWithToken(Token(""));
  ASSERT_NE(on_a, nullptr);
  ASSERT_NE(unbound, nullptr);

  // RBAC alone lets node A's driver write node B's slice: what the policy is for.
  const std::string b_slice = node_b_ + "-gpu.gpuslice.io";
  Result<json> rbac_only =
      on_a->Create(kubeapi::types::kResourceSlices, "", Slice(b_slice, node_b_));
  ASSERT_TRUE(rbac_only.ok()) << rbac_only.status().ToString();
  ASSERT_TRUE(admin_->Delete(kubeapi::types::kResourceSlices, "", b_slice).ok());

  ASSERT_EQ(CreateFromChart(chart, "ValidatingAdmissionPolicy", kPolicies, "-dra-slice-node"), 1);
  ASSERT_EQ(CreateFromChart(chart, "ValidatingAdmissionPolicyBinding", kPolicyBindings,
                            "-dra-slice-node"),
            1);
  // The API server applies a new policy once its informer has it: a bounded wait for the first
  // refusal, which must be the policy's.
  Result<json> refused = Status::Internal("not tried");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    refused = on_a->Create(kubeapi::types::kResourceSlices, "", Slice(b_slice, node_b_));
    if (!refused.ok()) break;
    ASSERT_TRUE(admin_->Delete(kubeapi::types::kResourceSlices, "", b_slice).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_FALSE(refused.ok()) << "the policy did not take effect within 60 s";
  EXPECT_THAT(refused.status().message(),
              HasSubstr("the gpuslice DRA driver on node " + node_a_ +
                        " may write only its own node's ResourceSlice, not one with "
                        "spec.nodeName " + node_b_));

  // Its own node's slice: created, updated, deleted.
  const std::string a_slice = node_a_ + "-gpu.gpuslice.io";
  Result<json> own = on_a->Create(kubeapi::types::kResourceSlices, "", Slice(a_slice, node_a_));
  ASSERT_TRUE(own.ok()) << own.status().ToString();
  json changed = *own;
  changed["spec"]["pool"]["generation"] = 2;
  Result<json> updated = on_a->Update(kubeapi::types::kResourceSlices, "", changed);
  EXPECT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_TRUE(on_a->Delete(kubeapi::types::kResourceSlices, "", a_slice).ok());

  // Node B's slice, written by B's driver (here the admin): A's driver can neither change nor
  // delete it.
  Result<json> theirs =
      admin_->Create(kubeapi::types::kResourceSlices, "", Slice(b_slice, node_b_));
  ASSERT_TRUE(theirs.ok()) << theirs.status().ToString();
  json moved = *theirs;
  moved["spec"]["pool"]["generation"] = 2;
  Result<json> update_b = on_a->Update(kubeapi::types::kResourceSlices, "", moved);
  ASSERT_FALSE(update_b.ok());
  EXPECT_THAT(update_b.status().message(), HasSubstr("may write only its own node's"));
  const Status delete_b = on_a->Delete(kubeapi::types::kResourceSlices, "", b_slice);
  ASSERT_FALSE(delete_b.ok());
  EXPECT_THAT(delete_b.message(), HasSubstr("may change only its own node's ResourceSlice, not "
                                            "one with spec.nodeName " + node_b_));
  EXPECT_TRUE(admin_->Get(kubeapi::types::kResourceSlices, "", b_slice).ok());

  // A token of the service account bound to no pod carries no node: no slice at all.
  Result<json> nodeless = unbound->Create(kubeapi::types::kResourceSlices, "",
                                          Slice(a_slice, node_a_));
  ASSERT_FALSE(nodeless.ok());
  EXPECT_THAT(nodeless.status().message(), HasSubstr("only with a token bound to a pod on a node"));
}

}  // namespace
}  // namespace gpuslice
