#include "core/dra_capacity.h"

#include <gtest/gtest.h>

#include <limits>

namespace gpuslice::core {
namespace {

constexpr uint64_t kMiB = 1ULL << 20;
constexpr uint64_t kGiB = 1ULL << 30;

DraConfig Policy(uint64_t min, uint64_t step) {
  DraConfig policy;
  policy.memory_min_bytes = min;
  policy.memory_step_bytes = step;
  return policy;
}

TEST(BookedClaimMemory, RequestBelowTheMinimumBooksTheMinimum) {
  const DraConfig policy = Policy(256 * kMiB, 256 * kMiB);
  EXPECT_EQ(BookedClaimMemory(0, policy), 256 * kMiB);
  EXPECT_EQ(BookedClaimMemory(1, policy), 256 * kMiB);
  EXPECT_EQ(BookedClaimMemory(256 * kMiB, policy), 256 * kMiB);
}

TEST(BookedClaimMemory, RequestOffTheGridRoundsUpToTheNextStep) {
  const DraConfig policy = Policy(512 * kMiB, 256 * kMiB);
  EXPECT_EQ(BookedClaimMemory(6 * kGiB, policy), 6 * kGiB);
  EXPECT_EQ(BookedClaimMemory(6 * kGiB + 1, policy), 6 * kGiB + 256 * kMiB);
  EXPECT_EQ(BookedClaimMemory(512 * kMiB + 1, policy), 768 * kMiB);
}

TEST(BookedClaimMemory, HugeRequestSaturatesInsteadOfWrapping) {
  const DraConfig policy = Policy(256 * kMiB, 256 * kMiB);
  EXPECT_EQ(BookedClaimMemory(std::numeric_limits<uint64_t>::max(), policy),
            std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(BookedClaimMemory(std::numeric_limits<uint64_t>::max() - 1, policy),
            std::numeric_limits<uint64_t>::max());
}

TEST(LargestClaimMemory, RoundsTheUsableMemoryDownToTheGrid) {
  const DraConfig policy = Policy(512 * kMiB, 256 * kMiB);
  EXPECT_EQ(LargestClaimMemory(24 * kGiB, policy), 24 * kGiB);
  EXPECT_EQ(LargestClaimMemory(24 * kGiB - 1, policy), 24 * kGiB - 256 * kMiB);
  EXPECT_EQ(LargestClaimMemory(512 * kMiB, policy), 512 * kMiB);
}

TEST(LargestClaimMemory, GpuBelowTheMinimumOrZeroStepGivesNothing) {
  EXPECT_EQ(LargestClaimMemory(100 * kMiB, Policy(256 * kMiB, 256 * kMiB)), 0u);
  EXPECT_EQ(LargestClaimMemory(24 * kGiB, Policy(256 * kMiB, 0)), 0u);
}

TEST(BookedClaimMemory, BookingTheLargestShareBooksExactlyIt) {
  const DraConfig policy = Policy(256 * kMiB, 256 * kMiB);
  const uint64_t largest = LargestClaimMemory(80 * kGiB - 7, policy);
  EXPECT_EQ(BookedClaimMemory(largest, policy), largest);
}

}  // namespace
}  // namespace gpuslice::core
