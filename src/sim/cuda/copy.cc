// Copy and memset entry points. Copies complete when they are issued; the synchronous ones
// first wait for the work already queued in the context, as they would on a GPU. Async
// copies on a capturing stream become graph nodes.
#include <cstring>
#include <memory>

#include "sim/cuda/copy_ops.h"
#include "sim/cuda/graph_ops.h"
#include "sim/internal/clock.h"

namespace {

using gpuslice::sim::cuda::Api;
using gpuslice::sim::cuda::Copy3D;
using gpuslice::sim::cuda::Driver;
using gpuslice::sim::cuda::LinearCopy;

// Synchronous copies wait for the work already queued in the current context.
CUresult SyncCopy(const CUDA_MEMCPY3D& copy) {
  return Api([&](Driver& driver) {
    CUctx_st* ctx = nullptr;
    const CUresult current = driver.RequireCurrent(&ctx);
    if (current != CUDA_SUCCESS) return current;
    gpuslice::sim::internal::SleepUntil(ctx->tail_ns.load(std::memory_order_acquire));
    return Copy3D(driver, copy);
  });
}

CUresult AsyncCopy(const CUDA_MEMCPY3D& copy, CUstream hStream, bool per_thread) {
  return Api([&](Driver& driver) {
    CUstream_st* stream = nullptr;
    const CUresult resolved = driver.ResolveStream(hStream, per_thread, &stream);
    if (resolved != CUDA_SUCCESS) return resolved;
    auto node = std::make_unique<CUgraphNode_st>();
    node->type = CU_GRAPH_NODE_TYPE_MEMCPY;
    node->memcpy = copy;
    CUresult captured = CUDA_SUCCESS;
    if (gpuslice::sim::cuda::CaptureNode(driver, stream, std::move(node), &captured)) {
      return captured;
    }
    return Copy3D(driver, copy);
  });
}

CUDA_MEMCPY3D HostToDevice(CUdeviceptr dst, const void* src, size_t bytes) {
  CUDA_MEMCPY3D copy = LinearCopy(dst, 0, bytes);
  copy.srcMemoryType = CU_MEMORYTYPE_HOST;
  copy.srcHost = src;
  copy.dstMemoryType = CU_MEMORYTYPE_DEVICE;
  return copy;
}

CUDA_MEMCPY3D DeviceToHost(void* dst, CUdeviceptr src, size_t bytes) {
  CUDA_MEMCPY3D copy = LinearCopy(0, src, bytes);
  copy.srcMemoryType = CU_MEMORYTYPE_DEVICE;
  copy.dstMemoryType = CU_MEMORYTYPE_HOST;
  copy.dstHost = dst;
  return copy;
}

CUDA_MEMCPY3D DeviceToDevice(CUdeviceptr dst, CUdeviceptr src, size_t bytes) {
  CUDA_MEMCPY3D copy = LinearCopy(dst, src, bytes);
  copy.srcMemoryType = CU_MEMORYTYPE_DEVICE;
  copy.dstMemoryType = CU_MEMORYTYPE_DEVICE;
  return copy;
}

CUDA_MEMCPY3D From2D(const CUDA_MEMCPY2D* c) {
  CUDA_MEMCPY3D copy{};
  copy.srcXInBytes = c->srcXInBytes;
  copy.srcY = c->srcY;
  copy.srcMemoryType = c->srcMemoryType;
  copy.srcHost = c->srcHost;
  copy.srcDevice = c->srcDevice;
  copy.srcArray = c->srcArray;
  copy.srcPitch = c->srcPitch;
  copy.dstXInBytes = c->dstXInBytes;
  copy.dstY = c->dstY;
  copy.dstMemoryType = c->dstMemoryType;
  copy.dstHost = c->dstHost;
  copy.dstDevice = c->dstDevice;
  copy.dstArray = c->dstArray;
  copy.dstPitch = c->dstPitch;
  copy.WidthInBytes = c->WidthInBytes;
  copy.Height = c->Height;
  copy.Depth = 1;
  return copy;
}

CUresult PeerCopy(CUdeviceptr dst, CUcontext dstContext, CUdeviceptr src, CUcontext srcContext,
                  size_t bytes, CUstream hStream, bool async, bool per_thread) {
  return Api([&](Driver& driver) {
    if (driver.CheckContext(dstContext) != CUDA_SUCCESS ||
        driver.CheckContext(srcContext) != CUDA_SUCCESS) {
      return CUDA_ERROR_INVALID_CONTEXT;
    }
    const CUDA_MEMCPY3D copy = DeviceToDevice(dst, src, bytes);
    return async ? AsyncCopy(copy, hStream, per_thread) : SyncCopy(copy);
  });
}

CUresult Memset(CUdeviceptr dst, size_t pitch, unsigned int value, unsigned int element,
                size_t width, size_t height, CUstream hStream, bool async, bool per_thread) {
  return Api([&](Driver& driver) {
    if (async) {
      CUstream_st* stream = nullptr;
      const CUresult resolved = driver.ResolveStream(hStream, per_thread, &stream);
      if (resolved != CUDA_SUCCESS) return resolved;
      auto node = std::make_unique<CUgraphNode_st>();
      node->type = CU_GRAPH_NODE_TYPE_MEMSET;
      node->memset = CUDA_MEMSET_NODE_PARAMS{dst, pitch, value, element, width, height};
      CUresult captured = CUDA_SUCCESS;
      if (gpuslice::sim::cuda::CaptureNode(driver, stream, std::move(node), &captured)) {
        return captured;
      }
    } else {
      CUctx_st* ctx = nullptr;
      const CUresult current = driver.RequireCurrent(&ctx);
      if (current != CUDA_SUCCESS) return current;
      gpuslice::sim::internal::SleepUntil(ctx->tail_ns.load(std::memory_order_acquire));
    }
    return gpuslice::sim::cuda::Memset2D(driver, dst, pitch, value, element, width, height);
  });
}

}  // namespace

// ---- Linear copies ----

GPUSLICE_CUDA_EXPORT CUresult cuMemcpy(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount) {
  return SyncCopy(LinearCopy(dst, src, ByteCount));
}
GPUSLICE_CUDA_EXPORT CUresult cuMemcpy_ptds(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount) {
  return SyncCopy(LinearCopy(dst, src, ByteCount));
}
GPUSLICE_CUDA_EXPORT CUresult cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount,
                                            CUstream hStream) {
  return AsyncCopy(LinearCopy(dst, src, ByteCount), hStream, false);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemcpyAsync_ptsz(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount,
                                                 CUstream hStream) {
  return AsyncCopy(LinearCopy(dst, src, ByteCount), hStream, true);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemcpyPeer(CUdeviceptr dstDevice, CUcontext dstContext,
                                           CUdeviceptr srcDevice, CUcontext srcContext,
                                           size_t ByteCount) {
  return PeerCopy(dstDevice, dstContext, srcDevice, srcContext, ByteCount, nullptr, false, false);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemcpyPeer_ptds(CUdeviceptr dstDevice, CUcontext dstContext,
                                                CUdeviceptr srcDevice, CUcontext srcContext,
                                                size_t ByteCount) {
  return PeerCopy(dstDevice, dstContext, srcDevice, srcContext, ByteCount, nullptr, false, true);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemcpyPeerAsync(CUdeviceptr dstDevice, CUcontext dstContext,
                                                CUdeviceptr srcDevice, CUcontext srcContext,
                                                size_t ByteCount, CUstream hStream) {
  return PeerCopy(dstDevice, dstContext, srcDevice, srcContext, ByteCount, hStream, true, false);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemcpyPeerAsync_ptsz(CUdeviceptr dstDevice, CUcontext dstContext,
                                                     CUdeviceptr srcDevice, CUcontext srcContext,
                                                     size_t ByteCount, CUstream hStream) {
  return PeerCopy(dstDevice, dstContext, srcDevice, srcContext, ByteCount, hStream, true, true);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemcpyHtoD_v2(CUdeviceptr dstDevice, const void* srcHost,
                                              size_t ByteCount) {
  return SyncCopy(HostToDevice(dstDevice, srcHost, ByteCount));
}
GPUSLICE_CUDA_EXPORT CUresult cuMemcpyHtoD_v2_ptds(CUdeviceptr dstDevice, const void* srcHost,
                                                   size_t ByteCount) {
  return SyncCopy(HostToDevice(dstDevice, srcHost, ByteCount));
}
GPUSLICE_CUDA_EXPORT CUresult cuMemcpyDtoH_v2(void* dstHost, CUdeviceptr srcDevice,
                                              size_t ByteCount) {
  return SyncCopy(DeviceToHost(dstHost, srcDevice, ByteCount));
}
GPUSLICE_CUDA_EXPORT CUresult cuMemcpyDtoH_v2_ptds(void* dstHost, CUdeviceptr srcDevice,
                                                   size_t ByteCount) {
  return SyncCopy(DeviceToHost(dstHost, srcDevice, ByteCount));
}
GPUSLICE_CUDA_EXPORT CUresult cuMemcpyDtoD_v2(CUdeviceptr dstDevice, CUdeviceptr srcDevice,
                                              size_t ByteCount) {
  return SyncCopy(DeviceToDevice(dstDevice, srcDevice, ByteCount));
}
GPUSLICE_CUDA_EXPORT CUresult cuMemcpyDtoD_v2_ptds(CUdeviceptr dstDevice, CUdeviceptr srcDevice,
                                                   size_t ByteCount) {
  return SyncCopy(DeviceToDevice(dstDevice, srcDevice, ByteCount));
}
GPUSLICE_CUDA_EXPORT CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dstDevice, const void* srcHost,
                                                   size_t ByteCount, CUstream hStream) {
  return AsyncCopy(HostToDevice(dstDevice, srcHost, ByteCount), hStream, false);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemcpyHtoDAsync_v2_ptsz(CUdeviceptr dstDevice, const void* srcHost,
                                                        size_t ByteCount, CUstream hStream) {
  return AsyncCopy(HostToDevice(dstDevice, srcHost, ByteCount), hStream, true);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemcpyDtoHAsync_v2(void* dstHost, CUdeviceptr srcDevice,
                                                   size_t ByteCount, CUstream hStream) {
  return AsyncCopy(DeviceToHost(dstHost, srcDevice, ByteCount), hStream, false);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemcpyDtoHAsync_v2_ptsz(void* dstHost, CUdeviceptr srcDevice,
                                                        size_t ByteCount, CUstream hStream) {
  return AsyncCopy(DeviceToHost(dstHost, srcDevice, ByteCount), hStream, true);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dstDevice, CUdeviceptr srcDevice,
                                                   size_t ByteCount, CUstream hStream) {
  return AsyncCopy(DeviceToDevice(dstDevice, srcDevice, ByteCount), hStream, false);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemcpyDtoDAsync_v2_ptsz(CUdeviceptr dstDevice,
                                                        CUdeviceptr srcDevice, size_t ByteCount,
                                                        CUstream hStream) {
  return AsyncCopy(DeviceToDevice(dstDevice, srcDevice, ByteCount), hStream, true);
}

// ---- Arrays ----

namespace {

CUDA_MEMCPY3D HostToArray(CUarray dst, size_t offset, const void* src, size_t bytes) {
  CUDA_MEMCPY3D copy = LinearCopy(0, 0, bytes);
  copy.srcMemoryType = CU_MEMORYTYPE_HOST;
  copy.srcHost = src;
  copy.dstMemoryType = CU_MEMORYTYPE_ARRAY;
  copy.dstArray = dst;
  copy.dstXInBytes = offset;
  return copy;
}

CUDA_MEMCPY3D ArrayToHost(void* dst, CUarray src, size_t offset, size_t bytes) {
  CUDA_MEMCPY3D copy = LinearCopy(0, 0, bytes);
  copy.srcMemoryType = CU_MEMORYTYPE_ARRAY;
  copy.srcArray = src;
  copy.srcXInBytes = offset;
  copy.dstMemoryType = CU_MEMORYTYPE_HOST;
  copy.dstHost = dst;
  return copy;
}

}  // namespace

GPUSLICE_CUDA_EXPORT CUresult cuMemcpyHtoA_v2(CUarray dstArray, size_t dstOffset,
                                              const void* srcHost, size_t ByteCount) {
  return SyncCopy(HostToArray(dstArray, dstOffset, srcHost, ByteCount));
}
GPUSLICE_CUDA_EXPORT CUresult cuMemcpyHtoA_v2_ptds(CUarray dstArray, size_t dstOffset,
                                                   const void* srcHost, size_t ByteCount) {
  return SyncCopy(HostToArray(dstArray, dstOffset, srcHost, ByteCount));
}
GPUSLICE_CUDA_EXPORT CUresult cuMemcpyAtoH_v2(void* dstHost, CUarray srcArray, size_t srcOffset,
                                              size_t ByteCount) {
  return SyncCopy(ArrayToHost(dstHost, srcArray, srcOffset, ByteCount));
}
GPUSLICE_CUDA_EXPORT CUresult cuMemcpyAtoH_v2_ptds(void* dstHost, CUarray srcArray,
                                                   size_t srcOffset, size_t ByteCount) {
  return SyncCopy(ArrayToHost(dstHost, srcArray, srcOffset, ByteCount));
}

// ---- 2D and 3D ----

GPUSLICE_CUDA_EXPORT CUresult cuMemcpy2D_v2(const CUDA_MEMCPY2D* pCopy) {
  return pCopy == nullptr ? CUDA_ERROR_INVALID_VALUE : SyncCopy(From2D(pCopy));
}
GPUSLICE_CUDA_EXPORT CUresult cuMemcpy2D_v2_ptds(const CUDA_MEMCPY2D* pCopy) {
  return pCopy == nullptr ? CUDA_ERROR_INVALID_VALUE : SyncCopy(From2D(pCopy));
}
GPUSLICE_CUDA_EXPORT CUresult cuMemcpy2DUnaligned_v2(const CUDA_MEMCPY2D* pCopy) {
  return pCopy == nullptr ? CUDA_ERROR_INVALID_VALUE : SyncCopy(From2D(pCopy));
}
GPUSLICE_CUDA_EXPORT CUresult cuMemcpy2DUnaligned_v2_ptds(const CUDA_MEMCPY2D* pCopy) {
  return pCopy == nullptr ? CUDA_ERROR_INVALID_VALUE : SyncCopy(From2D(pCopy));
}
GPUSLICE_CUDA_EXPORT CUresult cuMemcpy2DAsync_v2(const CUDA_MEMCPY2D* pCopy, CUstream hStream) {
  return pCopy == nullptr ? CUDA_ERROR_INVALID_VALUE : AsyncCopy(From2D(pCopy), hStream, false);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemcpy2DAsync_v2_ptsz(const CUDA_MEMCPY2D* pCopy,
                                                      CUstream hStream) {
  return pCopy == nullptr ? CUDA_ERROR_INVALID_VALUE : AsyncCopy(From2D(pCopy), hStream, true);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemcpy3D_v2(const CUDA_MEMCPY3D* pCopy) {
  return pCopy == nullptr ? CUDA_ERROR_INVALID_VALUE : SyncCopy(*pCopy);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemcpy3D_v2_ptds(const CUDA_MEMCPY3D* pCopy) {
  return pCopy == nullptr ? CUDA_ERROR_INVALID_VALUE : SyncCopy(*pCopy);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemcpy3DAsync_v2(const CUDA_MEMCPY3D* pCopy, CUstream hStream) {
  return pCopy == nullptr ? CUDA_ERROR_INVALID_VALUE : AsyncCopy(*pCopy, hStream, false);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemcpy3DAsync_v2_ptsz(const CUDA_MEMCPY3D* pCopy,
                                                      CUstream hStream) {
  return pCopy == nullptr ? CUDA_ERROR_INVALID_VALUE : AsyncCopy(*pCopy, hStream, true);
}

// ---- Memsets ----

GPUSLICE_CUDA_EXPORT CUresult cuMemsetD8_v2(CUdeviceptr dstDevice, unsigned char uc, size_t N) {
  return Memset(dstDevice, 0, uc, 1, N, 1, nullptr, false, false);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemsetD8_v2_ptds(CUdeviceptr dstDevice, unsigned char uc,
                                                 size_t N) {
  return Memset(dstDevice, 0, uc, 1, N, 1, nullptr, false, true);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemsetD16_v2(CUdeviceptr dstDevice, unsigned short us, size_t N) {
  return Memset(dstDevice, 0, us, 2, N, 1, nullptr, false, false);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemsetD16_v2_ptds(CUdeviceptr dstDevice, unsigned short us,
                                                  size_t N) {
  return Memset(dstDevice, 0, us, 2, N, 1, nullptr, false, true);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemsetD32_v2(CUdeviceptr dstDevice, unsigned int ui, size_t N) {
  return Memset(dstDevice, 0, ui, 4, N, 1, nullptr, false, false);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemsetD32_v2_ptds(CUdeviceptr dstDevice, unsigned int ui,
                                                  size_t N) {
  return Memset(dstDevice, 0, ui, 4, N, 1, nullptr, false, true);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemsetD8Async(CUdeviceptr dstDevice, unsigned char uc, size_t N,
                                              CUstream hStream) {
  return Memset(dstDevice, 0, uc, 1, N, 1, hStream, true, false);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemsetD8Async_ptsz(CUdeviceptr dstDevice, unsigned char uc,
                                                   size_t N, CUstream hStream) {
  return Memset(dstDevice, 0, uc, 1, N, 1, hStream, true, true);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemsetD16Async(CUdeviceptr dstDevice, unsigned short us, size_t N,
                                               CUstream hStream) {
  return Memset(dstDevice, 0, us, 2, N, 1, hStream, true, false);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemsetD16Async_ptsz(CUdeviceptr dstDevice, unsigned short us,
                                                    size_t N, CUstream hStream) {
  return Memset(dstDevice, 0, us, 2, N, 1, hStream, true, true);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemsetD32Async(CUdeviceptr dstDevice, unsigned int ui, size_t N,
                                               CUstream hStream) {
  return Memset(dstDevice, 0, ui, 4, N, 1, hStream, true, false);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemsetD32Async_ptsz(CUdeviceptr dstDevice, unsigned int ui,
                                                    size_t N, CUstream hStream) {
  return Memset(dstDevice, 0, ui, 4, N, 1, hStream, true, true);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemsetD2D8_v2(CUdeviceptr dstDevice, size_t dstPitch,
                                              unsigned char uc, size_t Width, size_t Height) {
  return Memset(dstDevice, dstPitch, uc, 1, Width, Height, nullptr, false, false);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemsetD2D8_v2_ptds(CUdeviceptr dstDevice, size_t dstPitch,
                                                   unsigned char uc, size_t Width, size_t Height) {
  return Memset(dstDevice, dstPitch, uc, 1, Width, Height, nullptr, false, true);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemsetD2D16_v2(CUdeviceptr dstDevice, size_t dstPitch,
                                               unsigned short us, size_t Width, size_t Height) {
  return Memset(dstDevice, dstPitch, us, 2, Width, Height, nullptr, false, false);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemsetD2D16_v2_ptds(CUdeviceptr dstDevice, size_t dstPitch,
                                                    unsigned short us, size_t Width,
                                                    size_t Height) {
  return Memset(dstDevice, dstPitch, us, 2, Width, Height, nullptr, false, true);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemsetD2D32_v2(CUdeviceptr dstDevice, size_t dstPitch,
                                               unsigned int ui, size_t Width, size_t Height) {
  return Memset(dstDevice, dstPitch, ui, 4, Width, Height, nullptr, false, false);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemsetD2D32_v2_ptds(CUdeviceptr dstDevice, size_t dstPitch,
                                                    unsigned int ui, size_t Width, size_t Height) {
  return Memset(dstDevice, dstPitch, ui, 4, Width, Height, nullptr, false, true);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemsetD2D8Async(CUdeviceptr dstDevice, size_t dstPitch,
                                                unsigned char uc, size_t Width, size_t Height,
                                                CUstream hStream) {
  return Memset(dstDevice, dstPitch, uc, 1, Width, Height, hStream, true, false);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemsetD2D8Async_ptsz(CUdeviceptr dstDevice, size_t dstPitch,
                                                     unsigned char uc, size_t Width, size_t Height,
                                                     CUstream hStream) {
  return Memset(dstDevice, dstPitch, uc, 1, Width, Height, hStream, true, true);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemsetD2D16Async(CUdeviceptr dstDevice, size_t dstPitch,
                                                 unsigned short us, size_t Width, size_t Height,
                                                 CUstream hStream) {
  return Memset(dstDevice, dstPitch, us, 2, Width, Height, hStream, true, false);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemsetD2D16Async_ptsz(CUdeviceptr dstDevice, size_t dstPitch,
                                                      unsigned short us, size_t Width,
                                                      size_t Height, CUstream hStream) {
  return Memset(dstDevice, dstPitch, us, 2, Width, Height, hStream, true, true);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemsetD2D32Async(CUdeviceptr dstDevice, size_t dstPitch,
                                                 unsigned int ui, size_t Width, size_t Height,
                                                 CUstream hStream) {
  return Memset(dstDevice, dstPitch, ui, 4, Width, Height, hStream, true, false);
}
GPUSLICE_CUDA_EXPORT CUresult cuMemsetD2D32Async_ptsz(CUdeviceptr dstDevice, size_t dstPitch,
                                                      unsigned int ui, size_t Width, size_t Height,
                                                      CUstream hStream) {
  return Memset(dstDevice, dstPitch, ui, 4, Width, Height, hStream, true, true);
}
