#include "plugin/compute_usage.h"

#include <gtest/gtest.h>

#include <chrono>

#include "fakes/fake_gpu_backend.h"

namespace gpuslice::plugin {
namespace {

constexpr const char* kGpu = "GPU-aaaa";
constexpr uint64_t kSecondUs = 1'000'000;

uint64_t NowUs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// Samples of `pid` at `percent` every 100 ms over the `seconds` before `end_us`.
void AddSteady(testing::FakeGpuBackend& backend, unsigned int pid, unsigned int percent,
               uint64_t end_us, int seconds) {
  for (int i = seconds * 10; i >= 0; --i) {
    backend.AddUtilization(kGpu, {pid, end_us - static_cast<uint64_t>(i) * kSecondUs / 10, percent});
  }
}

TEST(ComputeUsage, SumsTheSamplesOfTheNamedProcessesOverTheWindow) {
  testing::FakeGpuBackend backend({});
  ComputeUsage usage(backend);
  const uint64_t now = NowUs();
  AddSteady(backend, 100, 50, now, 4);
  AddSteady(backend, 200, 20, now, 4);
  AddSteady(backend, 300, 30, now, 4);
  usage.Sample({kGpu});
  // Four seconds of samples: each process's first one only opens its window.
  EXPECT_NEAR(*usage.UsedRatio(kGpu, {100}), 0.5, 0.03);
  EXPECT_NEAR(*usage.UsedRatio(kGpu, {100, 200}), 0.7, 0.03);
  EXPECT_NEAR(*usage.UsedRatio(kGpu, {100, 200, 300}), 1.0, 0.03);
  EXPECT_EQ(*usage.UsedRatio(kGpu, {400}), 0.0);
  EXPECT_EQ(*usage.UsedRatio(kGpu, {}), 0.0);
}

TEST(ComputeUsage, ReadsOnlyNewSamplesAndForgetsThoseOutOfTheWindow) {
  testing::FakeGpuBackend backend({});
  ComputeUsage usage(backend);
  const uint64_t now = NowUs();
  // Busy long ago, idle for the last 11 seconds: nothing is left in the window.
  AddSteady(backend, 100, 100, now - 11 * kSecondUs, 3);
  AddSteady(backend, 100, 0, now, 11);
  usage.Sample({kGpu});
  usage.Sample({kGpu});  // nothing new: counts nothing twice
  EXPECT_NEAR(*usage.UsedRatio(kGpu, {100}), 0.0, 0.02);
}

TEST(ComputeUsage, AProcessMissingFromTheSamplesIsNotTakenForBusy) {
  testing::FakeGpuBackend backend({});
  ComputeUsage usage(backend);
  const uint64_t now = NowUs();
  // Two samples five seconds apart: the second covers at most kMaxSampleSpan.
  backend.AddUtilization(kGpu, {100, now - 5 * kSecondUs, 100});
  backend.AddUtilization(kGpu, {100, now, 100});
  usage.Sample({kGpu});
  EXPECT_NEAR(*usage.UsedRatio(kGpu, {100}), 0.2, 0.02);
}

TEST(ComputeUsage, UnknownWhereTheDriverDoesNotSample) {
  testing::FakeGpuBackend backend({});
  ComputeUsage usage(backend);
  EXPECT_FALSE(usage.UsedRatio(kGpu, {100}).has_value());  // not sampled yet
  backend.SetUtilizationSupported(false);
  usage.Sample({kGpu});
  EXPECT_FALSE(usage.UsedRatio(kGpu, {100}).has_value());
  EXPECT_FALSE(usage.UsedRatio("GPU-other", {100}).has_value());
  // A GPU no longer listed is forgotten.
  backend.SetUtilizationSupported(true);
  usage.Sample({kGpu});
  ASSERT_TRUE(usage.UsedRatio(kGpu, {100}).has_value());
  usage.Sample({});
  EXPECT_FALSE(usage.UsedRatio(kGpu, {100}).has_value());
}

}  // namespace
}  // namespace gpuslice::plugin
