// Kernel launches: checked like the real driver checks them, then queued on the simulated
// GPU's kernel timeline, where each occupies the GPU for its kernel duration. A launch may take
// device memory first: a library's code at its first launch in a context (module.cc) and a
// bigger stack when the GPU's kernels need one (resources.h). Launches on a
// capturing stream become graph kernel nodes instead. Also the occupancy queries.
#include <memory>

#include "sim/cuda/device_attributes.h"
#include "sim/cuda/driver.h"
#include "sim/cuda/graph_ops.h"
#include "sim/cuda/module_ops.h"
#include "sim/cuda/resources.h"
#include "sim/internal/clock.h"

namespace {

using gpuslice::sim::cuda::Api;
using gpuslice::sim::cuda::Driver;

struct Launch {
  unsigned int grid[3];
  unsigned int block[3];
  unsigned int shared_bytes;
  void** params;
  void** extra;
  bool cooperative;
};

// The `extra` array is pairs of (marker, value) ending with CU_LAUNCH_PARAM_END.
bool ValidExtra(void** extra) {
  for (int i = 0; i < 16; i += 2) {
    if (extra[i] == CU_LAUNCH_PARAM_END) return true;
    if (extra[i] != CU_LAUNCH_PARAM_BUFFER_POINTER && extra[i] != CU_LAUNCH_PARAM_BUFFER_SIZE) {
      return false;
    }
  }
  return false;
}

CUresult Check(Driver& driver, const CUfunc_st& function, const Launch& launch) {
  for (int i = 0; i < 3; ++i) {
    if (launch.grid[i] == 0 || launch.block[i] == 0) return CUDA_ERROR_INVALID_VALUE;
  }
  if (launch.grid[0] > 2147483647u || launch.grid[1] > 65535 || launch.grid[2] > 65535 ||
      launch.block[0] > 1024 || launch.block[1] > 1024 || launch.block[2] > 64) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  const uint64_t threads = uint64_t{launch.block[0]} * launch.block[1] * launch.block[2];
  if (threads > 1024) return CUDA_ERROR_INVALID_VALUE;
  if (launch.shared_bytes > static_cast<unsigned>(function.max_dynamic_shared.load())) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (launch.params != nullptr && launch.extra != nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (launch.extra != nullptr && !ValidExtra(launch.extra)) return CUDA_ERROR_INVALID_VALUE;
  if (launch.cooperative) {
    const gpuslice::sim::GpuSpec& gpu = driver.Spec(function.module->ctx->gpu);
    const uint64_t blocks = uint64_t{launch.grid[0]} * launch.grid[1] * launch.grid[2];
    const uint64_t resident = uint64_t(gpuslice::sim::cuda::MaxActiveBlocksPerSm(
                                  gpu, static_cast<int>(threads), launch.shared_bytes)) *
                              static_cast<uint64_t>(gpu.sm_count);
    if (blocks > resident) return CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE;
  }
  return CUDA_SUCCESS;
}

CUresult LaunchKernel(CUfunction f, const Launch& launch, CUstream hStream, bool per_thread) {
  return Api([&](Driver& driver) {
    CUstream_st* stream = nullptr;
    const CUresult resolved = driver.ResolveStream(hStream, per_thread, &stream);
    if (resolved != CUDA_SUCCESS) return resolved;
    CUfunc_st* function = nullptr;
    const CUresult found = gpuslice::sim::cuda::ResolveFunction(driver, f, stream->ctx, &function);
    if (found != CUDA_SUCCESS) return found;
    const CUresult valid = Check(driver, *function, launch);
    if (valid != CUDA_SUCCESS) return valid;
    auto node = std::make_unique<CUgraphNode_st>();
    node->type = CU_GRAPH_NODE_TYPE_KERNEL;
    node->kernel.func = function;
    node->kernel.gridDimX = launch.grid[0];
    node->kernel.gridDimY = launch.grid[1];
    node->kernel.gridDimZ = launch.grid[2];
    node->kernel.blockDimX = launch.block[0];
    node->kernel.blockDimY = launch.block[1];
    node->kernel.blockDimZ = launch.block[2];
    node->kernel.sharedMemBytes = launch.shared_bytes;
    node->kernel.ctx = stream->ctx;
    CUresult captured = CUDA_SUCCESS;
    if (gpuslice::sim::cuda::CaptureNode(driver, stream, std::move(node), &captured)) {
      return captured;
    }
    const CUresult stack = gpuslice::sim::cuda::GrowStackForLaunch(driver, stream->ctx);
    if (stack != CUDA_SUCCESS) return stack;
    return driver.QueueKernels(stream, 1);
  });
}

CUresult LaunchEx(const CUlaunchConfig* config, CUfunction f, void** kernelParams, void** extra,
                  bool per_thread) {
  if (config == nullptr || (config->numAttrs > 0 && config->attrs == nullptr)) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  Launch launch{{config->gridDimX, config->gridDimY, config->gridDimZ},
                {config->blockDimX, config->blockDimY, config->blockDimZ},
                config->sharedMemBytes,
                kernelParams,
                extra,
                false};
  for (unsigned int i = 0; i < config->numAttrs; ++i) {
    const CUlaunchAttribute& attribute = config->attrs[i];
    switch (attribute.id) {
      case CU_LAUNCH_ATTRIBUTE_COOPERATIVE:
        launch.cooperative = attribute.value.cooperative != 0;
        break;
      case CU_LAUNCH_ATTRIBUTE_IGNORE:
      case CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW:
      case CU_LAUNCH_ATTRIBUTE_SYNCHRONIZATION_POLICY:
      case CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION:
      case CU_LAUNCH_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE:
      case CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION:
      case CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_EVENT:
      case CU_LAUNCH_ATTRIBUTE_PRIORITY:
      case CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN_MAP:
      case CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN:
      case CU_LAUNCH_ATTRIBUTE_PREFERRED_CLUSTER_DIMENSION:
      case CU_LAUNCH_ATTRIBUTE_LAUNCH_COMPLETION_EVENT:
      case CU_LAUNCH_ATTRIBUTE_DEVICE_UPDATABLE_KERNEL_NODE:
      case CU_LAUNCH_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT:
      case CU_LAUNCH_ATTRIBUTE_NVLINK_UTIL_CENTRIC_SCHEDULING:
        break;  // scheduling hints: one kernel at a time makes them moot
      default:
        return CUDA_ERROR_INVALID_VALUE;
    }
  }
  return LaunchKernel(f, launch, config->hStream, per_thread);
}

CUresult HostFunction(CUstream hStream, CUhostFn fn, void* userData, bool per_thread) {
  return Api([&](Driver& driver) {
    if (fn == nullptr) return CUDA_ERROR_INVALID_VALUE;
    CUstream_st* stream = nullptr;
    const CUresult resolved = driver.ResolveStream(hStream, per_thread, &stream);
    if (resolved != CUDA_SUCCESS) return resolved;
    auto node = std::make_unique<CUgraphNode_st>();
    node->type = CU_GRAPH_NODE_TYPE_HOST;
    node->host = CUDA_HOST_NODE_PARAMS{fn, userData};
    CUresult captured = CUDA_SUCCESS;
    if (gpuslice::sim::cuda::CaptureNode(driver, stream, std::move(node), &captured)) {
      return captured;
    }
    // Runs in the calling thread once the stream's earlier work is done.
    gpuslice::sim::internal::SleepUntil(stream->tail_ns.load(std::memory_order_acquire));
    fn(userData);
    return CUDA_SUCCESS;
  });
}

}  // namespace

GPUSLICE_CUDA_EXPORT CUresult cuLaunchKernel(CUfunction f, unsigned int gridDimX,
                                             unsigned int gridDimY, unsigned int gridDimZ,
                                             unsigned int blockDimX, unsigned int blockDimY,
                                             unsigned int blockDimZ, unsigned int sharedMemBytes,
                                             CUstream hStream, void** kernelParams, void** extra) {
  return LaunchKernel(f,
                      {{gridDimX, gridDimY, gridDimZ},
                       {blockDimX, blockDimY, blockDimZ},
                       sharedMemBytes,
                       kernelParams,
                       extra,
                       false},
                      hStream, false);
}

GPUSLICE_CUDA_EXPORT CUresult cuLaunchKernel_ptsz(CUfunction f, unsigned int gridDimX,
                                                  unsigned int gridDimY, unsigned int gridDimZ,
                                                  unsigned int blockDimX, unsigned int blockDimY,
                                                  unsigned int blockDimZ,
                                                  unsigned int sharedMemBytes, CUstream hStream,
                                                  void** kernelParams, void** extra) {
  return LaunchKernel(f,
                      {{gridDimX, gridDimY, gridDimZ},
                       {blockDimX, blockDimY, blockDimZ},
                       sharedMemBytes,
                       kernelParams,
                       extra,
                       false},
                      hStream, true);
}

GPUSLICE_CUDA_EXPORT CUresult cuLaunchCooperativeKernel(
    CUfunction f, unsigned int gridDimX, unsigned int gridDimY, unsigned int gridDimZ,
    unsigned int blockDimX, unsigned int blockDimY, unsigned int blockDimZ,
    unsigned int sharedMemBytes, CUstream hStream, void** kernelParams) {
  return LaunchKernel(f,
                      {{gridDimX, gridDimY, gridDimZ},
                       {blockDimX, blockDimY, blockDimZ},
                       sharedMemBytes,
                       kernelParams,
                       nullptr,
                       true},
                      hStream, false);
}

GPUSLICE_CUDA_EXPORT CUresult cuLaunchCooperativeKernel_ptsz(
    CUfunction f, unsigned int gridDimX, unsigned int gridDimY, unsigned int gridDimZ,
    unsigned int blockDimX, unsigned int blockDimY, unsigned int blockDimZ,
    unsigned int sharedMemBytes, CUstream hStream, void** kernelParams) {
  return LaunchKernel(f,
                      {{gridDimX, gridDimY, gridDimZ},
                       {blockDimX, blockDimY, blockDimZ},
                       sharedMemBytes,
                       kernelParams,
                       nullptr,
                       true},
                      hStream, true);
}

GPUSLICE_CUDA_EXPORT CUresult cuLaunchKernelEx(const CUlaunchConfig* config, CUfunction f,
                                               void** kernelParams, void** extra) {
  return LaunchEx(config, f, kernelParams, extra, false);
}

GPUSLICE_CUDA_EXPORT CUresult cuLaunchKernelEx_ptsz(const CUlaunchConfig* config, CUfunction f,
                                                    void** kernelParams, void** extra) {
  return LaunchEx(config, f, kernelParams, extra, true);
}

GPUSLICE_CUDA_EXPORT CUresult cuLaunchHostFunc(CUstream hStream, CUhostFn fn, void* userData) {
  return HostFunction(hStream, fn, userData, false);
}

GPUSLICE_CUDA_EXPORT CUresult cuLaunchHostFunc_ptsz(CUstream hStream, CUhostFn fn, void* userData) {
  return HostFunction(hStream, fn, userData, true);
}

// ---- Occupancy ----

GPUSLICE_CUDA_EXPORT CUresult cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(
    int* numBlocks, CUfunction func, int blockSize, size_t dynamicSMemSize, unsigned int) {
  return Api([&](Driver& driver) {
    if (!driver.functions.Contains(func)) return CUDA_ERROR_INVALID_HANDLE;
    CUfunc_st* function = func;
    if (numBlocks == nullptr || blockSize <= 0) return CUDA_ERROR_INVALID_VALUE;
    *numBlocks = gpuslice::sim::cuda::MaxActiveBlocksPerSm(driver.Spec(function->module->ctx->gpu),
                                                           blockSize, dynamicSMemSize);
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuOccupancyMaxActiveBlocksPerMultiprocessor(int* numBlocks,
                                                                          CUfunction func,
                                                                          int blockSize,
                                                                          size_t dynamicSMemSize) {
  return cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(numBlocks, func, blockSize,
                                                              dynamicSMemSize, 0);
}
