// The GPU models the simulator knows: for each, the facts NVML and the CUDA driver report for
// the real board (product name, framebuffer size, PCI device ID, compute capability, SM count,
// clocks, caches). A simulated GPU starts from one of these and a spec may override any field.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace gpuslice::sim {

struct GpuModel {
  std::string_view key;        // spec name, e.g. "H100-80GB"
  std::string_view nvml_name;  // nvmlDeviceGetName / cuDeviceGetName, e.g. "NVIDIA H100 80GB HBM3"
  uint64_t memory_mib = 0;     // total framebuffer as NVML reports it on common instances
  uint32_t pci_device_id = 0;  // NVML pciDeviceId: device ID << 16 | vendor 0x10DE
  uint32_t pci_subsystem_id = 0;
  int cc_major = 0;  // compute capability
  int cc_minor = 0;
  int sm_count = 0;
  int clock_khz = 0;  // peak SM clock
  int memory_clock_khz = 0;
  int memory_bus_width = 0;  // bits
  int l2_cache_bytes = 0;
  int max_threads_per_sm = 0;
  int shared_memory_per_sm = 0;
  int shared_memory_per_block_optin = 0;
};

// Every known model, in the order the documentation lists them.
std::span<const GpuModel> AllModels();

// Returns the model whose key equals `key` ignoring ASCII case, or nullptr.
const GpuModel* FindModel(std::string_view key);

// "H100-80GB, H200, ..." for error messages and help texts.
std::string ModelKeyList();

}  // namespace gpuslice::sim
