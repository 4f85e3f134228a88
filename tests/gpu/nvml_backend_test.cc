// NvmlBackend through the real dlopen path, on the simulated NVML: discovery facts, XID
// events, lost GPUs, and what happens with a missing or foreign library. The simulated NVML
// maps one node state per process, so every test here shares one state file.
#include "gpu/nvml_backend.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "fakes/temp_dir.h"
#include "sim/spec.h"
#include "sim/state.h"

namespace gpuslice::gpu {
namespace {

using namespace std::chrono_literals;
const std::string kSimNvml = std::string(GPUSLICE_LIB_DIR) + "/libgpuslice-sim-nvml.so";

class NvmlBackendTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    // A YAML spec, for the GPU in MIG mode; the state is made here, since the simulated NVML
    // reads spec strings only.
    const std::string spec_file = dir_->Sub("node.yaml");
    std::ofstream(spec_file) << "version: v1\ngpus:\n- model: H100-80GB\n- model: T4\n"
                                "- model: A100-80GB\n  migMode: true\n";
    Result<sim::SimSpec> spec = sim::ParseSpec(spec_file);
    ASSERT_TRUE(spec.ok()) << spec.status().ToString();
    ASSERT_TRUE(sim::SimState::Create(dir_->Sub("sim.state"), *spec, spec_file, false).ok());
    setenv("GPUSLICE_SIM_STATE", dir_->Sub("sim.state").c_str(), 1);
    setenv("GPUSLICE_SIM_SPEC", spec_file.c_str(), 1);
    unsetenv("NVIDIA_VISIBLE_DEVICES");
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!std::filesystem::exists(kSimNvml)) GTEST_SKIP() << "simulated NVML not built: " << kSimNvml;
    Result<std::unique_ptr<NvmlBackend>> backend = NvmlBackend::Create({kSimNvml, "/sys"});
    ASSERT_TRUE(backend.ok()) << backend.status().ToString();
    backend_ = std::move(*backend);
    Result<std::unique_ptr<sim::SimState>> state = sim::SimState::Open(dir_->Sub("sim.state"));
    ASSERT_TRUE(state.ok()) << state.status().ToString();
    state_ = std::move(*state);
  }
  void TearDown() override {
    if (state_ != nullptr) {
      for (int i = 0; i < state_->gpu_count(); ++i) ASSERT_TRUE(state_->SetLost(i, false).ok());
    }
  }

  // Drains events queued by earlier tests.
  void Drain() {
    while (backend_->WaitForXid(0ms).ok()) {
    }
  }

  static testing::TempDir* dir_;
  std::unique_ptr<NvmlBackend> backend_;
  std::unique_ptr<sim::SimState> state_;
};

testing::TempDir* NvmlBackendTest::dir_ = nullptr;

TEST_F(NvmlBackendTest, DiscoversEveryFactOfEachGpu) {
  Result<Discovery> discovery = backend_->Discover();
  ASSERT_TRUE(discovery.ok()) << discovery.status().ToString();
  EXPECT_TRUE(discovery->failures.empty());
  const std::vector<core::GpuInfo>* gpus = &discovery->gpus;
  ASSERT_EQ(gpus->size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const core::GpuInfo& gpu = (*gpus)[static_cast<size_t>(i)];
    const sim::GpuSpec& spec = state_->gpu(i);
    EXPECT_EQ(gpu.index, i);
    EXPECT_EQ(gpu.uuid, spec.uuid);
    EXPECT_EQ(gpu.name, spec.name);
    EXPECT_EQ(gpu.memory_bytes, spec.memory_bytes);
    EXPECT_EQ(gpu.minor, spec.minor);
    EXPECT_EQ(gpu.pci_bus_id, spec.pci_bus_id);
    EXPECT_EQ(gpu.numa_node, spec.numa_node);
    EXPECT_EQ(gpu.mig_enabled, spec.mig_mode);
  }
  EXPECT_EQ((*gpus)[0].name, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ((*gpus)[1].memory_bytes, uint64_t{15360} << 20);
  // H100 is compute capability 9.0, T4 7.5.
  EXPECT_EQ((*gpus)[0].compute_major, 9);
  EXPECT_EQ((*gpus)[0].compute_minor, 0);
  EXPECT_EQ((*gpus)[1].compute_major, 7);
  EXPECT_EQ((*gpus)[1].compute_minor, 5);
  EXPECT_EQ(discovery->driver_version, state_->driver_version());
  EXPECT_EQ(discovery->cuda_driver_version, state_->cuda_version());
  // nvmlDeviceGetMigMode: NOT_SUPPORTED on the T4, enabled on the A100.
  EXPECT_FALSE((*gpus)[1].mig_enabled);
  EXPECT_TRUE((*gpus)[2].mig_enabled);
}

// One GPU that stopped answering must not hide the others from the node.
TEST_F(NvmlBackendTest, DiscoversTheGpusThatAnswerAndNamesTheOnesThatDoNot) {
  ASSERT_TRUE(state_->SetLost(0, true).ok());
  Result<Discovery> discovery = backend_->Discover();
  ASSERT_TRUE(state_->SetLost(0, false).ok());
  ASSERT_TRUE(discovery.ok()) << discovery.status().ToString();
  ASSERT_EQ(discovery->gpus.size(), 2u);
  EXPECT_EQ(discovery->gpus[0].uuid, state_->gpu(1).uuid);
  ASSERT_EQ(discovery->failures.size(), 1u);
  EXPECT_EQ(discovery->failures[0].rfind("GPU 0: ", 0), 0u) << discovery->failures[0];
}

TEST_F(NvmlBackendTest, DeliversXidEventsWithTheirGpu) {
  Drain();
  ASSERT_TRUE(state_->InjectXid(1, 79).ok());
  Result<XidEvent> event = backend_->WaitForXid(5s);
  ASSERT_TRUE(event.ok()) << event.status().ToString();
  EXPECT_EQ(event->gpu_uuid, state_->gpu(1).uuid);
  EXPECT_EQ(event->xid, 79);
  EXPECT_EQ(backend_->WaitForXid(10ms).status().code(), StatusCode::kDeadlineExceeded);
}

TEST_F(NvmlBackendTest, ALostGpuFailsItsCheckAndIsNamedByItsEvent) {
  Drain();
  const std::string uuid = state_->gpu(0).uuid;
  EXPECT_TRUE(backend_->CheckGpu(uuid).ok());
  ASSERT_TRUE(state_->SetLost(0, true).ok());
  Status check = backend_->CheckGpu(uuid);
  EXPECT_EQ(check.code(), StatusCode::kUnavailable);
  EXPECT_NE(check.message().find(uuid), std::string::npos);
  Result<XidEvent> event = backend_->WaitForXid(5s);
  ASSERT_TRUE(event.ok()) << event.status().ToString();
  EXPECT_EQ(event->gpu_uuid, uuid);
  EXPECT_EQ(event->xid, 0);
  ASSERT_TRUE(state_->SetLost(0, false).ok());
  EXPECT_TRUE(backend_->CheckGpu(uuid).ok());
  EXPECT_FALSE(backend_->CheckGpu("GPU-00000000-0000-0000-0000-000000000000").ok());
}

TEST(FindDriverLibrary, LooksInTheDriverRootsLibraryDirectories) {
  testing::TempDir root;
  Result<std::string> none = FindDriverLibrary(root.path(), "libnvidia-ml.so.1");
  ASSERT_EQ(none.status().code(), StatusCode::kNotFound);
  EXPECT_NE(none.status().message().find(root.path()), std::string::npos);
  EXPECT_NE(none.status().message().find("usr/lib/x86_64-linux-gnu"), std::string::npos);

  // Ubuntu's multiarch directory, and RHEL's lib64, which comes first.
  std::filesystem::create_directories(root.Sub("usr/lib/x86_64-linux-gnu"));
  std::ofstream(root.Sub("usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1")) << "nvml";
  EXPECT_EQ(*FindDriverLibrary(root.path(), "libnvidia-ml.so.1"),
            root.Sub("usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1"));
  std::filesystem::create_directories(root.Sub("usr/lib64"));
  std::ofstream(root.Sub("usr/lib64/libnvidia-ml.so.1")) << "nvml";
  EXPECT_EQ(*FindDriverLibrary(root.path() + "/", "libnvidia-ml.so.1"),
            root.Sub("usr/lib64/libnvidia-ml.so.1"));
}

TEST(NvmlBackend, ExplainsAMissingOrForeignLibrary) {
  Result<std::unique_ptr<NvmlBackend>> missing = NvmlBackend::Create({"/nonexistent/libnvidia-ml.so.1", "/sys"});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(missing.status().message().find("/nonexistent/libnvidia-ml.so.1"), std::string::npos);
  EXPECT_NE(missing.status().message().find("NVIDIA driver"), std::string::npos);

  Result<std::unique_ptr<NvmlBackend>> foreign = NvmlBackend::Create({"libm.so.6", "/sys"});
  ASSERT_FALSE(foreign.ok());
  EXPECT_NE(foreign.status().message().find("lacks nvmlInit_v2"), std::string::npos)
      << foreign.status().message();
}

}  // namespace
}  // namespace gpuslice::gpu
