// The device memory the simulated driver takes beyond what allocation calls return, as a real
// driver does: pools that grow while they keep blocks they may not reuse, graph memory kept
// after its graph and after its free until a trim, limits and stacks, and modules' code when
// they are first used. All of it counts on the GPU for the process, as NVML reports it.
#include <gtest/gtest.h>

#include <string>

#include "sim/child_process.h"
#include "sim/cuda_test_support.h"

namespace gpuslice::sim::testing {
namespace {

using ::gpuslice::testing::ChildProcess;

constexpr const char kPtx[] = R"(
.version 8.5
.target sm_75
.address_size 64
.visible .entry work()
{
	ret;
}
)";

// Bytes of graph memory attribute `attribute` of device `device`.
uint64_t GraphMemory(CUdevice device, CUgraphMem_attribute attribute) {
  cuuint64_t value = 0;
  EXPECT_EQ(cuDeviceGetGraphMemAttribute(device, attribute, &value), CUDA_SUCCESS);
  return value;
}

uint64_t PoolReserved(CUmemoryPool pool) {
  cuuint64_t reserved = 0;
  EXPECT_EQ(cuMemPoolGetAttribute(pool, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT, &reserved),
            CUDA_SUCCESS);
  return reserved;
}

class DriverMemoryTest : public CudaTest {
 protected:
  // A pool on device 0 that keeps every block it is given back.
  CUmemoryPool KeepingPool() {
    CUmemPoolProps props{};
    props.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
    props.location = {CU_MEM_LOCATION_TYPE_DEVICE, 0};
    CUmemoryPool pool = nullptr;
    EXPECT_EQ(cuMemPoolCreate(&pool, &props), CUDA_SUCCESS);
    cuuint64_t keep = ~cuuint64_t{0};
    EXPECT_EQ(cuMemPoolSetAttribute(pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &keep), CUDA_SUCCESS);
    return pool;
  }
};

TEST_F(DriverMemoryTest, APoolGrowsWhenNoBlockItKeepsMayServeTheRequest) {
  const uint64_t base = MyMemory(0);
  CUmemoryPool pool = KeepingPool();
  CUstream first = nullptr, second = nullptr;
  GPUSLICE_ASSERT_CU(cuStreamCreate(&first, CU_STREAM_NON_BLOCKING));
  GPUSLICE_ASSERT_CU(cuStreamCreate(&second, CU_STREAM_NON_BLOCKING));
  int opportunistic = 0;
  GPUSLICE_ASSERT_CU(
      cuMemPoolSetAttribute(pool, CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC, &opportunistic));

  // A block kept from another stream is not reused without opportunistic reuse: the pool grows.
  CUdeviceptr a = 0, b = 0, c = 0;
  GPUSLICE_ASSERT_CU(cuMemAllocFromPoolAsync(&a, 4 << 20, pool, first));
  GPUSLICE_ASSERT_CU(cuMemFreeAsync(a, first));
  GPUSLICE_ASSERT_CU(cuMemAllocFromPoolAsync(&b, 4 << 20, pool, second));
  EXPECT_NE(b, a);
  EXPECT_EQ(PoolReserved(pool), 8u << 20);
  EXPECT_EQ(MyMemory(0), base + (8 << 20));
  // The stream that freed it reuses it.
  GPUSLICE_ASSERT_CU(cuMemAllocFromPoolAsync(&c, 4 << 20, pool, first));
  EXPECT_EQ(c, a);
  EXPECT_EQ(PoolReserved(pool), 8u << 20);
  GPUSLICE_ASSERT_CU(cuMemFreeAsync(b, second));
  GPUSLICE_ASSERT_CU(cuMemFreeAsync(c, first));

  // A kept block more than twice the request is not split for it: the pool grows again.
  CUdeviceptr small = 0;
  GPUSLICE_ASSERT_CU(cuMemAllocFromPoolAsync(&small, 1 << 20, pool, first));
  EXPECT_EQ(PoolReserved(pool), 9u << 20);
  EXPECT_EQ(MyMemory(0), base + (9 << 20));
  GPUSLICE_ASSERT_CU(cuMemFreeAsync(small, first));

  // With opportunistic reuse, a block whose free the GPU has done serves any stream.
  CUstream third = nullptr;
  GPUSLICE_ASSERT_CU(cuStreamCreate(&third, CU_STREAM_NON_BLOCKING));
  opportunistic = 1;
  GPUSLICE_ASSERT_CU(
      cuMemPoolSetAttribute(pool, CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC, &opportunistic));
  GPUSLICE_ASSERT_CU(cuStreamSynchronize(first));
  GPUSLICE_ASSERT_CU(cuStreamSynchronize(second));
  CUdeviceptr d = 0;
  GPUSLICE_ASSERT_CU(cuMemAllocFromPoolAsync(&d, 4 << 20, pool, third));
  EXPECT_EQ(PoolReserved(pool), 9u << 20);
  GPUSLICE_ASSERT_CU(cuMemFreeAsync(d, third));
  GPUSLICE_ASSERT_CU(cuStreamDestroy_v2(third));
  GPUSLICE_ASSERT_CU(cuMemPoolTrimTo(pool, 0));
  EXPECT_EQ(MyMemory(0), base);
  GPUSLICE_ASSERT_CU(cuMemPoolDestroy(pool));
  GPUSLICE_ASSERT_CU(cuStreamDestroy_v2(first));
  GPUSLICE_ASSERT_CU(cuStreamDestroy_v2(second));
}

TEST_F(DriverMemoryTest, GraphMemoryOutlivesItsGraphAndItsFreeUntilTrimmed) {
  const uint64_t base = MyMemory(0);
  CUgraph graph = nullptr;
  GPUSLICE_ASSERT_CU(cuGraphCreate(&graph, 0));
  CUDA_MEM_ALLOC_NODE_PARAMS alloc{};
  alloc.poolProps.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
  alloc.poolProps.location = {CU_MEM_LOCATION_TYPE_DEVICE, 0};
  alloc.bytesize = 3 << 20;
  CUgraphNode node = nullptr;
  GPUSLICE_ASSERT_CU(cuGraphAddMemAllocNode(&node, graph, nullptr, 0, &alloc));
  CUgraphExec exec = nullptr;
  GPUSLICE_ASSERT_CU(cuGraphInstantiateWithFlags(&exec, graph, 0));
  GPUSLICE_ASSERT_CU(cuGraphLaunch(exec, nullptr));
  GPUSLICE_ASSERT_CU(cuCtxSynchronize());
  EXPECT_EQ(MyMemory(0), base + (3 << 20));

  // The launch left it allocated: destroying the graph and its executable frees nothing.
  GPUSLICE_ASSERT_CU(cuGraphExecDestroy(exec));
  GPUSLICE_ASSERT_CU(cuGraphDestroy(graph));
  EXPECT_EQ(MyMemory(0), base + (3 << 20));
  EXPECT_EQ(GraphMemory(0, CU_GRAPH_MEM_ATTR_USED_MEM_CURRENT), 3u << 20);
  EXPECT_EQ(cuDeviceGraphMemTrim(0), CUDA_SUCCESS);  // in use: a trim keeps it
  EXPECT_EQ(MyMemory(0), base + (3 << 20));

  // Freed, it stays reserved for later graphs until a trim.
  GPUSLICE_ASSERT_CU(cuMemFree_v2(alloc.dptr));
  EXPECT_EQ(GraphMemory(0, CU_GRAPH_MEM_ATTR_USED_MEM_CURRENT), 0u);
  EXPECT_EQ(GraphMemory(0, CU_GRAPH_MEM_ATTR_RESERVED_MEM_CURRENT), 3u << 20);
  EXPECT_EQ(MyMemory(0), base + (3 << 20));
  GPUSLICE_ASSERT_CU(cuDeviceGraphMemTrim(0));
  EXPECT_EQ(GraphMemory(0, CU_GRAPH_MEM_ATTR_RESERVED_MEM_CURRENT), 0u);
  EXPECT_EQ(MyMemory(0), base);
  EXPECT_EQ(GraphMemory(0, CU_GRAPH_MEM_ATTR_RESERVED_MEM_HIGH), 3u << 20);
}

TEST_F(DriverMemoryTest, AChildGraphWithMemoryNodesIsMovedIntoItsParentNotCloned) {
  const uint64_t base = MyMemory(0);
  CUgraph child = nullptr, parent = nullptr;
  GPUSLICE_ASSERT_CU(cuGraphCreate(&child, 0));
  GPUSLICE_ASSERT_CU(cuGraphCreate(&parent, 0));
  CUDA_MEM_ALLOC_NODE_PARAMS alloc{};
  alloc.poolProps.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
  alloc.poolProps.location = {CU_MEM_LOCATION_TYPE_DEVICE, 0};
  alloc.bytesize = 2 << 20;
  CUgraphNode node = nullptr;
  GPUSLICE_ASSERT_CU(cuGraphAddMemAllocNode(&node, child, nullptr, 0, &alloc));
  CUgraphNodeParams params{};
  params.type = CU_GRAPH_NODE_TYPE_GRAPH;
  params.graph.graph = child;
  params.graph.ownership = CU_GRAPH_CHILD_GRAPH_OWNERSHIP_CLONE;
  EXPECT_EQ(cuGraphAddNode_v2(&node, parent, nullptr, nullptr, 0, &params),
            CUDA_ERROR_NOT_SUPPORTED);
  params.graph.ownership = CU_GRAPH_CHILD_GRAPH_OWNERSHIP_MOVE;
  GPUSLICE_ASSERT_CU(cuGraphAddNode_v2(&node, parent, nullptr, nullptr, 0, &params));
  EXPECT_EQ(cuGraphDestroy(child), CUDA_ERROR_INVALID_VALUE);  // the parent's now
  CUgraphExec exec = nullptr;
  GPUSLICE_ASSERT_CU(cuGraphInstantiateWithFlags(&exec, parent, 0));
  GPUSLICE_ASSERT_CU(cuGraphLaunch(exec, nullptr));
  EXPECT_EQ(MyMemory(0), base + (2 << 20));
  GPUSLICE_ASSERT_CU(cuGraphExecDestroy(exec));
  GPUSLICE_ASSERT_CU(cuGraphDestroy(parent));
  GPUSLICE_ASSERT_CU(cuMemFree_v2(alloc.dptr));
  GPUSLICE_ASSERT_CU(cuDeviceGraphMemTrim(0));
  EXPECT_EQ(MyMemory(0), base);
}

TEST_F(DriverMemoryTest, RaisingALimitReservesItsMemoryAndAFullGpuRefusesIt) {
  const uint64_t base = MyMemory(0);
  GPUSLICE_ASSERT_CU(cuCtxSetLimit(CU_LIMIT_MALLOC_HEAP_SIZE, 40 << 20));
  EXPECT_EQ(MyMemory(0), base + (32 << 20));  // 32 MiB past the 8 MiB default
  GPUSLICE_ASSERT_CU(cuCtxSetLimit(CU_LIMIT_PRINTF_FIFO_SIZE, 5 << 20));
  EXPECT_EQ(MyMemory(0), base + (36 << 20));
  GPUSLICE_ASSERT_CU(cuCtxSetLimit(CU_LIMIT_DEV_RUNTIME_PENDING_LAUNCH_COUNT, 4096));
  EXPECT_EQ(MyMemory(0), base + (38 << 20));
  // Another KiB of stack for each of the H100's 132 x 2048 threads is more than it has.
  EXPECT_EQ(cuCtxSetLimit(CU_LIMIT_STACK_SIZE, 2048), CUDA_ERROR_OUT_OF_MEMORY);
  size_t stack = 0;
  GPUSLICE_ASSERT_CU(cuCtxGetLimit(&stack, CU_LIMIT_STACK_SIZE));
  EXPECT_EQ(stack, 1024u);
  GPUSLICE_ASSERT_CU(cuCtxSetLimit(CU_LIMIT_MALLOC_HEAP_SIZE, 8 << 20));
  GPUSLICE_ASSERT_CU(cuCtxSetLimit(CU_LIMIT_PRINTF_FIFO_SIZE, 1 << 20));
  GPUSLICE_ASSERT_CU(cuCtxSetLimit(CU_LIMIT_DEV_RUNTIME_PENDING_LAUNCH_COUNT, 2048));
  EXPECT_EQ(MyMemory(0), base);
}

// On the T4 of the test node, modules take memory in each context and kernels need more
// stack than the default.
TEST_F(DriverMemoryTest, ModulesTakeMemoryWhenFirstUsedAndLaunchesGrowTheStack) {
  ASSERT_EQ(MyMemory(1), 0u);
  CUcontext context = nullptr;
  GPUSLICE_ASSERT_CU(cuCtxCreate_v4(&context, nullptr, 0, 1));
  CUmodule module = nullptr;
  GPUSLICE_ASSERT_CU(cuModuleLoadData(&module, kPtx));
  EXPECT_EQ(MyMemory(1), 0u);  // lazy loading: nothing yet
  CUmoduleLoadingMode mode = CU_MODULE_EAGER_LOADING;
  GPUSLICE_ASSERT_CU(cuModuleGetLoadingMode(&mode));
  EXPECT_EQ(mode, CU_MODULE_LAZY_LOADING);
  CUfunction function = nullptr;
  GPUSLICE_ASSERT_CU(cuModuleGetFunction(&function, module, "work"));
  EXPECT_EQ(MyMemory(1), kT4ModuleMemory);
  int local = 0;
  GPUSLICE_ASSERT_CU(cuFuncGetAttribute(&local, CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES, function));
  EXPECT_EQ(local, static_cast<int>(kT4KernelStack));
  for (int i = 0; i < 2; ++i) {
    GPUSLICE_ASSERT_CU(cuLaunchKernel(function, 1, 1, 1, 32, 1, 1, 0, nullptr, nullptr, nullptr));
    EXPECT_EQ(MyMemory(1), kT4ModuleMemory + kT4StackGrowth);  // grown once
  }
  size_t stack = 0;
  GPUSLICE_ASSERT_CU(cuCtxGetLimit(&stack, CU_LIMIT_STACK_SIZE));
  EXPECT_EQ(stack, kT4KernelStack);

  // A library's code goes to the device at the first launch of one of its kernels there.
  CUlibrary library = nullptr;
  GPUSLICE_ASSERT_CU(cuLibraryLoadData(&library, kPtx, nullptr, nullptr, 0, nullptr, nullptr, 0));
  CUkernel kernel = nullptr;
  GPUSLICE_ASSERT_CU(cuLibraryGetKernel(&kernel, library, "work"));
  EXPECT_EQ(MyMemory(1), kT4ModuleMemory + kT4StackGrowth);
  GPUSLICE_ASSERT_CU(cuLaunchKernel(reinterpret_cast<CUfunction>(kernel), 1, 1, 1, 32, 1, 1, 0,
                                    nullptr, nullptr, nullptr));
  EXPECT_EQ(MyMemory(1), 2 * kT4ModuleMemory + kT4StackGrowth);
  GPUSLICE_ASSERT_CU(cuLibraryUnload(library));
  GPUSLICE_ASSERT_CU(cuModuleUnload(module));
  EXPECT_EQ(MyMemory(1), kT4StackGrowth);
  GPUSLICE_ASSERT_CU(cuCtxDestroy_v2(context));
  EXPECT_EQ(MyMemory(1), 0u);
}

TEST(DriverMemoryProcesses, EagerLoadingTakesAModulesMemoryWhenItLoads) {
  for (const char* loading : {"LAZY", "EAGER"}) {
    SCOPED_TRACE(loading);
    // The client's device 0 is the node's T4.
    ChildProcess client = ChildProcess::Exec(
        {std::string(GPUSLICE_BIN_DIR) + "/sim_cuda_client", "init", "module", "hold"},
        {{"LD_LIBRARY_PATH", std::string(GPUSLICE_LIB_DIR) + "/sim"},
         {"CUDA_VISIBLE_DEVICES", "1"},
         {"CUDA_MODULE_LOADING", std::string(loading)}});
    EXPECT_EQ(client.ReadLine(), "init=0");
    EXPECT_EQ(client.ReadLine(), "module=0");
    EXPECT_EQ(client.ReadLine(), "holding");
    uint64_t memory = 0;
    for (const ProcessUsage& process : NodeState().Usage(1).processes) {
      if (process.pid == client.pid() && process.running) memory = process.memory_bytes;
    }
    EXPECT_EQ(memory, std::string(loading) == "EAGER" ? kT4ModuleMemory : 0u);
    client.Kill();
    client.Wait();
  }
}

}  // namespace
}  // namespace gpuslice::sim::testing
