// A container's region is written by every process of the container, so the library treats it
// as untrusted input: whatever another process writes there, this process never passes its own
// limit, never crashes and never waits forever on a value it could not have made itself.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "preload/compute_throttle.h"
#include "preload/internal/process.h"
#include "preload/internal/region_file.h"
#include "preload/memory_ledger.h"

namespace gpuslice::preload {
namespace {

using core::region::Region;

constexpr uint64_t kLimit = 1000;

Options OneSlice(int compute_percent = 100) {
  Options options;
  options.enforce = true;
  options.device_count = 1;
  options.devices[0].memory_bytes = kLimit;
  options.devices[0].compute_percent = compute_percent;
  return options;
}

class RegionTamperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto mapping = internal::RegionMapping::MapPrivate();
    ASSERT_TRUE(mapping.ok());
    mapping_ = std::make_unique<internal::RegionMapping>(std::move(*mapping));
  }
  Region& region() { return *mapping_->region(); }
  // The slot this process took (the ledger attached before this is called).
  core::region::ProcessSlot& OwnSlot() {
    for (core::region::ProcessSlot& slot : region().slots) {
      if (slot.pid.load() == getpid()) return slot;
    }
    ADD_FAILURE() << "no slot holds this process";
    return region().slots[0];
  }

  std::unique_ptr<internal::RegionMapping> mapping_;
};

TEST_F(RegionTamperTest, AZeroedTotalDoesNotLetAProcessPassItsLimit) {
  Options options = OneSlice();
  MemoryLedger ledger(&region(), options);
  ASSERT_TRUE(ledger.Charge(0, kLimit));
  region().devices[0].used_bytes.store(0);  // another process hides the container's use
  EXPECT_FALSE(ledger.Charge(0, 1));
  EXPECT_EQ(region().devices[0].used_bytes.load(), kLimit);  // recounted from the slots
  EXPECT_EQ(ledger.Used(0), kLimit);
}

TEST_F(RegionTamperTest, AProcessPutsBackItsOwnSlotWhenAnotherWroteOverIt) {
  Options options = OneSlice();
  MemoryLedger ledger(&region(), options);
  ASSERT_TRUE(ledger.Charge(0, 600));
  core::region::ProcessSlot& slot = OwnSlot();
  slot.used_bytes[0].store(0);
  region().devices[0].used_bytes.store(0);
  EXPECT_FALSE(ledger.Charge(0, 500));
  EXPECT_EQ(slot.used_bytes[0].load(), 600u);
  // A slot handed to another PID is taken back, with what this process holds.
  slot.pid.store(getppid());
  slot.used_bytes[0].store(0);
  EXPECT_TRUE(ledger.Charge(0, 400));
  EXPECT_EQ(slot.pid.load(), getpid());
  EXPECT_EQ(slot.used_bytes[0].load(), kLimit);
  ledger.Refund(0, kLimit);
  EXPECT_EQ(ledger.Used(0), 0u);
}

TEST_F(RegionTamperTest, AbsurdSlotsOfOthersSaturateInsteadOfWrapping) {
  Options options = OneSlice();
  MemoryLedger ledger(&region(), options);
  ASSERT_TRUE(ledger.Charge(0, 10));
  // Two slots claiming the parent (alive, so never reclaimed) whose sum wraps to 5 bytes.
  const pid_t parent = getppid();
  const uint64_t started = internal::ProbeProcess(parent).start_time;
  for (int i : {900, 901}) {
    region().slots[i].pid.store(parent);
    region().slots[i].start_time.store(started);
  }
  region().slots[900].used_bytes[0].store(UINT64_MAX - 10);
  region().slots[901].used_bytes[0].store(16);
  EXPECT_EQ(core::region::SumSlotUsage(region(), 0), UINT64_MAX);
  region().devices[0].used_bytes.store(0);
  EXPECT_FALSE(ledger.Charge(0, 1));  // the container is full, as far as anyone can tell
  EXPECT_EQ(ledger.Used(0), UINT64_MAX);
  ledger.Refund(0, 10);  // never wraps either
  EXPECT_EQ(ledger.Used(0), UINT64_MAX - 10);
}

TEST_F(RegionTamperTest, AMutexWhoseTypeWasWrittenOverIsNeverLocked) {
  Options options = OneSlice();
  MemoryLedger ledger(&region(), options);
  ASSERT_TRUE(ledger.Charge(0, 10));
  // A plain mutex "held" by a thread of another process: glibc would wait on it forever, or
  // abort on the owner it finds.
  pthread_mutex_t& mutex = region().devices[0].memory_mutex;
  mutex.__data.__kind = PTHREAD_MUTEX_NORMAL;
  mutex.__data.__owner = 1;
  mutex.__data.__lock = 1;
  EXPECT_FALSE(ledger.Charge(0, 1));
  ledger.Refund(0, 10);  // refused too: the charge stays, which errs on the safe side
  EXPECT_EQ(ledger.Used(0), 10u);
}

TEST_F(RegionTamperTest, ALockWordNamingAThreadThatNeverUnlocksCostsABoundedWait) {
  Options options = OneSlice();
  MemoryLedger ledger(&region(), options);
  ASSERT_TRUE(ledger.Charge(0, 10));
  // The parent's main thread, alive for the whole test, "holds" the mutex.
  region().devices[0].memory_mutex.__data.__lock = static_cast<int>(getppid());
  EXPECT_FALSE(ledger.Charge(0, 1));
  EXPECT_EQ(ledger.Used(0), 10u);
}

TEST_F(RegionTamperTest, RefuseAllLeavesNothingButZeroByteCharges) {
  Options options = OneSlice();
  MemoryLedger ledger(&region(), options);
  ledger.RefuseAll();
  EXPECT_EQ(ledger.Limit(0), 0u);
  EXPECT_FALSE(ledger.Charge(0, 1));
  EXPECT_TRUE(ledger.Charge(0, 0));
}

// Seeded garbage over everything after the header, again and again while charging: no crash,
// and this process never holds more than its limit.
TEST_F(RegionTamperTest, RandomGarbageNeverCrashesNorLetsAProcessPassItsLimit) {
  Options options = OneSlice(30);
  MemoryLedger ledger(&region(), options);
  class StillClock final : public Clock {
   public:
    uint64_t NowNanos() override { return now_ += 1000; }
    void SleepFor(uint64_t nanos) override { now_ += nanos; }

   private:
    uint64_t now_ = 1'000'000'000;
  } clock;
  ComputeThrottle throttle(&region(), options, clock);
  std::mt19937_64 random(20261116);
  auto* bytes = reinterpret_cast<unsigned char*>(&region());
  // The mutexes' lock words are left alone (a written-over lock word costs a bounded wait,
  // tested below); their type is not.
  auto in_a_lock_word = [&](size_t at) {
    for (const core::region::DeviceState& device : region().devices) {
      const size_t start =
          static_cast<size_t>(reinterpret_cast<const unsigned char*>(&device.memory_mutex) - bytes);
      const size_t kind = static_cast<size_t>(
          reinterpret_cast<const unsigned char*>(&device.memory_mutex.__data.__kind) - bytes);
      if (at + 8 > start && at < start + sizeof(pthread_mutex_t) &&
          (at + 8 <= kind || at >= kind + 4)) {
        return true;
      }
    }
    return false;
  };
  uint64_t held = 0;
  for (int round = 0; round < 200; ++round) {
    for (int i = 0; i < 64; ++i) {
      const size_t from = sizeof(core::region::Header);
      const size_t at = from + random() % (core::region::kRegionSize - from - 8);
      if (in_a_lock_word(at)) continue;
      const uint64_t value = random();
      std::memcpy(bytes + at, &value, sizeof(value));
    }
    for (int i = 0; i < 20; ++i) {
      const uint64_t size = random() % 400;
      if (ledger.Charge(0, size)) held += size;
      if (held > 0 && random() % 3 == 0) {
        const uint64_t back = random() % (held + 1);
        ledger.Refund(0, back);
        held -= std::min(held, back);
      }
      throttle.Refill(0);
      throttle.Charge(0, random() % 5'000'000);
    }
    ASSERT_LE(held, kLimit) << "round " << round;
  }
}

TEST_F(RegionTamperTest, ThrottleStateWrittenOverIsBroughtBackInBounds) {
  Options options = OneSlice(25);
  class ManualClock final : public Clock {
   public:
    uint64_t NowNanos() override { return now_; }
    void SleepFor(uint64_t nanos) override { now_ += nanos; }
    uint64_t now_ = 5'000'000'000;
  } clock;
  ComputeThrottle throttle(&region(), options, clock);
  const int64_t cap = static_cast<int64_t>(ComputeThrottle::kBurstWindowNanos) / 4;
  core::region::DeviceState& state = region().devices[0];

  // Endless credit would leave the slice unthrottled: the next charge counts from the cap.
  state.credit_ns.store(INT64_MAX);
  throttle.Charge(0, 1000);
  EXPECT_EQ(state.credit_ns.load(), cap - 1000);
  state.credit_ns.store(INT64_MAX);
  throttle.Refill(0);
  EXPECT_LE(state.credit_ns.load(), cap);

  // A debt below the bound is the bound, and waiting for it ends.
  state.credit_ns.store(INT64_MIN);
  throttle.Charge(0, 1000);
  EXPECT_EQ(state.credit_ns.load(), -ComputeThrottle::kMaxDebtNanos);
  state.credit_ns.store(INT64_MIN);
  throttle.WaitForCredit(0);
  EXPECT_TRUE(throttle.HasCredit(0));

  // A refill mark in the future would stop every refill: it is brought back to now.
  state.refilled_until_ns.store(UINT64_MAX);
  state.credit_ns.store(-1);
  throttle.WaitForCredit(0);
  EXPECT_TRUE(throttle.HasCredit(0));
  EXPECT_LE(state.refilled_until_ns.load(), clock.now_);
}

}  // namespace
}  // namespace gpuslice::preload
