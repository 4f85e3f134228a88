#include "sim/cuda/device_attributes.h"

#include <algorithm>
#include <cstdio>

namespace gpuslice::sim::cuda {
namespace {

constexpr int kMaxThreadsPerBlock = 1024;
constexpr int kWarpSize = 32;
constexpr int kSharedPerBlock = 48 * 1024;

int MaxBlocksPerSm(const GpuSpec& gpu) {
  if (gpu.cc_major >= 9) return 32;
  if (gpu.cc_major == 8) return gpu.cc_minor == 0 ? 32 : 16;
  if (gpu.cc_major == 7 && gpu.cc_minor == 5) return 16;
  return 32;
}

}  // namespace

int MaxActiveBlocksPerSm(const GpuSpec& gpu, int threads, size_t shared_bytes) {
  if (threads <= 0 || threads > kMaxThreadsPerBlock) return 0;
  const int warps = (threads + kWarpSize - 1) / kWarpSize;
  int blocks = std::min(MaxBlocksPerSm(gpu), gpu.max_threads_per_sm / (warps * kWarpSize));
  if (shared_bytes > 0) {
    blocks = std::min<int>(blocks, static_cast<int>(gpu.shared_memory_per_sm / shared_bytes));
  }
  return std::max(blocks, 0);
}

CUresult DeviceAttribute(const GpuSpec& gpu, CUdevice_attribute attribute, int* value) {
  if (value == nullptr || attribute <= 0 || attribute >= CU_DEVICE_ATTRIBUTE_MAX) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  unsigned domain = 0, bus = 0, slot = 0, function = 0;
  std::sscanf(gpu.pci_bus_id.c_str(), "%x:%x:%x.%x", &domain, &bus, &slot, &function);
  const bool hopper_or_later = gpu.cc_major >= 9;
  const bool ampere_or_later = gpu.cc_major >= 8;
  int result = 0;
  switch (attribute) {
    case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK:
      result = kMaxThreadsPerBlock;
      break;
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X:
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y:
      result = 1024;
      break;
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z:
      result = 64;
      break;
    case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X:
      result = 2147483647;
      break;
    case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y:
    case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z:
      result = 65535;
      break;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK:
      result = kSharedPerBlock;
      break;
    case CU_DEVICE_ATTRIBUTE_TOTAL_CONSTANT_MEMORY:
      result = 65536;
      break;
    case CU_DEVICE_ATTRIBUTE_WARP_SIZE:
      result = kWarpSize;
      break;
    case CU_DEVICE_ATTRIBUTE_MAX_PITCH:
      result = 2147483647;
      break;
    case CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK:
      result = 65536;
      break;
    case CU_DEVICE_ATTRIBUTE_CLOCK_RATE:
      result = gpu.clock_khz;
      break;
    case CU_DEVICE_ATTRIBUTE_TEXTURE_ALIGNMENT:
      result = 512;
      break;
    case CU_DEVICE_ATTRIBUTE_GPU_OVERLAP:
      result = 1;
      break;
    case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT:
      result = gpu.sm_count;
      break;
    case CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY:
      result = 1;
      break;
    case CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE1D_WIDTH:
      result = 131072;
      break;
    case CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_WIDTH:
      result = 131072;
      break;
    case CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_HEIGHT:
      result = 65536;
      break;
    case CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE3D_WIDTH:
    case CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE3D_HEIGHT:
    case CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE3D_DEPTH:
      result = 16384;
      break;
    case CU_DEVICE_ATTRIBUTE_SURFACE_ALIGNMENT:
      result = 512;
      break;
    case CU_DEVICE_ATTRIBUTE_CONCURRENT_KERNELS:
      result = 1;
      break;
    case CU_DEVICE_ATTRIBUTE_ECC_ENABLED:
      result = 1;
      break;
    case CU_DEVICE_ATTRIBUTE_PCI_BUS_ID:
      result = static_cast<int>(bus);
      break;
    case CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID:
      result = static_cast<int>(slot);
      break;
    case CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID:
      result = static_cast<int>(domain);
      break;
    case CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE:
      result = gpu.memory_clock_khz;
      break;
    case CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH:
      result = gpu.memory_bus_width;
      break;
    case CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE:
      result = gpu.l2_cache_bytes;
      break;
    case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR:
      result = gpu.max_threads_per_sm;
      break;
    case CU_DEVICE_ATTRIBUTE_ASYNC_ENGINE_COUNT:
      result = ampere_or_later ? 5 : 2;
      break;
    case CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING:
      result = 1;
      break;
    case CU_DEVICE_ATTRIBUTE_TEXTURE_PITCH_ALIGNMENT:
      result = 32;
      break;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR:
      result = gpu.cc_major;
      break;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR:
      result = gpu.cc_minor;
      break;
    case CU_DEVICE_ATTRIBUTE_STREAM_PRIORITIES_SUPPORTED:
      result = 1;
      break;
    case CU_DEVICE_ATTRIBUTE_GLOBAL_L1_CACHE_SUPPORTED:
    case CU_DEVICE_ATTRIBUTE_LOCAL_L1_CACHE_SUPPORTED:
      result = 1;
      break;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR:
      result = gpu.shared_memory_per_sm;
      break;
    case CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR:
      result = 65536;
      break;
    case CU_DEVICE_ATTRIBUTE_MANAGED_MEMORY:
      result = 1;
      break;
    case CU_DEVICE_ATTRIBUTE_SINGLE_TO_DOUBLE_PRECISION_PERF_RATIO:
      result = 2;
      break;
    case CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS:
      result = 1;
      break;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_PREEMPTION_SUPPORTED:
      result = 1;
      break;
    case CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH:
      result = 1;
      break;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN:
      result = gpu.shared_memory_per_block_optin;
      break;
    case CU_DEVICE_ATTRIBUTE_HOST_REGISTER_SUPPORTED:
      result = 1;
      break;
    case CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED:
      result = 1;
      break;
    case CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED:
      result = 1;
      break;
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCKS_PER_MULTIPROCESSOR:
      result = MaxBlocksPerSm(gpu);
      break;
    case CU_DEVICE_ATTRIBUTE_MAX_PERSISTING_L2_CACHE_SIZE:
      result = ampere_or_later ? gpu.l2_cache_bytes * 3 / 4 : 0;
      break;
    case CU_DEVICE_ATTRIBUTE_MAX_ACCESS_POLICY_WINDOW_SIZE:
      result = ampere_or_later ? 134213632 : 0;
      break;
    case CU_DEVICE_ATTRIBUTE_RESERVED_SHARED_MEMORY_PER_BLOCK:
      result = ampere_or_later ? 1024 : 0;
      break;
    case CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED:
      result = 1;
      break;
    case CU_DEVICE_ATTRIBUTE_MEMPOOL_SUPPORTED_HANDLE_TYPES:
      result = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
      break;
    case CU_DEVICE_ATTRIBUTE_CLUSTER_LAUNCH:
      result = hopper_or_later ? 1 : 0;
      break;
    case CU_DEVICE_ATTRIBUTE_CAN_USE_64_BIT_STREAM_MEM_OPS:
      result = 1;
      break;
    case CU_DEVICE_ATTRIBUTE_CAN_USE_STREAM_WAIT_VALUE_NOR:
      result = 1;
      break;
    case CU_DEVICE_ATTRIBUTE_IPC_EVENT_SUPPORTED:
      result = 1;
      break;
    case CU_DEVICE_ATTRIBUTE_MEM_SYNC_DOMAIN_COUNT:
      result = hopper_or_later ? 4 : 1;
      break;
    case CU_DEVICE_ATTRIBUTE_TENSOR_MAP_ACCESS_SUPPORTED:
      result = hopper_or_later ? 1 : 0;
      break;
    case CU_DEVICE_ATTRIBUTE_NUMA_CONFIG:
      result = 0;
      break;
    case CU_DEVICE_ATTRIBUTE_NUMA_ID:
      result = -1;
      break;
    case CU_DEVICE_ATTRIBUTE_HOST_NUMA_ID:
      result = gpu.numa_node;
      break;
    case CU_DEVICE_ATTRIBUTE_GPU_PCI_DEVICE_ID:
      result = static_cast<int>(gpu.pci_device_id);
      break;
    case CU_DEVICE_ATTRIBUTE_GPU_PCI_SUBSYSTEM_ID:
      result = static_cast<int>(gpu.pci_subsystem_id);
      break;
    default:
      result = 0;
      break;
  }
  *value = result;
  return CUDA_SUCCESS;
}

}  // namespace gpuslice::sim::cuda
