// The DRA driver against a real kube-apiserver (fixture kube_apiserver) and the kubelet's side
// of its sockets played by this test over gRPC: registration, the ResourceSlice it publishes
// and keeps, prepare and unprepare of claims allocated the way kube-scheduler writes them,
// health on the slice and on the kubelet's stream, and a restart in the middle.
#include "dra/driver.h"

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "fakes/apiserver_fixture.h"
#include "fakes/fake_gpu_backend.h"
#include "fakes/pod_resources_server.h"
#include "fakes/temp_dir.h"

namespace gpuslice::dra {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using nlohmann::json;
using testing::ApiServerFixture;

constexpr uint64_t kMiB = uint64_t{1} << 20;

template <typename Predicate>
bool WaitFor(Predicate done, std::chrono::seconds timeout = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

class DriverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string skip = ApiServerFixture::SkipReason();
    if (!skip.empty()) GTEST_SKIP() << skip;
    client_ = ApiServerFixture::AdminClient();
    ASSERT_NE(client_, nullptr);
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    node_ = ApiServerFixture::UniqueName(info->name());
    Result<json> node = client_->Create(kubeapi::types::kNodes, "",
                                        {{"apiVersion", "v1"},
                                         {"kind", "Node"},
                                         {"metadata", {{"name", node_}}}});
    ASSERT_TRUE(node.ok()) << node.status().ToString();
    node_uid_ = (*node)["metadata"]["uid"];
    ASSERT_TRUE(client_
                    ->Create(kubeapi::types::kNamespaces, "",
                             {{"apiVersion", "v1"},
                              {"kind", "Namespace"},
                              {"metadata", {{"name", node_}}}})
                    .ok());
    std::filesystem::create_directories(dir_.Sub("lib"));
    std::ofstream(dir_.Sub("lib/libgpuslice.so")) << "library";
    config_.library_host_dir = dir_.Sub("lib");
    config_.regions_host_dir = dir_.Sub("regions");
    config_.dra.cdi_dir = dir_.Sub("cdi");
    config_.dra.kubelet_plugins_dir = dir_.Sub("plugins");
    config_.dra.kubelet_registry_dir = dir_.Sub("registry");
    config_.health.recovery_window = std::chrono::seconds(0);
    backend_ = std::make_unique<testing::FakeGpuBackend>(std::vector<core::GpuInfo>{
        testing::MakeGpu(0, "NVIDIA A10G", 23028 * kMiB),
        testing::MakeGpu(1, "NVIDIA A10G", 23028 * kMiB)});
  }

  void TearDown() override {
    StopDriver();
    if (client_ == nullptr) return;
    kubeapi::ListOptions mine;
    mine.field_selector = "spec.nodeName=" + node_;
    (void)client_->DeleteCollection(kubeapi::types::kResourceSlices, "", mine);
    (void)client_->Delete(kubeapi::types::kNodes, "", node_);
    (void)client_->Delete(kubeapi::types::kNamespaces, "", node_);
  }

  DriverOptions Options() const {
    DriverOptions options;
    options.node_name = node_;
    options.retry_initial = std::chrono::milliseconds(50);
    options.retry_max = std::chrono::milliseconds(500);
    options.health.poll_interval = std::chrono::milliseconds(50);
    options.health.event_wait = std::chrono::milliseconds(20);
    return options;
  }

  void StartDriver(DriverOptions options) {
    driver_ = std::make_unique<Driver>(options, config_, *backend_, *client_, metrics_,
                                       core::SystemClock::Get());
    const Status started = driver_->Start();
    ASSERT_TRUE(started.ok()) << started.ToString();
    runner_ = std::thread([this] { driver_->Run(); });
  }

  void StopDriver() {
    if (driver_ != nullptr) driver_->Stop();
    if (runner_.joinable()) runner_.join();
    driver_.reset();
  }

  // The node's slices of this driver.
  json Slices() {
    kubeapi::ListOptions mine;
    mine.field_selector = "spec.nodeName=" + node_ + ",spec.driver=gpu.gpuslice.io";
    Result<json> list = client_->List(kubeapi::types::kResourceSlices, "", mine);
    EXPECT_TRUE(list.ok()) << list.status().ToString();
    return list.ok() ? (*list)["items"] : json::array();
  }

  // Creates a claim and writes the allocation kube-scheduler would write for it.
  std::string AllocatedClaim(const std::string& name, const std::string& device,
                             const std::string& memory, const std::string& compute,
                             bool request_memory = true) {
    json request = {{"name", "gpu"}, {"exactly", {{"deviceClassName", "gpu.gpuslice.io"}}}};
    if (request_memory) request["exactly"]["capacity"] = {{"requests", {{"memory", memory}}}};
    Result<json> created = client_->Create(
        kubeapi::types::kResourceClaims, node_,
        {{"apiVersion", "resource.k8s.io/v1"},
         {"kind", "ResourceClaim"},
         {"metadata", {{"name", name}}},
         {"spec", {{"devices", {{"requests", json::array({request})}}}}}});
    EXPECT_TRUE(created.ok()) << created.status().ToString();
    if (!created.ok()) return "";
    json allocated = *created;
    allocated["status"]["allocation"] = {
        {"devices",
         {{"results", json::array({{{"request", "gpu"},
                                    {"driver", "gpu.gpuslice.io"},
                                    {"pool", node_},
                                    {"device", device},
                                    {"shareID", "5a3e1f52-7c44-4cd2-9f0e-0d1e2f3a4b5c"},
                                    {"consumedCapacity",
                                     {{"memory", memory}, {"compute", compute}}}}})}}}};
    Result<json> updated =
        client_->Update(kubeapi::types::kResourceClaims, node_, allocated, "status");
    EXPECT_TRUE(updated.ok()) << updated.status().ToString();
    return (*created)["metadata"]["uid"];
  }

  drapb::NodePrepareResourcesResponse Prepare(const std::string& name, const std::string& uid) {
    auto channel = grpc::CreateChannel("unix://" + driver_->dra_socket(),
                                       grpc::InsecureChannelCredentials());
    auto stub = drapb::DRAPlugin::NewStub(channel);
    drapb::NodePrepareResourcesRequest request;
    drapb::Claim* claim = request.add_claims();
    claim->set_namespace_(node_);
    claim->set_name(name);
    claim->set_uid(uid);
    drapb::NodePrepareResourcesResponse response;
    grpc::ClientContext context;
    const grpc::Status status = stub->NodePrepareResources(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  drapb::NodeUnprepareResourcesResponse Unprepare(const std::string& name,
                                                  const std::string& uid) {
    auto stub = drapb::DRAPlugin::NewStub(grpc::CreateChannel(
        "unix://" + driver_->dra_socket(), grpc::InsecureChannelCredentials()));
    drapb::NodeUnprepareResourcesRequest request;
    drapb::Claim* claim = request.add_claims();
    claim->set_namespace_(node_);
    claim->set_name(name);
    claim->set_uid(uid);
    drapb::NodeUnprepareResourcesResponse response;
    grpc::ClientContext context;
    const grpc::Status status = stub->NodeUnprepareResources(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  testing::TempDir dir_;
  std::unique_ptr<kubeapi::Client> client_;
  std::string node_;
  std::string node_uid_;
  core::Config config_;
  std::unique_ptr<testing::FakeGpuBackend> backend_;
  plugin::MetricsRegistry metrics_;
  std::unique_ptr<Driver> driver_;
  std::thread runner_;
};

TEST_F(DriverTest, RegistersWithTheKubeletAndPublishesOneSlice) {
  StartDriver(Options());
  auto stub = pluginregistration::Registration::NewStub(grpc::CreateChannel(
      "unix://" + driver_->registration_socket(), grpc::InsecureChannelCredentials()));
  pluginregistration::PluginInfo info;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub->GetInfo(&context, {}, &info).ok());
  }
  EXPECT_EQ(info.type(), "DRAPlugin");
  EXPECT_EQ(info.name(), "gpu.gpuslice.io");
  EXPECT_EQ(info.endpoint(), driver_->dra_socket());
  EXPECT_THAT(info.supported_versions(),
              ::testing::ElementsAre("v1.DRAPlugin", "v1.DRAResourceHealth"));
  EXPECT_FALSE(driver_->registered());
  pluginregistration::RegistrationStatus registered;
  registered.set_plugin_registered(true);
  pluginregistration::RegistrationStatusResponse ignored;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub->NotifyRegistrationStatus(&context, registered, &ignored).ok());
  }
  EXPECT_TRUE(driver_->registered());

  ASSERT_TRUE(WaitFor([&] { return Slices().size() == 1; }));
  const json slice = Slices()[0];
  EXPECT_EQ(slice["metadata"]["name"], node_ + "-gpu.gpuslice.io");
  EXPECT_EQ(slice["metadata"]["ownerReferences"][0]["uid"], node_uid_);
  EXPECT_EQ(slice["spec"]["pool"]["name"], node_);
  ASSERT_EQ(slice["spec"]["devices"].size(), 2u);
  EXPECT_EQ(slice["spec"]["devices"][0]["allowMultipleAllocations"], true);
  EXPECT_TRUE(driver_->published());
  // Published once: the server's canonical quantities compare equal to ours, so the watch
  // sees no difference and nothing is written again.
  const std::string version = slice["metadata"]["resourceVersion"];
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_EQ(Slices()[0]["metadata"]["resourceVersion"], version);
}

TEST_F(DriverTest, PreparesClaimsTheSchedulerAllocatedAndUnpreparesThem) {
  StartDriver(Options());
  const std::string uid = AllocatedClaim("small", "gpu-1", "6Gi", "25");
  drapb::NodePrepareResourcesResponse response = Prepare("small", uid);
  ASSERT_EQ(response.claims().count(uid), 1u);
  const drapb::NodePrepareResourceResponse& entry = response.claims().at(uid);
  ASSERT_EQ(entry.error(), "");
  ASSERT_EQ(entry.devices_size(), 1);
  EXPECT_EQ(entry.devices(0).pool_name(), node_);
  EXPECT_EQ(entry.devices(0).device_name(), "gpu-1");
  EXPECT_EQ(entry.devices(0).share_id(), "5a3e1f52-7c44-4cd2-9f0e-0d1e2f3a4b5c");
  ASSERT_EQ(entry.devices(0).cdi_device_ids_size(), 1);
  EXPECT_EQ(entry.devices(0).cdi_device_ids(0), "gpu.gpuslice.io/claim=" + uid + "-gpu-1");
  const std::string spec = dir_.Sub("cdi/gpu.gpuslice.io-" + uid + ".json");
  std::ifstream file(spec);
  const json document = json::parse(file);
  EXPECT_EQ(document["devices"][0]["containerEdits"]["env"][0],
            "GPUSLICE_MEMORY_LIMIT_0=" + std::to_string(6 * 1024 * kMiB));
  EXPECT_EQ(document["devices"][0]["containerEdits"]["env"][1], "GPUSLICE_COMPUTE_LIMIT_0=25");
  ASSERT_EQ(driver_->Prepared().size(), 1u);

  const drapb::NodeUnprepareResourcesResponse unprepared = Unprepare("small", uid);
  ASSERT_EQ(unprepared.claims().count(uid), 1u);
  EXPECT_EQ(unprepared.claims().at(uid).error(), "");
  EXPECT_FALSE(std::filesystem::exists(spec));
  EXPECT_TRUE(driver_->Prepared().empty());
}

TEST_F(DriverTest, ServesItsResourceAndItsClaimsContainersToTheHttpEndpoint) {
  testing::PodResourcesServer kubelet(dir_.Sub("pod-resources.sock"));
  ASSERT_TRUE(kubelet.ok());
  DriverOptions options = Options();
  options.pod_resources_socket = dir_.Sub("pod-resources.sock");
  StartDriver(options);
  const std::vector<plugin::ResourceStatus> resources = driver_->Resources();
  ASSERT_EQ(resources.size(), 1u);
  EXPECT_EQ(resources[0].resource, "gpu.gpuslice.io");
  EXPECT_EQ(resources[0].socket_path, driver_->dra_socket());
  EXPECT_TRUE(resources[0].serving);
  EXPECT_EQ(resources[0].devices, 2);
  EXPECT_EQ(resources[0].healthy_devices, 2);

  const std::string uid = AllocatedClaim("metered", "gpu-1", "4Gi", "25");
  const drapb::NodePrepareResourcesResponse response = Prepare("metered", uid);
  ASSERT_EQ(response.claims().at(uid).error(), "");
  const auto& ids = response.claims().at(uid).devices(0).cdi_device_ids();
  // Prepared but not yet listed by the kubelet for any container: no series.
  EXPECT_THAT(driver_->RenderContainerMetrics(), Not(HasSubstr("claim=\"metered\"")));
  kubelet.AddClaimContainer(node_, "server", "main", "metered", "gpu.gpuslice.io",
                            {ids.begin(), ids.end()});
  EXPECT_THAT(driver_->RenderContainerMetrics(),
              HasSubstr("gpuslice_container_memory_limit_bytes{namespace=\"" + node_ +
                        "\",pod=\"server\",container=\"main\",gpu=\"" +
                        testing::MakeGpu(1, "NVIDIA A10G", 23028 * kMiB).uuid +
                        "\",resource=\"gpu.gpuslice.io\",claim=\"metered\"} " +
                        std::to_string(4 * 1024 * kMiB) + "\n"));

  // Unprepared: the claim's region is gone, and its series with it.
  ASSERT_EQ(Unprepare("metered", uid).claims().at(uid).error(), "");
  EXPECT_THAT(driver_->RenderContainerMetrics(), Not(HasSubstr("claim=\"metered\"")));
}

TEST_F(DriverTest, BadClaimsGetAClearErrorEachAndTheOthersArePrepared) {
  StartDriver(Options());
  const std::string good = AllocatedClaim("good", "gpu-0", "4Gi", "10");
  const std::string unsized = AllocatedClaim("unsized", "gpu-0", "1Gi", "0", false);
  const std::string elsewhere = AllocatedClaim("elsewhere", "gpu-9", "4Gi", "10");
  auto stub = drapb::DRAPlugin::NewStub(grpc::CreateChannel(
      "unix://" + driver_->dra_socket(), grpc::InsecureChannelCredentials()));
  drapb::NodePrepareResourcesRequest request;
  for (const auto& [name, uid] : std::vector<std::pair<std::string, std::string>>{
           {"good", good}, {"unsized", unsized}, {"elsewhere", elsewhere}, {"ghost", "uid-x"}}) {
    drapb::Claim* claim = request.add_claims();
    claim->set_namespace_(node_);
    claim->set_name(name);
    claim->set_uid(uid);
  }
  drapb::NodePrepareResourcesResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(stub->NodePrepareResources(&context, request, &response).ok());
  ASSERT_EQ(response.claims_size(), 4);
  EXPECT_EQ(response.claims().at(good).error(), "");
  EXPECT_THAT(response.claims().at(unsized).error(), HasSubstr("names no memory"));
  EXPECT_THAT(response.claims().at(elsewhere).error(), HasSubstr("this node has no device gpu-9"));
  EXPECT_THAT(response.claims().at("uid-x").error(), HasSubstr("404 NotFound"));
}

TEST_F(DriverTest, UnhealthyGpuIsTaintedAndReportedToTheKubelet) {
  StartDriver(Options());
  ASSERT_TRUE(WaitFor([&] { return Slices().size() == 1; }));
  auto stub = v1::DRAResourceHealth::NewStub(grpc::CreateChannel(
      "unix://" + driver_->dra_socket(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  auto stream = stub->NodeWatchResources(&context, {});
  v1::NodeWatchResourcesResponse health;
  ASSERT_TRUE(stream->Read(&health));
  ASSERT_EQ(health.devices_size(), 2);
  EXPECT_EQ(health.devices(0).health(), v1::HEALTHY);

  backend_->InjectXid(testing::MakeGpu(0, "", 0).uuid, 79);
  bool unhealthy = false;
  while (!unhealthy && stream->Read(&health)) {
    for (const v1::DeviceHealth& device : health.devices()) {
      if (device.device().device_name() == "gpu-0" && device.health() == v1::UNHEALTHY) {
        unhealthy = true;
        EXPECT_THAT(device.message(), HasSubstr("79"));
      }
    }
  }
  EXPECT_TRUE(unhealthy);
  context.TryCancel();
  ASSERT_TRUE(WaitFor([&] {
    const json slices = Slices();
    return slices.size() == 1 && slices[0]["spec"]["devices"][0].contains("taints");
  }));
  EXPECT_EQ(Slices()[0]["spec"]["devices"][0]["taints"][0]["effect"], "NoSchedule");
  EXPECT_FALSE(Slices()[0]["spec"]["devices"][1].contains("taints"));

  // A new claim on the unhealthy GPU is refused at prepare too.
  const std::string uid = AllocatedClaim("late", "gpu-0", "1Gi", "10");
  EXPECT_THAT(Prepare("late", uid).claims().at(uid).error(), HasSubstr("is unhealthy"));
}

TEST_F(DriverTest, ADeletedSliceIsPublishedAgainAndLostOrFoundGpusFollow) {
  DriverOptions options = Options();
  options.resync = std::chrono::milliseconds(300);
  StartDriver(options);
  ASSERT_TRUE(WaitFor([&] { return Slices().size() == 1; }));
  const std::string first = Slices()[0]["metadata"]["uid"];
  ASSERT_TRUE(client_->Delete(kubeapi::types::kResourceSlices, "", node_ + "-gpu.gpuslice.io").ok());
  ASSERT_TRUE(WaitFor([&] {
    const json slices = Slices();
    return slices.size() == 1 && slices[0]["metadata"]["uid"] != first;
  }));

  backend_->SetGpus({testing::MakeGpu(1, "NVIDIA A10G", 23028 * kMiB)});
  ASSERT_TRUE(WaitFor([&] {
    const json slices = Slices();
    return slices.size() == 1 && slices[0]["spec"]["devices"].size() == 1;
  }));
  EXPECT_EQ(Slices()[0]["spec"]["devices"][0]["name"], "gpu-1");
  const int after_loss = Slices()[0]["spec"]["pool"]["generation"].get<int>();
  EXPECT_GE(after_loss, 2);

  // A GPU that comes back (a reset, a replaced card) is published at the next discovery.
  backend_->SetGpus({testing::MakeGpu(0, "NVIDIA A10G", 23028 * kMiB),
                     testing::MakeGpu(1, "NVIDIA A10G", 23028 * kMiB)});
  ASSERT_TRUE(WaitFor([&] {
    const json slices = Slices();
    return slices.size() == 1 && slices[0]["spec"]["devices"].size() == 2;
  }));
  EXPECT_GT(Slices()[0]["spec"]["pool"]["generation"].get<int>(), after_loss);
}

TEST_F(DriverTest, LeavesGpusInMigModeOutOfTheSliceAndCountsThem) {
  core::GpuInfo mig = testing::MakeGpu(0, "NVIDIA A100-SXM4-80GB", 81920 * kMiB);
  mig.mig_enabled = true;
  const core::GpuInfo whole = testing::MakeGpu(1, "NVIDIA A10G", 23028 * kMiB);
  backend_->SetGpus({mig, whole});
  DriverOptions options = Options();
  options.resync = std::chrono::milliseconds(300);
  StartDriver(options);
  ASSERT_TRUE(WaitFor([&] { return Slices().size() == 1; }));
  const json devices = Slices()[0]["spec"]["devices"];
  ASSERT_EQ(devices.size(), 1u);
  EXPECT_EQ(devices[0]["name"], "gpu-1");
  EXPECT_EQ(driver_->Resources()[0].devices, 1);
  EXPECT_EQ(metrics_.Get(plugin::kMetricMigExcluded, {{"gpu", mig.uuid}, {"index", "0"}}), 1);
  EXPECT_EQ(metrics_.Get(plugin::kMetricMigExcluded, {{"gpu", whole.uuid}, {"index", "1"}}), 0);
  EXPECT_THAT(metrics_.Render(),
              HasSubstr("gpuslice_gpu_mig_excluded{gpu=\"" + mig.uuid + "\",index=\"0\"} 1"));
  // A claim the scheduler could only have allocated from a stale slice is refused.
  const std::string uid = AllocatedClaim("on-mig", "gpu-0", "2Gi", "30");
  EXPECT_NE(Prepare("on-mig", uid).claims().at(uid).error(), "");

  // Out of MIG mode, the GPU is published at the next discovery and its series goes.
  mig.mig_enabled = false;
  backend_->SetGpus({mig, whole});
  ASSERT_TRUE(WaitFor([&] {
    const json slices = Slices();
    return slices.size() == 1 && slices[0]["spec"]["devices"].size() == 2;
  }));
  EXPECT_THAT(metrics_.Render(), Not(HasSubstr("gpuslice_gpu_mig_excluded{")));
}

TEST_F(DriverTest, ARestartKeepsPreparedClaimsAndTheSlice) {
  StartDriver(Options());
  const std::string uid = AllocatedClaim("kept", "gpu-0", "2Gi", "30");
  ASSERT_EQ(Prepare("kept", uid).claims().at(uid).error(), "");
  ASSERT_TRUE(WaitFor([&] { return Slices().size() == 1; }));
  const std::string slice_uid = Slices()[0]["metadata"]["uid"];
  StopDriver();
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("registry/gpu.gpuslice.io-reg.sock")));
  ASSERT_EQ(Slices().size(), 1u);

  StartDriver(Options());
  ASSERT_EQ(driver_->Prepared().size(), 1u);
  EXPECT_EQ(driver_->Prepared()[0].uid, uid);
  // The kubelet prepares again after it restarts: the same answer.
  EXPECT_EQ(Prepare("kept", uid).claims().at(uid).devices(0).cdi_device_ids(0),
            "gpu.gpuslice.io/claim=" + uid + "-gpu-0");
  EXPECT_EQ(Unprepare("kept", uid).claims().at(uid).error(), "");
  EXPECT_TRUE(driver_->Prepared().empty());
  EXPECT_EQ(Slices()[0]["metadata"]["uid"], slice_uid);
}

}  // namespace
}  // namespace gpuslice::dra
