#include "preload/driver_overhead.h"

#include <algorithm>

namespace gpuslice::preload {

std::optional<uint64_t> DriverOverhead::Update(MemoryLedger& ledger, int slice,
                                               const Sources& sources) {
  std::lock_guard<std::mutex> lock(mutex_);
  Slice& state = slices_[slice];
  const Calls before = sources.calls();
  const uint64_t uncounted_before = sources.uncounted();
  const uint64_t held_before = ledger.Held(slice);
  const std::optional<uint64_t> reported = sources.report();
  if (!reported) return std::nullopt;
  const uint64_t held_after = ledger.Held(slice);
  const uint64_t uncounted_after = sources.uncounted();
  const Calls after = sources.calls();
  const bool exact = before == after && before.allocated_begun == before.allocated_ended &&
                     before.frees_begun == before.frees_ended;
  // What the report may count of the process's other charges.
  const auto others = [&](uint64_t held, uint64_t uncounted) {
    const uint64_t counted = held > uncounted ? held - uncounted : 0;
    return counted > state.charged ? counted - state.charged : 0;
  };
  const uint64_t under_way = after.allocated_begun - before.allocated_ended;
  const uint64_t at_most_others =
      others(std::max(held_before, held_after), std::min(uncounted_before, uncounted_after)) +
      under_way;
  const uint64_t at_least = *reported > at_most_others ? *reported - at_most_others : 0;
  if (at_least >= state.charged) {
    state.lower_since = 0;
    const uint64_t more = at_least - state.charged;
    ledger.ChargeHeld(slice, more);
    state.charged = at_least;
    return more;
  }
  if (!exact) return 0;
  const uint64_t at_least_others =
      others(std::min(held_before, held_after), std::max(uncounted_before, uncounted_after));
  const uint64_t at_most = *reported > at_least_others ? *reported - at_least_others : 0;
  if (at_most >= state.charged) {
    state.lower_since = 0;
    return 0;
  }
  const uint64_t now = clock_.NowNanos();
  if (state.lower_since == 0) {
    state.lower_since = now;
    state.lower_to = at_most;
    return 0;
  }
  state.lower_to = std::max(state.lower_to, at_most);
  if (now - state.lower_since >= kLowerAfterNanos) {
    ledger.Refund(slice, state.charged - state.lower_to);
    state.charged = state.lower_to;
    state.lower_since = 0;
  }
  return 0;
}

void DriverOverhead::Lower(MemoryLedger& ledger, int slice, uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  Slice& state = slices_[slice];
  bytes = std::min(bytes, state.charged);
  ledger.Refund(slice, bytes);
  state.charged -= bytes;
}

bool DriverOverhead::ChargeMeasured(MemoryLedger& ledger, int slice, uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!ledger.Charge(slice, bytes)) return false;
  slices_[slice].charged += bytes;
  return true;
}

uint64_t DriverOverhead::Charged(int slice) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return slices_[slice].charged;
}

}  // namespace gpuslice::preload
