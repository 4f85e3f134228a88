// Modules, libraries, kernels and functions. Any image loads; kernels and globals declared in
// PTX images are checked by name, and globals are host-backed memory that copies reach. A
// module takes its device memory (GpuSpec::module_memory_bytes) in a context when it is first
// used there, as with the real driver's lazy loading: a module's at its first function or
// global lookup, a library's at the first launch of one of its kernels in the context (or any
// other first use there); with CUDA_MODULE_LOADING=EAGER, when it loads.
#include <cstring>
#include <memory>
#include <string>

#include "sim/cuda/driver.h"
#include "sim/cuda/module_image.h"
#include "sim/cuda/module_ops.h"
#include "sim/cuda/resources.h"

namespace gpuslice::sim::cuda {
namespace {

constexpr size_t kImageScanLimit = size_t{64} << 20;

CUmod_st* NewModule(Driver& driver, CUctx_st* ctx, std::shared_ptr<const ModuleImage> image,
                    CUlib_st* library) {
  auto* module = new CUmod_st();
  module->ctx = ctx;
  module->library = library;
  module->image = std::move(image);
  driver.modules.Add(module);
  return module;
}

// Answers the JIT log options the way a successful load does: empty logs, no time spent.
void AnswerJitOptions(unsigned int count, CUjit_option* options, void** values) {
  if (options == nullptr || values == nullptr) return;
  for (unsigned int i = 0; i < count; ++i) {
    switch (options[i]) {
      case CU_JIT_INFO_LOG_BUFFER:
      case CU_JIT_ERROR_LOG_BUFFER:
        if (values[i] != nullptr) static_cast<char*>(values[i])[0] = '\0';
        break;
      case CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES:
      case CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES:
        values[i] = nullptr;  // bytes written
        break;
      case CU_JIT_WALL_TIME: {
        const float zero = 0;
        std::memcpy(&values[i], &zero, sizeof(zero));
        break;
      }
      default:
        break;
    }
  }
}

}  // namespace

CUresult LibraryModule(Driver& driver, CUlib_st* library, CUctx_st* ctx, CUmod_st** module) {
  std::lock_guard<std::mutex> lock(library->mutex);
  CUmod_st*& loaded = library->modules[ctx];
  if (loaded == nullptr || !driver.modules.Contains(loaded)) {
    loaded = NewModule(driver, ctx, library->image, library);
  }
  *module = loaded;
  return LoadModuleCode(driver, loaded);
}

namespace {

CUresult GetFunction(Driver& driver, CUmod_st* module, const char* name, CUfunc_st** function) {
  if (name == nullptr || *name == '\0') return CUDA_ERROR_INVALID_VALUE;
  if (!module->image->opaque && module->image->kernels.count(name) == 0) {
    return CUDA_ERROR_NOT_FOUND;
  }
  const CUresult loaded = LoadModuleCode(driver, module);
  if (loaded != CUDA_SUCCESS) return loaded;
  std::lock_guard<std::mutex> lock(module->mutex);
  std::unique_ptr<CUfunc_st>& slot = module->functions[name];
  if (slot == nullptr) {
    slot = std::make_unique<CUfunc_st>();
    slot->module = module;
    slot->name = name;
    driver.functions.Add(slot.get());
  }
  *function = slot.get();
  return CUDA_SUCCESS;
}

CUresult GetGlobal(Driver& driver, CUmod_st* module, const char* name, CUdeviceptr* dptr,
                   size_t* bytes) {
  if (name == nullptr) return CUDA_ERROR_INVALID_VALUE;
  size_t size = kOpaqueGlobalBytes;
  if (!module->image->opaque) {
    const auto declared = module->image->globals.find(name);
    if (declared == module->image->globals.end()) return CUDA_ERROR_NOT_FOUND;
    size = declared->second;
  }
  const CUresult loaded = LoadModuleCode(driver, module);
  if (loaded != CUDA_SUCCESS) return loaded;
  std::lock_guard<std::mutex> lock(module->mutex);
  auto& global = module->globals[name];
  if (global.first == 0) {
    void* backing = MapBacking(size);
    if (backing == nullptr) return CUDA_ERROR_OUT_OF_MEMORY;
    global = {reinterpret_cast<CUdeviceptr>(backing), size};
    Allocation allocation;
    allocation.base = global.first;
    allocation.size = size;
    allocation.kind = MemoryKind::kModuleGlobal;
    allocation.gpu = module->ctx->gpu;
    allocation.device = module->ctx->device;
    allocation.ctx = module->ctx;
    allocation.buffer_id = driver.NextId();
    driver.memory.Insert(allocation);
  }
  if (dptr != nullptr) *dptr = global.first;
  if (bytes != nullptr) *bytes = global.second;
  return CUDA_SUCCESS;
}

CUresult LoadModule(std::shared_ptr<const ModuleImage> image, CUmodule* module) {
  return Api([&](Driver& driver) {
    if (module == nullptr) return CUDA_ERROR_INVALID_VALUE;
    CUctx_st* ctx = nullptr;
    const CUresult current = driver.RequireCurrent(&ctx);
    if (current != CUDA_SUCCESS) return current;
    CUmod_st* created = NewModule(driver, ctx, std::move(image), nullptr);
    if (driver.eager_module_loading()) {
      const CUresult loaded = LoadModuleCode(driver, created);
      if (loaded != CUDA_SUCCESS) {
        UnloadModule(driver, created);
        return loaded;
      }
    }
    *module = created;
    return CUDA_SUCCESS;
  });
}

CUresult LoadLibrary(std::shared_ptr<const ModuleImage> image, CUlibrary* library) {
  return Api([&](Driver& driver) {
    if (library == nullptr) return CUDA_ERROR_INVALID_VALUE;
    auto* created = new CUlib_st();
    created->image = std::move(image);
    driver.libraries.Add(created);
    CUctx_st* ctx = driver.Current();
    if (driver.eager_module_loading() && driver.CheckContext(ctx) == CUDA_SUCCESS) {
      CUmod_st* module = nullptr;
      const CUresult loaded = LibraryModule(driver, created, ctx, &module);
      if (loaded != CUDA_SUCCESS) {
        driver.libraries.Remove(created);
        UnloadModule(driver, module);
        delete created;
        return loaded;
      }
    }
    *library = created;
    return CUDA_SUCCESS;
  });
}

CUresult FunctionAttribute(const GpuSpec& gpu, CUfunction_attribute attribute,
                           int max_dynamic_shared, int carveout, int* value) {
  switch (attribute) {
    case CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK:
      *value = 1024;
      break;
    case CU_FUNC_ATTRIBUTE_NUM_REGS:
      *value = 32;
      break;
    case CU_FUNC_ATTRIBUTE_PTX_VERSION:
    case CU_FUNC_ATTRIBUTE_BINARY_VERSION:
      *value = gpu.cc_major * 10 + gpu.cc_minor;
      break;
    case CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES:
      *value = max_dynamic_shared;
      break;
    case CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT:
      *value = carveout;
      break;
    case CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES:
      *value = static_cast<int>(gpu.kernel_local_memory_bytes);
      break;
    case CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES:
    case CU_FUNC_ATTRIBUTE_CONST_SIZE_BYTES:
    case CU_FUNC_ATTRIBUTE_CACHE_MODE_CA:
    case CU_FUNC_ATTRIBUTE_CLUSTER_SIZE_MUST_BE_SET:
    case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_WIDTH:
    case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_HEIGHT:
    case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_DEPTH:
    case CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED:
    case CU_FUNC_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE:
      *value = 0;
      break;
    default:
      return CUDA_ERROR_INVALID_VALUE;
  }
  return CUDA_SUCCESS;
}

// Applies a settable attribute; CUDA_ERROR_INVALID_VALUE for others or out-of-range values.
CUresult SetFunctionAttribute(const GpuSpec& gpu, CUfunction_attribute attribute, int value,
                              std::atomic<int>* max_dynamic_shared, std::atomic<int>* carveout) {
  switch (attribute) {
    case CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES:
      if (value < 0 || value > gpu.shared_memory_per_block_optin) return CUDA_ERROR_INVALID_VALUE;
      max_dynamic_shared->store(value);
      return CUDA_SUCCESS;
    case CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT:
      if (value < -1 || value > 100) return CUDA_ERROR_INVALID_VALUE;
      if (carveout != nullptr) carveout->store(value);
      return CUDA_SUCCESS;
    case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_WIDTH:
    case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_HEIGHT:
    case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_DEPTH:
    case CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED:
    case CU_FUNC_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE:
      return gpu.cc_major >= 9 ? CUDA_SUCCESS : CUDA_ERROR_NOT_SUPPORTED;
    default:
      return CUDA_ERROR_INVALID_VALUE;
  }
}

}  // namespace

CUresult ResolveFunction(Driver& driver, CUfunction handle, CUctx_st* ctx, CUfunc_st** function) {
  if (driver.functions.Contains(handle)) {
    if (handle->module->ctx != ctx) return CUDA_ERROR_INVALID_HANDLE;
    *function = handle;
    return CUDA_SUCCESS;
  }
  auto* kernel = reinterpret_cast<CUkern_st*>(handle);
  if (!driver.kernels.Contains(kernel)) return CUDA_ERROR_INVALID_HANDLE;
  CUmod_st* module = nullptr;
  const CUresult loaded = LibraryModule(driver, kernel->library, ctx, &module);
  if (loaded != CUDA_SUCCESS) return loaded;
  const CUresult found = GetFunction(driver, module, kernel->name.c_str(), function);
  if (found == CUDA_SUCCESS)
    (*function)->max_dynamic_shared.store(kernel->max_dynamic_shared.load());
  return found;
}

}  // namespace gpuslice::sim::cuda

using gpuslice::sim::cuda::Api;
using gpuslice::sim::cuda::Driver;

namespace {

using gpuslice::sim::cuda::kImageScanLimit;

template <typename Body>
CUresult WithModule(CUmodule module, Body body) {
  return Api([&](Driver& driver) {
    if (!driver.modules.Contains(module)) return CUDA_ERROR_INVALID_HANDLE;
    return body(driver, module);
  });
}

template <typename Body>
CUresult WithLibrary(CUlibrary library, Body body) {
  return Api([&](Driver& driver) {
    if (!driver.libraries.Contains(library)) return CUDA_ERROR_INVALID_HANDLE;
    return body(driver, library);
  });
}

template <typename Body>
CUresult WithFunction(CUfunction function, Body body) {
  return Api([&](Driver& driver) {
    if (!driver.functions.Contains(function)) return CUDA_ERROR_INVALID_HANDLE;
    return body(driver, function);
  });
}

template <typename Body>
CUresult WithKernel(CUkernel kernel, Body body) {
  return Api([&](Driver& driver) {
    if (!driver.kernels.Contains(kernel)) return CUDA_ERROR_INVALID_HANDLE;
    return body(driver, kernel);
  });
}

}  // namespace

GPUSLICE_CUDA_EXPORT CUresult cuModuleLoadData(CUmodule* module, const void* image) {
  if (image == nullptr) return CUDA_ERROR_INVALID_VALUE;
  return gpuslice::sim::cuda::LoadModule(
      gpuslice::sim::cuda::ReadModuleImage(image, kImageScanLimit), module);
}

GPUSLICE_CUDA_EXPORT CUresult cuModuleLoadDataEx(CUmodule* module, const void* image,
                                                 unsigned int numOptions, CUjit_option* options,
                                                 void** optionValues) {
  const CUresult result = cuModuleLoadData(module, image);
  if (result == CUDA_SUCCESS)
    gpuslice::sim::cuda::AnswerJitOptions(numOptions, options, optionValues);
  return result;
}

GPUSLICE_CUDA_EXPORT CUresult cuModuleLoadFatBinary(CUmodule* module, const void* fatCubin) {
  if (fatCubin == nullptr) return CUDA_ERROR_INVALID_VALUE;
  return gpuslice::sim::cuda::LoadModule(std::make_shared<gpuslice::sim::cuda::ModuleImage>(),
                                         module);
}

GPUSLICE_CUDA_EXPORT CUresult cuModuleLoad(CUmodule* module, const char* fname) {
  if (fname == nullptr) return CUDA_ERROR_INVALID_VALUE;
  std::string content;
  if (!gpuslice::sim::cuda::ReadFile(fname, &content)) return CUDA_ERROR_FILE_NOT_FOUND;
  return gpuslice::sim::cuda::LoadModule(
      gpuslice::sim::cuda::ReadModuleImage(content.c_str(), content.size() + 1), module);
}

GPUSLICE_CUDA_EXPORT CUresult cuModuleUnload(CUmodule hmod) {
  return WithModule(hmod, [](Driver& driver, CUmod_st* module) {
    if (module->library != nullptr) return CUDA_ERROR_INVALID_HANDLE;  // owned by its library
    gpuslice::sim::cuda::UnloadModule(driver, module);
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuModuleGetFunction(CUfunction* hfunc, CUmodule hmod,
                                                  const char* name) {
  return WithModule(hmod, [&](Driver& driver, CUmod_st* module) {
    if (hfunc == nullptr) return CUDA_ERROR_INVALID_VALUE;
    return gpuslice::sim::cuda::GetFunction(driver, module, name, hfunc);
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuModuleGetGlobal_v2(CUdeviceptr* dptr, size_t* bytes, CUmodule hmod,
                                                   const char* name) {
  return WithModule(hmod, [&](Driver& driver, CUmod_st* module) {
    return gpuslice::sim::cuda::GetGlobal(driver, module, name, dptr, bytes);
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuModuleGetLoadingMode(CUmoduleLoadingMode* mode) {
  if (mode == nullptr) return CUDA_ERROR_INVALID_VALUE;
  return gpuslice::sim::cuda::Api([&](Driver& driver) {
    *mode = driver.eager_module_loading() ? CU_MODULE_EAGER_LOADING : CU_MODULE_LAZY_LOADING;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuLibraryLoadData(CUlibrary* library, const void* code,
                                                CUjit_option* jitOptions, void** jitOptionsValues,
                                                unsigned int numJitOptions, CUlibraryOption*,
                                                void**, unsigned int) {
  if (code == nullptr) return CUDA_ERROR_INVALID_VALUE;
  const CUresult result = gpuslice::sim::cuda::LoadLibrary(
      gpuslice::sim::cuda::ReadModuleImage(code, kImageScanLimit), library);
  if (result == CUDA_SUCCESS) {
    gpuslice::sim::cuda::AnswerJitOptions(numJitOptions, jitOptions, jitOptionsValues);
  }
  return result;
}

GPUSLICE_CUDA_EXPORT CUresult cuLibraryLoadFromFile(CUlibrary* library, const char* fileName,
                                                    CUjit_option* jitOptions,
                                                    void** jitOptionsValues,
                                                    unsigned int numJitOptions, CUlibraryOption*,
                                                    void**, unsigned int) {
  if (fileName == nullptr) return CUDA_ERROR_INVALID_VALUE;
  std::string content;
  if (!gpuslice::sim::cuda::ReadFile(fileName, &content)) return CUDA_ERROR_FILE_NOT_FOUND;
  const CUresult result = gpuslice::sim::cuda::LoadLibrary(
      gpuslice::sim::cuda::ReadModuleImage(content.c_str(), content.size() + 1), library);
  if (result == CUDA_SUCCESS) {
    gpuslice::sim::cuda::AnswerJitOptions(numJitOptions, jitOptions, jitOptionsValues);
  }
  return result;
}

GPUSLICE_CUDA_EXPORT CUresult cuLibraryUnload(CUlibrary library) {
  return WithLibrary(library, [](Driver& driver, CUlib_st* target) {
    driver.libraries.Remove(target);
    std::vector<CUmod_st*> modules;
    {
      std::lock_guard<std::mutex> lock(target->mutex);
      for (const auto& [ctx, module] : target->modules) modules.push_back(module);
      for (const auto& [name, kernel] : target->kernels) driver.kernels.Remove(kernel.get());
    }
    for (CUmod_st* module : modules) gpuslice::sim::cuda::UnloadModule(driver, module);
    delete target;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuLibraryGetKernel(CUkernel* pKernel, CUlibrary library,
                                                 const char* name) {
  return WithLibrary(library, [&](Driver& driver, CUlib_st* target) {
    if (pKernel == nullptr || name == nullptr || *name == '\0') return CUDA_ERROR_INVALID_VALUE;
    if (!target->image->opaque && target->image->kernels.count(name) == 0) {
      return CUDA_ERROR_NOT_FOUND;
    }
    std::lock_guard<std::mutex> lock(target->mutex);
    std::unique_ptr<CUkern_st>& kernel = target->kernels[name];
    if (kernel == nullptr) {
      kernel = std::make_unique<CUkern_st>();
      kernel->library = target;
      kernel->name = name;
      driver.kernels.Add(kernel.get());
    }
    *pKernel = kernel.get();
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuLibraryGetModule(CUmodule* pMod, CUlibrary library) {
  return WithLibrary(library, [&](Driver& driver, CUlib_st* target) {
    if (pMod == nullptr) return CUDA_ERROR_INVALID_VALUE;
    CUctx_st* ctx = nullptr;
    const CUresult current = driver.RequireCurrent(&ctx);
    if (current != CUDA_SUCCESS) return current;
    return gpuslice::sim::cuda::LibraryModule(driver, target, ctx, pMod);
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuLibraryGetGlobal(CUdeviceptr* dptr, size_t* bytes,
                                                 CUlibrary library, const char* name) {
  return WithLibrary(library, [&](Driver& driver, CUlib_st* target) {
    CUctx_st* ctx = nullptr;
    const CUresult current = driver.RequireCurrent(&ctx);
    if (current != CUDA_SUCCESS) return current;
    CUmod_st* module = nullptr;
    const CUresult loaded = gpuslice::sim::cuda::LibraryModule(driver, target, ctx, &module);
    if (loaded != CUDA_SUCCESS) return loaded;
    return gpuslice::sim::cuda::GetGlobal(driver, module, name, dptr, bytes);
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuKernelGetFunction(CUfunction* pFunc, CUkernel kernel) {
  return WithKernel(kernel, [&](Driver& driver, CUkern_st*) {
    if (pFunc == nullptr) return CUDA_ERROR_INVALID_VALUE;
    CUctx_st* ctx = nullptr;
    const CUresult current = driver.RequireCurrent(&ctx);
    if (current != CUDA_SUCCESS) return current;
    return gpuslice::sim::cuda::ResolveFunction(driver, reinterpret_cast<CUfunction>(kernel), ctx,
                                                pFunc);
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuKernelGetAttribute(int* pi, CUfunction_attribute attrib,
                                                   CUkernel kernel, CUdevice dev) {
  return WithKernel(kernel, [&](Driver& driver, CUkern_st* target) {
    if (pi == nullptr) return CUDA_ERROR_INVALID_VALUE;
    if (driver.CheckDevice(dev) != CUDA_SUCCESS) return CUDA_ERROR_INVALID_DEVICE;
    return gpuslice::sim::cuda::FunctionAttribute(driver.Spec(driver.GpuOf(dev)), attrib,
                                                  target->max_dynamic_shared.load(), -1, pi);
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuKernelSetAttribute(CUfunction_attribute attrib, int val,
                                                   CUkernel kernel, CUdevice dev) {
  return WithKernel(kernel, [&](Driver& driver, CUkern_st* target) {
    if (driver.CheckDevice(dev) != CUDA_SUCCESS) return CUDA_ERROR_INVALID_DEVICE;
    return gpuslice::sim::cuda::SetFunctionAttribute(driver.Spec(driver.GpuOf(dev)), attrib, val,
                                                     &target->max_dynamic_shared, nullptr);
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuKernelGetName(const char** name, CUkernel hfunc) {
  return WithKernel(hfunc, [&](Driver&, CUkern_st* kernel) {
    if (name == nullptr) return CUDA_ERROR_INVALID_VALUE;
    *name = kernel->name.c_str();
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuFuncGetAttribute(int* pi, CUfunction_attribute attrib,
                                                 CUfunction hfunc) {
  return WithFunction(hfunc, [&](Driver& driver, CUfunc_st* function) {
    if (pi == nullptr) return CUDA_ERROR_INVALID_VALUE;
    return gpuslice::sim::cuda::FunctionAttribute(driver.Spec(function->module->ctx->gpu), attrib,
                                                  function->max_dynamic_shared.load(),
                                                  function->shared_carveout.load(), pi);
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuFuncSetAttribute(CUfunction hfunc, CUfunction_attribute attrib,
                                                 int value) {
  return WithFunction(hfunc, [&](Driver& driver, CUfunc_st* function) {
    return gpuslice::sim::cuda::SetFunctionAttribute(driver.Spec(function->module->ctx->gpu),
                                                     attrib, value, &function->max_dynamic_shared,
                                                     &function->shared_carveout);
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuFuncSetCacheConfig(CUfunction hfunc, CUfunc_cache config) {
  return WithFunction(hfunc, [&](Driver&, CUfunc_st* function) {
    if (config < CU_FUNC_CACHE_PREFER_NONE || config > CU_FUNC_CACHE_PREFER_EQUAL) {
      return CUDA_ERROR_INVALID_VALUE;
    }
    function->cache_config.store(config);
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuFuncGetName(const char** name, CUfunction hfunc) {
  return WithFunction(hfunc, [&](Driver&, CUfunc_st* function) {
    if (name == nullptr) return CUDA_ERROR_INVALID_VALUE;
    *name = function->name.c_str();
    return CUDA_SUCCESS;
  });
}
