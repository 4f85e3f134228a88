#include "replay/metrics.h"

#include <gtest/gtest.h>

namespace gpuslice::replay {
namespace {

TEST(RoundedPercent, RoundsHalfToEvenLikeThePublishedAnalysis) {
  EXPECT_EQ(RoundedPercent(0, 6212000), 0);
  EXPECT_EQ(RoundedPercent(124, 1000), 12);
  EXPECT_EQ(RoundedPercent(125, 1000), 12);  // 12.5 -> 12
  EXPECT_EQ(RoundedPercent(135, 1000), 14);  // 13.5 -> 14
  EXPECT_EQ(RoundedPercent(136, 1000), 14);
  EXPECT_EQ(RoundedPercent(1005, 1000), 100);
  EXPECT_EQ(RoundedPercent(1015, 1000), 102);
  EXPECT_EQ(RoundedPercent(8075600, 6212000), 130);
}

TEST(AllocationCurve, AveragesTheSamplesOfEachArrivedPercent) {
  AllocationCurve curve(1000);
  curve.Add(10, 5);   // x = 1, 0.5 %
  curve.Add(14, 10);  // x = 1, 1.0 %
  curve.Add(15, 15);  // x = 2 (1.5 rounds to 2), 1.5 %
  curve.Add(40, 30);  // x = 4, 3.0 %
  EXPECT_EQ(curve.max_x(), 4);
  EXPECT_DOUBLE_EQ(*curve.At(1), 0.75);
  EXPECT_DOUBLE_EQ(*curve.At(2), 1.5);
  // No sample at 3: the mean of the samples at 2, 3 and 4.
  EXPECT_DOUBLE_EQ(*curve.At(3), 2.25);
  // No sample at 0, one at 1 (two samples).
  EXPECT_DOUBLE_EQ(*curve.At(0), 0.75);
  EXPECT_FALSE(curve.At(6).has_value());
  EXPECT_FALSE(AllocationCurve(1000).At(0).has_value());
}

TEST(Summarize, MedianOfOddAndEvenCountsWithMinAndMax) {
  const Spread odd = Summarize({3, 1, 2});
  EXPECT_DOUBLE_EQ(odd.median, 2);
  EXPECT_DOUBLE_EQ(odd.min, 1);
  EXPECT_DOUBLE_EQ(odd.max, 3);
  const Spread even = Summarize({4, 1, 3, 2});
  EXPECT_DOUBLE_EQ(even.median, 2.5);
  EXPECT_DOUBLE_EQ(even.min, 1);
  EXPECT_DOUBLE_EQ(even.max, 4);
}

}  // namespace
}  // namespace gpuslice::replay
