// The gpuslice sim command as users run it: a real process, its output and exit codes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fakes/subprocess.h"
#include "fakes/temp_dir.h"
#include "sim/state.h"

namespace gpuslice::sim {
namespace {

using ::testing::HasSubstr;

const std::string kGpuslice = std::string(GPUSLICE_BIN_DIR) + "/gpuslice";

class SimCommandTest : public ::testing::Test {
 protected:
  // Runs `gpuslice sim <args>`; returns the exit code, with stdout and stderr in *output.
  int Run(std::vector<std::string> args, std::string* output = nullptr) {
    args.insert(args.begin(), {kGpuslice, "sim"});
    ::gpuslice::testing::Subprocess process(args, {{std::string("GPUSLICE_SIM_STATE"), std::nullopt}},
                                            dir_.Sub("output.txt"));
    const std::optional<int> code = process.Wait(std::chrono::seconds(60));
    if (output != nullptr) *output = process.Output();
    return code.value_or(-1);
  }

  ::gpuslice::testing::TempDir dir_;
  const std::string state_ = dir_.Sub("node.state");
};

TEST_F(SimCommandTest, CreatesShowsAndChangesASimulatedNode) {
  std::string output;
  ASSERT_EQ(Run({"create", "--spec", "2xH100-80GB,1xT4", "--state", state_, "-o", "json"}, &output),
            0)
      << output;
  const nlohmann::json created = nlohmann::json::parse(output);
  ASSERT_EQ(created["gpus"].size(), 3u);
  EXPECT_EQ(created["gpus"][2]["name"], "Tesla T4");
  const std::string t4 = created["gpus"][2]["uuid"];

  EXPECT_EQ(Run({"xid", "--state", state_, "--gpu", "2", "--xid", "79"}, &output), 0);
  EXPECT_THAT(output, HasSubstr("injected XID 79 on GPU 2 (" + t4 + ")"));
  EXPECT_EQ(Run({"lost", "--state", state_, "--gpu", t4}), 0);
  {
    auto state = SimState::Open(state_);
    ASSERT_TRUE(state.ok());
    EXPECT_EQ((*state)->LatestXidSequence(2), 1u);
    EXPECT_TRUE((*state)->IsLost(2));
  }
  ASSERT_EQ(Run({"show", "--state", state_}, &output), 0);
  EXPECT_THAT(output, HasSubstr("Tesla T4"));
  EXPECT_THAT(output, HasSubstr("lost"));
  EXPECT_EQ(Run({"recover", "--state", state_, "--gpu", "2"}), 0);
  ASSERT_EQ(Run({"show", "--state", state_, "-o", "json"}, &output), 0);
  const nlohmann::json shown = nlohmann::json::parse(output);
  EXPECT_EQ(shown["gpus"][2]["lost"], false);
  EXPECT_EQ(shown["gpus"][2]["xids"], 1);
  EXPECT_EQ(shown["spec"], "2xH100-80GB,1xT4");

  // An existing node is kept unless replaced on purpose.
  EXPECT_EQ(Run({"create", "--spec", "1xL4", "--state", state_}, &output), 2);
  EXPECT_THAT(output, HasSubstr("already exists; pass --force to replace it"));
  EXPECT_EQ(Run({"create", "--spec", "1xL4", "--state", state_, "--force"}), 0);
}

TEST_F(SimCommandTest, InvalidInputExitsWithUsageErrors) {
  std::string output;
  EXPECT_EQ(Run({"create", "--spec", "2xH100-80GB,1xT5", "--state", state_}, &output), 2);
  EXPECT_THAT(output, HasSubstr("item 2 '1xT5': unknown GPU model 'T5'"));
  EXPECT_EQ(Run({"show", "--state", dir_.Sub("absent.state")}, &output), 2);
  EXPECT_THAT(output, HasSubstr("absent.state' does not exist"));
  EXPECT_EQ(Run({"show"}, &output), 2);
  EXPECT_THAT(output, HasSubstr("pass --state FILE or set GPUSLICE_SIM_STATE"));
  ASSERT_EQ(Run({"create", "--spec", "T4", "--state", state_}), 0);
  EXPECT_EQ(Run({"xid", "--state", state_, "--gpu", "1", "--xid", "79"}, &output), 2);
  EXPECT_THAT(output, HasSubstr("--gpu '1': no such simulated GPU"));
  EXPECT_EQ(Run({"xid", "--state", state_, "--gpu", "0", "--xid", "0"}), 2);
  EXPECT_EQ(Run({"bogus"}), 2);
}

TEST_F(SimCommandTest, ListsTheModelsASpecCanName) {
  std::string output;
  ASSERT_EQ(Run({"models", "-o", "yaml"}, &output), 0);
  EXPECT_THAT(output, HasSubstr("model: H100-80GB"));
  EXPECT_THAT(output, HasSubstr("name: NVIDIA H100 80GB HBM3"));
  ASSERT_EQ(Run({"models"}, &output), 0);
  EXPECT_THAT(output, HasSubstr("Tesla V100-SXM2-32GB"));
  EXPECT_EQ(Run({"--help"}, &output), 0);
  EXPECT_THAT(output, HasSubstr("inject XID errors"));
}

}  // namespace
}  // namespace gpuslice::sim
