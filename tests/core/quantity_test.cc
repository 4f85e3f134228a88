#include "core/quantity.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

namespace gpuslice::core {
namespace {

struct Case {
  const char* text;
  int64_t value;
  int64_t milli;
};

// Values as Kubernetes' Quantity.Value() and MilliValue() return them (rounded away from 0).
TEST(Quantity, ParsesKubernetesExamples) {
  const Case cases[] = {
      {"0", 0, 0},
      {"1", 1, 1000},
      {"500m", 1, 500},
      {"0.5", 1, 500},
      {".5", 1, 500},
      {"5.", 5, 5000},
      {"1.5", 2, 1500},
      {"100m", 1, 100},
      {"2500m", 3, 2500},
      {"1k", 1000, 1000000},
      {"1Ki", 1024, 1024000},
      {"1Gi", 1073741824, 1073741824000},
      {"1.5Gi", 1610612736, 1610612736000},
      {"100Mi", 104857600, 104857600000},
      {"123Mi", 128974848, 128974848000},
      {"128974848", 128974848, 128974848000},
      {"129e6", 129000000, 129000000000},
      {"129M", 129000000, 129000000000},
      {"1e3", 1000, 1000000},
      {"1E3", 1000, 1000000},
      {"1e-3", 1, 1},
      {"1e+3", 1000, 1000000},
      {"1n", 1, 1},
      {"1u", 1, 1},
      {"0.1m", 1, 1},
      {"1E", 1000000000000000000, 0},  // milli overflows; checked below
      {"+1", 1, 1000},
      {"-1", -1, -1000},
      {"-0.5", -1, -500},
      {"0.000", 0, 0},
      {"007", 7, 7000},
      {"9223372036854775807", std::numeric_limits<int64_t>::max(), 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    Result<Quantity> q = Quantity::Parse(c.text);
    ASSERT_TRUE(q.ok()) << q.status().ToString();
    Result<int64_t> value = q->Value();
    ASSERT_TRUE(value.ok()) << value.status().ToString();
    EXPECT_EQ(*value, c.value);
    if (c.milli != 0 || c.value == 0) {
      Result<int64_t> milli = q->MilliValue();
      ASSERT_TRUE(milli.ok()) << milli.status().ToString();
      EXPECT_EQ(*milli, c.milli);
    }
  }
}

TEST(Quantity, ReportsOutOfRangeInsteadOfWrapping) {
  EXPECT_FALSE(Quantity::Parse("1E")->MilliValue().ok());
  EXPECT_FALSE(Quantity::Parse("8Ei")->Value().ok());
  EXPECT_FALSE(Quantity::Parse("9223372036854775808")->Value().ok());
  EXPECT_FALSE(Quantity::Parse("1e400")->Value().ok());
  EXPECT_EQ(*Quantity::Parse("7Ei")->Value(), int64_t{7} << 60);
}

TEST(Quantity, RoundsLongFractionsUpExactly) {
  // More significant digits than are kept: the dropped non-zero tail still rounds up.
  EXPECT_EQ(*Quantity::Parse("1.0000000000000000000000001")->Value(), 2);
  EXPECT_EQ(*Quantity::Parse("1.0000000000000000000000000")->Value(), 1);
  EXPECT_EQ(*Quantity::Parse("1e-400")->Value(), 1);
  EXPECT_EQ(*Quantity::Parse("0e-400")->Value(), 0);
}

TEST(Quantity, RejectsMalformedTextNamingIt) {
  for (const char* text : {"", "Gi", "1 Gi", " 1", "1.2.3", "1Kib", "abc", "1e", "e3", ".", "-",
                           "+", "1i", "1x", "0x10", "1e3.5", "1ee3", "--1", "1K", "1e99999999999"}) {
    SCOPED_TRACE(text);
    Result<Quantity> q = Quantity::Parse(text);
    ASSERT_FALSE(q.ok());
    EXPECT_EQ(q.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(q.status().message().find(std::string("\"") + text + "\""), std::string::npos);
  }
}

TEST(FormatBytes, UsesLargestExactBinarySuffix) {
  EXPECT_EQ(FormatBytes(0), "0");
  EXPECT_EQ(FormatBytes(1000), "1000");
  EXPECT_EQ(FormatBytes(1024), "1Ki");
  EXPECT_EQ(FormatBytes(uint64_t{10} << 30), "10Gi");
  EXPECT_EQ(FormatBytes(uint64_t{1536} << 20), "1536Mi");
  // Round trip through the parser.
  EXPECT_EQ(*Quantity::Parse(FormatBytes(uint64_t{81559} << 20))->Value(), int64_t{81559} << 20);
}

TEST(HumanBytes, RoundsToOneDecimal) {
  EXPECT_EQ(HumanBytes(512), "512 B");
  EXPECT_EQ(HumanBytes(uint64_t{3} << 29), "1.5 GiB");
  EXPECT_EQ(HumanBytes(uint64_t{81559} << 20), "79.6 GiB");
}

}  // namespace
}  // namespace gpuslice::core
