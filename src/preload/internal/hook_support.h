// What the hooks share: calling the driver behind a hook, and charging an allocation while
// the driver makes it.
#pragma once

#include <cstdint>
#include <optional>

#include "core/abi/cuda_types.h"
#include "preload/allocation_map.h"
#include "preload/internal/driver.h"
#include "preload/internal/refusal.h"
#include "preload/runtime.h"

namespace gpuslice::preload::internal {

// Calls the driver's own function behind `Hook`.
template <auto Hook, typename... Args>
CUresult CallDriver(Args... args) {
  const auto real = Real<Hook>();
  return real != nullptr ? real(args...) : ToCuResult(Refusal::kMissingEntryPoint);
}

// Charges `bytes` on `slice`; when they do not fit, first brings the pools' charges down to
// what they hold now (they give memory back at synchronizations the library does not see).
inline bool ChargeSettlingPools(Runtime& runtime, int slice, uint64_t bytes) {
  return runtime.ledger().Charge(slice, bytes) ||
         (runtime.pool_charges().SettleAll(runtime) && runtime.ledger().Charge(slice, bytes));
}

// A charge on a slice, held while the driver allocates and given back on destruction unless
// committed. A slice of -1 (a GPU without a slice) charges nothing and always fits.
// Not thread-safe; lives on one hook call's stack.
class PendingCharge {
 public:
  PendingCharge(Runtime& runtime, int slice, uint64_t bytes)
      : runtime_(runtime),
        slice_(slice),
        bytes_(bytes),
        fits_(slice < 0 || ChargeSettlingPools(runtime, slice, bytes)) {}
  PendingCharge(const PendingCharge&) = delete;
  PendingCharge& operator=(const PendingCharge&) = delete;
  ~PendingCharge() {
    if (fits_ && !committed_ && slice_ >= 0) runtime_.ledger().Refund(slice_, bytes_);
  }

  // False when the allocation would pass the slice's limit.
  bool fits() const { return fits_; }

  // Corrects the charge to the driver's exact size; false (charge unchanged) when it no
  // longer fits.
  bool Resize(uint64_t bytes) {
    if (slice_ < 0 || bytes == bytes_) return true;
    if (bytes > bytes_) {
      if (!runtime_.ledger().Charge(slice_, bytes - bytes_)) return false;
    } else {
      runtime_.ledger().Refund(slice_, bytes_ - bytes);
    }
    bytes_ = bytes;
    return true;
  }

  // Keeps the charge; the free of `handle` gives it back.
  void Commit(AllocationKind kind, uint64_t handle, uint64_t owner = 0) {
    committed_ = true;
    if (slice_ >= 0) runtime_.allocations().Insert(kind, handle, Allocation{slice_, bytes_, owner});
  }

 private:
  Runtime& runtime_;
  const int slice_;
  uint64_t bytes_;
  const bool fits_;
  bool committed_ = false;
};

// Frees through `free` (returning the driver's CUresult) and gives the allocation's charge
// back when the driver succeeded. The record is taken out first, so an address the driver
// hands out again at once is never confused with the one being freed.
template <typename Free>
CUresult FreeCounted(AllocationKind kind, uint64_t handle, Free free) {
  Runtime& runtime = Runtime::Get();
  if (!runtime.enforcing()) return free();
  std::optional<Allocation> taken = runtime.allocations().Take(kind, handle);
  const CUresult result = free();
  if (taken) {
    if (result == CUDA_SUCCESS) {
      runtime.ledger().Refund(taken->device, taken->bytes);
    } else {
      runtime.allocations().Insert(kind, handle, *taken);
    }
  }
  return result;
}

}  // namespace gpuslice::preload::internal
