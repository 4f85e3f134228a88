#include "core/duration.h"

#include <gtest/gtest.h>

namespace gpuslice::core {
namespace {

using std::chrono::milliseconds;

TEST(ParseDuration, ReadsGoStyleDurations) {
  EXPECT_EQ(*ParseDuration("0"), milliseconds(0));
  EXPECT_EQ(*ParseDuration("0s"), milliseconds(0));
  EXPECT_EQ(*ParseDuration("250ms"), milliseconds(250));
  EXPECT_EQ(*ParseDuration("30s"), milliseconds(30000));
  EXPECT_EQ(*ParseDuration("5m"), milliseconds(300000));
  EXPECT_EQ(*ParseDuration("1h30m"), milliseconds(5400000));
  EXPECT_EQ(*ParseDuration("1m30s500ms"), milliseconds(90500));
}

TEST(ParseDuration, RejectsMalformedDurations) {
  for (const char* text : {"", "5", "m", "5x", "-5s", "1.5h", " 5s", "5s ", "99999999999999999999h",
                           "9223372036854775807h"}) {
    Result<milliseconds> parsed = ParseDuration(text);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_NE(parsed.status().message().find(text), std::string::npos);
  }
}

TEST(FormatDuration, RoundTripsThroughParse) {
  for (int64_t ms : {0L, 250L, 1000L, 90000L, 300000L, 5400000L, 3600001L}) {
    const std::string text = FormatDuration(milliseconds(ms));
    EXPECT_EQ(*ParseDuration(text), milliseconds(ms)) << text;
  }
  EXPECT_EQ(FormatDuration(milliseconds(5400000)), "1h30m");
  EXPECT_EQ(FormatDuration(milliseconds(300000)), "5m");
}

}  // namespace
}  // namespace gpuslice::core
