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
  void Commit(AllocationKind kind, uint64_t handle) {
    committed_ = true;
    if (slice_ >= 0) runtime_.allocations().Insert(kind, handle, Allocation{slice_, bytes_});
  }

  // Keeps the charge for a graph to give back (graph_memory.h): what was charged, or nullopt
  // when nothing was (a GPU without a slice).
  std::optional<Allocation> CommitToGraph() {
    committed_ = true;
    if (slice_ < 0) return std::nullopt;
    return Allocation{slice_, bytes_};
  }

 private:
  Runtime& runtime_;
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
