// The slice's memory limit holds on every allocation path, for every way a client reaches
// the driver, for several processes and threads of a container together, and across
// processes killed in the middle of their allocations.
#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "preload/client_process.h"
#include "preload/sim_fixture.h"

namespace gpuslice::testing {
namespace {

const std::string kOutOfMemory = "err 2";  // CUDA_ERROR_OUT_OF_MEMORY

struct Memory {
  uint64_t free = 0;
  uint64_t total = 0;
};

Memory Info(ClientProcess& client) {
  std::istringstream answer(client.Send("info"));
  std::string word;
  Memory memory;
  answer >> word >> memory.free >> memory.total;
  EXPECT_EQ(word, "info");
  return memory;
}

// "ok <id>" -> id, or -1.
int Allocated(const std::string& answer) {
  return answer.rfind("ok ", 0) == 0 ? std::stoi(answer.substr(3)) : -1;
}

std::string Alloc(ClientProcess& client, const std::string& path, uint64_t bytes) {
  return client.Send("alloc " + path + " " + std::to_string(bytes));
}

class MemoryLimitTest : public SimFixture, public ::testing::WithParamInterface<const char*> {
 protected:
  void SetUp() override {
    if (!ClientExists(GetParam())) {
      GTEST_SKIP() << GetParam()
                   << " is built only where NVIDIA's cuda.h is installed (scripts/setup.sh "
                      "--test-tools unpacks it from the CUDA runtime wheel)";
    }
  }

  std::unique_ptr<ClientProcess> StartClient(const Environment& env) {
    auto client = ClientProcess::Start(GetParam(), node(), env);
    if (client != nullptr) {
      EXPECT_EQ(client->Send("init"), "ok");
    }
    return client;
  }
};

TEST_P(MemoryLimitTest, HoldsExactlyAtTheBoundary) {
  auto client = StartClient(SliceEnv());
  ASSERT_TRUE(client);
  const Memory start = Info(*client);
  EXPECT_EQ(start.total, kSliceBytes);
  EXPECT_EQ(start.free, kSliceBytes - kContextBytes);  // the context's own memory counts

  ASSERT_GE(Allocated(Alloc(*client, "plain", start.free - 1)), 0);
  EXPECT_EQ(Alloc(*client, "plain", 2), kOutOfMemory);     // limit + 1
  const int last = Allocated(Alloc(*client, "plain", 1));  // exactly the limit
  ASSERT_GE(last, 0);
  EXPECT_EQ(Info(*client).free, 0u);
  EXPECT_EQ(Alloc(*client, "plain", 1), kOutOfMemory);
  EXPECT_EQ(client->Send("free " + std::to_string(last)), "ok");
  EXPECT_EQ(Info(*client).free, 1u);
}

TEST_P(MemoryLimitTest, CountsEveryAllocationPathAndItsFree) {
  auto client = StartClient(SliceEnv());
  ASSERT_TRUE(client);
  constexpr uint64_t kBytes = 64ULL << 20;
  const uint64_t free_at_start = Info(*client).free;
  // vmm-mapped releases its handle while mapped: the memory stays in use, and charged, until
  // the mapping goes.
  for (const char* path : {"plain", "pitch", "managed", "async", "pool", "vmm", "vmm-mapped",
                           "array", "mipmap", "graph", "legacy"}) {
    SCOPED_TRACE(path);
    // Past the limit the driver, which has 40 GiB, is never asked. (A megabyte past: the
    // array paths turn bytes into whole rows.)
    const std::string refused = Alloc(*client, path, free_at_start + (1 << 20));
    if (refused == "unsupported") continue;  // no legacy entry points in NVIDIA's header
    EXPECT_EQ(refused, kOutOfMemory);
    EXPECT_EQ(Info(*client).free, free_at_start);

    const std::string answer = Alloc(*client, path, kBytes);
    if (answer == "err 801") continue;  // CUDA_ERROR_NOT_SUPPORTED: the driver lacks this path
    const int id = Allocated(answer);
    ASSERT_GE(id, 0) << answer;
    const uint64_t free_now = Info(*client).free;
    EXPECT_LE(free_now, free_at_start - kBytes);
    EXPECT_GE(free_now, free_at_start - 2 * kBytes);
    EXPECT_EQ(client->Send("free " + std::to_string(id)), "ok");
    EXPECT_EQ(Info(*client).free, free_at_start);
  }
}

// An executable graph allocates its graph's memory nodes at every launch, also once the graph
// is destroyed: the memory stays charged until the executable is destroyed as well.
TEST_P(MemoryLimitTest, GraphMemoryStaysChargedWhileAnExecutableOfTheGraphExists) {
  auto client = StartClient(SliceEnv());
  ASSERT_TRUE(client);
  const uint64_t free = Info(*client).free;
  const uint64_t big = free / 5 * 3;
  for (const char* entry : {"flags", "params", "legacy", "legacy-v2"}) {
    SCOPED_TRACE(entry);
    const int graph = Allocated(Alloc(*client, "graph", big));
    ASSERT_GE(graph, 0);
    const std::string instantiated =
        client->Send("instantiate " + std::to_string(graph) + " " + entry);
    if (instantiated == "unsupported") {  // no CUDA 11 entry points in NVIDIA's header
      EXPECT_EQ(client->Send("free " + std::to_string(graph)), "ok");
      continue;
    }
    const int exec = Allocated(instantiated);
    ASSERT_GE(exec, 0) << instantiated;
    EXPECT_EQ(client->Send("free " + std::to_string(graph)), "ok");
    EXPECT_EQ(Alloc(*client, "plain", big), kOutOfMemory);
    EXPECT_EQ(Info(*client).free, free - big);

    EXPECT_EQ(client->Send("free " + std::to_string(exec)), "ok");
    EXPECT_EQ(Info(*client).free, free);
    const int plain = Allocated(Alloc(*client, "plain", big));
    ASSERT_GE(plain, 0);
    EXPECT_EQ(client->Send("free " + std::to_string(plain)), "ok");
  }
}

// What a capture allocates is an allocation node of the captured graph, which every launch
// allocates again: freeing it in the capture does not give it back, and what a launch took stays
// in the device's graph pool until trimmed.
TEST_P(MemoryLimitTest, MemoryAllocatedInACaptureStaysChargedWithTheCapturedGraph) {
  auto client = StartClient(SliceEnv());
  ASSERT_TRUE(client);
  const uint64_t free = Info(*client).free;
  const uint64_t big = free / 5 * 3;
  const int graph = Allocated(client->Send("capture " + std::to_string(big)));
  ASSERT_GE(graph, 0);
  EXPECT_EQ(Info(*client).free, free - big);
  EXPECT_EQ(Alloc(*client, "plain", big), kOutOfMemory);

  const int exec = Allocated(client->Send("instantiate " + std::to_string(graph) + " flags"));
  ASSERT_GE(exec, 0);
  EXPECT_EQ(client->Send("free " + std::to_string(graph)), "ok");
  EXPECT_EQ(client->Send("run " + std::to_string(exec)), "ok");
  EXPECT_EQ(Alloc(*client, "plain", big), kOutOfMemory);
  EXPECT_EQ(Info(*client).free, free - big);

  EXPECT_EQ(client->Send("free " + std::to_string(exec)), "ok");
  EXPECT_EQ(Info(*client).free, free - big);
  EXPECT_EQ(client->Send("graph-trim"), "ok");
  EXPECT_EQ(Info(*client).free, free);
  EXPECT_GE(Allocated(Alloc(*client, "plain", big)), 0);
}

TEST_P(MemoryLimitTest, ACaptureThatYieldsNoGraphGivesItsMemoryBack) {
  auto client = StartClient(SliceEnv());
  ASSERT_TRUE(client);
  const uint64_t free = Info(*client).free;
  const uint64_t big = free / 5 * 3;
  EXPECT_EQ(client->Send("capture-invalidated " + std::to_string(big)),
            "err 901");  // CUDA_ERROR_STREAM_CAPTURE_INVALIDATED
  EXPECT_EQ(Info(*client).free, free);
  EXPECT_GE(Allocated(Alloc(*client, "plain", big)), 0);
}

INSTANTIATE_TEST_SUITE_P(ClientStyles, MemoryLimitTest,
                         ::testing::Values(kDirectClient, kCudartClient, kCublasClient,
                                           kRealHeaderClient));

class ContainerTest : public SimFixture {};

// A pool that keeps freed blocks still holds their memory: it stays the container's until the
// pool gives it back, and serves the next allocation without a new charge.
TEST_F(ContainerTest, MemoryAPoolKeepsStaysChargedUntilItIsTrimmed) {
  auto client = ClientProcess::Start(kDirectClient, node(), SliceEnv());
  ASSERT_TRUE(client);
  ASSERT_EQ(client->Send("init"), "ok");
  ASSERT_EQ(client->Send("pool-keep"), "ok");
  const uint64_t free = Info(*client).free;
  const uint64_t big = free / 5 * 3 / (2 << 20) * (2 << 20);
  const int first = Allocated(Alloc(*client, "pool", big));
  ASSERT_GE(first, 0);
  ASSERT_EQ(client->Send("free " + std::to_string(first)), "ok");
  EXPECT_EQ(Info(*client).free, free - big);
  EXPECT_EQ(Alloc(*client, "plain", big), kOutOfMemory);

  const int again = Allocated(Alloc(*client, "pool", big));
  ASSERT_GE(again, 0);
  EXPECT_EQ(Info(*client).free, free - big);
  ASSERT_EQ(client->Send("free " + std::to_string(again)), "ok");
  ASSERT_EQ(client->Send("pool-trim"), "ok");
  EXPECT_EQ(Info(*client).free, free);
  EXPECT_GE(Allocated(Alloc(*client, "plain", big)), 0);
}

TEST_F(ContainerTest, ProcessesOfOneContainerShareTheLimit) {
  const Environment env = SliceEnv();
  std::vector<std::unique_ptr<ClientProcess>> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(ClientProcess::Start(kDirectClient, node(), env));
    ASSERT_TRUE(clients.back());
    ASSERT_EQ(clients.back()->Send("init"), "ok");
  }
  const uint64_t free = Info(*clients[0]).free;
  EXPECT_EQ(free, kSliceBytes - 3 * kContextBytes);
  ASSERT_GE(Allocated(Alloc(*clients[0], "plain", free / 2)), 0);
  ASSERT_GE(Allocated(Alloc(*clients[1], "plain", free - free / 2)), 0);
  EXPECT_EQ(Alloc(*clients[2], "plain", 1), kOutOfMemory);
  EXPECT_EQ(Info(*clients[2]).free, 0u);

  // Another container on the same GPU has its own slice.
  auto neighbour = ClientProcess::Start(kDirectClient, node(), SliceEnv());
  ASSERT_TRUE(neighbour);
  ASSERT_EQ(neighbour->Send("init"), "ok");
  EXPECT_EQ(Info(*neighbour).free, kSliceBytes - kContextBytes);
}

TEST_F(ContainerTest, SixtyFourThreadsLeaveTheAccountingExact) {
  auto client = ClientProcess::Start(kDirectClient, node(), SliceEnv());
  ASSERT_TRUE(client);
  ASSERT_EQ(client->Send("init"), "ok");
  const uint64_t free = Info(*client).free;
  std::istringstream answer(
      client->Send("stress 64 200 " + std::to_string(kSliceBytes / 8) + " 7"));
  std::string word;
  long long granted = 0, refused = 0;
  answer >> word >> granted >> refused;
  ASSERT_EQ(word, "ok") << answer.str();
  EXPECT_GT(granted, 0);
  EXPECT_GT(refused, 0);  // the threads did press against the limit
  EXPECT_EQ(Info(*client).free, free);
}

TEST_F(ContainerTest, ProcessesKilledMidAllocationGiveTheirMemoryBack) {
  const Environment env = SliceEnv();
  auto survivor = ClientProcess::Start(kDirectClient, node(), env);
  ASSERT_TRUE(survivor);
  ASSERT_EQ(survivor->Send("init"), "ok");
  std::mt19937 random(11);
  for (int round = 0; round < 5; ++round) {
    std::vector<std::unique_ptr<ClientProcess>> victims;
    for (int i = 0; i < 3; ++i) {
      victims.push_back(ClientProcess::Start(kDirectClient, node(), env));
      ASSERT_TRUE(victims.back());
      ASSERT_EQ(victims.back()->Send("init"), "ok");
      ASSERT_EQ(victims.back()->Send("churn " + std::to_string(kSliceBytes / 8)), "churning");
    }
    // Killed at random instants of their allocate/free loops (inside the hooks included).
    for (auto& victim : victims) {
      std::this_thread::sleep_for(std::chrono::microseconds(random() % 3000));
      victim->Kill();
    }
    // The survivor goes on and gets every byte of the slice but its own context.
    const int id = Allocated(Alloc(*survivor, "plain", kSliceBytes - kContextBytes));
    ASSERT_GE(id, 0) << "round " << round;
    EXPECT_EQ(survivor->Send("free " + std::to_string(id)), "ok");
  }
  auto newcomer = ClientProcess::Start(kDirectClient, node(), env);
  ASSERT_TRUE(newcomer);
  ASSERT_EQ(newcomer->Send("init"), "ok");
  EXPECT_EQ(Info(*newcomer).free, kSliceBytes - 2 * kContextBytes);
}

}  // namespace
}  // namespace gpuslice::testing
