// What a container sees of its GPU: the driver's and NVML's memory queries report the slice;
// without limits, or with the off switch, the library changes nothing.
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "preload/client_process.h"
#include "preload/sim_fixture.h"

namespace gpuslice::testing {
namespace {

class InfoTest : public SimFixture {};

std::vector<uint64_t> Numbers(const std::string& answer, const std::string& word) {
  std::istringstream in(answer);
  std::string first;
  in >> first;
  EXPECT_EQ(first, word) << answer;
  std::vector<uint64_t> numbers;
  for (uint64_t number; in >> number;) numbers.push_back(number);
  return numbers;
}

TEST_F(InfoTest, DriverAndNvmlReportTheSlice) {
  auto client = ClientProcess::Start(kDirectClient, node(), SliceEnv());
  ASSERT_TRUE(client);
  ASSERT_EQ(client->Send("init"), "ok");
  ASSERT_EQ(client->Send("alloc plain 1000000").rfind("ok", 0), 0u);
  const uint64_t used = kContextBytes + 1000000;
  EXPECT_EQ(Numbers(client->Send("total"), "total"), std::vector<uint64_t>{kSliceBytes});
  EXPECT_EQ(Numbers(client->Send("info"), "info"),
            (std::vector<uint64_t>{kSliceBytes - used, kSliceBytes}));
  EXPECT_EQ(Numbers(client->Send("nvml"), "nvml"),
            (std::vector<uint64_t>{kSliceBytes - used, kSliceBytes, used}));
}

TEST_F(InfoTest, ContextsMadeWithCuCtxCreateCountToo) {
  auto client = ClientProcess::Start(kDirectClient, node(), SliceEnv());
  ASSERT_TRUE(client);
  ASSERT_EQ(client->Send("init-created"), "ok");
  EXPECT_EQ(Numbers(client->Send("info"), "info"),
            (std::vector<uint64_t>{kSliceBytes - kContextBytes, kSliceBytes}));
}

TEST_F(InfoTest, SliceLargerThanTheGpuReportsTheGpu) {
  auto client = ClientProcess::Start(kDirectClient, node(), SliceEnv(2 * kGpuBytes));
  ASSERT_TRUE(client);
  ASSERT_EQ(client->Send("init"), "ok");
  EXPECT_EQ(Numbers(client->Send("total"), "total"), std::vector<uint64_t>{kGpuBytes});
}

TEST_F(InfoTest, WithoutLimitsOrSwitchedOffTheGpuIsWhole) {
  Environment off = SliceEnv();
  off["GPUSLICE_DISABLE"] = "1";
  for (const Environment& env : {Environment{{"NVIDIA_VISIBLE_DEVICES", Uuid()}}, off}) {
    auto client = ClientProcess::Start(kDirectClient, node(), env);
    ASSERT_TRUE(client);
    ASSERT_EQ(client->Send("init"), "ok");
    EXPECT_EQ(Numbers(client->Send("total"), "total"), std::vector<uint64_t>{kGpuBytes});
    EXPECT_EQ(client->Send("alloc plain " + std::to_string(2 * kSliceBytes)).rfind("ok", 0), 0u);
  }
}

TEST_F(InfoTest, MalformedLimitFailsClosed) {
  Environment env = SliceEnv();
  env["GPUSLICE_MEMORY_LIMIT_0"] = "1Gi";
  auto client = ClientProcess::Start(kDirectClient, node(), env);
  ASSERT_TRUE(client);
  // The context itself no longer fits a zero limit.
  EXPECT_EQ(client->Send("init"), "err 2");
}

}  // namespace
}  // namespace gpuslice::testing
