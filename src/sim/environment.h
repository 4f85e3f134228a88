// How the simulated NVML and CUDA driver find their node: the environment variables they read
// when a process initializes them, and the device visibility a container runtime would give.
#pragma once

#include <memory>
#include <optional>
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
// Models a process in its own PID namespace, as every pod is: NVML names processes by the
// PIDs the driver sees (the host's), which are not what the process's getpid() returns. The
// simulated NVML reports each process's PID plus this offset. Unset or 0: the same namespace.
inline constexpr std::string_view kHostPidOffsetEnv = "GPUSLICE_SIM_HOST_PID_OFFSET";

struct OpenedState {
  std::unique_ptr<SimState> state;
  // Set when GPUSLICE_SIM_SPEC names another spec than the existing file was created from:
  // the file wins, and this says so.
  std::string warning;
};

// Opens the state file GPUSLICE_SIM_STATE names, creating it from GPUSLICE_SIM_SPEC when it
// is missing or empty. Errors name the variable and value at fault.
Result<OpenedState> OpenStateFromEnvironment();

// Opens the state file at `path`, creating it from `spec_text` (a spec string or, where the
// YAML reader is linked, a spec file) when it is missing or empty. The device plugin and
// node-sim call it before they load the simulated NVML, which reads spec strings only.
Result<OpenedState> OpenOrCreateState(const std::string& path, const std::string& spec_text);

// What decides the GPUs a container shows, in NVIDIA_VISIBLE_DEVICES's form: the UUIDs of the
// CDI devices the runtime injected (core/contract.h's kSimCdiGpuEnvPrefix variables), which on
// a GPU node are device nodes and win whatever NVIDIA_VISIBLE_DEVICES says; where there are
// none, NVIDIA_VISIBLE_DEVICES itself (nullopt when unset).
std::optional<std::string> ContainerVisibleDevices();

// The node indexes of the GPUs a process may use, in node order, given the value of
// NVIDIA_VISIBLE_DEVICES (nullptr when unset). Unset, empty or "all": every GPU; "none" or
// "void": none; else a comma-separated list of indexes and UUIDs, each of which must exist.
Result<std::vector<int>> VisibleGpus(const SimState& state, const char* visible_devices);

// The offset GPUSLICE_SIM_HOST_PID_OFFSET asks for (`value`, nullptr when unset): 0 to 2^30.
Result<unsigned int> HostPidOffset(const char* value);

}  // namespace gpuslice::sim
