#include "preload/memory_ledger.h"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <optional>

#include "preload/internal/process.h"

namespace gpuslice::preload {
namespace {

using core::region::DeviceState;
using core::region::ProcessSlot;
using core::region::Region;

// The type glibc records in a region mutex as LayOut makes it (robust, process-shared).
int LaidOutMutexKind() {
  static const int kind = [] {
    pthread_mutexattr_t attributes;
    pthread_mutexattr_init(&attributes);
    pthread_mutexattr_setpshared(&attributes, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attributes, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_t mutex;
    pthread_mutex_init(&mutex, &attributes);
    const int laid_out = mutex.__data.__kind;
    pthread_mutex_destroy(&mutex);
    pthread_mutexattr_destroy(&attributes);
    return laid_out;
  }();
  return kind;
}

uint64_t SaturatingSub(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }
uint64_t SaturatingAdd(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

// Adds without wrapping: a request of nearly 2^64 bytes must not turn a counter back.
void SaturatingAdd(std::atomic<uint64_t>& counter, uint64_t value) {
  uint64_t current = counter.load(std::memory_order_relaxed);
  uint64_t next;
  do {
    next = value > UINT64_MAX - current ? UINT64_MAX : current + value;
  } while (!counter.compare_exchange_weak(current, next, std::memory_order_relaxed));
}

// Raises `peak` to `value`; the caller holds the device's memory mutex, so no one else writes
// it meanwhile (a process of the container writing over it only spoils its own figures).
void RaisePeak(std::atomic<uint64_t>& peak, uint64_t value) {
  if (value > peak.load(std::memory_order_relaxed)) peak.store(value, std::memory_order_relaxed);
}

// How long a charge waits for a device's mutex. Holders keep it for a few loads and stores;
// a lock word another process wrote (naming a thread that never unlocks) must not hang the
// container's allocations forever, so past this the charge is refused.
constexpr time_t kLockPatienceSeconds = 2;

// Holds a device's memory mutex. A previous holder that died may have left used_bytes out of
// step with the slots; it is recomputed before the mutex is marked consistent again. A mutex
// whose type was written over is not locked at all: glibc runs the protocol the type names,
// and some protocols abort on states a robust mutex allows.
class DeviceLock {
 public:
  DeviceLock(Region& region, int device) : state_(region.devices[device]) {
    if (state_.memory_mutex.__data.__kind != LaidOutMutexKind()) return;
    timespec deadline{};
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += kLockPatienceSeconds;
    int result = pthread_mutex_timedlock(&state_.memory_mutex, &deadline);
    if (result == EOWNERDEAD) {
      state_.used_bytes.store(core::region::SumSlotUsage(region, device),
                              std::memory_order_relaxed);
      pthread_mutex_consistent(&state_.memory_mutex);
      result = 0;
    }
    locked_ = result == 0;
  }
  ~DeviceLock() {
    if (locked_) pthread_mutex_unlock(&state_.memory_mutex);
  }
  DeviceLock(const DeviceLock&) = delete;
  DeviceLock& operator=(const DeviceLock&) = delete;

  bool locked() const { return locked_; }

 private:
  DeviceState& state_;
  bool locked_ = false;
};

// Device 0's memory mutex also orders every change of an occupied slot's owner: a reclaim and
// a takeover by a process of the same PID. Under it, a reclaimer checks that the owner it
// found dead still holds the slot, and nobody can hand the slot on before it is freed. Like
// every region mutex it is robust: a holder killed half-way through blocks nobody, and the
// next reclaimer finishes the work.
constexpr int kOwnershipDevice = 0;

// Limits below this hold every charge to the byte under the mutex: a reserve's chunk would be
// under 64 KiB, too small to save many lock round trips.
constexpr uint64_t kMinReserveChunk = uint64_t{64} << 10;
constexpr uint64_t kMaxReserveChunk = uint64_t{16} << 20;

}  // namespace

MemoryLedger::MemoryLedger(Region* region, const Options& options)
    : region_(region), options_(options) {
  for (int device = 0; device < core::region::kMaxDevices; ++device) {
    const uint64_t chunk = std::min(options_.devices[device].memory_bytes / 64, kMaxReserveChunk);
    chunk_[device] = chunk >= kMinReserveChunk ? chunk : 0;
  }
}

Status MemoryLedger::Attach() {
  if (Slot() != nullptr) return Status::Ok();
  return Status::ResourceExhausted("all " + std::to_string(core::region::kMaxProcesses) +
                                   " process slots of the region hold running processes");
}

ProcessSlot* MemoryLedger::Slot() {
  ProcessSlot* slot = slot_.load(std::memory_order_acquire);
  if (slot != nullptr) return slot;

  std::lock_guard<std::mutex> guard(attach_mutex_);
  slot = slot_.load(std::memory_order_relaxed);
  if (slot != nullptr) return slot;
  const pid_t self = getpid();
  // 0 when /proc cannot say: the others then take the slot for a claim in progress, which
  // they leave alone while this PID runs.
  const uint64_t start_time = internal::ProbeProcess(self).start_time;
  slot = TakeOverSlotOfThisPid(self, start_time);
  if (slot == nullptr) {
    // A process that joins gives back what the dead left, so what the container reports
    // right after a crash is already true.
    ReclaimDead();
    slot = ClaimFreeSlot(self, start_time);
  }
  slot_pid_ = self;
  if (slot != nullptr) {
    region_->nvml_pids[slot - region_->slots].store(nvml_pid_.load(std::memory_order_relaxed),
                                                    std::memory_order_relaxed);
  }
  slot_.store(slot, std::memory_order_release);
  return slot;
}

ProcessSlot* MemoryLedger::TakeOverSlotOfThisPid(pid_t self, uint64_t start_time) {
  for (ProcessSlot& candidate : region_->slots) {
    if (candidate.pid.load(std::memory_order_acquire) != self) continue;
    DeviceLock ownership(*region_, kOwnershipDevice);
    // A reclaimer may have freed it meanwhile, rightly: its owner was not this process.
    if (!ownership.locked() || candidate.pid.load(std::memory_order_relaxed) != self ||
        !EmptySlot(candidate)) {
      continue;
    }
    candidate.start_time.store(start_time, std::memory_order_release);
    return &candidate;
  }
  return nullptr;
}

ProcessSlot* MemoryLedger::ClaimFreeSlot(pid_t self, uint64_t start_time) {
  for (ProcessSlot& candidate : region_->slots) {
    int32_t expected = 0;
    if (candidate.pid.compare_exchange_strong(expected, self, std::memory_order_acq_rel)) {
      candidate.start_time.store(start_time, std::memory_order_release);
      return &candidate;
    }
  }
  return nullptr;
}

void MemoryLedger::RepairFromHeld(ProcessSlot& slot, int device) {
  DeviceState& state = region_->devices[device];
  const uint64_t held = held_[device].load(std::memory_order_relaxed);
  bool rewritten = false;
  if (slot.pid.load(std::memory_order_relaxed) != slot_pid_) {
    slot.pid.store(slot_pid_, std::memory_order_release);
    rewritten = true;
  }
  if (slot.used_bytes[device].load(std::memory_order_relaxed) != held) {
    slot.used_bytes[device].store(held, std::memory_order_relaxed);
    rewritten = true;
  }
  if (rewritten || state.used_bytes.load(std::memory_order_relaxed) < held) {
    state.used_bytes.store(core::region::SumSlotUsage(*region_, device), std::memory_order_relaxed);
  }
}

core::region::SlotCounters* MemoryLedger::CountersOf(const ProcessSlot* slot) const {
  if (slot == nullptr) return nullptr;
  return &region_->slot_counters[slot - region_->slots];
}

bool MemoryLedger::Charge(int device, uint64_t bytes) {
  if (TryCharge(device, bytes)) return true;
  CountRefusal(device, bytes);
  return false;
}

void MemoryLedger::CountRefusal(int device, uint64_t bytes) {
  core::region::Counters& counters = region_->counters[device];
  counters.refused_allocations.fetch_add(1, std::memory_order_relaxed);
  SaturatingAdd(counters.refused_bytes, bytes);
  if (core::region::SlotCounters* own = CountersOf(slot_.load(std::memory_order_acquire))) {
    own->refused_allocations[device].fetch_add(1, std::memory_order_relaxed);
    SaturatingAdd(own->refused_bytes[device], bytes);
  }
}

bool MemoryLedger::TryCharge(int device, uint64_t bytes) {
  if (bytes == 0) return true;
  if (bytes <= chunk_[device] && !refuse_all_.load(std::memory_order_acquire)) {
    std::atomic<uint64_t>& reserve = reserve_[device].bytes;
    uint64_t available = reserve.load(std::memory_order_relaxed);
    while (available >= bytes) {
      if (reserve.compare_exchange_weak(available, available - bytes, std::memory_order_acq_rel)) {
        return true;
      }
    }
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (ChargeLocked(device, bytes, bytes <= chunk_[device])) return true;
    if (ReclaimDead() == 0) break;
  }
  return false;
}

void MemoryLedger::AddLocked(core::region::ProcessSlot& slot, int device, uint64_t bytes) {
  const uint64_t held = SaturatingAdd(held_[device].load(std::memory_order_relaxed), bytes);
  held_[device].store(held, std::memory_order_relaxed);
  slot.used_bytes[device].store(held, std::memory_order_relaxed);
  std::atomic<uint64_t>& used = region_->devices[device].used_bytes;
  const uint64_t container_used = SaturatingAdd(used.load(std::memory_order_relaxed), bytes);
  used.store(container_used, std::memory_order_relaxed);
  // Peaks include a process's reserve of small charges, as the limit does.
  RaisePeak(region_->counters[device].peak_bytes, container_used);
  RaisePeak(CountersOf(&slot)->peak_bytes[device], held);
}

uint64_t MemoryLedger::RemoveLocked(core::region::ProcessSlot& slot, int device, uint64_t bytes) {
  const uint64_t held = held_[device].load(std::memory_order_relaxed);
  const uint64_t removed = bytes < held ? bytes : held;
  held_[device].store(held - removed, std::memory_order_relaxed);
  slot.used_bytes[device].store(held - removed, std::memory_order_relaxed);
  std::atomic<uint64_t>& used = region_->devices[device].used_bytes;
  used.store(SaturatingSub(used.load(std::memory_order_relaxed), removed),
             std::memory_order_relaxed);
  return removed;
}

bool MemoryLedger::ChargeLocked(int device, uint64_t bytes, bool refill) {
  ProcessSlot* slot = Slot();
  if (slot == nullptr) return false;
  const uint64_t limit = Limit(device);
  if (bytes > limit) return false;
  DeviceLock lock(*region_, device);
  if (!lock.locked()) return false;
  RepairFromHeld(*slot, device);
  DeviceState& state = region_->devices[device];
  const auto fits = [&](uint64_t more) {
    const uint64_t used = state.used_bytes.load(std::memory_order_relaxed);
    return more <= limit && used <= limit - more;
  };
  // A refill charges the next chunk with this charge, for the charges after it.
  const uint64_t chunk = chunk_[device];
  if (refill && fits(bytes + chunk)) {
    AddLocked(*slot, device, bytes + chunk);
    reserve_[device].bytes.fetch_add(chunk, std::memory_order_acq_rel);
    return true;
  }
  if (fits(bytes)) {
    AddLocked(*slot, device, bytes);
    return true;
  }
  // Near the limit, the reserve goes first: it is part of what this process is charged.
  const uint64_t spare = reserve_[device].bytes.exchange(0, std::memory_order_acq_rel);
  if (spare >= bytes) {
    reserve_[device].bytes.fetch_add(spare - bytes, std::memory_order_acq_rel);
    return true;
  }
  RemoveLocked(*slot, device, spare);
  if (fits(bytes)) {
    AddLocked(*slot, device, bytes);
    return true;
  }
  return false;
}

void MemoryLedger::ChargeHeld(int device, uint64_t bytes) {
  if (bytes == 0) return;
  ProcessSlot* slot = Slot();
  if (slot == nullptr) return;
  DeviceLock lock(*region_, device);
  if (!lock.locked()) return;
  RepairFromHeld(*slot, device);
  AddLocked(*slot, device, bytes);
}

void MemoryLedger::Refund(int device, uint64_t bytes) {
  if (bytes == 0) return;
  if (bytes <= chunk_[device]) {
    const uint64_t held =
        reserve_[device].bytes.fetch_add(bytes, std::memory_order_acq_rel) + bytes;
    if (held > 2 * chunk_[device]) TrimReserve(device, chunk_[device]);
    return;
  }
  RefundLocked(device, bytes);
}

void MemoryLedger::RefundLocked(int device, uint64_t bytes) {
  ProcessSlot* slot = slot_.load(std::memory_order_acquire);
  if (slot == nullptr) return;
  DeviceLock lock(*region_, device);
  if (!lock.locked()) return;
  RepairFromHeld(*slot, device);
  RemoveLocked(*slot, device, bytes);
}

uint64_t MemoryLedger::TrimReserve(int device, uint64_t keep) {
  ProcessSlot* slot = slot_.load(std::memory_order_acquire);
  if (slot == nullptr) return 0;
  // Under the lock, so that Held never sees the reserve smaller and held_ not yet.
  DeviceLock lock(*region_, device);
  if (!lock.locked()) return 0;
  std::atomic<uint64_t>& reserve = reserve_[device].bytes;
  uint64_t spare = reserve.load(std::memory_order_relaxed);
  while (spare > keep && !reserve.compare_exchange_weak(spare, keep, std::memory_order_acq_rel)) {
  }
  if (spare <= keep) return 0;
  RepairFromHeld(*slot, device);
  return RemoveLocked(*slot, device, spare - keep);
}

void MemoryLedger::ReturnIdleReserve(int device) {
  Reserve& reserve = reserve_[device];
  const uint64_t now = reserve.bytes.load(std::memory_order_relaxed);
  if (now != 0 && now == reserve.seen_idle) {
    TrimReserve(device, 0);
    reserve.seen_idle = 0;
    return;
  }
  reserve.seen_idle = now;
}

uint64_t MemoryLedger::Used(int device) const {
  const uint64_t used = region_->devices[device].used_bytes.load(std::memory_order_relaxed);
  const uint64_t held = held_[device].load(std::memory_order_relaxed);
  const uint64_t spare = reserve_[device].bytes.load(std::memory_order_relaxed);
  return SaturatingSub(used > held ? used : held, spare);
}

uint64_t MemoryLedger::Held(int device) const {
  // held_ and the reserve change together only under the lock (refills, trims); without it a
  // look between the two would take a refill for memory given back.
  DeviceLock lock(*region_, device);
  const uint64_t held = held_[device].load(std::memory_order_relaxed);
  const uint64_t spare = reserve_[device].bytes.load(std::memory_order_relaxed);
  return SaturatingSub(held, spare);
}

void MemoryLedger::AddBusy(int device, uint64_t nanos) {
  if (nanos == 0) return;
  if (ProcessSlot* slot = Slot()) slot->busy_ns[device].fetch_add(nanos, std::memory_order_relaxed);
}

void MemoryLedger::PublishNvmlPid(unsigned int nvml_pid) {
  nvml_pid_.store(nvml_pid, std::memory_order_relaxed);
  if (ProcessSlot* slot = Slot()) {
    region_->nvml_pids[slot - region_->slots].store(nvml_pid, std::memory_order_relaxed);
  }
}

void MemoryLedger::AddThrottled(int device, uint64_t nanos) {
  core::region::Counters& counters = region_->counters[device];
  counters.throttled_launches.fetch_add(1, std::memory_order_relaxed);
  SaturatingAdd(counters.throttled_ns, nanos);
  if (core::region::SlotCounters* own = CountersOf(Slot())) {
    own->throttled_launches[device].fetch_add(1, std::memory_order_relaxed);
    SaturatingAdd(own->throttled_ns[device], nanos);
  }
}

bool MemoryLedger::EmptySlot(ProcessSlot& slot) {
  core::region::SlotCounters& counters = *CountersOf(&slot);
  region_->nvml_pids[&slot - region_->slots].store(0, std::memory_order_relaxed);
  for (int device = 0; device < core::region::kMaxDevices; ++device) {
    slot.busy_ns[device].store(0, std::memory_order_relaxed);
    counters.peak_bytes[device].store(0, std::memory_order_relaxed);
    counters.refused_allocations[device].store(0, std::memory_order_relaxed);
    counters.refused_bytes[device].store(0, std::memory_order_relaxed);
    counters.throttled_launches[device].store(0, std::memory_order_relaxed);
    counters.throttled_ns[device].store(0, std::memory_order_relaxed);
    if (slot.used_bytes[device].load(std::memory_order_relaxed) == 0) continue;
    std::optional<DeviceLock> lock;
    if (device != kOwnershipDevice) {
      lock.emplace(*region_, device);
      if (!lock->locked()) return false;
    }
    const uint64_t held = slot.used_bytes[device].exchange(0, std::memory_order_relaxed);
    std::atomic<uint64_t>& used = region_->devices[device].used_bytes;
    used.store(SaturatingSub(used.load(std::memory_order_relaxed), held),
               std::memory_order_relaxed);
  }
  return true;
}

int MemoryLedger::ReclaimDead() {
  const pid_t self = getpid();
  int reclaimed = 0;
  for (ProcessSlot& slot : region_->slots) {
    const pid_t pid = slot.pid.load(std::memory_order_acquire);
    if (pid == 0 || pid == self) continue;
    const uint64_t start_time = slot.start_time.load(std::memory_order_acquire);
    const internal::ProcessProbe owner = internal::ProbeProcess(pid);
    // A zero start time with a running owner is a claim in progress; with no such process it
    // is a claim or a reclaim whose process died half-way. An owner /proc cannot tell about
    // (out of descriptors, say) may well run: its memory is never given away on a guess.
    const bool dead = owner.state == internal::ProcessProbe::State::kGone ||
                      (owner.state == internal::ProcessProbe::State::kRunning && start_time != 0 &&
                       owner.start_time != start_time);
    if (dead && FreeIfStillHeld(slot, pid, start_time)) ++reclaimed;
  }
  return reclaimed;
}

bool MemoryLedger::FreeIfStillHeld(ProcessSlot& slot, pid_t pid, uint64_t start_time) {
  DeviceLock ownership(*region_, kOwnershipDevice);
  if (!ownership.locked()) return false;
  // Since the owner was found dead, another reclaimer may have freed the slot for a new
  // owner, or a process given the same PID may have taken it over: emptying it then would
  // give a live process's memory away. Under the ownership lock the owner stays put (a claim
  // takes only a free slot), so it is checked once more here.
  if (slot.pid.load(std::memory_order_relaxed) != pid ||
      slot.start_time.load(std::memory_order_relaxed) != start_time) {
    return false;
  }
  // A zero start time names no process: one that died claiming the slot, or a process given
  // the same PID that took it over since without knowing its own start time. Only /proc, asked
  // again while no takeover can happen, tells them apart.
  if (start_time == 0 &&
      internal::ProbeProcess(pid).state != internal::ProcessProbe::State::kGone) {
    return false;
  }
  if (!EmptySlot(slot)) return false;
  // Zeroed before the slot is free, so its next owner's claim is never taken for a stale one.
  slot.start_time.store(0, std::memory_order_relaxed);
  slot.pid.store(0, std::memory_order_release);
  return true;
}

void MemoryLedger::ForgetSlotAfterFork() {
  for (std::atomic<uint64_t>& held : held_) held.store(0, std::memory_order_relaxed);
  for (Reserve& reserve : reserve_) {
    reserve.bytes.store(0, std::memory_order_relaxed);
    reserve.seen_idle = 0;
  }
  slot_.store(nullptr, std::memory_order_release);
}

}  // namespace gpuslice::preload
