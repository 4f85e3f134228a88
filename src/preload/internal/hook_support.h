// What the hooks share: calling the driver behind a hook, and charging an allocation while
// the driver makes it.
#pragma once

#include <cstdint>
#include <optional>

#include "core/abi/cuda.h"
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

// Charges `bytes` on `slice`; when they do not fit, first brings every charge to what the
// driver reports (pools give memory back at synchronizations the library does not see, driver
// overhead may have gone) and tries again.
inline bool ChargeReconciled(Runtime& runtime, int slice, uint64_t bytes) {
  if (runtime.ledger().TryCharge(slice, bytes)) return true;
  runtime.Reconcile(slice);
  return runtime.ledger().Charge(slice, bytes);
}

// Marks a free of this process as between the driver and the ledger for as long as it lives
// (Runtime::FreeBegins). Lives on one hook call's stack.
class FreeCall {
 public:
  explicit FreeCall(Runtime& runtime) : runtime_(runtime) { runtime_.FreeBegins(); }
  ~FreeCall() { runtime_.FreeEnds(); }
  FreeCall(const FreeCall&) = delete;
  FreeCall& operator=(const FreeCall&) = delete;

 private:
  Runtime& runtime_;
};

// Marks an allocation of `bytes` as between the ledger and the driver for as long as it lives
// (Runtime::AllocationBegins). Lives on one hook call's stack.
class AllocationCall {
 public:
  AllocationCall(Runtime& runtime, uint64_t bytes) : runtime_(runtime), bytes_(bytes) {
    runtime_.AllocationBegins(bytes_);
  }
  ~AllocationCall() { runtime_.AllocationEnds(bytes_); }
  AllocationCall(const AllocationCall&) = delete;
  AllocationCall& operator=(const AllocationCall&) = delete;

 private:
  Runtime& runtime_;
  const uint64_t bytes_;
};

// A charge on a slice, held while the driver allocates and given back on destruction unless
// committed. A slice of -1 (a GPU without a slice) charges nothing and always fits.
// Not thread-safe; lives on one hook call's stack.
class PendingCharge {
 public:
  PendingCharge(Runtime& runtime, int slice, uint64_t bytes)
      : runtime_(runtime),
        call_(runtime, bytes),
        slice_(slice),
        bytes_(bytes),
        fits_(slice < 0 || ChargeReconciled(runtime, slice, bytes)) {}
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
  void Commit(AllocationKind kind, uint64_t handle) {
    committed_ = true;
    if (slice_ >= 0) runtime_.allocations().Insert(kind, handle, Allocation{slice_, bytes_});
  }

  // Keeps the charge; the caller records what gives it back.
  void Keep() { committed_ = true; }

 private:
  Runtime& runtime_;
  AllocationCall call_;
  const int slice_;
  uint64_t bytes_;
  const bool fits_;
  bool committed_ = false;
};

// The stream a per-thread default-stream variant (_ptsz) means by `stream`: the default stream
// (0) there is the calling thread's, which other entry points name CU_STREAM_PER_THREAD.
inline CUstream PerThreadStream(CUstream stream) {
  return stream == nullptr ? CU_STREAM_PER_THREAD : stream;
}

// `stream` as a number that names one stream in every thread: CU_STREAM_PER_THREAD is another
// stream in each thread, so the calling thread's is named by the thread.
inline uint64_t StreamKey(CUstream stream) {
  static thread_local const char per_thread_stream = 0;
  return stream == CU_STREAM_PER_THREAD ? reinterpret_cast<uint64_t>(&per_thread_stream)
                                        : reinterpret_cast<uint64_t>(stream);
}

// The capture sequence `stream` is capturing into (its id, unique in the process), or nullopt
// when it is not capturing or its capture was invalidated (the driver then refuses to add to
// it, so there is nothing to account for).
inline std::optional<uint64_t> CaptureOf(CUstream stream) {
  static const auto capture_info =
      DriverFunction<decltype(&cuStreamGetCaptureInfo)>("cuStreamGetCaptureInfo");
  CUstreamCaptureStatus status = CU_STREAM_CAPTURE_STATUS_NONE;
  cuuint64_t id = 0;
  if (capture_info == nullptr || capture_info(stream, &status, &id) != CUDA_SUCCESS ||
      status != CU_STREAM_CAPTURE_STATUS_ACTIVE) {
    return std::nullopt;
  }
  return id;
}

// Gives back the charge of a physical allocation the driver has now freed.
inline void RefundPhysical(Runtime& runtime, uint64_t handle) {
  if (std::optional<Allocation> taken =
          runtime.allocations().Take(AllocationKind::kPhysicalHandle, handle)) {
    runtime.ledger().Refund(taken->device, taken->bytes);
  }
}

// Gives back what unmapping physical memory freed: the charges of the physical allocations now
// freed, and of the mappings of imports that are gone.
inline void GiveBackUnmapped(Runtime& runtime, const PhysicalHandles::Freed& freed) {
  for (uint64_t handle : freed.handles) RefundPhysical(runtime, handle);
  for (const auto& [slice, bytes] : freed.import_charges) runtime.ledger().Refund(slice, bytes);
}

// Frees through `free` (returning the driver's CUresult) and gives the allocation's charge
// back when the driver succeeded. The record is taken out first, so an address the driver
// hands out again at once is never confused with the one being freed.
template <typename Free>
CUresult FreeCounted(AllocationKind kind, uint64_t handle, Free free) {
  Runtime& runtime = Runtime::Get();
  if (!runtime.enforcing()) return free();
  FreeCall call(runtime);
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
