#include "sim/cuda_test_support.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "fakes/temp_dir.h"
#include "sim/environment.h"

namespace gpuslice::sim::testing {
namespace {

class SimulatedNode : public ::testing::Environment {
 public:
  void SetUp() override {
    std::ofstream(dir_.Sub("node.yaml")) << "version: v1\n"
                                         << "gpus:\n"
                                         << "  - model: H100-80GB\n"
                                         << "    memory: 256Mi\n"
                                         << "    kernelDuration: 1ms\n"
                                         << "    contextMemory: 16Mi\n"
                                         << "  - model: T4\n"
                                         << "    memory: 64Mi\n"
                                         << "    kernelDuration: 2ms\n"
                                         << "    moduleMemory: 4Mi\n"
                                         << "    kernelLocalMemory: 1536\n";
    setenv(std::string(kStateEnv).c_str(), dir_.Sub("node.state").c_str(), 1);
    setenv(std::string(kSpecEnv).c_str(), dir_.Sub("node.yaml").c_str(), 1);
    // The driver library reads spec strings only; a spec file becomes the state file first,
    // as `gpuslice sim create` makes it.
    Result<OpenedState> created = OpenOrCreateState(dir_.Sub("node.state"), dir_.Sub("node.yaml"));
    ASSERT_TRUE(created.ok()) << created.status().ToString();
    unsetenv(std::string(kVisibleDevicesEnv).c_str());
    unsetenv("CUDA_VISIBLE_DEVICES");
    ASSERT_EQ(cuInit(0), CUDA_SUCCESS);
    Result<std::unique_ptr<SimState>> state = SimState::Open(dir_.Sub("node.state"));
    ASSERT_TRUE(state.ok()) << state.status().ToString();
    state_ = std::move(*state);
  }

  static SimulatedNode* instance;
  ::gpuslice::testing::TempDir dir_;
  std::unique_ptr<SimState> state_;
};

SimulatedNode* SimulatedNode::instance =
    static_cast<SimulatedNode*>(::testing::AddGlobalTestEnvironment(new SimulatedNode()));

}  // namespace

SimState& NodeState() { return *SimulatedNode::instance->state_; }
const std::string& NodeDirectory() { return SimulatedNode::instance->dir_.path(); }

uint64_t CudaTest::MyMemory(int gpu) {
  for (const ProcessUsage& process : NodeState().Usage(gpu).processes) {
    if (process.pid == getpid() && process.running) return process.memory_bytes;
  }
  return 0;
}

}  // namespace gpuslice::sim::testing
