#include "preload/compute_throttle.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "preload/internal/region_file.h"

namespace gpuslice::preload {
namespace {

// A clock that only moves when someone sleeps on it (or the test advances it).
class FakeClock final : public Clock {
 public:
  uint64_t NowNanos() override { return now_.load(); }
  void SleepFor(uint64_t nanos) override {
    now_ += nanos;
    slept_ += nanos;
  }
  void Advance(uint64_t nanos) { now_ += nanos; }
  uint64_t slept() const { return slept_.load(); }

 private:
  std::atomic<uint64_t> now_{1'000'000'000'000};
  std::atomic<uint64_t> slept_{0};
};

Options WithShare(int percent) {
  Options options;
  options.enforce = true;
  options.device_count = 2;
  options.devices[0].compute_percent = percent;
  return options;
}

class ComputeThrottleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto mapping = internal::RegionMapping::MapPrivate();
    ASSERT_TRUE(mapping.ok());
    mapping_ = std::make_unique<internal::RegionMapping>(std::move(*mapping));
  }
  core::region::Region* region() { return mapping_->region(); }

  FakeClock clock_;
  std::unique_ptr<internal::RegionMapping> mapping_;
};

TEST_F(ComputeThrottleTest, OnlySharesBelowOneHundredAreEnforced) {
  Options options = WithShare(40);
  ComputeThrottle throttle(region(), options, clock_);
  EXPECT_TRUE(throttle.Enforced(0));
  EXPECT_FALSE(throttle.Enforced(1));
}

TEST_F(ComputeThrottleTest, IdleSliceSavesAtMostOneBurstWindow) {
  Options options = WithShare(50);
  ComputeThrottle throttle(region(), options, clock_);
  clock_.Advance(10'000'000'000);
  throttle.Refill(0);
  EXPECT_EQ(region()->devices[0].credit_ns.load(),
            static_cast<int64_t>(ComputeThrottle::kBurstWindowNanos / 2));
}

TEST_F(ComputeThrottleTest, DebtIsPaidBackAtTheShareRate) {
  Options options = WithShare(25);
  ComputeThrottle throttle(region(), options, clock_);
  throttle.Refill(0);
  const int64_t start = region()->devices[0].credit_ns.load();
  throttle.Charge(0, static_cast<uint64_t>(start) + 4'000'000);  // 4 ms beyond the credit
  EXPECT_FALSE(throttle.HasCredit(0));
  const uint64_t waited = throttle.WaitForCredit(0);
  EXPECT_TRUE(throttle.HasCredit(0));
  EXPECT_EQ(waited, clock_.slept());  // what the region's throttled_ns counter is given
  // 4 ms of GPU time at 25% takes 16 ms of wall time to earn back.
  EXPECT_GE(clock_.slept(), 16'000'000u);
  EXPECT_LE(clock_.slept(), 16'000'000u + 10'000'000u);
}

TEST_F(ComputeThrottleTest, DebtIsBounded) {
  Options options = WithShare(50);
  ComputeThrottle throttle(region(), options, clock_);
  throttle.Charge(0, 1'000'000'000'000);
  EXPECT_EQ(region()->devices[0].credit_ns.load(), -ComputeThrottle::kMaxDebtNanos);
}

// A greedy workload of back-to-back 1 ms kernels gets its share of wall time, whatever the share.
TEST_F(ComputeThrottleTest, GreedyWorkloadGetsItsShare) {
  for (int percent : {10, 30, 50, 70, 95}) {
    SetUp();
    Options options = WithShare(percent);
    ComputeThrottle throttle(region(), options, clock_);
    const uint64_t start = clock_.NowNanos();
    uint64_t busy = 0;
    while (clock_.NowNanos() - start < 10'000'000'000) {
      throttle.WaitForCredit(0);
      clock_.Advance(1'000'000);  // the kernel occupies the GPU
      busy += 1'000'000;
      throttle.Charge(0, 1'000'000);
      throttle.Refill(0);
    }
    const double share =
        100.0 * static_cast<double>(busy) / static_cast<double>(clock_.NowNanos() - start);
    EXPECT_NEAR(share, percent, 1.0) << "share " << percent;
  }
}

TEST_F(ComputeThrottleTest, ConcurrentRefillsPayEachIntervalOnce) {
  Options options = WithShare(100 - 1);
  ComputeThrottle throttle(region(), options, clock_);
  throttle.Refill(0);
  throttle.Charge(0, static_cast<uint64_t>(region()->devices[0].credit_ns.load()) + 10'000'000);
  const int64_t before = region()->devices[0].credit_ns.load();
  clock_.Advance(1'000'000);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) threads.emplace_back([&] { throttle.Refill(0); });
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(region()->devices[0].credit_ns.load() - before, 990'000);
}

}  // namespace
}  // namespace gpuslice::preload
