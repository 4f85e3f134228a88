// Linking (cuLink*): PTX inputs link into one PTX text whose kernels stay known to the
// modules loaded from it; anything binary makes the result an opaque image.
#include <string>

#include "sim/cuda/driver.h"
#include "sim/cuda/module_image.h"

using gpuslice::sim::cuda::Api;
using gpuslice::sim::cuda::Driver;

GPUSLICE_CUDA_EXPORT CUresult cuLinkCreate_v2(unsigned int, CUjit_option*, void**,
                                              CUlinkState* stateOut) {
  return Api([&](Driver& driver) {
    if (stateOut == nullptr) return CUDA_ERROR_INVALID_VALUE;
    auto* state = new CUlinkState_st();
    driver.links.Add(state);
    *stateOut = state;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuLinkAddData_v2(CUlinkState state, CUjitInputType type, void* data,
                                               size_t size, const char*, unsigned int,
                                               CUjit_option*, void**) {
  return Api([&](Driver& driver) {
    if (!driver.links.Contains(state)) return CUDA_ERROR_INVALID_HANDLE;
    if (data == nullptr || size == 0 || type < 0 || type >= CU_JIT_NUM_INPUT_TYPES) {
      return CUDA_ERROR_INVALID_VALUE;
    }
    state->inputs.emplace_back(static_cast<const char*>(data), size);
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuLinkAddFile_v2(CUlinkState state, CUjitInputType type,
                                               const char* path, unsigned int, CUjit_option*,
                                               void**) {
  return Api([&](Driver& driver) {
    if (!driver.links.Contains(state)) return CUDA_ERROR_INVALID_HANDLE;
    if (path == nullptr || type < 0 || type >= CU_JIT_NUM_INPUT_TYPES) {
      return CUDA_ERROR_INVALID_VALUE;
    }
    std::string content;
    if (!gpuslice::sim::cuda::ReadFile(path, &content)) return CUDA_ERROR_FILE_NOT_FOUND;
    state->inputs.push_back(std::move(content));
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuLinkComplete(CUlinkState state, void** cubinOut, size_t* sizeOut) {
  return Api([&](Driver& driver) {
    if (!driver.links.Contains(state)) return CUDA_ERROR_INVALID_HANDLE;
    if (cubinOut == nullptr || state->inputs.empty()) return CUDA_ERROR_INVALID_VALUE;
    bool all_ptx = true;
    for (const std::string& input : state->inputs) {
      const std::string text(input.c_str());
      all_ptx =
          all_ptx && !gpuslice::sim::cuda::ReadModuleImage(text.c_str(), text.size() + 1)->opaque;
    }
    state->output.clear();
    if (all_ptx) {
      for (const std::string& input : state->inputs)
        state->output += std::string(input.c_str()) + "\n";
    } else {
      state->output = std::string(
          "\x7f"
          "ELF",
          4);
    }
    *cubinOut = state->output.data();
    if (sizeOut != nullptr) *sizeOut = state->output.size() + 1;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuLinkDestroy(CUlinkState state) {
  return Api([&](Driver& driver) {
    if (!driver.links.Remove(state)) return CUDA_ERROR_INVALID_HANDLE;
    delete state;
    return CUDA_SUCCESS;
  });
}
