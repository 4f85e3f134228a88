// Context entry points: primary contexts, created contexts, the per-thread context stack,
// synchronization and context-wide settings.
#include <algorithm>

#include "sim/cuda/driver.h"
#include "sim/cuda/resources.h"
#include "sim/internal/clock.h"

namespace {

using gpuslice::sim::cuda::Api;
using gpuslice::sim::cuda::Driver;

// cuCtxSynchronize: wait for everything queued in the context, then let pools trim.
CUresult Synchronize(Driver& driver, CUctx_st* ctx) {
  gpuslice::sim::internal::SleepUntil(ctx->tail_ns.load(std::memory_order_acquire));
  gpuslice::sim::cuda::TrimPoolsToThreshold(driver);
  return CUDA_SUCCESS;
}

CUresult Create(CUcontext* pctx, unsigned int flags, CUdevice dev) {
  return Api([&](Driver& driver) {
    if (pctx == nullptr || (flags & ~static_cast<unsigned>(CU_CTX_FLAGS_MASK)) != 0) {
      return CUDA_ERROR_INVALID_VALUE;
    }
    const CUresult valid = driver.CheckDevice(dev);
    if (valid != CUDA_SUCCESS) return valid;
    CUctx_st* ctx = nullptr;
    const CUresult created = driver.CreateContext(dev, flags, /*primary=*/false, &ctx);
    if (created != CUDA_SUCCESS) return created;
    driver.Push(ctx);
    *pctx = ctx;
    return CUDA_SUCCESS;
  });
}

}  // namespace

GPUSLICE_CUDA_EXPORT CUresult cuDevicePrimaryCtxRetain(CUcontext* pctx, CUdevice dev) {
  return Api([&](Driver& driver) {
    if (pctx == nullptr) return CUDA_ERROR_INVALID_VALUE;
    return driver.RetainPrimary(dev, pctx);
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev) {
  return Api([&](Driver& driver) { return driver.ReleasePrimary(dev); });
}

GPUSLICE_CUDA_EXPORT CUresult cuDevicePrimaryCtxSetFlags_v2(CUdevice dev, unsigned int flags) {
  return Api([&](Driver& driver) { return driver.SetPrimaryFlags(dev, flags); });
}

GPUSLICE_CUDA_EXPORT CUresult cuDevicePrimaryCtxGetState(CUdevice dev, unsigned int* flags,
                                                         int* active) {
  return Api([&](Driver& driver) { return driver.PrimaryState(dev, flags, active); });
}

GPUSLICE_CUDA_EXPORT CUresult cuDevicePrimaryCtxReset_v2(CUdevice dev) {
  return Api([&](Driver& driver) { return driver.ResetPrimary(dev); });
}

GPUSLICE_CUDA_EXPORT CUresult cuCtxCreate_v2(CUcontext* pctx, unsigned int flags, CUdevice dev) {
  return Create(pctx, flags, dev);
}

GPUSLICE_CUDA_EXPORT CUresult cuCtxCreate_v3(CUcontext* pctx, CUexecAffinityParam* paramsArray,
                                             int numParams, unsigned int flags, CUdevice dev) {
  // Execution affinity (an SM count) is accepted and not enforced: every context may use
  // the whole simulated GPU.
  if (numParams < 0 || (numParams > 0 && paramsArray == nullptr)) return CUDA_ERROR_INVALID_VALUE;
  return Create(pctx, flags, dev);
}

GPUSLICE_CUDA_EXPORT CUresult cuCtxCreate_v4(CUcontext* pctx, CUctxCreateParams* ctxCreateParams,
                                             unsigned int flags, CUdevice dev) {
  if (ctxCreateParams != nullptr && ctxCreateParams->cigParams != nullptr) {
    return CUDA_ERROR_NOT_SUPPORTED;  // graphics interop contexts are not simulated
  }
  return Create(pctx, flags, dev);
}

GPUSLICE_CUDA_EXPORT CUresult cuCtxDestroy_v2(CUcontext ctx) {
  return Api([&](Driver& driver) {
    if (driver.CheckContext(ctx) != CUDA_SUCCESS || ctx->primary) return CUDA_ERROR_INVALID_CONTEXT;
    driver.DestroyContext(ctx);
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuCtxPushCurrent_v2(CUcontext ctx) {
  return Api([&](Driver& driver) {
    if (driver.CheckContext(ctx) != CUDA_SUCCESS) return CUDA_ERROR_INVALID_CONTEXT;
    driver.Push(ctx);
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuCtxPopCurrent_v2(CUcontext* pctx) {
  return Api([&](Driver& driver) {
    CUctx_st* popped = driver.Pop();
    if (popped == nullptr) return CUDA_ERROR_INVALID_CONTEXT;
    if (pctx != nullptr) *pctx = popped;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuCtxSetCurrent(CUcontext ctx) {
  return Api([&](Driver& driver) {
    if (ctx != nullptr && driver.CheckContext(ctx) != CUDA_SUCCESS) {
      return CUDA_ERROR_INVALID_CONTEXT;
    }
    driver.SetCurrent(ctx);
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuCtxGetCurrent(CUcontext* pctx) {
  return Api([&](Driver& driver) {
    if (pctx == nullptr) return CUDA_ERROR_INVALID_VALUE;
    *pctx = driver.Current();
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuCtxGetDevice(CUdevice* device) {
  return Api([&](Driver& driver) {
    if (device == nullptr) return CUDA_ERROR_INVALID_VALUE;
    CUctx_st* ctx = nullptr;
    const CUresult current = driver.RequireCurrent(&ctx);
    if (current != CUDA_SUCCESS) return current;
    *device = ctx->device;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuCtxGetDevice_v2(CUdevice* device, CUcontext ctx) {
  return Api([&](Driver& driver) {
    if (device == nullptr) return CUDA_ERROR_INVALID_VALUE;
    CUctx_st* target = ctx;
    if (target == nullptr) {
      const CUresult current = driver.RequireCurrent(&target);
      if (current != CUDA_SUCCESS) return current;
    } else if (driver.CheckContext(target) != CUDA_SUCCESS) {
      return CUDA_ERROR_INVALID_CONTEXT;
    }
    *device = target->device;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuCtxGetFlags(unsigned int* flags) {
  return Api([&](Driver& driver) {
    if (flags == nullptr) return CUDA_ERROR_INVALID_VALUE;
    CUctx_st* ctx = nullptr;
    const CUresult current = driver.RequireCurrent(&ctx);
    if (current != CUDA_SUCCESS) return current;
    *flags = ctx->flags;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuCtxSetFlags(unsigned int flags) {
  return Api([&](Driver& driver) {
    if ((flags & ~static_cast<unsigned>(CU_CTX_FLAGS_MASK)) != 0) return CUDA_ERROR_INVALID_VALUE;
    CUctx_st* ctx = nullptr;
    const CUresult current = driver.RequireCurrent(&ctx);
    if (current != CUDA_SUCCESS) return current;
    ctx->flags = flags;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuCtxGetId(CUcontext ctx, unsigned long long* ctxId) {
  return Api([&](Driver& driver) {
    if (ctxId == nullptr) return CUDA_ERROR_INVALID_VALUE;
    CUctx_st* target = ctx;
    if (target == nullptr) {
      const CUresult current = driver.RequireCurrent(&target);
      if (current != CUDA_SUCCESS) return current;
    } else if (driver.CheckContext(target) != CUDA_SUCCESS) {
      return CUDA_ERROR_INVALID_CONTEXT;
    }
    *ctxId = target->id;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuCtxSynchronize() {
  return Api([&](Driver& driver) {
    CUctx_st* ctx = nullptr;
    const CUresult current = driver.RequireCurrent(&ctx);
    if (current != CUDA_SUCCESS) return current;
    return Synchronize(driver, ctx);
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuCtxSynchronize_v2(CUcontext ctx) {
  return Api([&](Driver& driver) {
    if (ctx == nullptr) return cuCtxSynchronize();
    if (driver.CheckContext(ctx) != CUDA_SUCCESS) return CUDA_ERROR_INVALID_CONTEXT;
    return Synchronize(driver, ctx);
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuCtxGetApiVersion(CUcontext ctx, unsigned int* version) {
  return Api([&](Driver& driver) {
    if (version == nullptr) return CUDA_ERROR_INVALID_VALUE;
    if (ctx != nullptr && driver.CheckContext(ctx) != CUDA_SUCCESS) {
      return CUDA_ERROR_INVALID_CONTEXT;
    }
    *version = 3020;  // the context API version of every context since CUDA 3.2
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuCtxGetLimit(size_t* pvalue, CUlimit limit) {
  return Api([&](Driver& driver) {
    if (pvalue == nullptr || limit < 0 || limit >= CU_LIMIT_MAX) return CUDA_ERROR_INVALID_VALUE;
    if (limit == CU_LIMIT_CIG_ENABLED || limit == CU_LIMIT_CIG_SHMEM_FALLBACK_ENABLED) {
      return CUDA_ERROR_UNSUPPORTED_LIMIT;
    }
    CUctx_st* ctx = nullptr;
    const CUresult current = driver.RequireCurrent(&ctx);
    if (current != CUDA_SUCCESS) return current;
    std::lock_guard<std::mutex> lock(ctx->mutex);
    *pvalue = ctx->limits[limit];
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuCtxSetLimit(CUlimit limit, size_t value) {
  return Api([&](Driver& driver) {
    if (limit < 0 || limit >= CU_LIMIT_MAX) return CUDA_ERROR_INVALID_VALUE;
    if (limit == CU_LIMIT_CIG_ENABLED || limit == CU_LIMIT_CIG_SHMEM_FALLBACK_ENABLED ||
        limit == CU_LIMIT_SHMEM_SIZE) {
      return CUDA_ERROR_UNSUPPORTED_LIMIT;
    }
    CUctx_st* ctx = nullptr;
    const CUresult current = driver.RequireCurrent(&ctx);
    if (current != CUDA_SUCCESS) return current;
    return gpuslice::sim::cuda::SetContextLimit(driver, ctx, limit, value);
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuCtxGetCacheConfig(CUfunc_cache* pconfig) {
  return Api([&](Driver& driver) {
    if (pconfig == nullptr) return CUDA_ERROR_INVALID_VALUE;
    CUctx_st* ctx = nullptr;
    const CUresult current = driver.RequireCurrent(&ctx);
    if (current != CUDA_SUCCESS) return current;
    std::lock_guard<std::mutex> lock(ctx->mutex);
    *pconfig = ctx->cache_config;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuCtxSetCacheConfig(CUfunc_cache config) {
  return Api([&](Driver& driver) {
    if (config < CU_FUNC_CACHE_PREFER_NONE || config > CU_FUNC_CACHE_PREFER_EQUAL) {
      return CUDA_ERROR_INVALID_VALUE;
    }
    CUctx_st* ctx = nullptr;
    const CUresult current = driver.RequireCurrent(&ctx);
    if (current != CUDA_SUCCESS) return current;
    std::lock_guard<std::mutex> lock(ctx->mutex);
    ctx->cache_config = config;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuCtxGetStreamPriorityRange(int* leastPriority,
                                                          int* greatestPriority) {
  return Api([&](Driver&) {
    if (leastPriority != nullptr) *leastPriority = 0;
    if (greatestPriority != nullptr) *greatestPriority = -5;
    return CUDA_SUCCESS;
  });
}
