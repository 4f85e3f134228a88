// The Container Device Interface (CDI) side of Allocate: the names under which NVIDIA's
// container toolkit publishes GPUs (`nvidia.com/gpu=<uuid>`), the annotation form of a CDI
// request, and the CDI spec the agent writes on nodes with simulated GPUs, which defines those
// same names so that the container runtime injects the simulated driver exactly where it would
// inject NVIDIA's on a GPU node.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace gpuslice::plugin {

// The CDI kind of NVIDIA's GPU devices, as `nvidia-ctk cdi generate` and the GPU Operator's
// toolkit name them.
inline constexpr std::string_view kNvidiaCdiKind = "nvidia.com/gpu";

// "nvidia.com/gpu=<uuid>": the fully qualified CDI name of one GPU.
std::string NvidiaCdiDevice(std::string_view gpu_uuid);

// The annotation key of a CDI request made with annotations: "cdi.k8s.io/gpuslice_<id>",
// where `id` (letters, digits, '-', '_', '.') is unique per container allocation. Returns
// InvalidArgument when the key's name part would not be a valid annotation name (at most 63
// characters).
Result<std::string> CdiAnnotationKey(std::string_view id);

// The CDI spec of a node's simulated GPUs.
struct SimulatedCdiSpec {
  std::string spec_dir;         // a directory the container runtime reads CDI specs from
  std::string library_dir;      // host directory with sim/libcuda.so.1 and sim/libnvidia-ml.so.1
  std::string state_host_path;  // host path of the simulated GPUs' state file
  std::vector<std::string> gpu_uuids;
};

// Where WriteSimulatedCdiSpec writes the spec in `spec_dir`.
std::string SimulatedCdiSpecPath(std::string_view spec_dir);

// The spec as JSON (cdiVersion 0.6.0, kind nvidia.com/gpu): one device per GPU UUID, each
// marking its GPU visible to the simulated driver, and common edits that mount the simulated
// libcuda.so.1 and libnvidia-ml.so.1 read-only where NVIDIA's toolkit puts the real ones, and
// the state directory read-write. Pure.
std::string FormatSimulatedCdiSpec(const SimulatedCdiSpec& spec);

// Writes the spec atomically (a runtime reading the directory sees the old or the new file,
// never half of one), unless the file already says exactly that. Returns the I/O error naming
// the path.
Status WriteSimulatedCdiSpec(const SimulatedCdiSpec& spec);

}  // namespace gpuslice::plugin
