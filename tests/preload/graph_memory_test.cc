#include "preload/graph_memory.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace gpuslice::preload {
namespace {

constexpr uint64_t kGraph = 0x1000;
constexpr uint64_t kExec = 0x2000;
constexpr uint64_t kOtherExec = 0x3000;
constexpr uint64_t kStream = 0x4000;

uint64_t Bytes(const std::vector<Allocation>& allocations) {
  uint64_t bytes = 0;
  for (const Allocation& allocation : allocations) bytes += allocation.bytes;
  return bytes;
}

TEST(GraphMemory, AGraphWithoutExecutablesGivesItsMemoryBackWhenDestroyed) {
  GraphMemory memory;
  memory.Added(kGraph, Allocation{1, 100});
  memory.Added(kGraph, Allocation{1, 20});
  const std::vector<Allocation> freed = memory.GraphDestroyed(kGraph);
  ASSERT_EQ(freed.size(), 2u);
  EXPECT_EQ(freed[0].device, 1);
  EXPECT_EQ(Bytes(freed), 120u);
  EXPECT_TRUE(memory.GraphDestroyed(kGraph).empty());
}

TEST(GraphMemory, ExecutablesKeepTheirGraphsMemoryUntilTheLastIsDestroyed) {
  GraphMemory memory;
  memory.Added(kGraph, Allocation{0, 100});
  memory.Instantiated(kGraph, kExec);
  memory.Instantiated(kGraph, kOtherExec);
  EXPECT_TRUE(memory.GraphDestroyed(kGraph).empty());
  EXPECT_TRUE(memory.ExecDestroyed(kExec).empty());
  EXPECT_EQ(Bytes(memory.ExecDestroyed(kOtherExec)), 100u);
  EXPECT_TRUE(memory.ExecDestroyed(kOtherExec).empty());
}

TEST(GraphMemory, AGraphOutlivingItsExecutablesKeepsItsMemory) {
  GraphMemory memory;
  memory.Added(kGraph, Allocation{0, 100});
  memory.Instantiated(kGraph, kExec);
  EXPECT_TRUE(memory.ExecDestroyed(kExec).empty());
  EXPECT_EQ(Bytes(memory.GraphDestroyed(kGraph)), 100u);
}

TEST(GraphMemory, ANewGraphAtAReusedHandleDoesNotTakeTheOldOnesMemory) {
  GraphMemory memory;
  memory.Added(kGraph, Allocation{0, 100});
  memory.Instantiated(kGraph, kExec);
  EXPECT_TRUE(memory.GraphDestroyed(kGraph).empty());
  // The driver hands the destroyed graph's handle to a new graph.
  memory.Added(kGraph, Allocation{0, 7});
  EXPECT_EQ(Bytes(memory.GraphDestroyed(kGraph)), 7u);
  EXPECT_EQ(Bytes(memory.ExecDestroyed(kExec)), 100u);
}

TEST(GraphMemory, AnExecutableHoldsOnlyWhatItsGraphHadWhenInstantiated) {
  GraphMemory memory;
  memory.Instantiated(kGraph, kOtherExec);  // no memory nodes yet: holds nothing
  memory.Added(kGraph, Allocation{0, 100});
  memory.Instantiated(kGraph, kExec);
  memory.Added(kGraph, Allocation{0, 7});
  EXPECT_EQ(Bytes(memory.GraphDestroyed(kGraph)), 7u);
  EXPECT_TRUE(memory.ExecDestroyed(kOtherExec).empty());
  EXPECT_EQ(Bytes(memory.ExecDestroyed(kExec)), 100u);
}

TEST(GraphMemory, CapturedAllocationsBecomeTheCapturedGraphs) {
  GraphMemory memory;
  memory.Added(kGraph, Allocation{0, 1});  // a graph captured into may have nodes of its own
  memory.Captured(5, kStream, Allocation{0, 100});
  memory.Captured(5, kStream + 1, Allocation{0, 20});
  memory.CaptureEnded(5, kGraph);
  EXPECT_TRUE(memory.CaptureFailed(5).empty());
  memory.Instantiated(kGraph, kExec);
  EXPECT_TRUE(memory.GraphDestroyed(kGraph).empty());
  EXPECT_EQ(Bytes(memory.ExecDestroyed(kExec)), 121u);
}

TEST(GraphMemory, ACaptureWithoutAGraphGivesItsAllocationsBack) {
  GraphMemory memory;
  memory.Captured(5, kStream, Allocation{0, 100});
  memory.Captured(6, kStream + 1, Allocation{0, 20});
  EXPECT_EQ(Bytes(memory.CaptureFailed(5)), 100u);
  EXPECT_TRUE(memory.CaptureFailed(5).empty());
  memory.CaptureEnded(6, kGraph);
  EXPECT_EQ(Bytes(memory.GraphDestroyed(kGraph)), 20u);
}

TEST(GraphMemory, AnUnnamedCaptureGivesBackWhatWasAllocatedOnItsStream) {
  GraphMemory memory;
  memory.Captured(5, kStream, Allocation{0, 100});
  memory.Captured(5, kStream + 1, Allocation{0, 20});  // a stream joined to the capture
  memory.Captured(6, kStream + 2, Allocation{0, 3});
  EXPECT_EQ(Bytes(memory.CaptureFailedOn(kStream + 1)), 120u);
  EXPECT_TRUE(memory.CaptureFailedOn(kStream).empty());
  EXPECT_EQ(Bytes(memory.CaptureFailed(6)), 3u);
}

TEST(GraphMemory, ThreadsWithGraphsOfTheirOwnGetExactlyTheirMemoryBack) {
  GraphMemory memory;
  std::atomic<uint64_t> freed{0};
  std::vector<std::thread> threads;
  for (uint64_t t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t i = 0; i < 500; ++i) {
        const uint64_t graph = (t << 32) | (i << 4);
        memory.Added(graph, Allocation{0, 1});
        memory.Instantiated(graph, graph | 1);
        memory.Captured(graph, graph | 2, Allocation{0, 1});
        memory.CaptureEnded(graph, graph);
        freed += Bytes(memory.GraphDestroyed(graph)) + Bytes(memory.ExecDestroyed(graph | 1));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(freed.load(), 8u * 500 * 2);
}

}  // namespace
}  // namespace gpuslice::preload
