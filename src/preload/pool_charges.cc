#include "preload/pool_charges.h"

#include <algorithm>

#include "core/abi/cuda.h"
#include "preload/internal/driver.h"
#include "preload/runtime.h"

namespace gpuslice::preload {

std::optional<PoolCharges::Usage> PoolCharges::Query(CUmemoryPool pool) {
  static const auto get =
      internal::DriverFunction<decltype(&cuMemPoolGetAttribute)>("cuMemPoolGetAttribute");
  cuuint64_t reserved = 0;
  cuuint64_t used = 0;
  if (get == nullptr ||
      get(pool, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT, &reserved) != CUDA_SUCCESS ||
      get(pool, CU_MEMPOOL_ATTR_USED_MEM_CURRENT, &used) != CUDA_SUCCESS) {
    return std::nullopt;
  }
  return Usage{reserved, used};
}

bool PoolCharges::Charge(Runtime& runtime, Pool& pool, uint64_t bytes) {
  if (bytes == 0) return true;
  if (!runtime.ledger().TryCharge(pool.slice, bytes)) return false;
  pool.charged += bytes;
  return true;
}

void PoolCharges::Settle(Runtime& runtime, Pool& pool, uint64_t reserved) {
  if (reserved > pool.charged) {
    runtime.ledger().ChargeHeld(pool.slice, reserved - pool.charged);
  } else if (reserved < pool.charged) {
    runtime.ledger().Refund(pool.slice, pool.charged - reserved);
  }
  pool.charged = reserved;
}

void PoolCharges::SettleAllLocked(Runtime& runtime) {
  for (auto& [handle, pool] : pools_) {
    if (const std::optional<Usage> usage = Query(reinterpret_cast<CUmemoryPool>(handle))) {
      Settle(runtime, pool, usage->reserved);
    }
  }
}

std::optional<CUresult> PoolCharges::Allocate(Runtime& runtime, int slice, CUmemoryPool pool,
                                              uint64_t bytes, CUstream stream,
                                              const CUdeviceptr* dptr,
                                              const std::function<CUresult()>& allocate) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::optional<Usage> before = Query(pool);
  if (!before) return std::nullopt;
  Pool& charges =
      pools_.try_emplace(reinterpret_cast<uint64_t>(pool), Pool{slice, 0}).first->second;
  Settle(runtime, charges, before->reserved);
  if (!PrechargeGrowth(runtime, pool, charges, bytes)) return CUDA_ERROR_OUT_OF_MEMORY;
  const CUresult result = allocate();
  const std::optional<Usage> after = Query(pool);
  if (!after || after->reserved <= charges.charged) {
    // Grown by what was charged, or less (a failure, a reuse): the charge follows the pool.
    if (after) Settle(runtime, charges, after->reserved);
    if (result == CUDA_SUCCESS) Remember(*dptr, pool, bytes);
    return result;
  }
  // The driver grew the pool by more than was charged (its granularity, or a cached block it
  // could not use here): charged when it fits, undone when it does not.
  if (Charge(runtime, charges, after->reserved - charges.charged)) {
    if (result == CUDA_SUCCESS) Remember(*dptr, pool, bytes);
    return result;
  }
  static const auto free_async =
      internal::DriverFunction<decltype(&cuMemFreeAsync)>("cuMemFreeAsync");
  static const auto synchronize =
      internal::DriverFunction<decltype(&cuStreamSynchronize)>("cuStreamSynchronize");
  static const auto trim = internal::DriverFunction<decltype(&cuMemPoolTrimTo)>("cuMemPoolTrimTo");
  if (result == CUDA_SUCCESS && free_async != nullptr &&
      free_async(*dptr, stream) == CUDA_SUCCESS && synchronize != nullptr) {
    synchronize(stream);
  }
  if (trim != nullptr) trim(pool, charges.charged);
  // What the trim could not release is the driver's, and charged as such.
  if (const std::optional<Usage> trimmed = Query(pool)) Settle(runtime, charges, trimmed->reserved);
  runtime.ledger().CountRefusal(charges.slice, bytes);
  return CUDA_ERROR_OUT_OF_MEMORY;
}

bool PoolCharges::PrechargeGrowth(Runtime& runtime, CUmemoryPool pool, Pool& charges,
                                  uint64_t bytes) {
  // The whole allocation first: the pool may grow by it whether or not it reuses a block it
  // keeps (which one it can reuse is the driver's choice), and a reuse is refunded after.
  if (Charge(runtime, charges, bytes)) return true;
  // Other pools may hold charges for memory they have given back since.
  SettleAllLocked(runtime);
  if (Charge(runtime, charges, bytes)) return true;
  // Near the limit, the blocks the pool keeps make room by going back to the GPU.
  static const auto trim = internal::DriverFunction<decltype(&cuMemPoolTrimTo)>("cuMemPoolTrimTo");
  MemoryLedger& ledger = runtime.ledger();
  const uint64_t used = ledger.Used(charges.slice);
  const uint64_t room = ledger.Limit(charges.slice) > used ? ledger.Limit(charges.slice) - used : 0;
  std::optional<Usage> usage = Query(pool);
  if (trim != nullptr && usage && usage->reserved > usage->used) {
    const uint64_t shortfall = bytes - std::min(bytes, room);
    const uint64_t keep = usage->reserved - std::min(usage->reserved - usage->used, shortfall);
    trim(pool, keep);
    usage = Query(pool);
    if (usage) Settle(runtime, charges, usage->reserved);
    if (Charge(runtime, charges, bytes)) return true;
  }
  // What the trim could not release (blocks whose free a stream has not reached) may still
  // serve it: charge only what the pool lacks, and undo the allocation should the driver grow
  // the pool by more (Allocate).
  const uint64_t cached =
      usage && usage->reserved > usage->used ? usage->reserved - usage->used : 0;
  if (usage && Charge(runtime, charges, bytes > cached ? bytes - cached : 0)) return true;
  ledger.CountRefusal(charges.slice, bytes);
  return false;
}

void PoolCharges::Remember(CUdeviceptr dptr, CUmemoryPool pool, uint64_t bytes) {
  pointers_[dptr] = Pointer{reinterpret_cast<uint64_t>(pool), bytes};
  pointer_count_.store(pointers_.size(), std::memory_order_relaxed);
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

void PoolCharges::WhileSettled(Runtime& runtime, const std::function<void()>& measure) {
  std::lock_guard<std::mutex> lock(mutex_);
  SettleAllLocked(runtime);
  measure();
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
    runtime.ledger().ChargeHeld(charges->second.slice, outstanding - charges->second.charged);
  }
  pools_.erase(charges);
}

}  // namespace gpuslice::preload
