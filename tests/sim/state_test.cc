#include "sim/state.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <set>

#include "fakes/temp_dir.h"
#include "sim/child_process.h"
#include "sim/internal/clock.h"
#include "sim/process_account.h"
#include "sim/spec.h"

namespace gpuslice::sim {
namespace {

using ::gpuslice::testing::ChildProcess;
using ::testing::HasSubstr;

constexpr uint64_t kMiB = 1 << 20;

// Two small GPUs, so capacity is reached with little host memory.
SimSpec SmallSpec() {
  Result<SimSpec> spec = ParseSpecYaml(
      "version: v1\ngpus:\n  - {model: T4, count: 2, memory: 64Mi, kernelDuration: 1ms}\n", "test");
  return *spec;
}

class StateTest : public ::testing::Test {
 protected:
  std::unique_ptr<SimState> Create() {
    Result<std::unique_ptr<SimState>> state =
        SimState::Create(path_, SmallSpec(), "small", /*replace=*/false);
    EXPECT_TRUE(state.ok()) << state.status().ToString();
    return state.ok() ? std::move(*state) : nullptr;
  }

  ::gpuslice::testing::TempDir dir_;
  const std::string path_ = dir_.Sub("node.state");
};

TEST_F(StateTest, CreatedFileOpensWithTheSpecsFacts) {
  auto created = Create();
  ASSERT_NE(created, nullptr);
  Result<std::unique_ptr<SimState>> opened = SimState::Open(path_);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  const SimSpec spec = SmallSpec();
  ASSERT_EQ((*opened)->gpu_count(), 2);
  EXPECT_EQ((*opened)->spec_text(), "small");
  EXPECT_EQ((*opened)->driver_version(), spec.driver_version);
  EXPECT_EQ((*opened)->cuda_version(), spec.cuda_version);
  for (int i = 0; i < 2; ++i) {
    const GpuSpec& gpu = (*opened)->gpu(i);
    EXPECT_EQ(gpu.uuid, spec.gpus[static_cast<size_t>(i)].uuid);
    EXPECT_EQ(gpu.name, "Tesla T4");
    EXPECT_EQ(gpu.memory_bytes, 64 * kMiB);
    EXPECT_EQ(gpu.pci_bus_id, spec.gpus[static_cast<size_t>(i)].pci_bus_id);
    EXPECT_EQ(gpu.kernel_duration_ns, 1'000'000u);
  }
}

TEST_F(StateTest, OpenRefusesMissingEmptyAndForeignFiles) {
  EXPECT_EQ(SimState::Open(path_).status().code(), StatusCode::kNotFound);
  std::ofstream(path_).close();
  EXPECT_EQ(SimState::Open(path_).status().code(), StatusCode::kNotFound);
  std::ofstream(path_) << "not a state file";
  Result<std::unique_ptr<SimState>> foreign = SimState::Open(path_);
  EXPECT_EQ(foreign.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(foreign.status().message(), HasSubstr(path_));
  // Nor does OpenOrCreate overwrite what is not its own.
  EXPECT_EQ(SimState::OpenOrCreate(path_, "small", [] { return Result<SimSpec>(SmallSpec()); })
                .status()
                .code(),
            StatusCode::kFailedPrecondition);
}

TEST_F(StateTest, AFileOfAnotherLayoutIsRefusedOrReplacedFromASpec) {
  {
    std::ofstream old(path_, std::ios::binary);
    const uint32_t version = 1;
    old.write("GPUSLSIM", 8);
    old.write(reinterpret_cast<const char*>(&version), sizeof(version));
    old << std::string(4096, '\0');
  }
  Result<std::unique_ptr<SimState>> refused = SimState::Open(path_);
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  Result<std::unique_ptr<SimState>> replaced =
      SimState::OpenOrCreate(path_, "small", [] { return Result<SimSpec>(SmallSpec()); });
  ASSERT_TRUE(replaced.ok()) << replaced.status().ToString();
  EXPECT_EQ((*replaced)->gpu_count(), 2);
}

TEST_F(StateTest, CreateKeepsAnExistingFileUnlessReplacing) {
  auto first = Create();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(SimState::Create(path_, SmallSpec(), "small", false).status().code(),
            StatusCode::kAlreadyExists);
  Result<SimSpec> other = ParseSpecString("1xL4");
  Result<std::unique_ptr<SimState>> replaced = SimState::Create(path_, *other, "1xL4", true);
  ASSERT_TRUE(replaced.ok()) << replaced.status().ToString();
  EXPECT_EQ((*replaced)->gpu(0).name, "NVIDIA L4");
  // Whoever had the old file mapped keeps a consistent view of it.
  EXPECT_EQ(first->gpu(0).name, "Tesla T4");
}

TEST_F(StateTest, ConcurrentFirstUsersCreateOneState) {
  std::vector<ChildProcess> children;
  for (int i = 0; i < 6; ++i) {
    children.push_back(ChildProcess::Fork([&](ChildProcess& self) {
      bool created = false;
      Result<std::unique_ptr<SimState>> state = SimState::OpenOrCreate(path_, "small", [&] {
        created = true;
        return Result<SimSpec>(SmallSpec());
      });
      if (!state.ok()) return 1;
      self.Say(std::string(created ? "created " : "opened ") + (*state)->gpu(1).uuid);
      return 0;
    }));
  }
  int creators = 0;
  std::set<std::string> uuids;
  for (ChildProcess& child : children) {
    const std::optional<std::string> line = child.ReadLine();
    ASSERT_TRUE(line.has_value());
    creators += line->rfind("created", 0) == 0 ? 1 : 0;
    uuids.insert(line->substr(line->find(' ') + 1));
    EXPECT_EQ(child.Wait(), 0);
  }
  EXPECT_EQ(creators, 1);
  EXPECT_EQ(uuids.size(), 1u);
}

TEST_F(StateTest, OpenOrCreateNeedsNoSpecOnceTheFileExists) {
  ASSERT_NE(Create(), nullptr);
  Result<std::unique_ptr<SimState>> state = SimState::OpenOrCreate(
      path_, "", [] { return Result<SimSpec>(Status::InvalidArgument("no spec")); });
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  Result<std::unique_ptr<SimState>> missing =
      SimState::OpenOrCreate(dir_.Sub("other.state"), "",
                             [] { return Result<SimSpec>(Status::InvalidArgument("no spec")); });
  EXPECT_EQ(missing.status().message(), "no spec");
}

TEST_F(StateTest, XidsArePublishedInOrderAndTheNewestAreKept) {
  auto state = Create();
  ASSERT_NE(state, nullptr);
  EXPECT_EQ(state->LatestXidSequence(1), 0u);
  const uint32_t epoch = state->EventEpoch();
  ASSERT_TRUE(state->InjectXid(1, 79).ok());
  ASSERT_TRUE(state->InjectXid(1, 48).ok());
  EXPECT_NE(state->EventEpoch(), epoch);
  EXPECT_EQ(state->LatestXidSequence(1), 2u);
  EXPECT_EQ(state->LatestXidSequence(0), 0u);
  EXPECT_EQ(state->ReadXid(1, 1)->xid, 79u);
  EXPECT_EQ(state->ReadXid(1, 2)->xid, 48u);
  EXPECT_FALSE(state->ReadXid(1, 3).has_value());
  for (int i = 0; i < 70; ++i) ASSERT_TRUE(state->InjectXid(1, 1000 + i).ok());
  EXPECT_FALSE(state->ReadXid(1, 1).has_value());  // overwritten
  EXPECT_EQ(state->ReadXid(1, 72)->xid, 1069u);
  EXPECT_EQ(state->InjectXid(2, 79).code(), StatusCode::kInvalidArgument);
}

TEST_F(StateTest, LostAndRecoveredAreSeenByOtherProcesses) {
  auto state = Create();
  ASSERT_NE(state, nullptr);
  ASSERT_TRUE(state->SetLost(0, true).ok());
  ChildProcess child = ChildProcess::Fork([&](ChildProcess& self) {
    auto mine = SimState::Open(path_);
    self.Say(mine.ok() && (*mine)->IsLost(0) && !(*mine)->IsLost(1) ? "lost" : "wrong");
    return 0;
  });
  EXPECT_EQ(child.ReadLine(), "lost");
  ASSERT_TRUE(state->SetLost(0, false).ok());
  EXPECT_FALSE(state->IsLost(0));
}

TEST_F(StateTest, ReservationsStopExactlyAtCapacityAcrossProcesses) {
  auto state = Create();
  ASSERT_NE(state, nullptr);
  auto account = ProcessAccount::Register(state.get());
  ASSERT_TRUE(account.ok());
  ASSERT_TRUE((*account)->Reserve(0, 40 * kMiB).ok());
  ChildProcess child = ChildProcess::Fork([&](ChildProcess& self) {
    auto mine = SimState::Open(path_);
    auto other = ProcessAccount::Register(mine->get());
    if (!other.ok()) return 1;
    const bool exact = (*other)->Reserve(0, 24 * kMiB - 1).ok();
    const bool over = (*other)->Reserve(0, 2).ok();
    const bool last = (*other)->Reserve(0, 1).ok();
    self.Say(std::string(exact ? "y" : "n") + (over ? "y" : "n") + (last ? "y" : "n"));
    (*other)->Release(0, 24 * kMiB);
    return 0;
  });
  EXPECT_EQ(child.ReadLine(), "yny");
  EXPECT_EQ(child.Wait(), 0);
  EXPECT_EQ(state->MemoryUsed(0), 40 * kMiB);
  EXPECT_EQ(state->MemoryUsed(1), 0u);
  EXPECT_EQ((*account)->Reserve(0, 25 * kMiB).code(), StatusCode::kResourceExhausted);
  (*account)->Release(0, 40 * kMiB);
  EXPECT_EQ(state->MemoryUsed(0), 0u);
}

TEST_F(StateTest, AKilledProcessesMemoryComesBackAndItsKernelTimeStays) {
  auto state = Create();
  ASSERT_NE(state, nullptr);
  ChildProcess child = ChildProcess::Fork([&](ChildProcess& self) {
    auto mine = SimState::Open(path_);
    auto account = ProcessAccount::Register(mine->get());
    if (!account.ok() || !(*account)->Reserve(1, 10 * kMiB).ok()) return 1;
    (*account)->AddContext(1);
    (*account)->ScheduleKernel(1, 0, 3'000'000);
    self.Say("ready");
    pause();
    return 0;
  });
  ASSERT_EQ(child.ReadLine(), "ready");
  GpuUsage usage = state->Usage(1);
  EXPECT_EQ(usage.memory_used, 10 * kMiB);
  ASSERT_EQ(usage.processes.size(), 1u);
  EXPECT_EQ(usage.processes[0].pid, child.pid());
  EXPECT_TRUE(usage.processes[0].running);
  EXPECT_EQ(usage.processes[0].contexts, 1u);
  const pid_t pid = child.pid();
  child.Kill();
  EXPECT_EQ(child.Wait(), 128 + SIGKILL);
  // A process starting afterwards takes a fresh slot: the dead one's record stays.
  auto next = ProcessAccount::Register(state.get());
  ASSERT_TRUE(next.ok());
  usage = state->Usage(1);
  EXPECT_EQ(usage.memory_used, 0u);
  ASSERT_EQ(usage.processes.size(), 1u);
  EXPECT_EQ(usage.processes[0].pid, pid);
  EXPECT_FALSE(usage.processes[0].running);
  EXPECT_EQ(usage.processes[0].busy_ns, 3'000'000u);
}

// Processes reserving and releasing at random are killed at random points, over and over:
// nobody deadlocks on a lock a dead process held, and once all are gone every byte is back.
TEST_F(StateTest, RandomKillsNeitherDeadlockNorLeak) {
  auto state = Create();
  ASSERT_NE(state, nullptr);
  std::mt19937 random(7);
  for (int round = 0; round < 12; ++round) {
    std::vector<ChildProcess> children;
    for (int i = 0; i < 4; ++i) {
      const unsigned seed = static_cast<unsigned>(random());
      children.push_back(ChildProcess::Fork([&, seed](ChildProcess& self) {
        auto mine = SimState::Open(path_);
        if (!mine.ok()) {
          self.Say("open failed: " + mine.status().ToString());
          return 1;
        }
        auto account = ProcessAccount::Register(mine->get());
        if (!account.ok()) {
          self.Say("register failed: " + account.status().ToString());
          return 1;
        }
        std::mt19937 rng(seed);
        std::vector<std::pair<int, uint64_t>> held;
        for (uint64_t step = 0;; ++step) {
          if (held.empty() || rng() % 2 == 0) {
            const int gpu = static_cast<int>(rng() % 2);
            const uint64_t bytes = 1 + rng() % (4 * kMiB);
            if ((*account)->Reserve(gpu, bytes).ok()) held.emplace_back(gpu, bytes);
          } else {
            (*account)->Release(held.back().first, held.back().second);
            held.pop_back();
          }
          (*account)->ScheduleKernel(static_cast<int>(rng() % 2), 0, 1000);
          if (step % 64 == 0) self.Say("tick");
        }
      }));
    }
    // Let each run a random number of steps, then kill it wherever it is.
    for (ChildProcess& child : children) {
      const int ticks = 1 + static_cast<int>(random() % 8);
      for (int t = 0; t < ticks; ++t) {
        const std::optional<std::string> line = child.ReadLine();
        ASSERT_TRUE(line.has_value());
        ASSERT_EQ(*line, "tick");
      }
      child.Kill();
    }
    // Meanwhile this process keeps using the same locks.
    auto account = ProcessAccount::Register(state.get());
    ASSERT_TRUE(account.ok());
    for (ChildProcess& child : children) child.Wait();
    EXPECT_EQ(state->MemoryUsed(0), 0u) << "round " << round;
    EXPECT_EQ(state->MemoryUsed(1), 0u) << "round " << round;
    ASSERT_TRUE((*account)->Reserve(0, 64 * kMiB).ok()) << "round " << round;
    (*account)->Release(0, 64 * kMiB);
  }
}

TEST_F(StateTest, KernelTimeIsCountedPerProcessOnOneTimelinePerGpu) {
  auto state = Create();
  ASSERT_NE(state, nullptr);
  auto account = ProcessAccount::Register(state.get());
  ASSERT_TRUE(account.ok());
  const uint64_t first_end = (*account)->ScheduleKernel(0, 0, 2'000'000);
  ChildProcess child = ChildProcess::Fork([&](ChildProcess& self) {
    auto mine = SimState::Open(path_);
    auto other = ProcessAccount::Register(mine->get());
    // The GPU runs one kernel at a time: this one starts when the parent's ends.
    const uint64_t end = (*other)->ScheduleKernel(0, 0, 5'000'000);
    self.Say(end >= first_end + 5'000'000 ? "after" : "overlapping");
    self.Say(std::to_string((*other)->BusyNs(0)));
    self.Say(std::to_string(end));
    pause();
    return 0;
  });
  EXPECT_EQ(child.ReadLine(), "after");
  EXPECT_EQ(child.ReadLine(), "5000000");
  const std::optional<std::string> child_end = child.ReadLine();
  ASSERT_TRUE(child_end.has_value());
  EXPECT_EQ((*account)->BusyNs(0), 2'000'000u);
  EXPECT_EQ((*account)->BusyNs(1), 0u);
  const std::vector<ProcessUsage> processes = state->Processes();
  uint64_t total = 0;
  for (const ProcessUsage& process : processes) total += process.busy_ns;
  EXPECT_EQ(total, 7'000'000u);
  // Once both kernels have run, all their time has elapsed on the GPU.
  internal::SleepUntil(std::stoull(*child_end));
  EXPECT_EQ(state->Usage(0).busy_ns, 7'000'000u);
  EXPECT_GT(state->Usage(0).utilization_percent, 0.0);
}

}  // namespace
}  // namespace gpuslice::sim
