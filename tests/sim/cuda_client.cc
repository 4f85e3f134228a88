// A driver-API program linked against libcuda.so.1 like any CUDA application, run by the
// tests as a separate process. It performs the steps named on its command line and reports
// each result on stdout, one "step=result" line at a time:
//   init | count | alloc BYTES | launch KERNELS | module | meminfo | hold
// ("module" loads a module and uses nothing of it).
// "hold" waits until stdin closes, so a test can keep the process alive (or kill it).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/abi/cuda.h"

namespace {

CUresult EnsureContext() {
  CUcontext current = nullptr;
  if (cuCtxGetCurrent(&current) == CUDA_SUCCESS && current != nullptr) return CUDA_SUCCESS;
  CUcontext primary = nullptr;
  const CUresult retained = cuDevicePrimaryCtxRetain(&primary, 0);
  return retained == CUDA_SUCCESS ? cuCtxSetCurrent(primary) : retained;
}

CUresult Launch(int kernels) {
  CUresult result = EnsureContext();
  static const char kImage[] =
      "\x7f"
      "ELF opaque cubin";
  CUmodule module = nullptr;
  CUfunction function = nullptr;
  if (result == CUDA_SUCCESS) result = cuModuleLoadData(&module, kImage);
  if (result == CUDA_SUCCESS) result = cuModuleGetFunction(&function, module, "work");
  for (int i = 0; i < kernels && result == CUDA_SUCCESS; ++i) {
    result = cuLaunchKernel(function, 1, 1, 1, 128, 1, 1, 0, nullptr, nullptr, nullptr);
  }
  return result == CUDA_SUCCESS ? cuCtxSynchronize() : result;
}

}  // namespace

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  for (int i = 1; i < argc; ++i) {
    const std::string step = argv[i];
    if (step == "init") {
      std::printf("init=%d\n", cuInit(0));
    } else if (step == "count") {
      int count = -1;
      const CUresult result = cuDeviceGetCount(&count);
      std::printf("count=%d %d\n", result, count);
    } else if (step == "alloc" && i + 1 < argc) {
      CUresult result = EnsureContext();
      CUdeviceptr pointer = 0;
      if (result == CUDA_SUCCESS)
        result = cuMemAlloc_v2(&pointer, std::strtoull(argv[++i], nullptr, 10));
      std::printf("alloc=%d\n", result);
    } else if (step == "module") {
      static const char kImage[] = "opaque module";
      CUmodule module = nullptr;
      CUresult result = EnsureContext();
      if (result == CUDA_SUCCESS) result = cuModuleLoadData(&module, kImage);
      std::printf("module=%d\n", result);
    } else if (step == "launch" && i + 1 < argc) {
      std::printf("launch=%d\n", Launch(std::atoi(argv[++i])));
    } else if (step == "meminfo") {
      size_t free = 0, total = 0;
      const CUresult result = EnsureContext() == CUDA_SUCCESS ? cuMemGetInfo_v2(&free, &total)
                                                              : CUDA_ERROR_INVALID_CONTEXT;
      std::printf("meminfo=%d %zu %zu\n", result, free, total);
    } else if (step == "hold") {
      std::printf("holding\n");
      char byte;
      while (read(STDIN_FILENO, &byte, 1) > 0) {
      }
    } else {
      std::fprintf(stderr, "unknown step '%s'\n", step.c_str());
      return 2;
    }
  }
  return 0;
}
