#include "plugin/cdi.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "fakes/temp_dir.h"

namespace gpuslice::plugin {
namespace {

constexpr const char* kUuid0 = "GPU-11111111-2222-3333-4444-555555555555";
constexpr const char* kUuid1 = "GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

std::string Read(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

TEST(NvidiaCdiDevice, IsTheToolkitsName) {
  EXPECT_EQ(NvidiaCdiDevice(kUuid0), std::string("nvidia.com/gpu=") + kUuid0);
}

TEST(CdiAnnotationKey, IsAValidAnnotationKeyOrAnError) {
  Result<std::string> key = CdiAnnotationKey("alloc-1712345678901-AbC123");
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(*key, "cdi.k8s.io/gpuslice_alloc-1712345678901-AbC123");
  EXPECT_FALSE(CdiAnnotationKey("").ok());
  EXPECT_FALSE(CdiAnnotationKey("a/b").ok());
  EXPECT_FALSE(CdiAnnotationKey("ends-with-").ok());
  EXPECT_FALSE(CdiAnnotationKey(std::string(60, 'a')).ok());  // 9 + 60 > 63
  EXPECT_TRUE(CdiAnnotationKey(std::string(54, 'a')).ok());
}

TEST(SimulatedCdiSpec, DefinesEachGpuAndInjectsTheSimulatedDriver) {
  const SimulatedCdiSpec spec{
      "/var/run/cdi", "/var/lib/gpuslice/lib", "/var/lib/gpuslice/sim/state", {kUuid0, kUuid1}};
  const nlohmann::json document = nlohmann::json::parse(FormatSimulatedCdiSpec(spec));
  EXPECT_EQ(document["cdiVersion"], "0.6.0");
  EXPECT_EQ(document["kind"], "nvidia.com/gpu");
  ASSERT_EQ(document["devices"].size(), 2u);
  EXPECT_EQ(document["devices"][0]["name"], kUuid0);
  EXPECT_EQ(document["devices"][0]["containerEdits"]["env"][0],
            std::string("GPUSLICE_SIM_CDI_GPU_GPU_11111111_2222_3333_4444_555555555555=") + kUuid0);
  EXPECT_EQ(document["devices"][1]["name"], kUuid1);

  const nlohmann::json& common = document["containerEdits"];
  EXPECT_EQ(common["env"][0], "GPUSLICE_SIM_STATE=/var/run/gpuslice-sim/state");
  ASSERT_EQ(common["mounts"].size(), 3u);
  EXPECT_EQ(common["mounts"][0]["hostPath"], "/var/lib/gpuslice/lib/sim/libcuda.so.1");
  EXPECT_EQ(common["mounts"][0]["containerPath"], "/usr/lib/x86_64-linux-gnu/libcuda.so.1");
  EXPECT_EQ(common["mounts"][0]["options"][0], "ro");
  EXPECT_EQ(common["mounts"][1]["hostPath"], "/var/lib/gpuslice/lib/sim/libnvidia-ml.so.1");
  EXPECT_EQ(common["mounts"][2]["hostPath"], "/var/lib/gpuslice/sim");
  EXPECT_EQ(common["mounts"][2]["containerPath"], "/var/run/gpuslice-sim");
  EXPECT_EQ(common["mounts"][2]["options"][0], "rw");
}

TEST(SimulatedCdiSpec, IsWrittenWholeAndOnlyWhenItChanges) {
  testing::TempDir dir;
  SimulatedCdiSpec spec{dir.path(), "/lib-dir", "/sim/state", {kUuid0}};
  ASSERT_TRUE(WriteSimulatedCdiSpec(spec).ok());
  const std::string path = SimulatedCdiSpecPath(dir.path());
  EXPECT_EQ(Read(path), FormatSimulatedCdiSpec(spec));
  struct stat before {};
  ASSERT_EQ(stat(path.c_str(), &before), 0);
  ASSERT_TRUE(WriteSimulatedCdiSpec(spec).ok());
  struct stat same {};
  ASSERT_EQ(stat(path.c_str(), &same), 0);
  EXPECT_EQ(same.st_ino, before.st_ino);  // unchanged: not rewritten

  spec.gpu_uuids.push_back(kUuid1);
  ASSERT_TRUE(WriteSimulatedCdiSpec(spec).ok());
  EXPECT_EQ(Read(path), FormatSimulatedCdiSpec(spec));
  // Nothing but the spec in the directory: no temporary file left for the runtime to read.
  int files = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir.path()))
    ++files;
  EXPECT_EQ(files, 1);

  spec.spec_dir = dir.Sub("missing");
  Status failed = WriteSimulatedCdiSpec(spec);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.message().find(dir.Sub("missing")), std::string::npos) << failed.message();
}

}  // namespace
}  // namespace gpuslice::plugin
