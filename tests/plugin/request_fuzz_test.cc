// Random GetPreferredAllocation and Allocate requests, as a buggy or hostile kubelet might
// send them: every one gets an answer (OK or an error status), never a crash, and every OK
// answer satisfies the protocol.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "core/slicing.h"
#include "fakes/fake_clock.h"
#include "fakes/fake_gpu_backend.h"
#include "fakes/temp_dir.h"
#include "plugin/device_plugin_service.h"

namespace gpuslice::plugin {
namespace {

using testing::MakeGpu;
constexpr uint64_t kGiB = uint64_t{1} << 30;

class RequestFuzzTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto config = std::make_shared<core::Config>();
    config->default_profile.slices = 4;
    config->library_host_dir = dir_.Sub("lib");
    std::filesystem::create_directories(config->library_host_dir);
    std::ofstream(config->library_host_dir + "/libgpuslice.so") << "library";
    std::vector<core::GpuInfo> gpus;
    for (int i = 0; i < 4; ++i) gpus.push_back(MakeGpu(i, "Tesla T4", 16 * kGiB));
    Result<Inventory> inventory = Inventory::Build(*config, gpus);
    ASSERT_TRUE(inventory.ok());
    for (const SlicedGpu& g : inventory->gpus()) {
      for (int s = 0; s < 4; ++s) ids_.push_back(core::MakeDeviceId(g.gpu.uuid, s));
    }
    state_.SetInventory(config, std::make_shared<Inventory>(std::move(*inventory)),
                        std::make_shared<RegionStore>(RegionStoreOptions{dir_.Sub("regions")}, clock_));
    state_.SetUnhealthy({{gpus[3].uuid, "XID 79"}});
  }

  std::string RandomId(std::mt19937& rng) {
    switch (std::uniform_int_distribution<int>(0, 5)(rng)) {
      case 0:
        return "";
      case 1:
        return "GPU-unknown::" + std::to_string(rng() % 9);
      case 2:
        return ids_[rng() % ids_.size()] + "9";
      case 3:
        return std::string(rng() % 300, static_cast<char>('A' + rng() % 60));
      default:
        return ids_[rng() % ids_.size()];
    }
  }

  testing::TempDir dir_;
  testing::FakeClock clock_;
  PluginState state_;
  MetricsRegistry metrics_;
  std::vector<std::string> ids_;
};

TEST_F(RequestFuzzTest, EveryRequestGetsAnAnswerThatKeepsTheProtocol) {
  DevicePluginService service("nvidia.com/gpu", state_, metrics_);
  std::mt19937 rng(42);
  int ok_preferred = 0, ok_allocate = 0;
  for (int i = 0; i < 1500; ++i) {
    v1beta1::PreferredAllocationRequest preferred;
    const int containers = static_cast<int>(rng() % 3);
    for (int c = 0; c < containers; ++c) {
      auto* request = preferred.add_container_requests();
      for (int k = static_cast<int>(rng() % 20); k > 0; --k) request->add_available_deviceids(RandomId(rng));
      for (int k = static_cast<int>(rng() % 3); k > 0; --k) request->add_must_include_deviceids(RandomId(rng));
      request->set_allocation_size(static_cast<int32_t>(rng() % 12) - 2);
    }
    v1beta1::PreferredAllocationResponse preferred_response;
    grpc::ServerContext context;
    if (service.GetPreferredAllocation(&context, &preferred, &preferred_response).ok()) {
      ++ok_preferred;
      ASSERT_EQ(preferred_response.container_responses_size(), containers);
      for (int c = 0; c < containers; ++c) {
        const auto& request = preferred.container_requests(c);
        const auto& chosen = preferred_response.container_responses(c).deviceids();
        EXPECT_EQ(chosen.size(), request.allocation_size());
        std::set<std::string> offered(request.available_deviceids().begin(),
                                      request.available_deviceids().end());
        offered.insert(request.must_include_deviceids().begin(), request.must_include_deviceids().end());
        for (const std::string& id : chosen) EXPECT_TRUE(offered.count(id)) << id;
        for (const std::string& id : request.must_include_deviceids()) {
          EXPECT_NE(std::find(chosen.begin(), chosen.end(), id), chosen.end()) << id;
        }
      }
    }

    v1beta1::AllocateRequest allocate;
    for (int c = static_cast<int>(rng() % 3); c > 0; --c) {
      auto* request = allocate.add_container_requests();
      for (int k = static_cast<int>(rng() % 5); k > 0; --k) request->add_devicesids(RandomId(rng));
    }
    v1beta1::AllocateResponse allocate_response;
    grpc::ServerContext allocate_context;
    if (service.Allocate(&allocate_context, &allocate, &allocate_response).ok()) {
      ++ok_allocate;
      ASSERT_EQ(allocate_response.container_responses_size(), allocate.container_requests_size());
      for (const auto& response : allocate_response.container_responses()) {
        EXPECT_TRUE(response.envs().count("NVIDIA_VISIBLE_DEVICES"));
        EXPECT_TRUE(response.envs().count("GPUSLICE_MEMORY_LIMIT_0"));
      }
    }
  }
  // The generator produces valid requests too, so both success paths were exercised.
  EXPECT_GT(ok_preferred, 20);
  EXPECT_GT(ok_allocate, 20);
}

}  // namespace
}  // namespace gpuslice::plugin
