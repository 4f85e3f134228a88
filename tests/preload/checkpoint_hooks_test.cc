// A checkpoint tool run in a container (cuda-checkpoint, with libgpuslice.so preloaded like
// every process there) restores another process's device memory: a process of the container
// that kept its slot stays charged as it was; a process from elsewhere is charged when its
// memory comes back, and when that does not fit it is checkpointed again and the restore
// refused.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <thread>

#include "core/region.h"
#include "preload/client_process.h"
#include "preload/eventually.h"
#include "preload/sim_fixture.h"
#include "sim/state.h"

namespace gpuslice::testing {
namespace {

constexpr uint64_t kMiB = 1ULL << 20;
const std::string kOutOfMemory = "err 2";     // CUDA_ERROR_OUT_OF_MEMORY
const std::string kCheckpointed = "state 2";  // CU_PROCESS_STATE_CHECKPOINTED
const std::string kRunning = "state 0";

class CheckpointHooksTest : public SimFixture {
 protected:
  // A process of the container with environment `env` that holds `bytes` on the GPU, its
  // context included.
  std::unique_ptr<ClientProcess> Holder(const Environment& env, uint64_t bytes) {
    auto client = ClientProcess::Start(kDirectClient, node(), env);
    if (client == nullptr) return nullptr;
    EXPECT_EQ(client->Send("init"), "ok");
    EXPECT_EQ(client->Send("alloc plain " + std::to_string(bytes - kContextBytes)).rfind("ok", 0),
              0u);
    EXPECT_TRUE(Eventually([&] { return Charged(env) == bytes; })) << Charged(env);
    return client;
  }

  // The checkpoint tool: a process of the container that makes no context.
  std::unique_ptr<ClientProcess> Tool(const Environment& env) {
    return ClientProcess::Start(kDirectClient, node(), env);
  }

  // The container's figures, read from its region file as the node agent reads them.
  core::region::DeviceUsage Usage(const Environment& env) {
    std::ifstream file(env.at("GPUSLICE_REGION"), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(file)), {});
    if (bytes.size() < core::region::kCountersEnd) {
      ADD_FAILURE() << "region file too short: " << bytes.size();
      return {};
    }
    return core::region::ReadDeviceUsage(bytes.data(), bytes.data() + core::region::kCountersBegin,
                                         0);
  }
  uint64_t Charged(const Environment& env) { return Usage(env).used_bytes; }

  // The simulated GPU's own count of its used memory.
  uint64_t GpuUsed() {
    Result<std::unique_ptr<sim::SimState>> state = sim::SimState::Open(node().state_path());
    EXPECT_TRUE(state.ok()) << state.status().ToString();
    return state.ok() ? (*state)->MemoryUsed(0) : 0;
  }
};

TEST_F(CheckpointHooksTest, AProcessOfTheContainerRestoredInPlaceStaysChargedOnce) {
  const Environment env = SliceEnv();
  auto target = Holder(env, 600 * kMiB);
  auto tool = Tool(env);
  ASSERT_NE(target, nullptr);
  ASSERT_NE(tool, nullptr);
  const uint64_t gpu_before = GpuUsed();
  const std::string pid = std::to_string(target->pid());

  ASSERT_EQ(tool->Send("checkpoint " + pid), "ok");
  EXPECT_EQ(GpuUsed(), gpu_before - 600 * kMiB);
  ASSERT_EQ(tool->Send("restore " + pid), "ok");
  EXPECT_EQ(tool->Send("checkpoint-state " + pid), kRunning);
  EXPECT_EQ(GpuUsed(), gpu_before);
  EXPECT_TRUE(Eventually([&] { return Charged(env) == 600 * kMiB; })) << Charged(env);
  EXPECT_EQ(Usage(env).refused_allocations, 0u);
  // The target goes on under its own charges.
  EXPECT_EQ(target->Send("alloc plain " + std::to_string(500 * kMiB)), kOutOfMemory);
}

class RestoreFromAnotherContainerTest : public CheckpointHooksTest {
 protected:
  // A process of another container (its own region and limit) holding 800 MiB, checkpointed
  // there by that container's tool.
  void SetUp() override {
    other_ = SliceEnv();
    target_ = Holder(other_, 800 * kMiB);
    ASSERT_NE(target_, nullptr);
    auto other_tool = Tool(other_);
    ASSERT_NE(other_tool, nullptr);
    pid_ = std::to_string(target_->pid());
    ASSERT_EQ(other_tool->Send("checkpoint " + pid_), "ok");
  }

  Environment other_;
  std::unique_ptr<ClientProcess> target_;
  std::string pid_;
};

TEST_F(RestoreFromAnotherContainerTest, PastTheLimitIsRefusedAndCheckpointedAgain) {
  const Environment env = SliceEnv();
  auto holder = Holder(env, 600 * kMiB);
  auto tool = Tool(env);
  ASSERT_NE(holder, nullptr);
  ASSERT_NE(tool, nullptr);
  const uint64_t gpu_before = GpuUsed();

  EXPECT_EQ(tool->Send("restore " + pid_), kOutOfMemory);
  EXPECT_EQ(tool->Send("checkpoint-state " + pid_), kCheckpointed);
  EXPECT_EQ(GpuUsed(), gpu_before);
  EXPECT_EQ(Charged(env), 600 * kMiB);
  EXPECT_EQ(Usage(env).refused_allocations, 1u);
  EXPECT_EQ(Usage(env).refused_bytes, 800 * kMiB);
}

TEST_F(RestoreFromAnotherContainerTest, WithRoomIsChargedWhatTheProcessHolds) {
  const Environment env = SliceEnv();
  auto holder = Holder(env, 100 * kMiB);
  auto tool = Tool(env);
  ASSERT_NE(holder, nullptr);
  ASSERT_NE(tool, nullptr);
  const uint64_t gpu_before = GpuUsed();

  EXPECT_EQ(tool->Send("restore " + pid_), "ok");
  EXPECT_EQ(tool->Send("checkpoint-state " + pid_), kRunning);
  EXPECT_EQ(GpuUsed(), gpu_before + 800 * kMiB);
  EXPECT_EQ(Charged(env), 900 * kMiB);
  EXPECT_EQ(Usage(env).refused_allocations, 0u);
  // The container's processes see the restored memory as used.
  EXPECT_EQ(holder->Send("alloc plain " + std::to_string(200 * kMiB)), kOutOfMemory);
  // Its charge goes when the restored process ends: the next process of the container to
  // join gives the dead's memory back.
  target_->Kill();
  auto joiner = Tool(env);
  ASSERT_NE(joiner, nullptr);
  EXPECT_EQ(joiner->Send("init"), "ok");
  EXPECT_TRUE(Eventually([&] { return Charged(env) == 100 * kMiB + kContextBytes; }))
      << Charged(env);
}

}  // namespace
}  // namespace gpuslice::testing
