// The simulated driver's checkpoint API, driven from this process against a client process of
// the same node, as cuda-checkpoint drives it: the client's memory leaves the GPU and comes back
// only when there is room, through the states the real driver goes through.
#include <gtest/gtest.h>
#include <unistd.h>

#include <map>
#include <optional>
#include <string>

#include "core/abi/cuda.h"
#include "sim/child_process.h"
#include "sim/cuda_test_support.h"
#include "sim/state.h"

namespace gpuslice::sim::testing {
namespace {

using gpuslice::testing::ChildProcess;

constexpr uint64_t kClientBytes = 64ULL << 20;

// What NVML lists for `pid` on GPU 0: its memory there, or nullopt when it is not listed.
std::optional<uint64_t> ListedMemory(int pid) {
  for (const ProcessUsage& process : NodeState().Usage(0).processes) {
    if (process.pid == pid && process.running) return process.memory_bytes;
  }
  return std::nullopt;
}

CUprocessState StateOf(int pid) {
  CUprocessState state = CU_PROCESS_STATE_FAILED;
  EXPECT_EQ(cuCheckpointProcessGetState(pid, &state), CUDA_SUCCESS);
  return state;
}

class CheckpointTest : public CudaTest {
 protected:
  void SetUp() override {
    CudaTest::SetUp();
    // The client's device 0 is the node's H100, as this process's.
    client_.emplace(
        ChildProcess::Exec({std::string(GPUSLICE_BIN_DIR) + "/sim_cuda_client", "init", "alloc",
                            std::to_string(kClientBytes), "hold"},
                           {{"LD_LIBRARY_PATH", std::string(GPUSLICE_LIB_DIR) + "/sim"}}));
    ASSERT_EQ(client_->ReadLine(), "init=0");
    ASSERT_EQ(client_->ReadLine(), "alloc=0");
    ASSERT_EQ(client_->ReadLine(), "holding");
    pid_ = client_->pid();
  }
  void TearDown() override {
    if (client_) {
      client_->Kill();
      client_->Wait();
    }
    CudaTest::TearDown();
  }

  std::optional<ChildProcess> client_;
  int pid_ = 0;
};

TEST_F(CheckpointTest, MemoryLeavesTheGpuAndComesBack) {
  const uint64_t client_memory = kContextMemory + kClientBytes;
  ASSERT_EQ(ListedMemory(pid_), client_memory);
  const uint64_t used = NodeState().MemoryUsed(0);
  EXPECT_EQ(StateOf(pid_), CU_PROCESS_STATE_RUNNING);

  GPUSLICE_ASSERT_CU(cuCheckpointProcessLock(pid_, nullptr));
  EXPECT_EQ(StateOf(pid_), CU_PROCESS_STATE_LOCKED);
  EXPECT_EQ(NodeState().MemoryUsed(0), used);
  GPUSLICE_ASSERT_CU(cuCheckpointProcessCheckpoint(pid_, nullptr));
  EXPECT_EQ(StateOf(pid_), CU_PROCESS_STATE_CHECKPOINTED);
  EXPECT_EQ(NodeState().MemoryUsed(0), used - client_memory);
  EXPECT_EQ(ListedMemory(pid_), std::nullopt);

  GPUSLICE_ASSERT_CU(cuCheckpointProcessRestore(pid_, nullptr));
  EXPECT_EQ(StateOf(pid_), CU_PROCESS_STATE_LOCKED);
  EXPECT_EQ(NodeState().MemoryUsed(0), used);
  EXPECT_EQ(ListedMemory(pid_), client_memory);
  GPUSLICE_ASSERT_CU(cuCheckpointProcessUnlock(pid_, nullptr));
  EXPECT_EQ(StateOf(pid_), CU_PROCESS_STATE_RUNNING);
}

TEST_F(CheckpointTest, RestoreWithoutRoomIsOutOfMemoryAndStaysCheckpointed) {
  const uint64_t used = NodeState().MemoryUsed(0);
  GPUSLICE_ASSERT_CU(cuCheckpointProcessLock(pid_, nullptr));
  GPUSLICE_ASSERT_CU(cuCheckpointProcessCheckpoint(pid_, nullptr));
  // This process takes the room the client's memory left.
  CUdeviceptr filler = 0;
  GPUSLICE_ASSERT_CU(cuMemAlloc_v2(&filler, kH100Memory - NodeState().MemoryUsed(0)));
  EXPECT_EQ(cuCheckpointProcessRestore(pid_, nullptr), CUDA_ERROR_OUT_OF_MEMORY);
  EXPECT_EQ(StateOf(pid_), CU_PROCESS_STATE_CHECKPOINTED);
  EXPECT_EQ(ListedMemory(pid_), std::nullopt);
  GPUSLICE_ASSERT_CU(cuMemFree_v2(filler));
  EXPECT_EQ(NodeState().MemoryUsed(0), used - kContextMemory - kClientBytes);
  GPUSLICE_ASSERT_CU(cuCheckpointProcessRestore(pid_, nullptr));
  EXPECT_EQ(NodeState().MemoryUsed(0), used);
}

TEST_F(CheckpointTest, TransitionsTheStateDoesNotAllowAreIllegal) {
  EXPECT_EQ(cuCheckpointProcessCheckpoint(pid_, nullptr), CUDA_ERROR_ILLEGAL_STATE);
  EXPECT_EQ(cuCheckpointProcessRestore(pid_, nullptr), CUDA_ERROR_ILLEGAL_STATE);
  EXPECT_EQ(cuCheckpointProcessUnlock(pid_, nullptr), CUDA_ERROR_ILLEGAL_STATE);
  GPUSLICE_ASSERT_CU(cuCheckpointProcessLock(pid_, nullptr));
  EXPECT_EQ(cuCheckpointProcessLock(pid_, nullptr), CUDA_ERROR_ILLEGAL_STATE);
  EXPECT_EQ(cuCheckpointProcessRestore(pid_, nullptr), CUDA_ERROR_ILLEGAL_STATE);
  GPUSLICE_ASSERT_CU(cuCheckpointProcessCheckpoint(pid_, nullptr));
  EXPECT_EQ(cuCheckpointProcessUnlock(pid_, nullptr), CUDA_ERROR_ILLEGAL_STATE);
  EXPECT_EQ(cuCheckpointProcessCheckpoint(pid_, nullptr), CUDA_ERROR_ILLEGAL_STATE);
  EXPECT_EQ(StateOf(pid_), CU_PROCESS_STATE_CHECKPOINTED);
}

TEST_F(CheckpointTest, UnknownProcessesAndBadArgumentsAreInvalidValues) {
  CUprocessState state;
  // This test's own children include no other CUDA process; PID 1 never uses the GPUs here.
  EXPECT_EQ(cuCheckpointProcessGetState(1, &state), CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(cuCheckpointProcessLock(1, nullptr), CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(cuCheckpointProcessGetState(pid_, nullptr), CUDA_ERROR_INVALID_VALUE);
  CUcheckpointLockArgs lock{};
  lock.reserved1[3] = 1;
  EXPECT_EQ(cuCheckpointProcessLock(pid_, &lock), CUDA_ERROR_INVALID_VALUE);
  lock = {};
  lock.timeoutMs = 100;
  GPUSLICE_EXPECT_CU(cuCheckpointProcessLock(pid_, &lock));
}

TEST_F(CheckpointTest, ACheckpointedProcessThatDiesLeavesNothingOnTheGpu) {
  const uint64_t used = NodeState().MemoryUsed(0);
  GPUSLICE_ASSERT_CU(cuCheckpointProcessLock(pid_, nullptr));
  GPUSLICE_ASSERT_CU(cuCheckpointProcessCheckpoint(pid_, nullptr));
  client_->Kill();
  client_->Wait();
  client_.reset();
  EXPECT_EQ(NodeState().MemoryUsed(0), used - kContextMemory - kClientBytes);
  CUprocessState state;
  EXPECT_EQ(cuCheckpointProcessGetState(pid_, &state), CUDA_ERROR_INVALID_VALUE);
}

}  // namespace
}  // namespace gpuslice::sim::testing
