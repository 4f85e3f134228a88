// The slice holds against what the simulated GPU itself counts for the container's processes,
// on every path where the driver takes memory beyond what an allocation call returns: pools
// that grow while they keep blocks, graph memory that outlives its graph, every context,
// limits, and code and stacks a launch puts on the device. On each, the call that would pass
// the limit gets CUDA_ERROR_OUT_OF_MEMORY, the GPU's count stays within the limit (beyond it by
// at most what one launch adds, until the next reconciliation, where the driver grows on its
// own), and cuMemGetInfo never shows more free than the limit minus that count.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "preload/client_process.h"
#include "preload/eventually.h"
#include "preload/sim_fixture.h"
#include "sim/state.h"

namespace gpuslice::testing {
namespace {

constexpr uint64_t kMiB = 1ULL << 20;
const std::string kOutOfMemory = "err 2";  // CUDA_ERROR_OUT_OF_MEMORY

int Allocated(const std::string& answer) {
  return answer.rfind("ok ", 0) == 0 ? std::stoi(answer.substr(3)) : -1;
}

class DriverTruthTest : public SimFixture {
 protected:
  explicit DriverTruthTest(const std::string& gpu_fields = "") : SimFixture(gpu_fields) {}

  std::unique_ptr<ClientProcess> Start(const Environment& env) {
    auto client = ClientProcess::Start(kDirectClient, node(), env);
    if (client != nullptr) {
      EXPECT_EQ(client->Send("init"), "ok");
      clients_.push_back(client.get());
    }
    return client;
  }

  // What the simulated GPU counts for the container's processes (the driver's truth).
  uint64_t GpuHeld() {
    Result<std::unique_ptr<sim::SimState>> state = sim::SimState::Open(node().state_path());
    EXPECT_TRUE(state.ok()) << state.status().ToString();
    if (!state.ok()) return 0;
    uint64_t held = 0;
    for (const sim::ProcessUsage& process : (*state)->Usage(0).processes) {
      for (const ClientProcess* client : clients_) {
        if (process.running && process.pid == client->pid()) held += process.memory_bytes;
      }
    }
    return held;
  }

  static uint64_t Free(ClientProcess& client) {
    std::istringstream answer(client.Send("info"));
    std::string word;
    uint64_t free = 0, total = 0;
    answer >> word >> free >> total;
    EXPECT_EQ(word, "info");
    EXPECT_EQ(total, kSliceBytes);
    return free;
  }

  // The GPU's count within the limit (plus `beyond`), and what `client` sees free within what
  // the GPU leaves of the slice.
  void ExpectHeld(ClientProcess& client, uint64_t beyond = 0) {
    const uint64_t free = Free(client);
    const uint64_t held = GpuHeld();
    EXPECT_LE(held, kSliceBytes + beyond);
    EXPECT_LE(free, held < kSliceBytes ? kSliceBytes - held : 0) << "held " << held;
  }

  std::vector<const ClientProcess*> clients_;
};

// A pool that keeps a 900 MiB block cannot serve 256 MiB from it (a block more than twice the
// request is not split): each allocation grows the pool, and only what fits is granted.
TEST_F(DriverTruthTest, APoolGrowingPastItsKeptBlocksStopsAtTheLimit) {
  auto client = Start(SliceEnv());
  ASSERT_TRUE(client);
  ASSERT_EQ(client->Send("pool-keep"), "ok");
  const int kept = Allocated(client->Send("alloc async " + std::to_string(900 * kMiB)));
  ASSERT_GE(kept, 0);
  ASSERT_EQ(client->Send("free " + std::to_string(kept)), "ok");
  ExpectHeld(*client);
  std::vector<int> granted;
  int refused = 0;
  for (int i = 0; i < 8; ++i) {
    const std::string answer = client->Send("alloc async " + std::to_string(256 * kMiB));
    if (answer == kOutOfMemory) {
      ++refused;
    } else {
      ASSERT_GE(Allocated(answer), 0) << answer;
      granted.push_back(Allocated(answer));
    }
    ExpectHeld(*client);
  }
  // 64 MiB of context and three allocations fit; the kept block made room for them.
  EXPECT_EQ(granted.size(), 3u);
  EXPECT_EQ(refused, 5);
  for (int id : granted) EXPECT_EQ(client->Send("free " + std::to_string(id)), "ok");
  ASSERT_EQ(client->Send("pool-trim"), "ok");
  EXPECT_EQ(Free(*client), kSliceBytes - kContextBytes);
  EXPECT_EQ(GpuHeld(), kContextBytes);
}

// Graph memory a launch left allocated stays on the GPU after its graph and executable are
// gone, and in the device's graph pool after its free, until a trim.
TEST_F(DriverTruthTest, GraphMemoryStaysChargedUntilFreedAndTrimmed) {
  auto client = Start(SliceEnv());
  ASSERT_TRUE(client);
  const uint64_t big = 900 * kMiB;
  const int graph = Allocated(client->Send("alloc graph " + std::to_string(big)));
  ASSERT_GE(graph, 0);
  std::istringstream address_answer(client->Send("graph-address " + std::to_string(graph)));
  std::string word, address;
  address_answer >> word >> address;
  ASSERT_EQ(word, "address");
  const int exec = Allocated(client->Send("instantiate " + std::to_string(graph) + " flags"));
  ASSERT_GE(exec, 0);
  ASSERT_EQ(client->Send("run " + std::to_string(exec)), "ok");
  EXPECT_EQ(GpuHeld(), kContextBytes + big);
  ASSERT_EQ(client->Send("free " + std::to_string(exec)), "ok");
  ASSERT_EQ(client->Send("free " + std::to_string(graph)), "ok");
  EXPECT_EQ(client->Send("alloc plain " + std::to_string(big)), kOutOfMemory);
  ExpectHeld(*client);
  ASSERT_EQ(client->Send("free-address " + address), "ok");
  EXPECT_EQ(client->Send("alloc plain " + std::to_string(big)), kOutOfMemory);
  ExpectHeld(*client);
  ASSERT_EQ(client->Send("graph-trim"), "ok");
  EXPECT_EQ(GpuHeld(), kContextBytes);
  EXPECT_GE(Allocated(client->Send("alloc plain " + std::to_string(big))), 0);
  ExpectHeld(*client);
}

TEST_F(DriverTruthTest, EveryContextIsChargedAndOnePastTheLimitIsRefused) {
  auto client = Start(SliceEnv());
  ASSERT_TRUE(client);
  const int second = Allocated(client->Send("context"));
  ASSERT_GE(second, 0);
  EXPECT_EQ(Free(*client), kSliceBytes - 2 * kContextBytes);
  ExpectHeld(*client);
  const uint64_t rest = Free(*client) - kContextBytes / 2;
  ASSERT_GE(Allocated(client->Send("alloc plain " + std::to_string(rest))), 0);
  EXPECT_EQ(client->Send("context"), kOutOfMemory);
  ExpectHeld(*client);
  EXPECT_EQ(GpuHeld(), 2 * kContextBytes + rest);
  // Destroyed, its memory comes back within the reconciliation's period.
  ASSERT_EQ(client->Send("free " + std::to_string(second)), "ok");
  EXPECT_TRUE(Eventually([&] { return Free(*client) == kSliceBytes - kContextBytes - rest; }));
  ExpectHeld(*client);
}

TEST_F(DriverTruthTest, ALimitIsChargedForWhatItReservesAndRefusedPastTheSlice) {
  auto client = Start(SliceEnv());
  ASSERT_TRUE(client);
  // The heap's 8 MiB default is part of the context's memory; 512 MiB more is the limit's.
  ASSERT_EQ(client->Send("limit heap " + std::to_string(520 * kMiB)), "ok");
  EXPECT_EQ(Free(*client), kSliceBytes - kContextBytes - 512 * kMiB);
  ExpectHeld(*client);
  EXPECT_EQ(client->Send("limit heap " + std::to_string(2048 * kMiB)), kOutOfMemory);
  EXPECT_EQ(GpuHeld(), kContextBytes + 512 * kMiB);  // the earlier limit stands
  ExpectHeld(*client);
  ASSERT_EQ(client->Send("limit heap " + std::to_string(8 * kMiB)), "ok");
  EXPECT_TRUE(Eventually([&] { return Free(*client) == kSliceBytes - kContextBytes; }));
}

// Code that lazy loading puts on the device at a module's first use, and the stack a launch
// grows, are charged by the background reconciliation: until it runs, the container can be
// over its limit by what one launch added, and it is refused more memory while over.
class LaunchGrowthTest : public DriverTruthTest {
 protected:
  // Modules take 96 MiB in each context they are used in; kernels need 1536 bytes of stack
  // per thread, 108 MiB more than the default 1 KiB over the A100's 108 x 2048 threads.
  LaunchGrowthTest() : DriverTruthTest("    moduleMemory: 96Mi\n    kernelLocalMemory: 1536\n") {}
  static constexpr uint64_t kModuleBytes = 96 * kMiB;
  static constexpr uint64_t kStackGrowth = 512ULL * 108 * 2048;
};

TEST_F(LaunchGrowthTest, CodeAndStacksALaunchAddsAreChargedAndRefuseWhatFollows) {
  auto client = Start(SliceEnv());
  ASSERT_TRUE(client);
  // The client's init looked its kernel up: its module is on the device.
  const uint64_t base = kContextBytes + kModuleBytes;
  EXPECT_TRUE(Eventually([&] { return Free(*client) == kSliceBytes - base; }));
  const int fill = Allocated(client->Send("alloc plain " + std::to_string(kSliceBytes - base)));
  ASSERT_GE(fill, 0);
  EXPECT_EQ(Free(*client), 0u);

  // The first launch of a library's kernel puts its code on the device and grows the stack.
  ASSERT_EQ(client->Send("library-launch"), "ok");
  EXPECT_EQ(GpuHeld(), kSliceBytes + kModuleBytes + kStackGrowth);
  ExpectHeld(*client, kModuleBytes + kStackGrowth);
  EXPECT_EQ(client->Send("alloc plain 1"), kOutOfMemory);
  ASSERT_EQ(client->Send("free " + std::to_string(fill)), "ok");
  // Reconciled: what the launch added is charged like any allocation.
  const uint64_t held = base + kModuleBytes + kStackGrowth;
  EXPECT_TRUE(Eventually([&] { return Free(*client) == kSliceBytes - held; }));
  EXPECT_EQ(client->Send("alloc plain " + std::to_string(kSliceBytes - held + 1)), kOutOfMemory);
  ExpectHeld(*client);
}

// Memory one process exported stays in use while another maps its import: charged for that
// mapping until it goes, also after its maker let it go.
TEST_F(DriverTruthTest, ExportedMemoryStaysChargedWhileAnotherProcessMapsIt) {
  const Environment env = SliceEnv();
  auto maker = Start(env);
  auto user = Start(env);
  ASSERT_TRUE(maker && user);
  std::istringstream exported(maker->Send("vmm-export " + std::to_string(300 * kMiB)));
  std::string word;
  int id = -1, fd = -1;
  exported >> word >> id >> fd;
  ASSERT_EQ(word, "ok") << exported.str();
  const int mapped = Allocated(user->Send("vmm-import " + std::to_string(maker->pid()) + " " +
                                          std::to_string(fd) + " " + std::to_string(300 * kMiB)));
  ASSERT_GE(mapped, 0);
  // Charged to the maker and to the mapping (twice, on the safe side, while both hold it).
  EXPECT_EQ(Free(*user), kSliceBytes - 2 * kContextBytes - 600 * kMiB);
  ASSERT_EQ(maker->Send("free " + std::to_string(id)), "ok");
  EXPECT_EQ(Free(*user), kSliceBytes - 2 * kContextBytes - 300 * kMiB);
  EXPECT_EQ(user->Send("alloc plain " + std::to_string(kSliceBytes - 2 * kContextBytes)),
            kOutOfMemory);
  ASSERT_EQ(user->Send("free " + std::to_string(mapped)), "ok");
  EXPECT_EQ(Free(*user), kSliceBytes - 2 * kContextBytes);
  ExpectHeld(*user);
}

// The limit holds for the processes of a container together, whichever path each takes.
TEST_F(DriverTruthTest, ProcessesOfAContainerStayWithinTheLimitTogether) {
  const Environment env = SliceEnv();
  auto first = Start(env);
  auto second = Start(env);
  ASSERT_TRUE(first && second);
  ASSERT_GE(Allocated(first->Send("alloc plain " + std::to_string(600 * kMiB))), 0);
  ASSERT_EQ(second->Send("pool-keep"), "ok");
  const int pooled = Allocated(second->Send("alloc async " + std::to_string(200 * kMiB)));
  ASSERT_GE(pooled, 0);
  ASSERT_EQ(second->Send("free " + std::to_string(pooled)), "ok");
  ExpectHeld(*first);
  // Two contexts, 600 MiB and the pool's 200 MiB leave 96 MiB: the pool gives its kept block
  // back to make room for 300, which is still too little.
  EXPECT_EQ(second->Send("alloc async " + std::to_string(300 * kMiB)), kOutOfMemory);
  EXPECT_EQ(GpuHeld(), 2 * kContextBytes + 600 * kMiB);
  ExpectHeld(*second);
  EXPECT_EQ(second->Send("limit heap " + std::to_string(308 * kMiB)), kOutOfMemory);
  ASSERT_GE(Allocated(second->Send("alloc plain " + std::to_string(250 * kMiB))), 0);
  EXPECT_EQ(second->Send("context"), kOutOfMemory);
  EXPECT_EQ(first->Send("alloc graph " + std::to_string(100 * kMiB)), kOutOfMemory);
  EXPECT_EQ(GpuHeld(), 2 * kContextBytes + 850 * kMiB);
  ExpectHeld(*first);
  ExpectHeld(*second);
}

}  // namespace
}  // namespace gpuslice::testing
