#include "preload/pool_charges.h"

#include "core/abi/cuda.h"
#include "preload/internal/driver.h"
#include "preload/runtime.h"

namespace gpuslice::preload {

std::optional<PoolCharges::Usage> PoolCharges::Query(CUmemoryPool pool) {
  static const auto get = internal::DriverFunction<decltype(&cuMemPoolGetAttribute)>(
      "cuMemPoolGetAttribute");
  cuuint64_t reserved = 0;
  cuuint64_t used = 0;
  if (get == nullptr || get(pool, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT, &reserved) != CUDA_SUCCESS ||
      get(pool, CU_MEMPOOL_ATTR_USED_MEM_CURRENT, &used) != CUDA_SUCCESS) {
    return std::nullopt;
  }
  return Usage{reserved, used};
}

bool PoolCharges::Charge(Runtime& runtime, Pool& pool, uint64_t bytes) {
  if (bytes == 0) return true;
  if (!runtime.ledger().Charge(pool.slice, bytes)) return false;
  pool.charged += bytes;
  return true;
}

void PoolCharges::Settle(Runtime& runtime, Pool& pool, uint64_t reserved) {
  if (reserved > pool.charged) {
    Charge(runtime, pool, reserved - pool.charged);
  } else if (reserved < pool.charged) {
    runtime.ledger().Refund(pool.slice, pool.charged - reserved);
    pool.charged = reserved;
  }
}

std::optional<CUresult> PoolCharges::Allocate(Runtime& runtime, int slice, CUmemoryPool pool,
                                              uint64_t bytes, const CUdeviceptr* dptr,
                                              const std::function<CUresult()>& allocate) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::optional<Usage> before = Query(pool);
  if (!before) return std::nullopt;
  Pool& charges = pools_.try_emplace(reinterpret_cast<uint64_t>(pool), Pool{slice, 0}).first->second;
  Settle(runtime, charges, before->reserved);
  const uint64_t cached = before->reserved > before->used ? before->reserved - before->used : 0;
  const uint64_t growth = bytes > cached ? bytes - cached : 0;
  if (!Charge(runtime, charges, growth)) {
    // Other pools may hold charges for memory they have given back since.
    for (auto& [handle, other] : pools_) {
      if (const std::optional<Usage> usage = Query(reinterpret_cast<CUmemoryPool>(handle))) {
        Settle(runtime, other, usage->reserved);
      }
    }
    if (!Charge(runtime, charges, growth)) return CUDA_ERROR_OUT_OF_MEMORY;
  }
  const CUresult result = allocate();
  // The driver may have grown the pool by more (its granularity) or not at all (a failure).
  if (const std::optional<Usage> after = Query(pool)) Settle(runtime, charges, after->reserved);
  if (result == CUDA_SUCCESS) {
    pointers_[*dptr] = Pointer{reinterpret_cast<uint64_t>(pool), bytes};
    pointer_count_.store(pointers_.size(), std::memory_order_relaxed);
  }
  return result;
}

std::optional<CUresult> PoolCharges::Free(Runtime& runtime, CUdeviceptr dptr,
                                          const std::function<CUresult()>& free) {
  if (pointer_count_.load(std::memory_order_relaxed) == 0) return std::nullopt;
  std::lock_guard<std::mutex> lock(mutex_);
  const auto pointer = pointers_.find(dptr);
  if (pointer == pointers_.end()) return std::nullopt;
  const uint64_t pool = pointer->second.pool;
  const CUresult result = free();
  if (result != CUDA_SUCCESS) return result;
  pointers_.erase(pointer);
  pointer_count_.store(pointers_.size(), std::memory_order_relaxed);
  const auto charges = pools_.find(pool);
  const std::optional<Usage> usage = Query(reinterpret_cast<CUmemoryPool>(pool));
  if (charges != pools_.end() && usage) Settle(runtime, charges->second, usage->reserved);
  return result;
}

bool PoolCharges::SettleAll(Runtime& runtime) {
  std::lock_guard<std::mutex> lock(mutex_);
  bool refunded = false;
  for (auto& [handle, pool] : pools_) {
    const std::optional<Usage> usage = Query(reinterpret_cast<CUmemoryPool>(handle));
    if (!usage || usage->reserved >= pool.charged) continue;
    Settle(runtime, pool, usage->reserved);
    refunded = true;
  }
  return refunded;
}

void PoolCharges::Destroyed(Runtime& runtime, CUmemoryPool pool) {
  std::lock_guard<std::mutex> lock(mutex_);
  const uint64_t handle = reinterpret_cast<uint64_t>(pool);
  const auto charges = pools_.find(handle);
  if (charges == pools_.end()) return;
  uint64_t outstanding = 0;
  for (auto pointer = pointers_.begin(); pointer != pointers_.end();) {
    if (pointer->second.pool != handle) {
      ++pointer;
      continue;
    }
    runtime.allocations().Insert(AllocationKind::kDevicePointer, pointer->first,
                                 Allocation{charges->second.slice, pointer->second.bytes});
    outstanding += pointer->second.bytes;
    pointer = pointers_.erase(pointer);
  }
  pointer_count_.store(pointers_.size(), std::memory_order_relaxed);
  // Moved to per-allocation charges above; the rest was the pool's cache.
  if (charges->second.charged > outstanding) {
    runtime.ledger().Refund(charges->second.slice, charges->second.charged - outstanding);
  } else if (outstanding > charges->second.charged) {
    runtime.ledger().Charge(charges->second.slice, outstanding - charges->second.charged);
  }
  pools_.erase(charges);
}

}  // namespace gpuslice::preload
