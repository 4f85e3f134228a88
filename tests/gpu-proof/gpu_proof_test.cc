// Tests of the GPU proof kit (scripts/gpu-proof.sh) as far as a machine without a GPU allows:
// its driver-API checks over the simulated driver, with this build's library and with the one
// its lean build makes; its prerequisite and argument errors; and its GPU code against NVIDIA's
// own tools (the PTX through ptxas, the runtime program through NVIDIA's headers) where
// scripts/setup.sh --test-tools installed them.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "fakes/subprocess.h"
#include "fakes/temp_dir.h"

namespace gpuslice::testing {
namespace {

const std::string kScript = std::string(GPUSLICE_SOURCE_DIR) + "/scripts/gpu-proof.sh";
// The build this test belongs to: bin/, lib/ and lib/sim/ (the simulated driver).
const std::string kBuild = std::filesystem::path(GPUSLICE_BIN_DIR).parent_path().string();

struct ScriptRun {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

ScriptRun RunScript(const TempDir& dir, const std::vector<std::string>& arguments,
                    const std::map<std::string, std::optional<std::string>>& env = {},
                    std::chrono::seconds limit = std::chrono::seconds(280)) {
  std::vector<std::string> argv = {"/bin/bash", kScript};
  argv.insert(argv.end(), arguments.begin(), arguments.end());
  Subprocess process(argv, env, dir.Sub("script.log"));
  ScriptRun run;
  if (std::optional<int> code = process.Wait(limit)) run.exit_code = *code;
  run.output = process.Output();
  return run;
}

nlohmann::json ReadJson(const std::string& path) {
  std::ifstream file(path);
  return nlohmann::json::parse(file, nullptr, /*allow_exceptions=*/false);
}

// name -> the check's JSON object.
std::map<std::string, nlohmann::json> Checks(const nlohmann::json& results) {
  std::map<std::string, nlohmann::json> checks;
  for (const nlohmann::json& check : results["checks"]) {
    checks[check["name"].get<std::string>()] = check;
  }
  return checks;
}

bool DriverInstalled() {
  return std::system("ldconfig -p 2>/dev/null | grep -q 'libcuda\\.so\\.1 '") == 0;
}

// Every driver-API check the simulated driver can answer must pass; the ones that need a
// real GPU or a framework must be skipped with the reason.
void ExpectSimulatedResults(const nlohmann::json& results, const std::string& log) {
  ASSERT_TRUE(results.is_object()) << "no JSON results; the script said:\n" << log;
  EXPECT_EQ(results["version"], 1);
  EXPECT_EQ(results["mode"], "simulated");
  EXPECT_EQ(results["host"]["gpu"], "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(results["slice"]["memory_bytes"], 20388ull << 20);  // a quarter of 81559 MiB
  const std::map<std::string, nlohmann::json> checks = Checks(results);
  for (const char* name :
       {"driver.hooked", "driver.mem_info", "driver.total_mem", "nvml.mem_info",
        "driver.alloc.plain", "driver.alloc.pitch", "driver.alloc.managed", "driver.alloc.async",
        "driver.alloc.pool", "driver.alloc.vmm", "driver.alloc.array", "driver.alloc.mipmap",
        "driver.alloc.graph", "driver.alloc.edge", "processes.one_limit",
        "processes.sigkill_gives_back"}) {
    ASSERT_TRUE(checks.count(name)) << name << " missing; the script said:\n" << log;
    EXPECT_EQ(checks.at(name)["result"], "pass") << name << ": " << checks.at(name)["detail"];
  }
  for (const char* name :
       {"driver.kernel", "runtime.mem_info", "runtime.kernel", "torch.oom.expandable",
        "torch.numbers.train", "cupy.pool_oom", "jax.preallocation", "nvidia_smi.memory"}) {
    ASSERT_TRUE(checks.count(name)) << name << " missing; the script said:\n" << log;
    EXPECT_EQ(checks.at(name)["result"], "skip") << name;
    EXPECT_FALSE(checks.at(name)["detail"].get<std::string>().empty()) << name << " says no reason";
  }
  EXPECT_EQ(results["summary"]["fail"], 0);
}

const std::vector<std::string> kSimulatedGroups = {
    "--only", "driver,processes,runtime,torch,cupy,jax,nvidia-smi"};

TEST(GpuProof, DriverChecksPassOverTheSimulatedDriver) {
  TempDir dir;
  std::vector<std::string> arguments = {"--simulated", kBuild,
                                        "--library",   kBuild + "/lib/libgpuslice.so",
                                        "--output",    dir.Sub("results.json")};
  arguments.insert(arguments.end(), kSimulatedGroups.begin(), kSimulatedGroups.end());
  const ScriptRun run = RunScript(dir, arguments);
  EXPECT_EQ(run.exit_code, 0) << run.output;
  ExpectSimulatedResults(ReadJson(dir.Sub("results.json")), run.output);
  // The table names every check with its result.
  EXPECT_NE(run.output.find("driver.alloc.vmm"), std::string::npos);
  EXPECT_NE(run.output.find("0 failed"), std::string::npos) << run.output;
}

TEST(GpuProof, LeanBuildNeedsOnlyCMakeAndACompilerAndHoldsTheSlice) {
  TempDir dir;
  const std::string build = dir.Sub("lean");
  const ScriptRun built =
      RunScript(dir, {"--build-only", "--build-dir", build}, {}, std::chrono::seconds(560));
  ASSERT_EQ(built.exit_code, 0) << built.output;
  EXPECT_TRUE(std::filesystem::exists(build + "/lib/libgpuslice.so"));
  EXPECT_TRUE(std::filesystem::exists(build + "/bin/gpu_proof_driver"));
  // None of the full build's packages was even looked for.
  std::ifstream cache_file(build + "/CMakeCache.txt");
  std::stringstream cache;
  cache << cache_file.rdbuf();
  for (const char* package : {"gRPC_DIR", "Protobuf_", "yaml-cpp_DIR", "CLI11_DIR", "spdlog_DIR",
                              "GLPK_", "GTest_DIR", "nlohmann_json_DIR", "benchmark_DIR"}) {
    EXPECT_EQ(cache.str().find(package), std::string::npos) << package << " in the lean cache";
  }

  std::vector<std::string> arguments = {"--simulated", kBuild,
                                        "--library",   build + "/lib/libgpuslice.so",
                                        "--output",    dir.Sub("results.json")};
  arguments.insert(arguments.end(), kSimulatedGroups.begin(), kSimulatedGroups.end());
  const ScriptRun run = RunScript(dir, arguments);
  EXPECT_EQ(run.exit_code, 0) << run.output;
  ExpectSimulatedResults(ReadJson(dir.Sub("results.json")), run.output);
}

TEST(GpuProof, NoDriverIsAPrerequisiteErrorNamingIt) {
  if (DriverInstalled()) GTEST_SKIP() << "this machine has an NVIDIA driver (libcuda.so.1)";
  TempDir dir;
  const ScriptRun run =
      RunScript(dir, {"--output", dir.Sub("results.json")}, {{"LD_LIBRARY_PATH", std::nullopt}});
  EXPECT_EQ(run.exit_code, 3) << run.output;
  EXPECT_NE(run.output.find("missing: an NVIDIA driver: libcuda.so.1"), std::string::npos)
      << run.output;
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("results.json")));
}

TEST(GpuProof, BadArgumentsExitTwoNamingTheArgument) {
  TempDir dir;
  ScriptRun run = RunScript(dir, {"--gpu", "first"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.output.find("--gpu 'first'"), std::string::npos) << run.output;
  run = RunScript(dir, {"--only", "driver,tensorflow"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.output.find("unknown group 'tensorflow'"), std::string::npos) << run.output;
  run = RunScript(dir, {"--simulated", dir.path()});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.output.find("holds no simulated driver"), std::string::npos) << run.output;
  run = RunScript(dir, {"--help"});
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_NE(run.output.find("usage: scripts/gpu-proof.sh"), std::string::npos);
}

// The kit's kernels are PTX that the driver JIT-compiles on the node; NVIDIA's assembler must
// accept them for every GPU generation CUDA 13 supports.
TEST(GpuProof, KernelsAssembleForEveryGpuGeneration) {
  const std::string ptxas = GPUSLICE_PTXAS;
  if (ptxas.empty()) {
    GTEST_SKIP() << "NVIDIA's ptxas was not found at configure time (scripts/setup.sh "
                    "--test-tools unpacks it from the nvcc wheel)";
  }
  TempDir dir;
  const std::string ptx = dir.Sub("kit.ptx");
  ASSERT_EQ(std::system((std::string(GPUSLICE_BIN_DIR) + "/gpu_proof_driver ptx > " + ptx).c_str()),
            0);
  for (const char* arch : {"sm_75", "sm_80", "sm_86", "sm_89", "sm_90", "sm_100", "sm_120"}) {
    const std::string command = ptxas + " -arch=" + arch + " " + ptx + " -o " +
                                dir.Sub(std::string(arch) + ".cubin") + " > " +
                                dir.Sub("ptxas.log") + " 2>&1";
    EXPECT_EQ(std::system(command.c_str()), 0) << arch;
  }
}

// The runtime program is built by nvcc on the node; here its host code is compiled against
// NVIDIA's runtime headers, with the device built-ins nvcc would provide declared.
TEST(GpuProof, RuntimeProgramCompilesAgainstNvidiaHeaders) {
  const std::string include = GPUSLICE_CUDA_INCLUDE_DIR;
  if (!std::filesystem::exists(include + "/cuda_runtime.h") ||
      !std::filesystem::exists(include + "/crt/host_config.h")) {
    GTEST_SKIP() << "NVIDIA's runtime headers are not in " << include
                 << " (scripts/setup.sh --test-tools installs them)";
  }
  TempDir dir;
  const std::string command = std::string(GPUSLICE_CXX) +
                              " -fsyntax-only -x c++ -std=c++17 -Wall -Wextra -Werror "
                              "-Wno-attributes -isystem " +
                              include + " -include device_launch_parameters.h " +
                              GPUSLICE_SOURCE_DIR + "/tests/gpu-proof/runtime_check.cu > " +
                              dir.Sub("compile.log") + " 2>&1";
  EXPECT_EQ(std::system(command.c_str()), 0) << std::ifstream(dir.Sub("compile.log")).rdbuf();
}

}  // namespace
}  // namespace gpuslice::testing
