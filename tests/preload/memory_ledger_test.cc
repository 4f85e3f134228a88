#include "preload/memory_ledger.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "preload/internal/process.h"
#include "preload/internal/region_file.h"

namespace gpuslice::preload {
namespace {

constexpr uint64_t kLimit = 1000;

Options TwoSlices() {
  Options options;
  options.enforce = true;
  options.device_count = 2;
  options.devices[0].memory_bytes = kLimit;
  options.devices[1].memory_bytes = 10 * kLimit;
  return options;
}

// A region file in a fresh temporary directory, as the device plugin creates it: empty.
class RegionFile {
 public:
  RegionFile() {
    char pattern[] = "/tmp/gpuslice-ledger-XXXXXX";
    directory_ = mkdtemp(pattern);
    path_ = directory_ + "/region";
    close(open(path_.c_str(), O_CREAT | O_WRONLY, 0666));
  }
  ~RegionFile() { std::filesystem::remove_all(directory_); }
  const std::string& path() const { return path_; }

 private:
  std::string directory_;
  std::string path_;
};

// Runs `body` in a child process and returns its exit status; the child never returns.
template <typename Body>
pid_t Spawn(Body body) {
  const pid_t pid = fork();
  if (pid == 0) _exit(body());
  return pid;
}

uint64_t StartTime(pid_t pid) { return internal::ProbeProcess(pid).start_time; }

int ExitCode(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(MemoryLedger, HoldsTheLimitExactlyAtTheBoundary) {
  Options options = TwoSlices();
  auto mapping = internal::RegionMapping::MapPrivate();
  ASSERT_TRUE(mapping.ok());
  MemoryLedger ledger(mapping->region(), options);
  EXPECT_TRUE(ledger.Charge(0, kLimit - 1));
  EXPECT_FALSE(ledger.Charge(0, 2));
  EXPECT_TRUE(ledger.Charge(0, 1));
  EXPECT_FALSE(ledger.Charge(0, 1));
  EXPECT_EQ(ledger.Used(0), kLimit);
  EXPECT_EQ(ledger.Used(1), 0u);  // slices are apart
  ledger.Refund(0, kLimit);
  EXPECT_EQ(ledger.Used(0), 0u);
}

TEST(MemoryLedger, NeverOverflowsOrRefundsMoreThanHeld) {
  Options options = TwoSlices();
  auto mapping = internal::RegionMapping::MapPrivate();
  ASSERT_TRUE(mapping.ok());
  MemoryLedger ledger(mapping->region(), options);
  ASSERT_TRUE(ledger.Charge(0, 10));
  EXPECT_FALSE(ledger.Charge(0, UINT64_MAX));
  EXPECT_FALSE(ledger.Charge(0, UINT64_MAX - 5));
  ledger.Refund(0, 500);
  EXPECT_EQ(ledger.Used(0), 0u);
  ledger.Refund(0, 1);
  EXPECT_EQ(ledger.Used(0), 0u);
}

TEST(MemoryLedger, CountsPeaksAndRefusalsPerContainerAndProcess) {
  Options options = TwoSlices();
  auto mapping = internal::RegionMapping::MapPrivate();
  ASSERT_TRUE(mapping.ok());
  core::region::Region& region = *mapping->region();
  MemoryLedger ledger(&region, options);
  ASSERT_TRUE(ledger.Charge(0, 600));
  ledger.Refund(0, 500);
  ASSERT_TRUE(ledger.Charge(0, 300));
  EXPECT_FALSE(ledger.Charge(0, 700));
  EXPECT_FALSE(ledger.Charge(0, UINT64_MAX));
  EXPECT_EQ(region.counters[0].peak_bytes.load(), 600u);
  EXPECT_EQ(region.counters[0].refused_allocations.load(), 2u);
  EXPECT_EQ(region.counters[0].refused_bytes.load(), UINT64_MAX);  // saturates, never wraps
  EXPECT_EQ(region.counters[1].refused_allocations.load(), 0u);

  const int index = [&] {
    for (int i = 0; i < core::region::kMaxProcesses; ++i) {
      if (region.slots[i].pid.load() == getpid()) return i;
    }
    return -1;
  }();
  ASSERT_GE(index, 0);
  const core::region::SlotCounters& own = region.slot_counters[index];
  EXPECT_EQ(own.peak_bytes[0].load(), 600u);
  EXPECT_EQ(own.refused_allocations[0].load(), 2u);

  ledger.AddThrottled(1, 250);
  ledger.AddThrottled(1, 50);
  EXPECT_EQ(region.counters[1].throttled_launches.load(), 2u);
  EXPECT_EQ(region.counters[1].throttled_ns.load(), 300u);
  EXPECT_EQ(own.throttled_ns[1].load(), 300u);
}

TEST(MemoryLedger, ADeadProcessLeavesTheContainerCountersButNotItsSlot) {
  Options options = TwoSlices();
  RegionFile file;
  const pid_t child = Spawn([&] {
    auto mapping = internal::RegionMapping::MapShared(file.path());
    if (!mapping.ok()) return 10;
    MemoryLedger ledger(mapping->region(), options);
    if (!ledger.Charge(0, 800) || ledger.Charge(0, 800)) return 11;
    return 0;
  });
  ASSERT_EQ(ExitCode(child), 0);
  auto mapping = internal::RegionMapping::MapShared(file.path());
  ASSERT_TRUE(mapping.ok());
  core::region::Region& region = *mapping->region();
  MemoryLedger ledger(&region, options);
  EXPECT_EQ(ledger.ReclaimDead(), 1);
  EXPECT_EQ(ledger.Used(0), 0u);
  EXPECT_EQ(region.counters[0].peak_bytes.load(), 800u);
  EXPECT_EQ(region.counters[0].refused_allocations.load(), 1u);
  EXPECT_EQ(region.counters[0].refused_bytes.load(), 800u);
  for (const core::region::SlotCounters& slot : region.slot_counters) {
    EXPECT_EQ(slot.peak_bytes[0].load(), 0u);
    EXPECT_EQ(slot.refused_allocations[0].load(), 0u);
  }
}

TEST(MemoryLedger, ProcessesOfAContainerShareTheLimit) {
  RegionFile file;
  Options options = TwoSlices();
  constexpr int kChildren = 8;
  pid_t children[kChildren];
  int pipes[2];
  ASSERT_EQ(pipe(pipes), 0);
  for (pid_t& child : children) {
    child = Spawn([&] {
      auto mapping = internal::RegionMapping::MapShared(file.path());
      if (!mapping.ok()) return 3;
      MemoryLedger ledger(mapping->region(), options);
      int granted = 0;
      for (int i = 0; i < 50; ++i) granted += ledger.Charge(0, 7) ? 1 : 0;
      char byte = static_cast<char>(granted);
      if (write(pipes[1], &byte, 1) != 1) return 4;
      pause();  // holds its memory until killed
      return 0;
    });
  }
  int granted = 0;
  for (int i = 0; i < kChildren; ++i) {
    char byte = 0;
    ASSERT_EQ(read(pipes[0], &byte, 1), 1);
    granted += byte;
  }
  EXPECT_EQ(granted, static_cast<int>(kLimit / 7));  // every byte that fits, not one more

  auto mapping = internal::RegionMapping::MapShared(file.path());
  ASSERT_TRUE(mapping.ok()) << mapping.status().ToString();
  MemoryLedger ledger(mapping->region(), options);
  EXPECT_EQ(ledger.Used(0), granted * 7u);
  EXPECT_FALSE(ledger.Charge(0, 7));
  for (pid_t child : children) kill(child, SIGKILL);
  for (pid_t child : children) ExitCode(child);
  // Dead processes' memory comes back on the next charge that would not fit otherwise.
  EXPECT_TRUE(ledger.Charge(0, kLimit));
  EXPECT_EQ(ledger.Used(0), kLimit);
  close(pipes[0]);
  close(pipes[1]);
}

TEST(MemoryLedger, KilledWhileHoldingTheMutexNeitherDeadlocksNorLeaks) {
  RegionFile file;
  Options options = TwoSlices();
  const pid_t child = Spawn([&] {
    auto mapping = internal::RegionMapping::MapShared(file.path());
    if (!mapping.ok()) return 3;
    MemoryLedger ledger(mapping->region(), options);
    if (!ledger.Charge(0, 300)) return 4;
    // Dies half-way through a charge: mutex held, its slot updated, the total not.
    core::region::Region* region = mapping->region();
    pthread_mutex_lock(&region->devices[0].memory_mutex);
    for (core::region::ProcessSlot& slot : region->slots) {
      if (slot.pid == getpid()) slot.used_bytes[0] += 200;
    }
    kill(getpid(), SIGKILL);
    return 0;
  });
  EXPECT_EQ(ExitCode(child), 128 + SIGKILL);

  auto mapping = internal::RegionMapping::MapShared(file.path());
  ASSERT_TRUE(mapping.ok());
  MemoryLedger ledger(mapping->region(), options);
  // The next holder repairs the total from the slots, then reclaims the dead process.
  EXPECT_TRUE(ledger.Charge(0, kLimit));
  EXPECT_EQ(ledger.Used(0), kLimit);
}

TEST(MemoryLedger, AttachTakesOverTheSlotOfTheImageExecReplaced) {
  Options options = TwoSlices();
  auto mapping = internal::RegionMapping::MapPrivate();
  ASSERT_TRUE(mapping.ok());
  core::region::Region* region = mapping->region();
  // What an earlier image of this process left before exec.
  region->slots[5].pid = getpid();
  region->slots[5].start_time = StartTime(getpid());
  region->slots[5].used_bytes[0] = 400;
  region->devices[0].used_bytes = 400;
  MemoryLedger ledger(region, options);
  ASSERT_TRUE(ledger.Attach().ok());
  EXPECT_EQ(ledger.Used(0), 0u);
  EXPECT_TRUE(ledger.Charge(0, kLimit));
  EXPECT_EQ(region->slots[5].used_bytes[0], kLimit);
}

TEST(MemoryLedger, ReclaimsAReusedPidButNotALiveProcess) {
  Options options = TwoSlices();
  auto mapping = internal::RegionMapping::MapPrivate();
  ASSERT_TRUE(mapping.ok());
  core::region::Region* region = mapping->region();
  const pid_t parent = getppid();
  region->slots[1].pid = parent;  // the same PID, started at another time: a new process
  region->slots[1].start_time = StartTime(parent) + 1;
  region->slots[1].used_bytes[0] = 100;
  region->slots[2].pid = parent;  // really the parent: alive
  region->slots[2].start_time = StartTime(parent);
  region->slots[2].used_bytes[0] = 50;
  region->devices[0].used_bytes = 150;
  MemoryLedger ledger(region, options);
  EXPECT_EQ(ledger.ReclaimDead(), 1);
  EXPECT_EQ(region->slots[1].pid, 0);
  EXPECT_EQ(region->slots[2].pid, parent);
  EXPECT_EQ(ledger.Used(0), 50u);
}

// Lowers this process's descriptor limit to `limit` until destroyed.
class DescriptorLimit {
 public:
  explicit DescriptorLimit(rlim_t limit) {
    getrlimit(RLIMIT_NOFILE, &saved_);
    rlimit lowered = saved_;
    lowered.rlim_cur = limit;
    set_ = setrlimit(RLIMIT_NOFILE, &lowered) == 0;
  }
  ~DescriptorLimit() { setrlimit(RLIMIT_NOFILE, &saved_); }
  DescriptorLimit(const DescriptorLimit&) = delete;
  DescriptorLimit& operator=(const DescriptorLimit&) = delete;
  bool set() const { return set_; }

 private:
  rlimit saved_{};
  bool set_ = false;
};

TEST(MemoryLedger, NeverReclaimsALiveProcessWhenProcCannotBeRead) {
  Options options = TwoSlices();
  auto mapping = internal::RegionMapping::MapPrivate();
  ASSERT_TRUE(mapping.ok());
  core::region::Region* region = mapping->region();
  const pid_t neighbour = Spawn([] {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    pause();
    return 0;
  });
  ASSERT_GT(neighbour, 0);
  region->slots[1].pid = neighbour;
  region->slots[1].start_time = StartTime(neighbour);
  region->slots[1].used_bytes[0] = kLimit;
  region->devices[0].used_bytes = kLimit;
  MemoryLedger ledger(region, options);
  bool limited = false;
  int reclaimed = -1;
  bool charged = true;
  {
    // Out of descriptors, /proc cannot be opened: whether the neighbour runs is not known.
    // (gtest itself cannot report a failure without descriptors: checked after.)
    DescriptorLimit no_descriptors(0);
    limited = no_descriptors.set();
    if (limited) {
      reclaimed = ledger.ReclaimDead();
      charged = ledger.Charge(0, 1);  // the reclaim a refusal tries must free nothing either
    }
  }
  ASSERT_TRUE(limited);
  EXPECT_EQ(reclaimed, 0);
  EXPECT_FALSE(charged);
  EXPECT_EQ(region->slots[1].pid, neighbour);
  EXPECT_EQ(region->slots[1].used_bytes[0], kLimit);
  EXPECT_EQ(ledger.Used(0), kLimit);

  // Once /proc answers again, the neighbour's death is certain and its memory comes back.
  kill(neighbour, SIGKILL);
  ExitCode(neighbour);
  EXPECT_EQ(ledger.ReclaimDead(), 1);
  EXPECT_TRUE(ledger.Charge(0, kLimit));
}

// A process given the PID of a dead one takes over the dead one's slot, still named by that
// PID, while other processes reclaim the slot for dead (its start time is not the new
// process's). Whoever wins, the dead process's memory comes back once and the new owner keeps
// its slot and its own charge.
TEST(MemoryLedger, ReclaimRacingATakeoverNeverRefundsTheNewOwner) {
  RegionFile file;
  Options options = TwoSlices();
  constexpr int kReclaimers = 2;
  pid_t reclaimers[kReclaimers];
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  for (pid_t& reclaimer : reclaimers) {
    reclaimer = Spawn([&] {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      auto mapping = internal::RegionMapping::MapShared(file.path());
      if (!mapping.ok()) return 3;
      MemoryLedger ledger(mapping->region(), options);
      if (write(ready[1], "r", 1) != 1) return 4;
      for (;;) ledger.ReclaimDead();
    });
    ASSERT_GT(reclaimer, 0);
  }
  for (int i = 0; i < kReclaimers; ++i) {
    char byte = 0;
    ASSERT_EQ(read(ready[0], &byte, 1), 1);
  }
  close(ready[0]);
  close(ready[1]);
  auto mapping = internal::RegionMapping::MapShared(file.path());
  ASSERT_TRUE(mapping.ok());
  core::region::Region* region = mapping->region();
  core::region::ProcessSlot& left = region->slots[0];
  const pid_t self = getpid();
  const uint64_t started = StartTime(self);
  constexpr uint64_t kDeadHeld = 300;
  constexpr uint64_t kOwnHeld = 200;
  constexpr int kRounds = 2000;
  int broken = 0;
  std::string first_broken;
  for (int round = 0; round < kRounds; ++round) {
    // What a dead process that had this PID left: its slot, holding memory. The memory goes in
    // before the slot names its owner, so no reclaimer can free the slot half-planted.
    pthread_mutex_lock(&region->devices[0].memory_mutex);
    left.used_bytes[0] = kDeadHeld;
    region->devices[0].used_bytes += kDeadHeld;
    pthread_mutex_unlock(&region->devices[0].memory_mutex);
    left.pid = self;
    left.start_time = started + 1;

    MemoryLedger ledger(region, options);
    const bool charged = ledger.Charge(0, kOwnHeld);
    int owned = 0;
    uint64_t owned_bytes = 0;
    for (core::region::ProcessSlot& slot : region->slots) {
      if (slot.pid != self) continue;
      ++owned;
      owned_bytes = slot.used_bytes[0];
      if (slot.start_time != started) owned = -1;
    }
    const uint64_t used = ledger.Used(0);
    if (!charged || owned != 1 || owned_bytes != kOwnHeld || used != kOwnHeld) {
      if (broken++ == 0) {
        first_broken = "round " + std::to_string(round) + ": charged " + std::to_string(charged) +
                       ", slots owned " + std::to_string(owned) + ", holding " +
                       std::to_string(owned_bytes) + ", container uses " + std::to_string(used);
      }
    }
    // Leaves the region empty for the next round, as this process's exit and a reclaim would.
    ledger.Refund(0, kOwnHeld);
    for (core::region::ProcessSlot& slot : region->slots) {
      if (slot.pid != self) continue;
      slot.start_time = 0;
      slot.pid = 0;
    }
    pthread_mutex_lock(&region->devices[0].memory_mutex);
    region->devices[0].used_bytes = core::region::SumSlotUsage(*region, 0);
    pthread_mutex_unlock(&region->devices[0].memory_mutex);
  }
  for (pid_t reclaimer : reclaimers) kill(reclaimer, SIGKILL);
  for (pid_t reclaimer : reclaimers) ExitCode(reclaimer);
  EXPECT_EQ(broken, 0) << first_broken;
}

// Processes join, charge both slices, reclaim each other and die by SIGKILL at any point,
// several at once. Every byte is given back exactly once: none twice, none of a live process.
TEST(MemoryLedger, ProcessesDyingWhileOthersReclaimThemKeepTheBooks) {
  RegionFile file;
  Options options = TwoSlices();
  constexpr int kGenerations = 40;
  constexpr int kAtOnce = 6;
  std::mt19937 random(20261124);
  for (int generation = 0; generation < kGenerations; ++generation) {
    pid_t children[kAtOnce];
    for (pid_t& child : children) {
      const unsigned seed = static_cast<unsigned>(random());
      child = Spawn([&file, &options, seed] {
        auto mapping = internal::RegionMapping::MapShared(file.path());
        if (!mapping.ok()) return 3;
        MemoryLedger ledger(mapping->region(), options);
        std::mt19937 own(seed);
        for (int i = 0; i < 20; ++i) {
          ledger.Charge(0, 1 + own() % 60);
          ledger.Charge(1, 1 + own() % 600);
          if (own() % 4 == 0) ledger.ReclaimDead();
        }
        kill(getpid(), SIGKILL);  // dies holding its memory
        return 0;
      });
      ASSERT_GT(child, 0);
    }
    // Some die before they are done, wherever they are.
    kill(children[random() % kAtOnce], SIGKILL);
    for (pid_t child : children) EXPECT_EQ(ExitCode(child), 128 + SIGKILL);
  }
  auto mapping = internal::RegionMapping::MapShared(file.path());
  ASSERT_TRUE(mapping.ok());
  core::region::Region* region = mapping->region();
  MemoryLedger ledger(region, options);
  ledger.ReclaimDead();
  for (int device = 0; device < 2; ++device) {
    // A byte given back twice would have wrapped the total past the limit.
    EXPECT_EQ(core::region::SumSlotUsage(*region, device), 0u) << "slice " << device;
    EXPECT_EQ(ledger.Used(device), 0u) << "slice " << device;
  }
  for (const core::region::ProcessSlot& slot : region->slots) EXPECT_EQ(slot.pid, 0);
  EXPECT_TRUE(ledger.Charge(0, kLimit));
}

TEST(MemoryLedger, AttachFailsWhenEverySlotHoldsALiveProcess) {
  Options options = TwoSlices();
  auto mapping = internal::RegionMapping::MapPrivate();
  ASSERT_TRUE(mapping.ok());
  core::region::Region* region = mapping->region();
  for (core::region::ProcessSlot& slot : region->slots) {
    slot.pid = getppid();
    slot.start_time = StartTime(getppid());
  }
  MemoryLedger ledger(region, options);
  EXPECT_EQ(ledger.Attach().code(), StatusCode::kResourceExhausted);
  EXPECT_FALSE(ledger.Charge(0, 1));
}

// Slices from 4 MiB up charge small amounts from a reserve: 1 GiB has chunks of 16 MiB.
constexpr uint64_t kMiB = 1ULL << 20;
constexpr uint64_t kBigLimit = 1ULL << 30;

Options OneBigSlice() {
  Options options;
  options.enforce = true;
  options.device_count = 1;
  options.devices[0].memory_bytes = kBigLimit;
  return options;
}

uint64_t RegionUsed(const core::region::Region* region) {
  return region->devices[0].used_bytes.load();
}

TEST(MemoryLedger, SmallChargesComeFromAReserveOfAtMostTwoChunks) {
  Options options = OneBigSlice();
  auto mapping = internal::RegionMapping::MapPrivate();
  ASSERT_TRUE(mapping.ok());
  MemoryLedger ledger(mapping->region(), options);
  ASSERT_TRUE(ledger.Charge(0, kMiB));
  EXPECT_EQ(ledger.Used(0), kMiB);
  EXPECT_EQ(ledger.Held(0), kMiB);
  EXPECT_EQ(RegionUsed(mapping->region()), 17 * kMiB);  // a chunk more, for what follows
  for (int i = 0; i < 16; ++i) ASSERT_TRUE(ledger.Charge(0, kMiB));
  EXPECT_EQ(RegionUsed(mapping->region()), 17 * kMiB);
  EXPECT_EQ(ledger.Used(0), 17 * kMiB);
  for (int i = 0; i < 17; ++i) ledger.Refund(0, kMiB);
  EXPECT_EQ(ledger.Used(0), 0u);
  EXPECT_LE(RegionUsed(mapping->region()), 32 * kMiB);
  // Idle since the last look: the reserve goes back.
  ledger.ReturnIdleReserve(0);
  EXPECT_GT(RegionUsed(mapping->region()), 0u);
  ledger.ReturnIdleReserve(0);
  EXPECT_EQ(RegionUsed(mapping->region()), 0u);
}

TEST(MemoryLedger, AProcessGetsEveryByteOfTheLimitInSmallCharges) {
  Options options = OneBigSlice();
  auto mapping = internal::RegionMapping::MapPrivate();
  ASSERT_TRUE(mapping.ok());
  MemoryLedger ledger(mapping->region(), options);
  ASSERT_TRUE(ledger.Charge(0, 3));  // so that the whole MiBs do not end at the limit
  uint64_t granted = 0;
  while (ledger.Charge(0, kMiB)) ++granted;
  EXPECT_EQ(granted, kBigLimit / kMiB - 1);
  EXPECT_TRUE(ledger.Charge(0, kMiB - 3));
  EXPECT_FALSE(ledger.Charge(0, 1));
  EXPECT_EQ(ledger.Used(0), kBigLimit);
  EXPECT_EQ(RegionUsed(mapping->region()), kBigLimit);
}

TEST(MemoryLedger, ChargesOfWhatTheDriverHoldsPassTheLimit) {
  Options options = OneBigSlice();
  auto mapping = internal::RegionMapping::MapPrivate();
  ASSERT_TRUE(mapping.ok());
  MemoryLedger ledger(mapping->region(), options);
  ASSERT_TRUE(ledger.Charge(0, kBigLimit - kMiB));
  ledger.ChargeHeld(0, 2 * kMiB);
  EXPECT_EQ(ledger.Used(0), kBigLimit + kMiB);
  EXPECT_FALSE(ledger.Charge(0, 1));
  ledger.Refund(0, 2 * kMiB);
  EXPECT_TRUE(ledger.Charge(0, kMiB));
}

TEST(MemoryLedger, ThreadsChargingSmallAmountsNeverPassTheLimitNorLoseAByte) {
  Options options = OneBigSlice();
  auto mapping = internal::RegionMapping::MapPrivate();
  ASSERT_TRUE(mapping.ok());
  MemoryLedger ledger(mapping->region(), options);
  std::atomic<uint64_t> held{0};
  std::atomic<uint64_t> most{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 random(41 + t);
      std::vector<uint64_t> mine;
      for (int i = 0; i < 4000; ++i) {
        if (!mine.empty() && random() % 3 == 0) {
          held -= mine.back();
          ledger.Refund(0, mine.back());
          mine.pop_back();
          continue;
        }
        const uint64_t bytes = 1 + random() % (20 * kMiB);
        if (!ledger.Charge(0, bytes)) {
          ++refused;
          continue;
        }
        mine.push_back(bytes);
        const uint64_t now = held += bytes;
        uint64_t previous = most.load();
        while (now > previous && !most.compare_exchange_weak(previous, now)) {
        }
      }
      for (uint64_t bytes : mine) {
        held -= bytes;
        ledger.Refund(0, bytes);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_GT(refused.load(), 0);  // they did press against the limit
  EXPECT_LE(most.load(), kBigLimit);
  EXPECT_EQ(ledger.Used(0), 0u);
  ledger.ReturnIdleReserve(0);
  ledger.ReturnIdleReserve(0);
  EXPECT_EQ(RegionUsed(mapping->region()), 0u);
}

TEST(MemoryLedger, AnotherProcessIsChargedOnASlotOfItsOwnAllOrNothing) {
  Options options = TwoSlices();
  auto mapping = internal::RegionMapping::MapPrivate();
  ASSERT_TRUE(mapping.ok());
  core::region::Region& region = *mapping->region();
  MemoryLedger ledger(&region, options);
  const pid_t restored = Spawn([] {
    pause();
    return 0;
  });
  const pid_t other = Spawn([] {
    pause();
    return 0;
  });
  const uint64_t started = StartTime(restored);
  ASSERT_NE(started, 0u);
  EXPECT_FALSE(ledger.HoldsSlot(restored, started));

  uint64_t bytes[core::region::kMaxDevices] = {600, 5000};
  EXPECT_TRUE(ledger.ChargeForProcess(restored, started, bytes));
  EXPECT_TRUE(ledger.HoldsSlot(restored, started));
  EXPECT_FALSE(ledger.HoldsSlot(restored, started + 1));  // a later process of the same PID
  EXPECT_EQ(ledger.Used(0), 600u);
  EXPECT_EQ(ledger.Used(1), 5000u);
  EXPECT_EQ(ledger.Held(0), 0u);  // not this process's

  // Slice 1 has room, slice 0 not: nothing is charged, and the refusal is counted once.
  uint64_t more[core::region::kMaxDevices] = {500, 100};
  EXPECT_FALSE(ledger.ChargeForProcess(other, StartTime(other), more));
  EXPECT_FALSE(ledger.HoldsSlot(other, StartTime(other)));
  EXPECT_EQ(ledger.Used(0), 600u);
  EXPECT_EQ(ledger.Used(1), 5000u);
  EXPECT_EQ(region.counters[0].refused_allocations.load(), 1u);
  EXPECT_EQ(region.counters[0].refused_bytes.load(), 500u);
  EXPECT_EQ(region.counters[1].refused_allocations.load(), 0u);

  // Its charge goes when it ends.
  kill(restored, SIGKILL);
  ExitCode(restored);
  EXPECT_EQ(ledger.ReclaimDead(), 1);
  EXPECT_EQ(ledger.Used(0), 0u);
  EXPECT_EQ(ledger.Used(1), 0u);
  kill(other, SIGKILL);
  ExitCode(other);
}

}  // namespace
}  // namespace gpuslice::preload
