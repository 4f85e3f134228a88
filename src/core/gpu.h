// A physical GPU as discovery reports it, independent of where the facts came from (NVML on a
// real node, the simulated NVML, or a test fake).
#pragma once

#include <cstdint>
#include <string>

namespace gpuslice::core {

struct GpuInfo {
  int index = 0;             // NVML enumeration index on the node
  std::string uuid;          // "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
  std::string name;          // NVML product name, e.g. "NVIDIA H100 80GB HBM3"
  uint64_t memory_bytes = 0; // total framebuffer memory
  int minor = -1;            // /dev/nvidia<minor>; -1 when unknown
  std::string pci_bus_id;    // "00000000:3B:00.0"; empty when unknown
  int numa_node = -1;        // -1 when the platform reports no NUMA affinity
  // CUDA compute capability ("9.0" for Hopper); -1 when the driver does not say.
  int compute_major = -1;
  int compute_minor = -1;
  bool mig_enabled = false;  // in MIG mode: its memory belongs to its MIG devices, not to it
};

}  // namespace gpuslice::core
