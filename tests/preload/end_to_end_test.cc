// libgpuslice.so with a real Allocate response: the device plugin (gpuslice-device-plugin on
// the simulated GPUs, driven by the kubelet stand-in over its unix sockets) allocates slices,
// and clients started with exactly the environment it returned are held to them.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "fakes/subprocess.h"
#include "kubelet/device_manager.h"
#include "preload/client_process.h"
#include "preload/plugin_fixture.h"
#include "sim/state.h"

namespace gpuslice::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

uint64_t Free(ClientProcess& client) {
  std::istringstream answer(client.Send("info"));
  std::string word;
  uint64_t free = 0;
  answer >> word >> free;
  EXPECT_EQ(word, "info");
  return free;
}

class EndToEndTest : public PluginFixture {
 protected:
  // A short launch queue keeps what a process has queued close to what NVML has measured.
  EndToEndTest() : PluginFixture("    launchQueueDepth: 4\n", /*pod_resources=*/false) {}
};

TEST_F(EndToEndTest, ClientsAreHeldToTheSlicesTheDevicePluginAllocated) {
  const Environment two_slices = Allocate("default/trainer", 2);
  const Environment one_slice = Allocate("default/server", 1);
  ASSERT_FALSE(two_slices.empty() || one_slice.empty());
  const uint64_t slice_bytes = kGpuBytes / kSlicesPerGpu;
  EXPECT_EQ(std::stoull(two_slices.at("GPUSLICE_MEMORY_LIMIT_0")), 2 * slice_bytes);
  EXPECT_EQ(one_slice.at("GPUSLICE_COMPUTE_LIMIT_0"), "25");

  // Two processes of the two-slice container share its limit.
  auto first = ClientProcess::Start(kDirectClient, node(), two_slices);
  auto second = ClientProcess::Start(kCudartClient, node(), two_slices);
  auto other = ClientProcess::Start(kCublasClient, node(), one_slice);
  ASSERT_TRUE(first && second && other);
  for (ClientProcess* client : {first.get(), second.get(), other.get()}) {
    ASSERT_EQ(client->Send("init"), "ok");
  }
  const uint64_t free = Free(*first);
  EXPECT_EQ(free, 2 * slice_bytes - 2 * kContextBytes);
  EXPECT_EQ(first->Send("alloc plain " + std::to_string(free / 2)).rfind("ok", 0), 0u);
  EXPECT_EQ(second->Send("alloc plain " + std::to_string(free - free / 2)).rfind("ok", 0), 0u);
  EXPECT_EQ(second->Send("alloc plain 1"), "err 2");
  EXPECT_EQ(Free(*first), 0u);

  // The neighbour is untouched, and held to its own slice and share.
  EXPECT_EQ(Free(*other), slice_bytes - kContextBytes);
  EXPECT_EQ(other->Send("alloc plain " + std::to_string(slice_bytes)), "err 2");
  const auto start = std::chrono::steady_clock::now();
  const std::string burn = other->Send("burn 1000");
  const double elapsed =
      std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(burn.rfind("ok", 0), 0u) << burn;
  auto state = sim::SimState::Open(node().state_path());
  ASSERT_TRUE(state.ok());
  uint64_t busy = 0;
  for (const sim::ProcessUsage& process : (*state)->Usage(0).processes) {
    if (process.pid == other->pid()) busy = process.busy_ns;
  }
  EXPECT_LT(100 * static_cast<double>(busy) / elapsed, 30);
}

}  // namespace
}  // namespace gpuslice::testing
