// The compute share holds on every launch path: two containers at 30% and 70% of one GPU get
// its time in that ratio, and a container alone at 50% stays under it.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>

#include "core/region.h"
#include "preload/client_process.h"
#include "preload/sim_fixture.h"
#include "sim/state.h"

namespace gpuslice::testing {
namespace {

// GPU time the simulated GPU 0 gave process `pid` so far.
uint64_t BusyNanos(const SimNode& node, pid_t pid) {
  auto state = sim::SimState::Open(node.state_path());
  if (!state.ok()) return 0;
  for (const sim::ProcessUsage& process : (*state)->Usage(0).processes) {
    if (process.pid == pid) return process.busy_ns;
  }
  return 0;
}

// The share is held by what NVML measures, which trails what a process has queued by up to
// the GPU's launch queue (its depth times the kernel time). A GPU with a short queue keeps
// that lead small against the seconds these tests run for.
class ComputeShareTest : public SimFixture {
 protected:
  ComputeShareTest() : SimFixture("    launchQueueDepth: 4\n") {}

  // With `host_pids`, NVML names the process by another PID than its own, as it does for
  // every process in a pod (its own PID namespace).
  std::unique_ptr<ClientProcess> Burner(int percent, bool host_pids = false) {
    Environment env = SliceEnv(kSliceBytes, percent);
    if (host_pids) env["GPUSLICE_SIM_HOST_PID_OFFSET"] = "100000";
    auto client = ClientProcess::Start(kDirectClient, node(), env);
    if (client != nullptr) {
      EXPECT_EQ(client->Send("init"), "ok");
    }
    return client;
  }
};

constexpr int kBurnMillis = 3000;

// Returns the 30% container's share of the GPU time the two containers got together.
double SplitBetweenTwoContainers(ClientProcess& small, ClientProcess& large, const SimNode& node) {
  std::string small_answer;
  std::thread small_burn(
      [&] { small_answer = small.Send("burn " + std::to_string(kBurnMillis)); });
  const std::string large_answer = large.Send("burn " + std::to_string(kBurnMillis));
  small_burn.join();
  EXPECT_EQ(small_answer.rfind("ok", 0), 0u) << small_answer;
  EXPECT_EQ(large_answer.rfind("ok", 0), 0u) << large_answer;
  const double small_busy = static_cast<double>(BusyNanos(node, small.pid()));
  const double large_busy = static_cast<double>(BusyNanos(node, large.pid()));
  EXPECT_GT(small_busy + large_busy, 0);
  return 100 * small_busy / std::max(small_busy + large_busy, 1.0);
}

TEST_F(ComputeShareTest, TwoContainersSplitTheGpuByTheirShares) {
  auto small = Burner(30);
  auto large = Burner(70);
  ASSERT_TRUE(small && large);
  const double small_percent = SplitBetweenTwoContainers(*small, *large, node());
  RecordProperty("share_of_30_percent_container", std::to_string(small_percent));
  EXPECT_NEAR(small_percent, 30, 5);
}

TEST_F(ComputeShareTest, SharesHoldWhereNvmlReportsHostPids) {
  auto small = Burner(30, /*host_pids=*/true);
  auto large = Burner(70, /*host_pids=*/true);
  ASSERT_TRUE(small && large);
  const double small_percent = SplitBetweenTwoContainers(*small, *large, node());
  RecordProperty("share_of_30_percent_container", std::to_string(small_percent));
  EXPECT_NEAR(small_percent, 30, 5);
}

// The node agent finds a container's processes in NVML's utilization samples by the PIDs
// the region names: the one NVML reports, not getpid().
TEST_F(ComputeShareTest, EachProcessPublishesThePidNvmlKnowsItByInItsRegion) {
  Environment env = SliceEnv(kSliceBytes, 50);
  env["GPUSLICE_SIM_HOST_PID_OFFSET"] = "100000";
  auto first = ClientProcess::Start(kDirectClient, node(), env);
  auto second = ClientProcess::Start(kDirectClient, node(), env);
  ASSERT_TRUE(first && second);
  ASSERT_EQ(first->Send("init"), "ok");
  ASSERT_EQ(second->Send("init"), "ok");
  std::ifstream file(env["GPUSLICE_REGION"], std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  ASSERT_EQ(bytes.size(), core::region::kRegionSize);
  std::vector<uint32_t> expected = {static_cast<uint32_t>(first->pid()) + 100000,
                                    static_cast<uint32_t>(second->pid()) + 100000};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(core::region::ReadNvmlPids(bytes.data() + core::region::kNvmlPidsBegin), expected);

  // A process that ends takes its PID with it once its slot is reclaimed.
  const uint32_t kept = static_cast<uint32_t>(second->pid()) + 100000;
  first.reset();
  auto third = ClientProcess::Start(kDirectClient, node(), env);
  ASSERT_TRUE(third);
  ASSERT_EQ(third->Send("init"), "ok");
  file.clear();
  file.seekg(0);
  bytes.assign((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  expected = {kept, static_cast<uint32_t>(third->pid()) + 100000};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(core::region::ReadNvmlPids(bytes.data() + core::region::kNvmlPidsBegin), expected);
}

TEST_F(ComputeShareTest, ALoneContainerStaysUnderItsShareOnEveryLaunchPath) {
  for (const char* path : {"kernel", "ex", "cooperative", "graph"}) {
    SCOPED_TRACE(path);
    auto client = Burner(50);
    ASSERT_TRUE(client);
    const auto start = std::chrono::steady_clock::now();
    const std::string answer =
        client->Send(std::string("burn-") + path + " " + std::to_string(kBurnMillis));
    const double elapsed =
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
    ASSERT_EQ(answer.rfind("ok", 0), 0u) << answer;
    const double percent = 100 * static_cast<double>(BusyNanos(node(), client->pid())) / elapsed;
    RecordProperty(std::string("busy_percent_") + path, std::to_string(percent));
    EXPECT_LT(percent, 55);
  }
}

}  // namespace
}  // namespace gpuslice::testing
