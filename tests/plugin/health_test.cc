#include "plugin/health.h"

#include <gtest/gtest.h>

#include <atomic>

#include "fakes/fake_clock.h"
#include "fakes/fake_gpu_backend.h"

namespace gpuslice::plugin {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;
using testing::FakeGpuBackend;

const std::vector<std::string> kGpus = {"GPU-a", "GPU-b"};

Status Answers(const std::string&) { return Status::Ok(); }

core::HealthConfig Config(std::chrono::seconds window = 60s, std::vector<int> extra = {}) {
  core::HealthConfig config;
  config.recovery_window = window;
  config.extra_ignored_xids = std::move(extra);
  return config;
}

TEST(HealthTracker, CriticalXidMarksOnlyItsGpu) {
  FakeClock clock;
  HealthTracker tracker(Config(), clock);
  EXPECT_TRUE(tracker.Record({"GPU-a", 94}, kGpus));
  EXPECT_EQ(tracker.Unhealthy(), (std::map<std::string, std::string>{{"GPU-a", "XID 94"}}));
  // Already unhealthy: no change to report, but the worse reason wins.
  EXPECT_FALSE(tracker.Record({"GPU-a", 48}, kGpus));
  EXPECT_EQ(tracker.Unhealthy().at("GPU-a"), "XID 48 (needs a GPU reset)");
  EXPECT_FALSE(tracker.Record({"GPU-a", 94}, kGpus));
  EXPECT_EQ(tracker.Unhealthy().at("GPU-a"), "XID 48 (needs a GPU reset)");
}

TEST(HealthTracker, IgnoresApplicationXidsAndConfiguredOnes) {
  FakeClock clock;
  HealthTracker tracker(Config(60s, {74}), clock);
  for (int xid : {13, 31, 43, 45, 68, 109, 74}) {
    EXPECT_TRUE(tracker.IsIgnored(xid)) << xid;
    EXPECT_FALSE(tracker.Record({"GPU-a", xid}, kGpus)) << xid;
  }
  EXPECT_TRUE(tracker.Unhealthy().empty());
  EXPECT_FALSE(tracker.IsIgnored(79));
}

TEST(HealthTracker, AnEventNamingNoGpuMarksAllOfThem) {
  FakeClock clock;
  HealthTracker tracker(Config(), clock);
  EXPECT_TRUE(tracker.Record({"", 0}, kGpus));
  EXPECT_EQ(tracker.Unhealthy().size(), 2u);
  EXPECT_EQ(tracker.Unhealthy().at("GPU-b"), "the driver reported the GPU lost");
}

TEST(HealthTracker, RecoversAfterAQuietWindowWhenTheDriverAnswers) {
  FakeClock clock;
  HealthTracker tracker(Config(60s), clock);
  tracker.Record({"GPU-a", 94}, kGpus);
  clock.Advance(59s);
  EXPECT_TRUE(tracker.Recover(Answers).empty());
  // A new critical XID restarts the window.
  tracker.Record({"GPU-a", 92}, kGpus);
  clock.Advance(59s);
  EXPECT_TRUE(tracker.Recover(Answers).empty());
  clock.Advance(1s);
  // The driver does not answer yet: still unhealthy.
  EXPECT_TRUE(tracker.Recover([](const std::string&) { return Status::Unavailable("lost"); })
                  .empty());
  EXPECT_EQ(tracker.Recover(Answers), (std::vector<std::string>{"GPU-a"}));
  EXPECT_TRUE(tracker.Unhealthy().empty());
}

// NVIDIA documents these XIDs as needing a GPU reset: a quiet window proves nothing.
TEST(HealthTracker, XidsThatNeedAResetNeverRecoverOnTheirOwn) {
  FakeClock clock;
  core::HealthConfig config = Config(60s);
  config.extra_reset_required_xids = {92};
  HealthTracker tracker(config, clock);
  for (int xid : core::DefaultResetRequiredXids()) {
    tracker.Record({"GPU-a", xid}, kGpus);
  }
  tracker.Record({"GPU-b", 92}, kGpus);
  clock.Advance(std::chrono::hours(24));
  EXPECT_TRUE(tracker.Recover(Answers).empty());
  EXPECT_EQ(tracker.Unhealthy(),
            (std::map<std::string, std::string>{{"GPU-a", "XID 48 (needs a GPU reset)"},
                                                {"GPU-b", "XID 92 (needs a GPU reset)"}}));
}

TEST(HealthTracker, ZeroWindowNeverRecovers) {
  FakeClock clock;
  HealthTracker tracker(Config(0s), clock);
  tracker.Record({"GPU-b", 94}, kGpus);
  clock.Advance(std::chrono::hours(24 * 365));
  EXPECT_TRUE(tracker.Recover(Answers).empty());
  EXPECT_EQ(tracker.Unhealthy().size(), 1u);
}

TEST(HealthTracker, DisabledHealthIgnoresEverything) {
  FakeClock clock;
  core::HealthConfig config = Config();
  config.enabled = false;
  HealthTracker tracker(config, clock);
  EXPECT_FALSE(tracker.Record({"GPU-a", 79}, kGpus));
  EXPECT_TRUE(tracker.Unhealthy().empty());
}

TEST(HealthMonitor, DeliversEventsAndRecoveries) {
  FakeClock clock;
  FakeGpuBackend backend({testing::MakeGpu(0, "T4", 1), testing::MakeGpu(1, "T4", 1)});
  const std::string uuid = testing::MakeGpu(0, "T4", 1).uuid;
  HealthTracker tracker(Config(10s), clock);
  std::mutex mutex;
  std::condition_variable cv;
  int changes = 0;
  std::vector<std::pair<int, bool>> events;
  HealthMonitor monitor(
      backend, tracker, {20ms, 20ms},
      [&] {
        std::lock_guard<std::mutex> lock(mutex);
        ++changes;
        cv.notify_all();
      },
      [&](const gpu::XidEvent& event, bool critical) {
        std::lock_guard<std::mutex> lock(mutex);
        events.push_back({event.xid, critical});
      });
  monitor.SetGpus({uuid, testing::MakeGpu(1, "T4", 1).uuid});
  monitor.Start();
  backend.InjectXid(uuid, 13);
  backend.InjectXid(uuid, 94);
  {
    std::unique_lock<std::mutex> lock(mutex);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return changes >= 1; }));
  }
  EXPECT_EQ(tracker.Unhealthy().count(uuid), 1u);
  clock.Advance(11s);
  {
    std::unique_lock<std::mutex> lock(mutex);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return changes >= 2; }));
  }
  EXPECT_TRUE(tracker.Unhealthy().empty());
  monitor.Stop();
  std::lock_guard<std::mutex> lock(mutex);
  EXPECT_EQ(events, (std::vector<std::pair<int, bool>>{{13, false}, {94, true}}));
}

TEST(HealthMonitor, PollsGpusWhenTheDriverHasNoEvents) {
  FakeClock clock;
  FakeGpuBackend backend({testing::MakeGpu(0, "T4", 1)});
  backend.SetEventsSupported(false);
  const std::string uuid = testing::MakeGpu(0, "T4", 1).uuid;
  backend.SetFailing(uuid, true);
  HealthTracker tracker(Config(), clock);
  std::atomic<int> changes{0};
  HealthMonitor monitor(backend, tracker, {20ms, 5ms}, [&] { ++changes; },
                        [](const gpu::XidEvent&, bool) {});
  monitor.SetGpus({uuid});
  monitor.Start();
  for (int i = 0; i < 2000 && changes == 0; ++i) std::this_thread::sleep_for(5ms);
  monitor.Stop();
  EXPECT_GE(changes.load(), 1);
  EXPECT_EQ(tracker.Unhealthy().at(uuid).rfind("the driver reported", 0), 0u);
}

// A GPU can stop answering without the driver ever sending an event for it.
TEST(HealthMonitor, PollsEveryGpuEvenWhenTheDriverHasEvents) {
  FakeClock clock;
  FakeGpuBackend backend({testing::MakeGpu(0, "T4", 1), testing::MakeGpu(1, "T4", 1)});
  const std::string quiet = testing::MakeGpu(1, "T4", 1).uuid;
  backend.SetFailing(quiet, true);
  HealthTracker tracker(Config(), clock);
  std::atomic<int> changes{0};
  HealthMonitor monitor(backend, tracker, {5ms, 5ms}, [&] { ++changes; },
                        [](const gpu::XidEvent&, bool) {});
  monitor.SetGpus({testing::MakeGpu(0, "T4", 1).uuid, quiet});
  monitor.Start();
  for (int i = 0; i < 2000 && changes == 0; ++i) std::this_thread::sleep_for(5ms);
  monitor.Stop();
  EXPECT_GE(changes.load(), 1);
  const auto unhealthy = tracker.Unhealthy();
  EXPECT_EQ(unhealthy.size(), 1u);
  EXPECT_EQ(unhealthy.count(quiet), 1u);
}

}  // namespace
}  // namespace gpuslice::plugin
