#include "preload/driver_overhead.h"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <memory>

#include "preload/internal/region_file.h"

namespace gpuslice::preload {
namespace {

constexpr uint64_t kLimit = 1000;

class ManualClock final : public Clock {
 public:
  uint64_t NowNanos() override { return now_.load(); }
  void SleepFor(uint64_t nanos) override { now_ += nanos; }
  void Advance(uint64_t nanos) { now_ += nanos; }

 private:
  std::atomic<uint64_t> now_{1'000'000'000};
};

class DriverOverheadTest : public ::testing::Test {
 protected:
  // Updates with a report of `reported` bytes, nothing under way between the ledger and the
  // driver but `calls_`; the bytes charged.
  uint64_t Report(DriverOverhead& overhead, uint64_t reported) {
    const std::optional<uint64_t> charged = overhead.Update(
        *ledger_, 0, Sources([reported] { return std::optional<uint64_t>(reported); }));
    EXPECT_TRUE(charged.has_value());
    return charged.value_or(0);
  }

  DriverOverhead::Sources Sources(std::function<std::optional<uint64_t>()> report) {
    return DriverOverhead::Sources{std::move(report), [this] { return calls_; },
                                   [this] { return uncounted_; }};
  }

  DriverOverhead::Calls calls_;
  uint64_t uncounted_ = 0;

  void SetUp() override {
    options_.enforce = true;
    options_.device_count = 1;
    options_.devices[0].memory_bytes = kLimit;
    auto mapping = internal::RegionMapping::MapPrivate();
    ASSERT_TRUE(mapping.ok());
    mapping_ = std::make_unique<internal::RegionMapping>(std::move(*mapping));
    ledger_ = std::make_unique<MemoryLedger>(mapping_->region(), options_);
  }

  Options options_;
  std::unique_ptr<internal::RegionMapping> mapping_;
  std::unique_ptr<MemoryLedger> ledger_;
  ManualClock clock_;
};

TEST_F(DriverOverheadTest, ChargesWhatTheDriverHoldsBeyondTheAllocations) {
  DriverOverhead overhead(clock_);
  ASSERT_TRUE(ledger_->Charge(0, 300));  // an allocation
  // The driver reports the allocation and 200 bytes of its own (a context, say).
  EXPECT_EQ(Report(overhead, 500), 200u);
  EXPECT_EQ(overhead.Charged(0), 200u);
  EXPECT_EQ(ledger_->Used(0), 500u);
  EXPECT_EQ(Report(overhead, 500), 0u);  // nothing new
  EXPECT_EQ(ledger_->Used(0), 500u);
}

TEST_F(DriverOverheadTest, GrowthIsChargedPastTheLimitAndRefusesWhatFollows) {
  DriverOverhead overhead(clock_);
  ASSERT_TRUE(ledger_->Charge(0, 900));
  EXPECT_EQ(Report(overhead, 1100), 200u);
  EXPECT_EQ(ledger_->Used(0), 1100u);
  EXPECT_FALSE(ledger_->Charge(0, 1));
  // Undone by its cause, it goes.
  overhead.Lower(*ledger_, 0, 200);
  EXPECT_EQ(ledger_->Used(0), 900u);
  EXPECT_TRUE(ledger_->Charge(0, 100));
}

TEST_F(DriverOverheadTest, LessIsGivenBackOnlyOnceEveryReportForAPeriodShowedLess) {
  DriverOverhead overhead(clock_);
  ASSERT_EQ(Report(overhead, 400), 400u);
  // An allocation charged before its driver call: the report does not show it yet.
  ASSERT_TRUE(ledger_->Charge(0, 100));
  EXPECT_EQ(Report(overhead, 400), 0u);
  EXPECT_EQ(overhead.Charged(0), 400u);
  clock_.Advance(DriverOverhead::kLowerAfterNanos / 2);
  EXPECT_EQ(Report(overhead, 500), 0u);  // the driver made it: nothing went
  clock_.Advance(DriverOverhead::kLowerAfterNanos);
  EXPECT_EQ(overhead.Charged(0), 400u);
  // A context destroyed: the reports show 150 bytes less, for a whole period.
  EXPECT_EQ(Report(overhead, 350), 0u);
  clock_.Advance(DriverOverhead::kLowerAfterNanos / 2);
  EXPECT_EQ(Report(overhead, 330), 0u);
  EXPECT_EQ(overhead.Charged(0), 400u);
  clock_.Advance(DriverOverhead::kLowerAfterNanos / 2);
  EXPECT_EQ(Report(overhead, 360), 0u);
  // Lowered by what every report since showed, at most.
  EXPECT_EQ(overhead.Charged(0), 260u);
  EXPECT_EQ(ledger_->Used(0), 360u);
}

TEST_F(DriverOverheadTest, AReportOfMoreEndsAWaitToLower) {
  DriverOverhead overhead(clock_);
  ASSERT_EQ(Report(overhead, 400), 400u);
  EXPECT_EQ(Report(overhead, 100), 0u);
  clock_.Advance(DriverOverhead::kLowerAfterNanos / 2);
  EXPECT_EQ(Report(overhead, 400), 0u);
  clock_.Advance(DriverOverhead::kLowerAfterNanos);
  EXPECT_EQ(Report(overhead, 100), 0u);  // a new wait starts here
  EXPECT_EQ(overhead.Charged(0), 400u);
}

// A free that lands between the report and the ledger's second look: the report still showed
// it, the ledger no longer does. Taking the larger look, it is not mistaken for overhead.
TEST_F(DriverOverheadTest, AFreeDuringTheReportIsNotTakenForOverhead) {
  DriverOverhead overhead(clock_);
  ASSERT_TRUE(ledger_->Charge(0, 300));
  const std::optional<uint64_t> charged = overhead.Update(*ledger_, 0, Sources([&] {
    ++calls_.frees_begun;
    ledger_->Refund(0, 300);  // the driver freed it, then the hook gives it back
    ++calls_.frees_ended;
    return std::optional<uint64_t>(300);
  }));
  EXPECT_EQ(charged, 0u);
  EXPECT_EQ(ledger_->Used(0), 0u);
  EXPECT_EQ(overhead.Update(*ledger_, 0, Sources([] { return std::optional<uint64_t>(); })),
            std::nullopt);
}

// An allocation charged, made, freed and given back while the report was taken: the report
// showed it, neither look at the ledger did; counted as under way, it is not overhead.
TEST_F(DriverOverheadTest, AnAllocationComingAndGoingDuringTheReportIsNotTakenForOverhead) {
  DriverOverhead overhead(clock_);
  const std::optional<uint64_t> charged = overhead.Update(*ledger_, 0, Sources([&] {
    calls_.allocated_begun += 300;
    EXPECT_TRUE(ledger_->Charge(0, 300));
    calls_.allocated_ended += 300;
    ++calls_.frees_begun;
    ledger_->Refund(0, 300);
    ++calls_.frees_ended;
    return std::optional<uint64_t>(300);  // taken while it was allocated
  }));
  EXPECT_EQ(charged, 0u);
  EXPECT_EQ(ledger_->Used(0), 0u);
}

// An allocation charged before its driver call, still in the driver for a whole period: the
// reports miss it all along, and nothing is given back for it.
TEST_F(DriverOverheadTest, NothingIsGivenBackWhileSomethingIsInFlight) {
  DriverOverhead overhead(clock_);
  ASSERT_EQ(Report(overhead, 400), 400u);
  calls_.allocated_begun = 100;
  ASSERT_TRUE(ledger_->Charge(0, 100));
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(Report(overhead, 400), 0u);
    clock_.Advance(DriverOverhead::kLowerAfterNanos);
  }
  EXPECT_EQ(overhead.Charged(0), 400u);
  // Made: the report shows it, and nothing is under way.
  calls_.allocated_ended = 100;
  EXPECT_EQ(Report(overhead, 500), 0u);
  EXPECT_EQ(overhead.Charged(0), 400u);
}

// Graph nodes not launched yet are charged but not on the GPU: the context next to them is
// still the driver's overhead.
TEST_F(DriverOverheadTest, ChargesTheDriverDoesNotCountAreNotTakenForLess) {
  DriverOverhead overhead(clock_);
  ASSERT_EQ(Report(overhead, 64), 64u);
  ASSERT_TRUE(ledger_->Charge(0, 500));
  uncounted_ = 500;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Report(overhead, 64), 0u);
    clock_.Advance(DriverOverhead::kLowerAfterNanos);
  }
  EXPECT_EQ(overhead.Charged(0), 64u);
  // Launched: on the GPU now, and counted.
  uncounted_ = 0;
  EXPECT_EQ(Report(overhead, 564), 0u);
  EXPECT_EQ(ledger_->Used(0), 564u);
}

TEST_F(DriverOverheadTest, MeasuredChargesMustFit) {
  DriverOverhead overhead(clock_);
  EXPECT_TRUE(overhead.ChargeMeasured(*ledger_, 0, 600));
  EXPECT_FALSE(overhead.ChargeMeasured(*ledger_, 0, 600));
  EXPECT_EQ(overhead.Charged(0), 600u);
  EXPECT_EQ(ledger_->Used(0), 600u);
}

}  // namespace
}  // namespace gpuslice::preload
