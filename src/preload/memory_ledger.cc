#include "preload/memory_ledger.h"

#include <pthread.h>
#include <unistd.h>

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

}  // namespace

MemoryLedger::MemoryLedger(Region* region, const Options& options)
    : region_(region), options_(options) {}

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

bool MemoryLedger::Charge(int device, uint64_t bytes) {
  ProcessSlot* slot = Slot();
  if (slot == nullptr) return false;
  const uint64_t limit = Limit(device);
  if (bytes > limit) return false;
  for (int attempt = 0; attempt < 2; ++attempt) {
    {
      DeviceLock lock(*region_, device);
      if (!lock.locked()) return false;
      RepairFromHeld(*slot, device);
      DeviceState& state = region_->devices[device];
      const uint64_t used = state.used_bytes.load(std::memory_order_relaxed);
      if (used <= limit - bytes) {
        const uint64_t held = held_[device].load(std::memory_order_relaxed) + bytes;
        held_[device].store(held, std::memory_order_relaxed);
        slot->used_bytes[device].store(held, std::memory_order_relaxed);
        state.used_bytes.store(used + bytes, std::memory_order_relaxed);
        return true;
      }
    }
    if (ReclaimDead() == 0) break;
  }
  return false;
}

void MemoryLedger::Refund(int device, uint64_t bytes) {
  ProcessSlot* slot = slot_.load(std::memory_order_acquire);
  if (slot == nullptr) return;
  DeviceLock lock(*region_, device);
  if (!lock.locked()) return;
  RepairFromHeld(*slot, device);
  const uint64_t held = held_[device].load(std::memory_order_relaxed);
  const uint64_t refund = bytes < held ? bytes : held;
  held_[device].store(held - refund, std::memory_order_relaxed);
  slot->used_bytes[device].store(held - refund, std::memory_order_relaxed);
  std::atomic<uint64_t>& used = region_->devices[device].used_bytes;
  used.store(SaturatingSub(used.load(std::memory_order_relaxed), refund),
             std::memory_order_relaxed);
}

uint64_t MemoryLedger::Used(int device) const {
  const uint64_t used = region_->devices[device].used_bytes.load(std::memory_order_relaxed);
  const uint64_t held = held_[device].load(std::memory_order_relaxed);
  return used > held ? used : held;
}

void MemoryLedger::AddBusy(int device, uint64_t nanos) {
  if (nanos == 0) return;
  if (ProcessSlot* slot = Slot()) slot->busy_ns[device].fetch_add(nanos, std::memory_order_relaxed);
}

bool MemoryLedger::EmptySlot(ProcessSlot& slot) {
  for (int device = 0; device < core::region::kMaxDevices; ++device) {
    slot.busy_ns[device].store(0, std::memory_order_relaxed);
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
  slot_.store(nullptr, std::memory_order_release);
}

}  // namespace gpuslice::preload
