// A simulated node with one GPU for the tests that run clients: fixed UUID, a context
// overhead and a kernel duration, so every expectation can be computed.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>

#include "preload/client_process.h"

namespace gpuslice::testing {

class SimFixture : public ::testing::Test {
 protected:
  static constexpr const char* kUuid = "GPU-0a1b2c3d-0000-4000-8000-000000000001";
  static constexpr uint64_t kGpuBytes = 40ULL << 30;  // A100-40GB
  static constexpr uint64_t kContextBytes = 64ULL << 20;
  static constexpr uint64_t kSliceBytes = 1ULL << 30;
  static constexpr uint64_t kKernelNanos = 1'000'000;

  // `gpu_fields`: more lines of the GPU's YAML spec, e.g. "    launchQueueDepth: 4\n".
  explicit SimFixture(const std::string& gpu_fields = "") {
    // The node directory exists once SimNode is made; the spec file is written into it.
    node_ = std::make_unique<SimNode>("");
    const std::string spec = node_->directory() + "/spec.yaml";
    std::ofstream(spec) << "version: v1\n"
                        << "gpus:\n"
                        << "  - model: A100-40GB\n"
                        << "    uuid: " << kUuid << "\n"
                        << "    contextMemory: " << kContextBytes << "\n"
                        << "    kernelDuration: 1ms\n"
                        << gpu_fields;
    node_->set_spec(spec);
  }

  SimNode& node() { return *node_; }
  std::string Uuid() const { return kUuid; }

  // The environment of one slice of the GPU, with a fresh region: one container.
  Environment SliceEnv(uint64_t memory_bytes = kSliceBytes, int compute_percent = 100) {
    return SliceEnvironment(*node_, kUuid, memory_bytes, compute_percent);
  }

 private:
  std::unique_ptr<SimNode> node_;
};

}  // namespace gpuslice::testing
