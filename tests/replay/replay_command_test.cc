// `gpuslice replay` end to end: the real binary, run as a child process on the trace excerpt.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace gpuslice::replay {
namespace {

namespace fs = std::filesystem;

struct Outcome {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string ReadText(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class ReplayCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "gpuslice-replay-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs `gpuslice replay <args>` with stdout and stderr captured in files.
  Outcome Run(std::vector<std::string> args) {
    args.insert(args.begin(), {std::string(GPUSLICE_BIN_DIR) + "/gpuslice", "replay"});
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    const std::string out = (dir_ / "stdout").string();
    const std::string err = (dir_ / "stderr").string();
    posix_spawn_file_actions_t files;
    posix_spawn_file_actions_init(&files);
    posix_spawn_file_actions_addopen(&files, STDOUT_FILENO, out.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&files, STDERR_FILENO, err.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid = 0;
    Outcome outcome;
    const int spawned = posix_spawn(&pid, argv[0], &files, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&files);
    EXPECT_EQ(spawned, 0) << "cannot start " << argv[0];
    if (spawned != 0) return outcome;
    int status = 0;
    EXPECT_EQ(waitpid(pid, &status, 0), pid);
    outcome.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    outcome.out = ReadText(out);
    outcome.err = ReadText(err);
    return outcome;
  }

  // The fixture with seeds `seeds`.
  std::vector<std::string> Excerpt(const std::string& seeds = "1-3") const {
    const std::string data = std::string(GPUSLICE_SOURCE_DIR) + "/tests/replay/data/";
    return {"--nodes", data + "openb_node_list_excerpt.csv",
            "--pods",  data + "openb_pod_list_excerpt.csv",
            "--seeds", seeds};
  }

  fs::path dir_;
};

TEST_F(ReplayCommand, PrintsTheTableForEveryPolicyByDefault) {
  Outcome outcome = Run(Excerpt());
  ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
  EXPECT_NE(outcome.out.find("POLICY      ALLOC@100  MIN-MAX"), std::string::npos) << outcome.out;
  for (const char* name :
       {"Random", "DotProd", "Clustering", "Packing", "BestFit", "FGD", "FGD-Host"}) {
    EXPECT_NE(outcome.out.find(std::string("\n") + name + " "), std::string::npos) << name;
  }
  EXPECT_NE(outcome.out.find("median of 3 seeds"), std::string::npos);
  // Not a terminal: progress comes as whole lines, ending at 100 %.
  EXPECT_NE(outcome.err.find("replay: 21/21 runs, 100 % of pods"), std::string::npos)
      << outcome.err;
}

TEST_F(ReplayCommand, WritesJsonCurveAndPlot) {
  std::vector<std::string> args = Excerpt();
  const std::string curve = (dir_ / "curve.csv").string();
  const std::string plot = (dir_ / "plot.svg").string();
  args.insert(args.end(), {"--policy", "best-fit,fgd-host", "-o", "json", "-q", "--curve", curve,
                           "--plot", plot});
  Outcome outcome = Run(args);
  ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
  EXPECT_EQ(outcome.err, "");
  const nlohmann::json document = nlohmann::json::parse(outcome.out);
  ASSERT_EQ(document["policies"].size(), 2u);
  EXPECT_EQ(document["policies"][0]["name"], "best-fit");
  EXPECT_EQ(document["policies"][1]["name"], "fgd-host");
  for (const char* point : {"allocAt100", "allocAt130"}) {
    const nlohmann::json& spread = document["policies"][1][point];
    EXPECT_TRUE(spread["median"].is_number());
    EXPECT_LE(spread["min"].get<double>(), spread["median"].get<double>());
    EXPECT_LE(spread["median"].get<double>(), spread["max"].get<double>());
  }
  EXPECT_EQ(document["policies"][1]["runs"].size(), 3u);
  EXPECT_EQ(document["seeds"], nlohmann::json({1, 2, 3}));
  EXPECT_EQ(document["nodes"]["gpuCapacityMilli"], 318000);
  EXPECT_EQ(ReadText(curve).rfind("policy,arrived_pct,", 0), 0u);
  EXPECT_NE(ReadText(plot).find("</svg>"), std::string::npos);
}

TEST_F(ReplayCommand, YamlHasTheSameShape) {
  std::vector<std::string> args = Excerpt("5");
  args.insert(args.end(), {"--policy", "fgd", "-o", "yaml", "-q"});
  Outcome outcome = Run(args);
  ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
  EXPECT_NE(outcome.out.find("\npolicies:\n  - allocAt100:\n      max: "), std::string::npos)
      << outcome.out;
  EXPECT_NE(outcome.out.find("\n    name: fgd\n"), std::string::npos);
}

TEST_F(ReplayCommand, BadInputExitsTwoWithAMessageNamingIt) {
  const fs::path pods = dir_ / "pods.csv";
  std::ofstream(pods) << "name,cpu_milli,memory_mib,num_gpu,gpu_milli\np0,1000,1024,1,500\n"
                         "p1,1000,1024,1,lots\n";
  std::vector<std::string> args = Excerpt();
  args[3] = pods.string();
  Outcome outcome = Run(args);
  EXPECT_EQ(outcome.exit_code, 2);
  EXPECT_EQ(outcome.err, "gpuslice replay: " + pods.string() +
                             ":3: column 'gpu_milli': 'lots' is not a whole number\n");

  args = Excerpt();
  args.insert(args.end(), {"--policy", "fgd,tetris"});
  outcome = Run(args);
  EXPECT_EQ(outcome.exit_code, 2);
  EXPECT_NE(outcome.err.find("unknown policy 'tetris'"), std::string::npos) << outcome.err;

  outcome = Run(Excerpt("9-3"));
  EXPECT_EQ(outcome.exit_code, 2);
  EXPECT_EQ(outcome.err,
            "gpuslice replay: --seeds: '9-3' is neither a seed nor an ascending range of at most "
            "10000 seeds (e.g. 42-51)\n");

  outcome = Run({"--nodes", (dir_ / "missing.csv").string(), "--pods", pods.string()});
  EXPECT_EQ(outcome.exit_code, 2);
}

TEST_F(ReplayCommand, HelpListsThePolicies) {
  Outcome outcome = Run({"--help"});
  EXPECT_EQ(outcome.exit_code, 0);
  EXPECT_NE(outcome.out.find("fgd-host:"), std::string::npos) << outcome.out;
}

}  // namespace
}  // namespace gpuslice::replay
