// Stream-ordered allocations come from memory pools, which keep freed blocks for reuse up to
// their release threshold (PyTorch's cudaMallocAsync backend sets it to "keep everything").
// The memory a pool holds, not what is currently allocated from it, is what the container
// uses; so each pool is charged what it reserves, re-read from the driver whenever the
// process allocates from it, frees to it, asks how much memory is free, or would be refused.
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
// never charge the same growth twice.
class PoolCharges {
 public:
  // Allocates `bytes` on `slice` from `pool` through `allocate` (the driver call, which sets
  // *dptr). Charges the growth the pool may need (bytes beyond its cached free blocks) before
  // the driver sees the call; returns CUDA_ERROR_OUT_OF_MEMORY without calling it when that
  // does not fit. nullopt when the driver cannot report on the pool: the caller then charges
  // the allocation on its own.
  std::optional<CUresult> Allocate(Runtime& runtime, int slice, CUmemoryPool pool, uint64_t bytes,
                                   const CUdeviceptr* dptr,
                                   const std::function<CUresult()>& allocate);

  // Frees `dptr` through `free` when it came from a pool this tracks; nullopt (nothing
  // called) otherwise.
  std::optional<CUresult> Free(Runtime& runtime, CUdeviceptr dptr,
                               const std::function<CUresult()>& free);

  // Brings every pool's charge down to what it reserves now (pools trim at synchronizations
  // the library does not see). True when something was given back.
  bool SettleAll(Runtime& runtime);

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
  // `reserved`; a growth that does not fit stays uncharged until the next settlement.
  void Settle(Runtime& runtime, Pool& pool, uint64_t reserved);
  // REQUIRES: mutex_ held. Charges `bytes` on `slice` into `pool`.
  bool Charge(Runtime& runtime, Pool& pool, uint64_t bytes);

  std::mutex mutex_;
  std::unordered_map<uint64_t, Pool> pools_;
  std::unordered_map<uint64_t, Pointer> pointers_;
  // pointers_.size(), readable without the mutex: every cuMemFree asks, and most programs
  // never allocate from a pool.
  std::atomic<size_t> pointer_count_{0};
};

}  // namespace gpuslice::preload
