// Hostile input given to the gpuslice command as a new user would give it: alias bombs,
// symlink loops, devices and FIFOs, duplicate keys, impossible reserved memory, malformed
// flags. Each answer is a clear message and exit code 2 within a bounded wait: never a crash,
// a hang, runaway memory or a file written where none should be.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "fakes/subprocess.h"
#include "fakes/temp_dir.h"

namespace gpuslice {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

const std::string kGpuslice = std::string(GPUSLICE_BIN_DIR) + "/gpuslice";

// A NodePool of about 1 KB whose labels expand to 10^8 nodes through nine levels of aliases.
std::string AliasBombNodePool() {
  std::string text =
      "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: bomb}\nspec:\n"
      "  template:\n    metadata:\n      annotations:\n"
      "        a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int level = 1; level < 9; ++level) {
    const std::string previous = "*a" + std::to_string(level - 1);
    text += "        a" + std::to_string(level) + ": &a" + std::to_string(level) + " [";
    for (int i = 0; i < 10; ++i) text += (i == 0 ? "" : ", ") + previous;
    text += "]\n";
  }
  text += "    spec:\n      requirements: []\n";
  return text;
}

constexpr const char* kPod =
    "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  tolerations: [{key: "
    "nvidia.com/gpu, operator: Exists}]\n  containers:\n  - name: c\n    resources: {limits: "
    "{nvidia.com/gpu: 1}}\n";

constexpr const char* kNodePool =
    "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: gpu}\nspec:\n  template:\n"
    "    spec:\n      requirements: [{key: karpenter.k8s.aws/instance-family, operator: In, "
    "values: [g5]}]\n";

class HostileInputTest : public ::testing::Test {
 protected:
  struct Outcome {
    std::optional<int> exit_code;  // nullopt: still running after the wait (a hang)
    std::string output;            // stdout and stderr together
  };

  Outcome Run(std::vector<std::string> args, std::chrono::seconds wait = 60s,
              const std::map<std::string, std::optional<std::string>>& env = {}) {
    args.insert(args.begin(), kGpuslice);
    testing::Subprocess process(args, env, dir_.Sub("out.txt"));
    Outcome outcome;
    outcome.exit_code = process.Wait(wait);
    outcome.output = process.Output();
    return outcome;
  }

  // Runs a shell command line (for standard input redirections).
  Outcome Shell(const std::string& command) {
    testing::Subprocess process({"/bin/sh", "-c", command}, {}, dir_.Sub("out.txt"));
    Outcome outcome;
    outcome.exit_code = process.Wait(60s);
    outcome.output = process.Output();
    return outcome;
  }

  void Write(const std::string& name, const std::string& text) {
    std::filesystem::create_directories(std::filesystem::path(dir_.Sub(name)).parent_path());
    std::ofstream(dir_.Sub(name)) << text;
  }

  bool HaveNodeSim() const {
    return std::filesystem::exists(std::string(GPUSLICE_LIB_DIR) + "/libgpuslice-sim-nvml.so");
  }

  testing::TempDir dir_;
};

TEST_F(HostileInputTest, AnAliasBombIsRefusedBeforeItExpands) {
  Write("bomb.yaml", AliasBombNodePool());
  ASSERT_LT(AliasBombNodePool().size(), 1200u);
  std::vector<std::vector<std::string>> commands = {
      {"plan", dir_.Sub("bomb.yaml")},
      {"render", dir_.Sub("bomb.yaml"), "--output-dir", dir_.Sub("out")}};
  if (HaveNodeSim()) commands.push_back({"node-sim", dir_.Sub("bomb.yaml")});
  for (const std::vector<std::string>& command : commands) {
    const Outcome run = Run(command);
    EXPECT_EQ(run.exit_code, 2) << command[0] << ": " << run.output;
    EXPECT_THAT(run.output, HasSubstr(dir_.Sub("bomb.yaml") + ":12:"));
    EXPECT_THAT(run.output, HasSubstr("aliases expand to more than"));
  }
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("out/nodepools.yaml")));
}

TEST_F(HostileInputTest, ASymlinkLoopInAnInputDirectoryIsNamed) {
  Write("in/pod.yaml", kPod);
  Write("in/pool.yaml", kNodePool);
  ASSERT_EQ(symlink("b", dir_.Sub("in/a").c_str()), 0);
  ASSERT_EQ(symlink("a", dir_.Sub("in/b").c_str()), 0);
  std::vector<std::vector<std::string>> commands = {{"plan", dir_.Sub("in")},
                                                    {"render", dir_.Sub("in")}};
  if (HaveNodeSim()) commands.push_back({"node-sim", dir_.Sub("in")});
  for (const std::vector<std::string>& command : commands) {
    const Outcome run = Run(command);
    EXPECT_EQ(run.exit_code, 2) << command[0] << ": " << run.output;
    EXPECT_THAT(run.output, HasSubstr("(a symlink loop)"));
  }
  // A link back to a directory already read is no loop: the files are read once.
  std::filesystem::remove(dir_.Sub("in/a"));
  std::filesystem::remove(dir_.Sub("in/b"));
  ASSERT_EQ(symlink("..", dir_.Sub("in/up").c_str()), 0);
  const Outcome plan = Run({"plan", dir_.Sub("in"), "--no-optimal"});
  EXPECT_EQ(plan.exit_code, 0) << plan.output;
}

TEST_F(HostileInputTest, DevicesAndFifosAreRefusedAndStandardInputIsRead) {
  const Outcome zero = Run({"plan", "/dev/zero"}, 30s);
  EXPECT_EQ(zero.exit_code, 2) << zero.output;
  EXPECT_THAT(zero.output, HasSubstr("/dev/zero: is a character device, not a regular file"));

  ASSERT_EQ(mkfifo(dir_.Sub("fifo.yaml").c_str(), 0600), 0);
  for (const std::vector<std::string>& command :
       {std::vector<std::string>{"plan", dir_.Sub("fifo.yaml")},
        std::vector<std::string>{"plan", "--catalog", dir_.Sub("fifo.yaml")},
        std::vector<std::string>{"plan", "--config", dir_.Sub("fifo.yaml")}}) {
    const Outcome run = Run(command, 30s);
    EXPECT_EQ(run.exit_code, 2) << run.output;
    EXPECT_THAT(run.output, HasSubstr("is a FIFO (named pipe), not a regular file"));
  }

  Write("all.yaml", std::string(kPod) + "---\n" + kNodePool);
  const Outcome piped =
      Shell(kGpuslice + " plan - --no-optimal -o json < " + dir_.Sub("all.yaml"));
  ASSERT_EQ(piped.exit_code, 0) << piped.output;
  EXPECT_EQ(nlohmann::json::parse(piped.output)["pods"], 1);
}

TEST_F(HostileInputTest, DuplicateKeysAreRefusedWithBothPlaces) {
  Write("pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: []\n"
        "  containers: [{name: c}]\n");
  const Outcome plan = Run({"plan", dir_.Sub("pod.yaml")});
  EXPECT_EQ(plan.exit_code, 2);
  EXPECT_THAT(plan.output, HasSubstr(dir_.Sub("pod.yaml") +
                                     ":6:3: duplicate key \"containers\" (first at line 5, "
                                     "column 3)"));
  Write("config.yaml", "version: v1\ndefaultProfile:\n  slices: 2\n  slices: 64\n");
  const Outcome config = Run({"plan", "--config", dir_.Sub("config.yaml")});
  EXPECT_EQ(config.exit_code, 2);
  EXPECT_THAT(config.output, HasSubstr("config.yaml:4:3: duplicate key \"slices\""));
}

TEST_F(HostileInputTest, ReservedMemoryAtOrAboveTheGpusMemoryIsRefused) {
  // g5 instance types have A10G GPUs of 24 GiB.
  Write("in/pod.yaml", kPod);
  Write("in/pool.yaml", kNodePool);
  for (const char* command : {"plan", "render"}) {
    const Outcome run =
        Run({command, dir_.Sub("in"), "--slices", "4", "--reserved-memory", "24Gi"});
    EXPECT_EQ(run.exit_code, 2) << command << ": " << run.output;
    EXPECT_THAT(run.output, HasSubstr("instance type g5.xlarge (a10g): reservedMemory 24Gi is not "
                                      "less than the GPU's memory (22888Mi)"));
  }
  // Alone, --reserved-memory applies to the default slicing instead of vanishing.
  const Outcome alone = Run({"plan", dir_.Sub("in"), "--reserved-memory", "24Gi"});
  EXPECT_EQ(alone.exit_code, 2) << alone.output;
  EXPECT_THAT(alone.output, HasSubstr("reservedMemory 24Gi"));
  const Outcome fits = Run({"plan", dir_.Sub("in"), "--reserved-memory", "1Gi", "--no-optimal"});
  EXPECT_EQ(fits.exit_code, 0) << fits.output;
  // A device plugin config the plugin would refuse is refused even where the input's own
  // NodeOverlays decide the slices (the bundled examples have them).
  Write("big-reserve.yaml", "version: v1\ndefaultProfile: {reservedMemory: 100Gi}\n");
  const Outcome config = Run({"plan", "--config", dir_.Sub("big-reserve.yaml"), "--no-optimal"});
  EXPECT_EQ(config.exit_code, 2) << config.output;
  EXPECT_THAT(config.output, HasSubstr("reservedMemory 100Gi is not less than"));
  Write("values.yaml", "config: {version: v1, defaultProfile: {slices: 2}}\n");
  const Outcome with_config =
      Run({"plan", "--config", dir_.Sub("values.yaml"), "--reserved-memory", "1Gi"});
  EXPECT_EQ(with_config.exit_code, 2);
  EXPECT_THAT(with_config.output, HasSubstr("do not apply with --config"));
}

TEST_F(HostileInputTest, PlanAndRenderRefuseTheSameResourceNames) {
  for (const char* name : {"cpu", "", "bad name!"}) {
    for (const char* command : {"plan", "render"}) {
      const Outcome run = Run({command, "--resource-name", name});
      EXPECT_EQ(run.exit_code, 2) << command << " '" << name << "': " << run.output;
      EXPECT_THAT(run.output, HasSubstr("--resource-name: resource name \"" + std::string(name) +
                                        "\" is invalid"));
    }
  }
}

TEST_F(HostileInputTest, NumericFlagsSayWhatTheyWantInFewWords) {
  const Outcome zero = Run({"plan", "--time-limit", "0"});
  EXPECT_EQ(zero.exit_code, 2);
  EXPECT_THAT(zero.output, HasSubstr("'0' is not a number above 0"));
  EXPECT_LT(zero.output.size(), 400u) << zero.output;
  const Outcome help = Run({"plan", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.output, HasSubstr("--time-limit FLOAT:a number above 0=10"));
  const Outcome inflate = Run({"replay", "--nodes", "n", "--pods", "p", "--inflate", "0"});
  EXPECT_EQ(inflate.exit_code, 2);
  EXPECT_LT(inflate.output.size(), 400u) << inflate.output;
}

TEST_F(HostileInputTest, ATableShowsLongNumbersWhole) {
  // A catalog whose one GPU type costs more than a 32-character buffer can print.
  const std::string price = "123456789012345678901234567890123456789";
  Write("catalog.csv",
        "instance_type,family,arch,gpu_model,gpu_count,gpu_mem_mib_per_gpu,vcpu,mem_mib,"
        "karpenter_alloc_cpu_millis,karpenter_alloc_mem_mib,karpenter_max_pods,"
        "karpenter_nvidia_gpu,od_usd_per_hour\n"
        "g5.xlarge,g5,amd64,a10g,1,24576,4,16384,3920,14162,58,1," +
            price + "\n");
  Write("in/pod.yaml", kPod);
  Write("in/pool.yaml", kNodePool);
  const Outcome run =
      Run({"plan", "--catalog", dir_.Sub("catalog.csv"), "--no-optimal", dir_.Sub("in")});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  // The price as the catalog's double holds it, every digit of it, as JSON has it.
  EXPECT_THAT(run.output, HasSubstr("123456789012345684699646211807260966912.00"));
}

TEST_F(HostileInputTest, NodeSimRefusesABadSpecOrTmpdirAsBadInput) {
  if (!HaveNodeSim()) GTEST_SKIP() << "the simulated NVML is not built";
  const Outcome run = Run({"node-sim", "--simulate", "3xNoSuchGpu"});
  EXPECT_EQ(run.exit_code, 2) << run.output;
  EXPECT_THAT(run.output, HasSubstr("--simulate: spec '3xNoSuchGpu'"));
  // Nor does a TMPDIR that is no directory end in an uncaught exception.
  const Outcome tmpdir = Run({"node-sim"}, 60s, {{"TMPDIR", dir_.Sub("missing")}});
  EXPECT_EQ(tmpdir.exit_code, 2) << tmpdir.output;
  EXPECT_THAT(tmpdir.output, HasSubstr("no temporary directory (check TMPDIR)"));
}

TEST_F(HostileInputTest, ReplayRefusesASeedGivenTwice) {
  const Outcome run = Run({"replay", "--nodes", "n.csv", "--pods", "p.csv", "--seeds", "42,42"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.output, HasSubstr("--seeds: seed 42 is given twice"));
  const Outcome overlap =
      Run({"replay", "--nodes", "n.csv", "--pods", "p.csv", "--seeds", "1-5,3"});
  EXPECT_EQ(overlap.exit_code, 2);
}

TEST_F(HostileInputTest, OutputFilesNeverReplaceAFifo) {
  std::filesystem::create_directories(dir_.Sub("out"));
  ASSERT_EQ(mkfifo(dir_.Sub("out/values.yaml").c_str(), 0600), 0);
  const Outcome run = Run({"render", "--slices", "v100=4", "--output-dir", dir_.Sub("out")}, 30s);
  EXPECT_EQ(run.exit_code, 2) << run.output;
  EXPECT_THAT(run.output, HasSubstr("values.yaml: is a FIFO (named pipe)"));
  struct stat info;
  ASSERT_EQ(stat(dir_.Sub("out/values.yaml").c_str(), &info), 0);
  EXPECT_TRUE(S_ISFIFO(info.st_mode));
}

}  // namespace
}  // namespace gpuslice
