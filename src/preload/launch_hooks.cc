// Hooks of every launch path (kernels, Ex, cooperative, and the launch API before CUDA 4; graph
// launches are in graph_hooks.cc): each passes the slice's compute gate before the driver sees
// it. Under the share the gate is one atomic load.
#include "core/abi/cuda.h"
#include "preload/hooks.h"
#include "preload/internal/hook_support.h"

using gpuslice::preload::Runtime;
using gpuslice::preload::internal::CallDriver;

GPUSLICE_HOOK CUresult cuLaunch(CUfunction f) {
  Runtime::Get().BeforeLaunch(nullptr);
  return CallDriver<cuLaunch>(f);
}

GPUSLICE_HOOK CUresult cuLaunchGrid(CUfunction f, int grid_width, int grid_height) {
  Runtime::Get().BeforeLaunch(nullptr);
  return CallDriver<cuLaunchGrid>(f, grid_width, grid_height);
}

GPUSLICE_HOOK CUresult cuLaunchGridAsync(CUfunction f, int grid_width, int grid_height,
                                         CUstream stream) {
  Runtime::Get().BeforeLaunch(stream);
  return CallDriver<cuLaunchGridAsync>(f, grid_width, grid_height, stream);
}

GPUSLICE_HOOK CUresult cuLaunchKernel(CUfunction f, unsigned int grid_x, unsigned int grid_y,
                                      unsigned int grid_z, unsigned int block_x,
                                      unsigned int block_y, unsigned int block_z,
                                      unsigned int shared_bytes, CUstream stream, void** params,
                                      void** extra) {
  Runtime::Get().BeforeLaunch(stream);
  return CallDriver<cuLaunchKernel>(f, grid_x, grid_y, grid_z, block_x, block_y, block_z,
                                    shared_bytes, stream, params, extra);
}

GPUSLICE_HOOK CUresult cuLaunchKernel_ptsz(CUfunction f, unsigned int grid_x, unsigned int grid_y,
                                           unsigned int grid_z, unsigned int block_x,
                                           unsigned int block_y, unsigned int block_z,
                                           unsigned int shared_bytes, CUstream stream,
                                           void** params, void** extra) {
  Runtime::Get().BeforeLaunch(stream);
  return CallDriver<cuLaunchKernel_ptsz>(f, grid_x, grid_y, grid_z, block_x, block_y, block_z,
                                         shared_bytes, stream, params, extra);
}

GPUSLICE_HOOK CUresult cuLaunchKernelEx(const CUlaunchConfig* config, CUfunction f, void** params,
                                        void** extra) {
  Runtime::Get().BeforeLaunch(config != nullptr ? config->hStream : nullptr);
  return CallDriver<cuLaunchKernelEx>(config, f, params, extra);
}

GPUSLICE_HOOK CUresult cuLaunchKernelEx_ptsz(const CUlaunchConfig* config, CUfunction f,
                                             void** params, void** extra) {
  Runtime::Get().BeforeLaunch(config != nullptr ? config->hStream : nullptr);
  return CallDriver<cuLaunchKernelEx_ptsz>(config, f, params, extra);
}

GPUSLICE_HOOK CUresult cuLaunchCooperativeKernel(CUfunction f, unsigned int grid_x,
                                                 unsigned int grid_y, unsigned int grid_z,
                                                 unsigned int block_x, unsigned int block_y,
                                                 unsigned int block_z, unsigned int shared_bytes,
                                                 CUstream stream, void** params) {
  Runtime::Get().BeforeLaunch(stream);
  return CallDriver<cuLaunchCooperativeKernel>(f, grid_x, grid_y, grid_z, block_x, block_y, block_z,
                                               shared_bytes, stream, params);
}

GPUSLICE_HOOK CUresult cuLaunchCooperativeKernel_ptsz(CUfunction f, unsigned int grid_x,
                                                      unsigned int grid_y, unsigned int grid_z,
                                                      unsigned int block_x, unsigned int block_y,
                                                      unsigned int block_z,
                                                      unsigned int shared_bytes, CUstream stream,
                                                      void** params) {
  Runtime::Get().BeforeLaunch(stream);
  return CallDriver<cuLaunchCooperativeKernel_ptsz>(f, grid_x, grid_y, grid_z, block_x, block_y,
                                                    block_z, shared_bytes, stream, params);
}

GPUSLICE_HOOK CUresult cuLaunchCooperativeKernelMultiDevice(CUDA_LAUNCH_PARAMS* launches,
                                                            unsigned int count,
                                                            unsigned int flags) {
  for (unsigned int i = 0; launches != nullptr && i < count; ++i) {
    Runtime::Get().BeforeLaunch(launches[i].hStream);
  }
  return CallDriver<cuLaunchCooperativeKernelMultiDevice>(launches, count, flags);
}
