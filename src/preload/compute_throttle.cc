#include "preload/compute_throttle.h"

#include <algorithm>

namespace gpuslice::preload {
namespace {

constexpr uint64_t kMinWaitNanos = 100'000;
constexpr uint64_t kMaxWaitNanos = 10'000'000;

// Credit as the throttle can have made it: any process of the container may have written
// the region, and a credit past the cap (or a debt past the bound) would hold forever.
int64_t Valid(int64_t credit, int64_t cap) {
  return std::clamp(credit, -ComputeThrottle::kMaxDebtNanos, cap);
}

}  // namespace

ComputeThrottle::ComputeThrottle(core::region::Region* region, const Options& options, Clock& clock)
    : region_(region), options_(options), clock_(clock) {}

bool ComputeThrottle::Enforced(int device) const {
  return options_.devices[device].compute_percent < kUnlimitedComputePercent;
}

int64_t ComputeThrottle::Cap(int device) const {
  return static_cast<int64_t>(kBurstWindowNanos) * options_.devices[device].compute_percent / 100;
}

void ComputeThrottle::Refill(int device) {
  core::region::DeviceState& state = region_->devices[device];
  const uint64_t now = clock_.NowNanos();
  uint64_t until = state.refilled_until_ns.load(std::memory_order_acquire);
  if (until > now + kBurstWindowNanos) {
    // No process of the container can have refilled this far ahead: the mark was written
    // over, and left there it would stop every refill.
    state.refilled_until_ns.compare_exchange_strong(until, now, std::memory_order_acq_rel);
    return;
  }
  if (now <= until) return;
  // Whoever moves the mark owns the interval, so each nanosecond of wall time pays once.
  if (!state.refilled_until_ns.compare_exchange_strong(until, now, std::memory_order_acq_rel)) {
    return;
  }
  const int64_t cap = Cap(device);
  const uint64_t elapsed = now - until;
  const int64_t earned =
      elapsed >= kBurstWindowNanos
          ? cap
          : static_cast<int64_t>(elapsed) * options_.devices[device].compute_percent / 100;
  int64_t credit = state.credit_ns.load(std::memory_order_relaxed);
  int64_t next;
  do {
    next = std::min(cap, Valid(credit, cap) + earned);
  } while (next != credit &&
           !state.credit_ns.compare_exchange_weak(credit, next, std::memory_order_relaxed));
}

void ComputeThrottle::Charge(int device, uint64_t busy_nanos) {
  if (busy_nanos == 0) return;
  std::atomic<int64_t>& credit = region_->devices[device].credit_ns;
  const auto charge = static_cast<int64_t>(std::min<uint64_t>(busy_nanos, kMaxDebtNanos));
  const int64_t cap = Cap(device);
  int64_t current = credit.load(std::memory_order_relaxed);
  int64_t next;
  do {
    next = std::max(Valid(current, cap) - charge, -kMaxDebtNanos);
  } while (!credit.compare_exchange_weak(current, next, std::memory_order_relaxed));
}

uint64_t ComputeThrottle::WaitForCredit(int device) {
  const int percent = options_.devices[device].compute_percent;
  const uint64_t start = clock_.NowNanos();
  for (;;) {
    Refill(device);
    const int64_t credit =
        Valid(region_->devices[device].credit_ns.load(std::memory_order_relaxed), Cap(device));
    if (credit > 0) {
      const uint64_t now = clock_.NowNanos();
      return now > start ? now - start : 0;
    }
    // Time until the share has earned the debt back, within bounds that keep the wake-ups
    // few but the reaction quick.
    const uint64_t repay = static_cast<uint64_t>(1 - credit) * 100 / static_cast<uint64_t>(percent);
    clock_.SleepFor(std::clamp(repay, kMinWaitNanos, kMaxWaitNanos));
  }
}

}  // namespace gpuslice::preload
