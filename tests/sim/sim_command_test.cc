// The gpuslice sim command as users run it: a real process, its output and exit codes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "fakes/subprocess.h"
#include "fakes/temp_dir.h"
#include "sim/state.h"
#include "sim/state_surgery.h"

namespace gpuslice::sim {
namespace {

using ::testing::HasSubstr;

const std::string kGpuslice = std::string(GPUSLICE_BIN_DIR) + "/gpuslice";

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class SimCommandTest : public ::testing::Test {
 protected:
  // Runs `gpuslice sim <args>`; returns the exit code, with stdout and stderr in *output.
  // `state_env` is GPUSLICE_SIM_STATE for the run (unset by default).
  int Run(std::vector<std::string> args, std::string* output = nullptr,
          std::optional<std::string> state_env = std::nullopt) {
    args.insert(args.begin(), {kGpuslice, "sim"});
    ::gpuslice::testing::Subprocess process(args, {{std::string("GPUSLICE_SIM_STATE"), state_env}},
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

TEST_F(SimCommandTest, TheStateFlagBeatsTheEnvironmentInEverySubcommand) {
  const std::string other = dir_.Sub("other.state");
  ASSERT_EQ(Run({"create", "--spec", "1xL4", "--state", other}), 0);
  const std::string before = Slurp(other);
  std::string output;
  ASSERT_EQ(Run({"create", "--spec", "1xT4", "--state", state_}, &output, other), 0) << output;
  ASSERT_EQ(Run({"create", "--spec", "2xT4", "--state", state_, "--force"}, &output, other), 0);
  ASSERT_EQ(Run({"xid", "--state", state_, "--gpu", "1", "--xid", "79"}, &output, other), 0)
      << output;
  ASSERT_EQ(Run({"lost", "--state", state_, "--gpu", "1"}, &output, other), 0);
  ASSERT_EQ(Run({"show", "--state", state_, "-o", "json"}, &output, other), 0);
  EXPECT_EQ(nlohmann::json::parse(output)["state"], state_);
  EXPECT_EQ(Slurp(other), before);
  {
    auto state = SimState::Open(state_);
    ASSERT_TRUE(state.ok());
    EXPECT_EQ((*state)->gpu_count(), 2);
    EXPECT_EQ((*state)->LatestXidSequence(1), 1u);
  }
  // Without the flag, the environment names the file.
  ASSERT_EQ(Run({"show", "-o", "json"}, &output, other), 0);
  EXPECT_EQ(nlohmann::json::parse(output)["state"], other);
}

TEST_F(SimCommandTest, CreateLeavesWhatIsNotAStateFileAlone) {
  const std::string fifo = dir_.Sub("fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  std::string output;
  for (bool force : {false, true}) {
    std::vector<std::string> args = {"create", "--spec", "T4", "--state", fifo};
    if (force) args.push_back("--force");
    EXPECT_EQ(Run(args, &output), 2);
    EXPECT_THAT(output, HasSubstr("is a FIFO (named pipe), not a state file"));
  }
  struct stat info;
  ASSERT_EQ(stat(fifo.c_str(), &info), 0);
  EXPECT_TRUE(S_ISFIFO(info.st_mode));
  std::ofstream(dir_.Sub("notes.txt")) << "keep me\n";
  EXPECT_EQ(Run({"create", "--spec", "T4", "--state", dir_.Sub("notes.txt"), "--force"}, &output),
            2);
  EXPECT_THAT(output, HasSubstr("is not a gpuslice simulated-GPU state file"));
  EXPECT_EQ(Slurp(dir_.Sub("notes.txt")), "keep me\n");
}

TEST_F(SimCommandTest, ACorruptStateFileIsRefusedByEverySubcommand) {
  std::string output;
  ASSERT_EQ(Run({"create", "--spec", "2xT4", "--state", state_}), 0);
  ASSERT_TRUE(testing::EditStateFile(state_, [](internal::StateFile& file) {
    std::memset(reinterpret_cast<char*>(&file) + 64, 0xff, sizeof(file) - 64);
  }));
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"show", "--state", state_},
        std::vector<std::string>{"xid", "--state", state_, "--gpu", "0", "--xid", "79"},
        std::vector<std::string>{"lost", "--state", state_, "--gpu", "0"},
        std::vector<std::string>{"recover", "--state", state_, "--gpu", "0"}}) {
    EXPECT_EQ(Run(args, &output), 2) << args[0] << ": " << output;
    EXPECT_THAT(output, HasSubstr("state file '" + state_ + "' is corrupt"));
  }
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
