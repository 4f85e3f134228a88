#include "plugin/allocator.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/contract.h"
#include "fakes/fake_clock.h"
#include "fakes/fake_gpu_backend.h"
#include "fakes/temp_dir.h"
#include "plugin/cdi.h"

namespace gpuslice::plugin {
namespace {

using testing::MakeGpu;
constexpr uint64_t kGiB = uint64_t{1} << 30;

class AllocatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<core::Config> config = core::ParseConfig(R"(version: v1
profiles:
- name: h100
  match: {models: ["*H100*"]}
  slices: 4
  reservedMemory: 1Gi
- name: t4
  match: {models: ["*T4"]}
  slices: 2
  enforceCompute: false
  injection: env
)",
                                                    "c.yaml");
    ASSERT_TRUE(config.ok());
    h100_ = MakeGpu(0, "NVIDIA H100 80GB HBM3", 81 * kGiB, 1);
    t4_ = MakeGpu(1, "Tesla T4", 16 * kGiB);
    Result<Inventory> inventory = Inventory::Build(*config, {h100_, t4_});
    ASSERT_TRUE(inventory.ok());
    inventory_ = std::move(*inventory);
    library_dir_ = dir_.Sub("lib");
    std::filesystem::create_directories(library_dir_);
    std::ofstream(library_dir_ + "/libgpuslice.so") << "library";
    ASSERT_TRUE(WritePreloadFile(library_dir_).ok());
    regions_ = std::make_unique<RegionStore>(RegionStoreOptions{dir_.Sub("regions")}, clock_);
  }

  Allocator MakeAllocator(std::map<std::string, std::string> unhealthy = {}) {
    return Allocator(inventory_, std::move(unhealthy), library_dir_, *regions_);
  }

  testing::TempDir dir_;
  testing::FakeClock clock_;
  core::GpuInfo h100_, t4_;
  Inventory inventory_;
  std::string library_dir_;
  std::unique_ptr<RegionStore> regions_;
};

TEST_F(AllocatorTest, FollowsTheContractFieldByField) {
  Result<ContainerAllocation> allocation =
      MakeAllocator().Allocate("nvidia.com/gpu", {h100_.uuid + "::2", h100_.uuid + "::0"});
  ASSERT_TRUE(allocation.ok()) << allocation.status().ToString();
  const auto& envs = allocation->envs;
  EXPECT_EQ(envs.size(), 4u);
  EXPECT_EQ(envs.at("NVIDIA_VISIBLE_DEVICES"), h100_.uuid);
  // (81 GiB - 1 GiB reserved) / 4 slices * 2 slices = 40 GiB; 2 of 4 slices = 50% compute.
  EXPECT_EQ(envs.at("GPUSLICE_MEMORY_LIMIT_0"), std::to_string(40 * kGiB));
  EXPECT_EQ(envs.at("GPUSLICE_COMPUTE_LIMIT_0"), "50");
  EXPECT_EQ(envs.at("GPUSLICE_REGION"), "/var/run/gpuslice/region");

  ASSERT_EQ(allocation->mounts.size(), 4u);
  // The region file alone is writable; the limits directory is read-only and apart from it.
  const MountSpec& region = allocation->mounts[0];
  EXPECT_EQ(region.container_path, "/var/run/gpuslice/region");
  EXPECT_EQ(region.host_path, allocation->region_dir + "/region");
  EXPECT_FALSE(region.read_only);
  const MountSpec& limits = allocation->mounts[1];
  EXPECT_EQ(limits.container_path, "/etc/gpuslice");
  EXPECT_EQ(limits.host_path, allocation->region_dir + "/limits");
  EXPECT_TRUE(limits.read_only);
  EXPECT_EQ(allocation->mounts[2].container_path, "/usr/local/gpuslice/lib/libgpuslice.so");
  EXPECT_EQ(allocation->mounts[2].host_path, library_dir_ + "/libgpuslice.so");
  EXPECT_TRUE(allocation->mounts[2].read_only);
  EXPECT_EQ(allocation->mounts[3].container_path, "/etc/ld.so.preload");
  EXPECT_EQ(allocation->mounts[3].host_path, library_dir_ + "/ld.so.preload");
  EXPECT_TRUE(allocation->mounts[3].read_only);

  // The limits file says what the environment says, and is what the library reads.
  std::ifstream limits_file(limits.host_path + "/limits");
  std::stringstream text;
  text << limits_file.rdbuf();
  Result<core::contract::LimitsFile> parsed = core::contract::ParseLimitsFile(text.str());
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString() << "\n" << text.str();
  ASSERT_EQ(parsed->gpus.size(), 1u);
  EXPECT_EQ(parsed->gpus[0].uuid, h100_.uuid);
  EXPECT_EQ(parsed->gpus[0].memory_bytes, 40 * kGiB);
  EXPECT_EQ(parsed->gpus[0].compute_percent, 50);
  EXPECT_EQ(parsed->region_path, "/var/run/gpuslice/region");
  EXPECT_FALSE(parsed->allow_disable);  // the default profile setting

  std::ifstream preload(library_dir_ + "/ld.so.preload");
  std::string line;
  std::getline(preload, line);
  EXPECT_EQ(line, "/usr/local/gpuslice/lib/libgpuslice.so");

  // A fresh, empty region file any container user can write, and a record of the allocation.
  struct stat info {};
  ASSERT_EQ(stat((allocation->region_dir + "/region").c_str(), &info), 0);
  EXPECT_EQ(info.st_size, 0);
  EXPECT_EQ(info.st_mode & 0777, 0666u);
  ASSERT_EQ(stat(allocation->region_dir.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0755u);
  std::ifstream record_file(allocation->region_dir + "/allocation.json");
  nlohmann::json record = nlohmann::json::parse(record_file);
  EXPECT_EQ(record["resource"], "nvidia.com/gpu");
  EXPECT_EQ(record["deviceIDs"].size(), 2u);
  // How the GPU was sliced, so a restarted plugin knows what its containers were promised.
  ASSERT_EQ(record["gpus"].size(), 1u);
  EXPECT_EQ(record["gpus"][0]["uuid"], h100_.uuid);
  EXPECT_EQ(record["gpus"][0]["slices"], 4);
  EXPECT_EQ(record["gpus"][0]["reservedMemoryBytes"], kGiB);
}

TEST_F(AllocatorTest, OrdersVisibleGpusByIndexWithLimitsEach) {
  Result<ContainerAllocation> allocation =
      MakeAllocator().Allocate("nvidia.com/gpu", {t4_.uuid + "::1", h100_.uuid + "::3"});
  ASSERT_TRUE(allocation.ok()) << allocation.status().ToString();
  const auto& envs = allocation->envs;
  EXPECT_EQ(envs.at("NVIDIA_VISIBLE_DEVICES"), h100_.uuid + "," + t4_.uuid);
  EXPECT_EQ(envs.at("GPUSLICE_MEMORY_LIMIT_0"), std::to_string(20 * kGiB));
  EXPECT_EQ(envs.at("GPUSLICE_COMPUTE_LIMIT_0"), "25");
  EXPECT_EQ(envs.at("GPUSLICE_MEMORY_LIMIT_1"), std::to_string(8 * kGiB));
  EXPECT_EQ(envs.at("GPUSLICE_COMPUTE_LIMIT_1"), "100");  // the t4 profile does not enforce it
  // The t4 profile injects through LD_PRELOAD instead of /etc/ld.so.preload.
  EXPECT_EQ(envs.at("LD_PRELOAD"), "/usr/local/gpuslice/lib/libgpuslice.so");
  for (const MountSpec& mount : allocation->mounts) {
    EXPECT_NE(mount.container_path, "/etc/ld.so.preload");
  }
}

TEST_F(AllocatorTest, TheOffSwitchIsAllowedOnlyWhereEveryProfileAllowsIt) {
  Result<core::Config> config = core::ParseConfig(R"(version: v1
profiles:
- name: h100
  match: {models: ["*H100*"]}
  slices: 4
  allowDisable: true
- name: t4
  match: {models: ["*T4"]}
  slices: 2
)",
                                                  "c.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  Result<Inventory> inventory = Inventory::Build(*config, {h100_, t4_});
  ASSERT_TRUE(inventory.ok());
  Allocator allocator(*inventory, {}, library_dir_, *regions_);
  Result<ContainerAllocation> h100_only =
      allocator.Allocate("nvidia.com/gpu", {h100_.uuid + "::0"});
  ASSERT_TRUE(h100_only.ok()) << h100_only.status().ToString();
  EXPECT_TRUE(h100_only->limits.allow_disable);
  Result<ContainerAllocation> both =
      allocator.Allocate("nvidia.com/gpu", {h100_.uuid + "::1", t4_.uuid + "::0"});
  ASSERT_TRUE(both.ok()) << both.status().ToString();
  EXPECT_FALSE(both->limits.allow_disable);
}

TEST_F(AllocatorTest, RefusesUnknownDuplicatedAndUnhealthyDevicesNamingThem) {
  Allocator allocator = MakeAllocator({{t4_.uuid, "XID 79"}});
  Result<ContainerAllocation> unknown =
      allocator.Allocate("nvidia.com/gpu", {h100_.uuid + "::9", "GPU-bogus::0"});
  ASSERT_EQ(unknown.status().code(), StatusCode::kNotFound);
  EXPECT_NE(unknown.status().message().find(h100_.uuid + "::9"), std::string::npos);
  EXPECT_NE(unknown.status().message().find("GPU-bogus::0"), std::string::npos);

  Result<ContainerAllocation> twice =
      allocator.Allocate("nvidia.com/gpu", {h100_.uuid + "::1", h100_.uuid + "::1"});
  ASSERT_EQ(twice.status().code(), StatusCode::kInvalidArgument);

  Result<ContainerAllocation> sick = allocator.Allocate("nvidia.com/gpu", {t4_.uuid + "::0"});
  ASSERT_EQ(sick.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(sick.status().message().find(t4_.uuid + "::0 (GPU 1: XID 79)"), std::string::npos)
      << sick.status().message();

  EXPECT_EQ(allocator.Allocate("nvidia.com/gpu", {}).status().code(),
            StatusCode::kInvalidArgument);
  // Nothing was left behind by the refused requests.
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("regions")) &&
               !std::filesystem::is_empty(dir_.Sub("regions")));
}

TEST_F(AllocatorTest, RefusesWhenTheLibraryIsNotInstalled) {
  std::filesystem::remove(library_dir_ + "/libgpuslice.so");
  Result<ContainerAllocation> allocation =
      MakeAllocator().Allocate("nvidia.com/gpu", {h100_.uuid + "::0"});
  ASSERT_EQ(allocation.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(allocation.status().message().find(library_dir_ + "/libgpuslice.so"),
            std::string::npos);
}

TEST_F(AllocatorTest, CdiStrategiesNameNvidiasDevicesAndKeepTheContract) {
  RuntimeOptions runtime;
  runtime.strategies = {core::DeviceListStrategy::kCdiCri,
                        core::DeviceListStrategy::kCdiAnnotations};
  Allocator allocator(inventory_, {}, library_dir_, *regions_, nullptr, runtime);
  Result<ContainerAllocation> allocation =
      allocator.Allocate("nvidia.com/gpu", {t4_.uuid + "::0", h100_.uuid + "::1"});
  ASSERT_TRUE(allocation.ok()) << allocation.status().ToString();
  const std::vector<std::string> names = {"nvidia.com/gpu=" + h100_.uuid,
                                          "nvidia.com/gpu=" + t4_.uuid};
  EXPECT_EQ(allocation->cdi_devices, names);
  ASSERT_EQ(allocation->annotations.size(), 1u);
  const auto& [key, value] = *allocation->annotations.begin();
  EXPECT_EQ(key, "cdi.k8s.io/gpuslice_" +
                     std::filesystem::path(allocation->region_dir).filename().string());
  EXPECT_EQ(value, names[0] + "," + names[1]);
  // An image's NVIDIA_VISIBLE_DEVICES=all must not reach an NVIDIA runtime.
  EXPECT_EQ(allocation->envs.at("NVIDIA_VISIBLE_DEVICES"), "void");
  // gpuslice's own contract is all there.
  EXPECT_EQ(allocation->envs.at("GPUSLICE_MEMORY_LIMIT_0"), std::to_string(20 * kGiB));
  EXPECT_EQ(allocation->limits.gpus.size(), 2u);
  EXPECT_EQ(allocation->mounts.size(), 3u);  // region, limits, library (the T4 uses LD_PRELOAD)
  EXPECT_TRUE(allocation->devices.empty());

  // Each allocation gets an annotation key of its own.
  Result<ContainerAllocation> second = allocator.Allocate("nvidia.com/gpu", {h100_.uuid + "::2"});
  ASSERT_TRUE(second.ok());
  EXPECT_NE(second->annotations.begin()->first, key);
}

TEST_F(AllocatorTest, EnvvarAndCdiTogetherSetBoth) {
  RuntimeOptions runtime;
  runtime.strategies = {core::DeviceListStrategy::kEnvvar, core::DeviceListStrategy::kCdiCri};
  Allocator allocator(inventory_, {}, library_dir_, *regions_, nullptr, runtime);
  Result<ContainerAllocation> allocation =
      allocator.Allocate("nvidia.com/gpu", {h100_.uuid + "::0"});
  ASSERT_TRUE(allocation.ok()) << allocation.status().ToString();
  EXPECT_EQ(allocation->envs.at("NVIDIA_VISIBLE_DEVICES"), h100_.uuid);
  EXPECT_EQ(allocation->cdi_devices, std::vector<std::string>{"nvidia.com/gpu=" + h100_.uuid});
  EXPECT_TRUE(allocation->annotations.empty());
}

TEST_F(AllocatorTest, PassesDeviceNodesUnderTheDriverRoot) {
  // A driver container's root: the control devices it has are passed, the others not.
  const std::string root = dir_.Sub("driver");
  std::filesystem::create_directories(root + "/dev");
  std::ofstream(root + "/dev/nvidiactl") << "";
  std::ofstream(root + "/dev/nvidia-uvm") << "";
  RuntimeOptions runtime;
  runtime.pass_device_specs = true;
  runtime.driver_root = {root, "/run/nvidia/driver"};
  Allocator allocator(inventory_, {}, library_dir_, *regions_, nullptr, runtime);
  Result<ContainerAllocation> allocation =
      allocator.Allocate("nvidia.com/gpu", {h100_.uuid + "::0", t4_.uuid + "::1"});
  ASSERT_TRUE(allocation.ok()) << allocation.status().ToString();
  std::vector<std::pair<std::string, std::string>> devices;
  for (const DeviceNode& node : allocation->devices) {
    EXPECT_EQ(node.permissions, "rw");
    devices.emplace_back(node.container_path, node.host_path);
  }
  EXPECT_EQ(devices, (std::vector<std::pair<std::string, std::string>>{
                         {"/dev/nvidia0", "/run/nvidia/driver/dev/nvidia0"},
                         {"/dev/nvidia1", "/run/nvidia/driver/dev/nvidia1"},
                         {"/dev/nvidiactl", "/run/nvidia/driver/dev/nvidiactl"},
                         {"/dev/nvidia-uvm", "/run/nvidia/driver/dev/nvidia-uvm"}}));
  // Off by default.
  EXPECT_TRUE(MakeAllocator().Allocate("nvidia.com/gpu", {h100_.uuid + "::1"})->devices.empty());
}

TEST_F(AllocatorTest, DistinctGpusProfileRefusesTwoSlicesOfOneGpu) {
  Result<core::Config> config = core::ParseConfig(R"(version: v1
defaultProfile: {slices: 4, distinctGpus: true}
)",
                                                  "c.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  Result<Inventory> inventory = Inventory::Build(*config, {h100_, t4_});
  ASSERT_TRUE(inventory.ok());
  Allocator allocator(*inventory, {}, library_dir_, *regions_);
  Result<ContainerAllocation> shared =
      allocator.Allocate("nvidia.com/gpu", {h100_.uuid + "::0", h100_.uuid + "::1"});
  ASSERT_EQ(shared.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(shared.status().message().find("2 of the container's slices are on GPU 0"),
            std::string::npos)
      << shared.status().message();
  EXPECT_NE(shared.status().message().find("\"defaultProfile\""), std::string::npos);

  // One slice on each of two GPUs: two visible GPUs, each with one slice's limits.
  Result<ContainerAllocation> apart =
      allocator.Allocate("nvidia.com/gpu", {h100_.uuid + "::0", t4_.uuid + "::3"});
  ASSERT_TRUE(apart.ok()) << apart.status().ToString();
  EXPECT_EQ(apart->envs.at("NVIDIA_VISIBLE_DEVICES"), h100_.uuid + "," + t4_.uuid);
  EXPECT_EQ(apart->envs.at("GPUSLICE_MEMORY_LIMIT_0"), std::to_string(81 * kGiB / 4));
  EXPECT_EQ(apart->envs.at("GPUSLICE_MEMORY_LIMIT_1"), std::to_string(16 * kGiB / 4));
  EXPECT_EQ(apart->envs.at("GPUSLICE_COMPUTE_LIMIT_1"), "25");
}

TEST_F(AllocatorTest, SimulatedGpusComeThroughTheirCdiSpecWithCdiStrategies) {
  std::filesystem::create_directories(library_dir_ + "/sim");
  std::ofstream(library_dir_ + "/sim/libcuda.so.1") << "cuda";
  std::ofstream(library_dir_ + "/sim/libnvidia-ml.so.1") << "nvml";
  const std::string cdi_dir = dir_.Sub("cdi");
  std::filesystem::create_directories(cdi_dir);
  const SimulatedDriver simulated{dir_.Sub("sim/state"), cdi_dir};
  RuntimeOptions runtime;
  runtime.strategies = {core::DeviceListStrategy::kCdiCri};
  runtime.pass_device_specs = true;  // simulated GPUs have no device nodes
  Allocator allocator(inventory_, {}, library_dir_, *regions_, &simulated, runtime);

  // No spec written yet: the container could not start, so Allocate says why.
  Result<ContainerAllocation> missing = allocator.Allocate("nvidia.com/gpu", {h100_.uuid + "::0"});
  ASSERT_EQ(missing.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(missing.status().message().find(SimulatedCdiSpecPath(cdi_dir)), std::string::npos)
      << missing.status().message();

  ASSERT_TRUE(WriteSimulatedCdiSpec(
                  {cdi_dir, library_dir_, simulated.state_host_path, {h100_.uuid, t4_.uuid}})
                  .ok());
  Result<ContainerAllocation> allocation =
      allocator.Allocate("nvidia.com/gpu", {h100_.uuid + "::0"});
  ASSERT_TRUE(allocation.ok()) << allocation.status().ToString();
  EXPECT_EQ(allocation->cdi_devices, std::vector<std::string>{"nvidia.com/gpu=" + h100_.uuid});
  EXPECT_TRUE(allocation->devices.empty());
  // The driver libraries and the state come from the CDI spec, not from Allocate.
  for (const MountSpec& mount : allocation->mounts) {
    EXPECT_EQ(mount.container_path.find("/usr/lib/x86_64-linux-gnu"), std::string::npos);
    EXPECT_EQ(mount.container_path.find("gpuslice-sim"), std::string::npos);
  }
  EXPECT_EQ(allocation->envs.count("GPUSLICE_SIM_STATE"), 0u);

  // With envvar, Allocate mounts them itself, as before.
  Allocator envvar(inventory_, {}, library_dir_, *regions_, &simulated);
  Result<ContainerAllocation> legacy = envvar.Allocate("nvidia.com/gpu", {h100_.uuid + "::1"});
  ASSERT_TRUE(legacy.ok()) << legacy.status().ToString();
  EXPECT_EQ(legacy->envs.count("GPUSLICE_SIM_STATE"), 1u);
  EXPECT_TRUE(legacy->cdi_devices.empty());
}

TEST(WritePreloadFile, RewritesOnlyWhenDifferent) {
  testing::TempDir dir;
  ASSERT_TRUE(WritePreloadFile(dir.path()).ok());
  const auto first = std::filesystem::last_write_time(dir.Sub("ld.so.preload"));
  ASSERT_TRUE(WritePreloadFile(dir.path()).ok());
  EXPECT_EQ(std::filesystem::last_write_time(dir.Sub("ld.so.preload")), first);
  std::ofstream(dir.Sub("ld.so.preload")) << "/something/else.so\n";
  ASSERT_TRUE(WritePreloadFile(dir.path()).ok());
  std::ifstream file(dir.Sub("ld.so.preload"));
  std::string line;
  std::getline(file, line);
  EXPECT_EQ(line, "/usr/local/gpuslice/lib/libgpuslice.so");
  EXPECT_FALSE(WritePreloadFile(dir.Sub("missing/dir")).ok());
}

}  // namespace
}  // namespace gpuslice::plugin
