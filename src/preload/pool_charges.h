// Stream-ordered allocations come from memory pools, which keep freed blocks for reuse up to
// their release threshold (PyTorch's cudaMallocAsync backend sets it to "keep everything").
// The memory a pool holds, not what is currently allocated from it, is what the container
// uses; so each pool is charged what it reserves, re-read from the driver whenever the
// process allocates from it, frees to it, asks how much memory is free, or would be refused,
// and in the background. A pool may grow although it keeps free blocks (one it cannot use for
// this size or this stream), so an allocation is charged in full before the driver sees it
// (what a reuse did not need is refunded after), the pool's kept blocks trimmed to make room
// near the limit; where that is not enough, an allocation after which the pool holds more than
// the container may is given back, and the pool trimmed, before the call returns out of memory.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "core/abi/cuda_types.h"

namespace gpuslice::preload {

class Runtime;

// Thread-safe: one mutex, held across the driver calls of one pool operation so two threads
// never charge the same growth twice, and while the process's other charges are compared with
// what the driver reports (WhileSettled).
class PoolCharges {
 public:
  // Allocates `bytes` on `slice` from `pool` on `stream` through `allocate` (the driver call,
  // which sets *dptr). Charges what the pool may grow by (see above) before the driver sees the
  // call; returns CUDA_ERROR_OUT_OF_MEMORY without calling it when that does not fit. When the
  // driver grew the pool by more than fits, frees the allocation on `stream`, waits for the
  // stream, trims the pool back to its charge and returns CUDA_ERROR_OUT_OF_MEMORY. nullopt when
  // the driver cannot report on the pool: the caller then charges the allocation on its own.
  std::optional<CUresult> Allocate(Runtime& runtime, int slice, CUmemoryPool pool, uint64_t bytes,
                                   CUstream stream, const CUdeviceptr* dptr,
                                   const std::function<CUresult()>& allocate);

  // Frees `dptr` through `free` when it came from a pool this tracks; nullopt (nothing
  // called) otherwise.
  std::optional<CUresult> Free(Runtime& runtime, CUdeviceptr dptr,
                               const std::function<CUresult()>& free);

  // Brings every pool's charge to what it reserves now (pools trim at synchronizations the
  // library does not see), then runs `measure` before any pool operation can start.
  void WhileSettled(Runtime& runtime, const std::function<void()>& measure);

  // After cuMemPoolDestroy: the pool's cached blocks are gone; what is still allocated from it
  // is charged per allocation from now on, until freed.
  void Destroyed(Runtime& runtime, CUmemoryPool pool);

 private:
  struct Pool {
    int slice = -1;
    uint64_t charged = 0;
  };
  struct Pointer {
    uint64_t pool = 0;
    uint64_t bytes = 0;
  };
  struct Usage {
    uint64_t reserved = 0;
    uint64_t used = 0;
  };

  static std::optional<Usage> Query(CUmemoryPool pool);
  // REQUIRES: mutex_ held. Charges or refunds the difference between `pool`'s charge and
  // `reserved`; growth is charged even past the limit (the driver holds it).
  void Settle(Runtime& runtime, Pool& pool, uint64_t reserved);
  // REQUIRES: mutex_ held. Settles every pool.
  void SettleAllLocked(Runtime& runtime);
  // REQUIRES: mutex_ held. Charges `bytes` on `slice` into `pool`.
  bool Charge(Runtime& runtime, Pool& pool, uint64_t bytes);
  // REQUIRES: mutex_ held. Charges into `charges` what an allocation of `bytes` from `pool`
  // may grow it by, trimming the pool's kept blocks when that does not fit otherwise; false
  // when it cannot.
  bool PrechargeGrowth(Runtime& runtime, CUmemoryPool pool, Pool& charges, uint64_t bytes);
  // REQUIRES: mutex_ held. Records an allocation from `pool`, for its free.
  void Remember(CUdeviceptr dptr, CUmemoryPool pool, uint64_t bytes);

  std::mutex mutex_;
  std::unordered_map<uint64_t, Pool> pools_;
  std::unordered_map<uint64_t, Pointer> pointers_;
  // pointers_.size(), readable without the mutex: every cuMemFree asks, and most programs
  // never allocate from a pool.
  std::atomic<size_t> pointer_count_{0};
};

}  // namespace gpuslice::preload
