#include "core/status.h"

#include <gtest/gtest.h>

#include <memory>

namespace gpuslice {
namespace {

TEST(Status, DefaultIsOk) {
  Status status;
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(status.ToString(), "OK");
}

TEST(Status, ToStringNamesCodeAndMessage) {
  Status status = Status::InvalidArgument("field `slices`: 0 is below 1");
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status.ToString(), "invalid argument: field `slices`: 0 is below 1");
}

TEST(Status, WithContextPrefixesMessageAndKeepsOk) {
  EXPECT_EQ(Status::NotFound("no such GPU").WithContext("config.yaml").message(),
            "config.yaml: no such GPU");
  EXPECT_TRUE(Status::Ok().WithContext("ignored").ok());
}

Result<int> Half(int value) {
  if (value % 2 != 0) return Status::InvalidArgument(std::to_string(value) + " is odd");
  return value / 2;
}

Status UsesReturnIfError(int value, int* out) {
  GPUSLICE_RETURN_IF_ERROR(Half(value).status());
  *out = *Half(value);
  return Status::Ok();
}

TEST(Result, HoldsValueOrError) {
  Result<int> good = Half(8);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 4);
  EXPECT_TRUE(good.status().ok());

  Result<int> bad = Half(7);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "7 is odd");
  EXPECT_EQ(bad.value_or(-1), -1);
}

TEST(Result, ReturnIfErrorStopsAtFirstError) {
  int out = 0;
  EXPECT_TRUE(UsesReturnIfError(6, &out).ok());
  EXPECT_EQ(out, 3);
  EXPECT_EQ(UsesReturnIfError(5, &out).code(), StatusCode::kInvalidArgument);
}

TEST(Result, MovesOutMoveOnlyValues) {
  Result<std::unique_ptr<int>> result = std::make_unique<int>(42);
  std::unique_ptr<int> owned = std::move(result).value();
  EXPECT_EQ(*owned, 42);
}

}  // namespace
}  // namespace gpuslice
