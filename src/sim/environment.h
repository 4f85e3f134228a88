// How the simulated NVML and CUDA driver find their node: the environment variables they read
// when a process initializes them, and the device visibility a container runtime would give.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "sim/state.h"

namespace gpuslice::sim {

// Path of the shared state file. Required.
inline constexpr std::string_view kStateEnv = "GPUSLICE_SIM_STATE";
// The spec (string or YAML file path) the state file is created from when it is missing or
// empty. Not needed once the file exists.
inline constexpr std::string_view kSpecEnv = "GPUSLICE_SIM_SPEC";
// As set by the device plugin's Allocate for the NVIDIA container runtime: the simulated
// libraries show a process only these GPUs, as the runtime would inside a container.
inline constexpr std::string_view kVisibleDevicesEnv = "NVIDIA_VISIBLE_DEVICES";

struct OpenedState {
  std::unique_ptr<SimState> state;
  // Set when GPUSLICE_SIM_SPEC names another spec than the existing file was created from:
  // the file wins, and this says so.
  std::string warning;
};

// Opens the state file GPUSLICE_SIM_STATE names, creating it from GPUSLICE_SIM_SPEC when it
// is missing or empty. Errors name the variable and value at fault.
Result<OpenedState> OpenStateFromEnvironment();

// The node indexes of the GPUs a process may use, in node order, given the value of
// NVIDIA_VISIBLE_DEVICES (nullptr when unset). Unset, empty or "all": every GPU; "none" or
// "void": none; else a comma-separated list of indexes and UUIDs, each of which must exist.
Result<std::vector<int>> VisibleGpus(const SimState& state, const char* visible_devices);

}  // namespace gpuslice::sim
