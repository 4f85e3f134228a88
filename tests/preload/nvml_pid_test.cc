#include "preload/nvml_pid.h"

#include <gtest/gtest.h>

namespace gpuslice::preload {
namespace {

TEST(ResolveNvmlPid, OwnPidWhenNvmlSharesTheNamespace) {
  EXPECT_EQ(ResolveNvmlPid(42, {7}, {7, 42}), 42u);
  // Even when a neighbour started at the same instant.
  EXPECT_EQ(ResolveNvmlPid(42, {7}, {7, 42, 9000}), 42u);
}

TEST(ResolveNvmlPid, ThePidThatAppearedWhenNvmlSeesTheHosts) {
  EXPECT_EQ(ResolveNvmlPid(12, {}, {40012}), 40012u);
  EXPECT_EQ(ResolveNvmlPid(12, {40001, 40002}, {40001, 40012, 40002}), 40012u);
  // A process that left meanwhile changes nothing.
  EXPECT_EQ(ResolveNvmlPid(12, {40001, 40002}, {40012, 40002}), 40012u);
  // A PID listed twice is still one process.
  EXPECT_EQ(ResolveNvmlPid(12, {40001}, {40001, 40012, 40012}), 40012u);
}

TEST(ResolveNvmlPid, UnknownWhenNoneOrSeveralAppeared) {
  EXPECT_EQ(ResolveNvmlPid(12, {40001}, {40001}), 0u);
  EXPECT_EQ(ResolveNvmlPid(12, {}, {}), 0u);
  EXPECT_EQ(ResolveNvmlPid(12, {40001}, {40001, 40012, 40013}), 0u);
}

}  // namespace
}  // namespace gpuslice::preload
