#include "preload/graph_memory.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "preload/internal/region_file.h"

namespace gpuslice::preload {
namespace {

constexpr uint64_t kGraph = 0x1000;
constexpr uint64_t kExec = 0x2000;
constexpr uint64_t kOtherExec = 0x3000;
constexpr uint64_t kStream = 0x4000;
constexpr CUdevice kDevice = 3;

// A device's graph pool as a fake driver reports it, and a ledger with room for everything.
class GraphMemoryTest : public ::testing::Test {
 protected:
  GraphMemoryTest() {
    options_.enforce = true;
    options_.device_count = 1;
    options_.devices[0].memory_bytes = 1000;
  }

  void SetUp() override {
    auto mapping = internal::RegionMapping::MapPrivate();
    ASSERT_TRUE(mapping.ok());
    mapping_ = std::make_unique<internal::RegionMapping>(std::move(*mapping));
    ledger_ = std::make_unique<MemoryLedger>(mapping_->region(), options_);
  }

  // A GraphMemory reading the fake pool; `reports` false: a driver that cannot report it.
  GraphMemory Memory(bool reports = true) {
    return GraphMemory([this, reports](CUdevice device) -> std::optional<GraphMemory::PoolUsage> {
      EXPECT_EQ(device, kDevice);
      if (!reports) return std::nullopt;
      std::lock_guard<std::mutex> lock(pool_mutex_);
      return pool_;
    });
  }

  void SetPool(uint64_t reserved, uint64_t used) {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    pool_ = {reserved, used};
  }

  // Adds a node of `bytes` to graph `owner`; the driver call succeeds.
  std::optional<CUresult> Add(GraphMemory& memory, uint64_t owner, uint64_t bytes) {
    return memory.AddNode(*ledger_, 0, kDevice, bytes, owner, false, 0,
                          [] { return CUDA_SUCCESS; });
  }
  std::optional<CUresult> Capture(GraphMemory& memory, uint64_t capture, uint64_t stream,
                                  uint64_t bytes) {
    return memory.AddNode(*ledger_, 0, kDevice, bytes, capture, true, stream,
                          [] { return CUDA_SUCCESS; });
  }

  uint64_t Used() const { return ledger_->Used(0); }

  Options options_;
  std::unique_ptr<internal::RegionMapping> mapping_;
  std::unique_ptr<MemoryLedger> ledger_;
  std::mutex pool_mutex_;
  GraphMemory::PoolUsage pool_;
};

TEST_F(GraphMemoryTest, ANodeIsChargedBeforeItsAdditionAndRefusedWhenItDoesNotFit) {
  GraphMemory memory = Memory();
  EXPECT_EQ(Add(memory, kGraph, 600), CUDA_SUCCESS);
  EXPECT_EQ(Used(), 600u);
  bool called = false;
  EXPECT_EQ(memory.AddNode(*ledger_, 0, kDevice, 401, kGraph, false, 0,
                           [&] {
                             called = true;
                             return CUDA_SUCCESS;
                           }),
            std::nullopt);
  EXPECT_FALSE(called);
  // A driver that refuses the node: its charge goes back.
  EXPECT_EQ(memory.AddNode(*ledger_, 0, kDevice, 100, kGraph, false, 0,
                           [] { return CUDA_ERROR_INVALID_VALUE; }),
            CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(Used(), 600u);
  EXPECT_EQ(memory.Charged(0), 600u);
}

TEST_F(GraphMemoryTest, AGraphThatNeverLaunchedGivesItsMemoryBackWhenDestroyed) {
  GraphMemory memory = Memory();
  ASSERT_EQ(Add(memory, kGraph, 100), CUDA_SUCCESS);
  ASSERT_EQ(Add(memory, kGraph, 20), CUDA_SUCCESS);
  EXPECT_EQ(Used(), 120u);
  memory.GraphDestroyed(*ledger_, kGraph);
  EXPECT_EQ(Used(), 0u);
}

TEST_F(GraphMemoryTest, ExecutablesKeepTheirGraphsNodesUntilTheLastIsDestroyed) {
  GraphMemory memory = Memory();
  ASSERT_EQ(Add(memory, kGraph, 100), CUDA_SUCCESS);
  memory.Instantiated(kGraph, kExec);
  memory.Instantiated(kGraph, kOtherExec);
  EXPECT_TRUE(memory.AnyExecHoldsMemory());
  memory.GraphDestroyed(*ledger_, kGraph);
  memory.ExecDestroyed(*ledger_, kExec);
  EXPECT_EQ(Used(), 100u);
  memory.ExecDestroyed(*ledger_, kOtherExec);
  EXPECT_EQ(Used(), 0u);
  EXPECT_FALSE(memory.AnyExecHoldsMemory());
}

// What a launch took stays charged while the driver holds it, whatever happens to the graph.
TEST_F(GraphMemoryTest, MemoryALaunchTookStaysChargedUntilTheDriversPoolGivesItBack) {
  GraphMemory memory = Memory();
  ASSERT_EQ(Add(memory, kGraph, 300), CUDA_SUCCESS);
  memory.Instantiated(kGraph, kExec);
  SetPool(300, 300);  // the launch allocated it
  memory.Launched(*ledger_, kExec);
  EXPECT_EQ(Used(), 300u);
  memory.ExecDestroyed(*ledger_, kExec);
  memory.GraphDestroyed(*ledger_, kGraph);
  EXPECT_EQ(Used(), 300u);  // still allocated
  SetPool(300, 0);          // freed: the pool keeps it
  memory.Settle(*ledger_, 0);
  EXPECT_EQ(Used(), 300u);
  SetPool(0, 0);  // trimmed
  memory.Settle(*ledger_, 0);
  EXPECT_EQ(Used(), 0u);
}

TEST_F(GraphMemoryTest, KeptMemoryServesNodesThatNeverLaunched) {
  GraphMemory memory = Memory();
  SetPool(500, 0);  // kept from earlier graphs
  ASSERT_EQ(Add(memory, kGraph, 400), CUDA_SUCCESS);
  EXPECT_EQ(Used(), 500u);  // what the pool keeps; their launch takes it from there
  ASSERT_EQ(Add(memory, kGraph, 200), CUDA_SUCCESS);
  EXPECT_EQ(Used(), 600u);
  // Memory in use elsewhere does not serve them.
  SetPool(500, 500);
  memory.Settle(*ledger_, 0);
  EXPECT_EQ(Used(), 1100u);  // past the limit: the driver holds it
  EXPECT_FALSE(ledger_->Charge(0, 1));
}

TEST_F(GraphMemoryTest, ATrimMakesLaunchedNodesNeedTheirMemoryAgain) {
  GraphMemory memory = Memory();
  ASSERT_EQ(Add(memory, kGraph, 300), CUDA_SUCCESS);
  memory.Instantiated(kGraph, kExec);
  SetPool(300, 300);
  memory.Launched(*ledger_, kExec);
  SetPool(300, 0);
  memory.Settle(*ledger_, 0);
  EXPECT_EQ(Used(), 300u);
  SetPool(0, 0);
  memory.Trimmed(*ledger_, kDevice);
  EXPECT_EQ(Used(), 300u);  // the executable will take it again at its next launch
  memory.ExecDestroyed(*ledger_, kExec);
  memory.GraphDestroyed(*ledger_, kGraph);
  EXPECT_EQ(Used(), 0u);
}

TEST_F(GraphMemoryTest, ALaunchNeverLowersTheCharge) {
  GraphMemory memory = Memory();
  ASSERT_EQ(Add(memory, kGraph, 300), CUDA_SUCCESS);
  memory.Instantiated(kGraph, kExec);
  memory.Launched(*ledger_, kExec);  // a driver that shows the launch's memory late
  EXPECT_EQ(Used(), 300u);
  SetPool(300, 300);
  memory.Settle(*ledger_, 0);
  EXPECT_EQ(Used(), 300u);
}

TEST_F(GraphMemoryTest, WithoutPoolFiguresNodesAreChargedWhileTheirGraphsLive) {
  GraphMemory memory = Memory(/*reports=*/false);
  ASSERT_EQ(Add(memory, kGraph, 100), CUDA_SUCCESS);
  memory.Instantiated(kGraph, kExec);
  memory.Launched(*ledger_, kExec);
  memory.GraphDestroyed(*ledger_, kGraph);
  EXPECT_EQ(Used(), 100u);
  memory.ExecDestroyed(*ledger_, kExec);
  EXPECT_EQ(Used(), 0u);
}

TEST_F(GraphMemoryTest, ANewGraphAtAReusedHandleDoesNotTakeTheOldOnesNodes) {
  GraphMemory memory = Memory();
  ASSERT_EQ(Add(memory, kGraph, 100), CUDA_SUCCESS);
  memory.Instantiated(kGraph, kExec);
  memory.GraphDestroyed(*ledger_, kGraph);
  // The driver hands the destroyed graph's handle to a new graph.
  ASSERT_EQ(Add(memory, kGraph, 7), CUDA_SUCCESS);
  memory.GraphDestroyed(*ledger_, kGraph);
  EXPECT_EQ(Used(), 100u);
  memory.ExecDestroyed(*ledger_, kExec);
  EXPECT_EQ(Used(), 0u);
}

TEST_F(GraphMemoryTest, AnExecutableHoldsOnlyWhatItsGraphHadWhenInstantiated) {
  GraphMemory memory = Memory();
  memory.Instantiated(kGraph, kOtherExec);  // no memory nodes yet: holds nothing
  EXPECT_FALSE(memory.AnyExecHoldsMemory());
  ASSERT_EQ(Add(memory, kGraph, 100), CUDA_SUCCESS);
  memory.Instantiated(kGraph, kExec);
  ASSERT_EQ(Add(memory, kGraph, 7), CUDA_SUCCESS);
  memory.GraphDestroyed(*ledger_, kGraph);
  EXPECT_EQ(Used(), 100u);
  memory.ExecDestroyed(*ledger_, kOtherExec);
  EXPECT_EQ(Used(), 100u);
  memory.ExecDestroyed(*ledger_, kExec);
  EXPECT_EQ(Used(), 0u);
}

TEST_F(GraphMemoryTest, AChildGraphMovedIntoItsParentIsHeldByTheParent) {
  GraphMemory memory = Memory();
  constexpr uint64_t kChild = 0x5000;
  ASSERT_EQ(Add(memory, kChild, 100), CUDA_SUCCESS);
  memory.Moved(kChild, kGraph);
  memory.GraphDestroyed(*ledger_, kChild);  // the handle is no longer the child's
  EXPECT_EQ(Used(), 100u);
  memory.Instantiated(kGraph, kExec);
  memory.GraphDestroyed(*ledger_, kGraph);
  EXPECT_EQ(Used(), 100u);
  memory.ExecDestroyed(*ledger_, kExec);
  EXPECT_EQ(Used(), 0u);
}

TEST_F(GraphMemoryTest, CapturedAllocationsBecomeTheCapturedGraphs) {
  GraphMemory memory = Memory();
  ASSERT_EQ(Add(memory, kGraph, 1), CUDA_SUCCESS);  // a graph captured into may have nodes
  ASSERT_EQ(Capture(memory, 5, kStream, 100), CUDA_SUCCESS);
  ASSERT_EQ(Capture(memory, 5, kStream + 1, 20), CUDA_SUCCESS);
  memory.CaptureEnded(5, kGraph);
  memory.CaptureFailed(*ledger_, 5);  // ended already: nothing to forget
  EXPECT_EQ(Used(), 121u);
  memory.Instantiated(kGraph, kExec);
  memory.GraphDestroyed(*ledger_, kGraph);
  EXPECT_EQ(Used(), 121u);
  memory.ExecDestroyed(*ledger_, kExec);
  EXPECT_EQ(Used(), 0u);
}

TEST_F(GraphMemoryTest, ACaptureWithoutAGraphGivesItsAllocationsBack) {
  GraphMemory memory = Memory();
  ASSERT_EQ(Capture(memory, 5, kStream, 100), CUDA_SUCCESS);
  ASSERT_EQ(Capture(memory, 6, kStream + 1, 20), CUDA_SUCCESS);
  memory.CaptureFailed(*ledger_, 5);
  EXPECT_EQ(Used(), 20u);
  memory.CaptureEnded(6, kGraph);
  memory.GraphDestroyed(*ledger_, kGraph);
  EXPECT_EQ(Used(), 0u);
}

TEST_F(GraphMemoryTest, AnUnnamedCaptureGivesBackWhatWasAllocatedOnItsStream) {
  GraphMemory memory = Memory();
  ASSERT_EQ(Capture(memory, 5, kStream, 100), CUDA_SUCCESS);
  ASSERT_EQ(Capture(memory, 5, kStream + 1, 20), CUDA_SUCCESS);  // a stream joined to it
  ASSERT_EQ(Capture(memory, 6, kStream + 2, 3), CUDA_SUCCESS);
  memory.CaptureFailedOn(*ledger_, kStream + 1);
  EXPECT_EQ(Used(), 3u);
  memory.CaptureFailedOn(*ledger_, kStream);
  EXPECT_EQ(Used(), 3u);
  memory.CaptureFailed(*ledger_, 6);
  EXPECT_EQ(Used(), 0u);
}

TEST_F(GraphMemoryTest, ThreadsWithGraphsOfTheirOwnLeaveNothingCharged) {
  options_.devices[0].memory_bytes = 1'000'000;
  ledger_ = std::make_unique<MemoryLedger>(mapping_->region(), options_);
  GraphMemory memory = Memory();
  std::vector<std::thread> threads;
  for (uint64_t t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t i = 0; i < 500; ++i) {
        const uint64_t graph = (t << 32) | (i << 4);
        EXPECT_EQ(Add(memory, graph, 1), CUDA_SUCCESS);
        memory.Instantiated(graph, graph | 1);
        EXPECT_EQ(Capture(memory, graph, graph | 2, 1), CUDA_SUCCESS);
        memory.CaptureEnded(graph, graph);
        memory.GraphDestroyed(*ledger_, graph);
        memory.ExecDestroyed(*ledger_, graph | 1);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(Used(), 0u);
  EXPECT_EQ(memory.Charged(0), 0u);
}

}  // namespace
}  // namespace gpuslice::preload
