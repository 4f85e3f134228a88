#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "dra/cdi.h"
#include "dra/checkpoint.h"
#include "fakes/temp_dir.h"

namespace gpuslice::dra {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;

std::string Read(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

TEST(Cdi, SpecHoldsSharedEditsOnceAndEachGpusLimitsOnItsDevice) {
  CdiSpec spec;
  spec.env = {"NVIDIA_VISIBLE_DEVICES=GPU-a,GPU-b", "GPUSLICE_REGION=/var/run/gpuslice/region"};
  spec.mounts = {{"/var/run/gpuslice", "/host/regions/alloc-1", false},
                 {"/usr/local/gpuslice/lib/libgpuslice.so", "/host/lib/libgpuslice.so", true}};
  spec.devices = {{"uid-gpu-0", {"GPUSLICE_MEMORY_LIMIT_0=6442450944"}},
                  {"uid-gpu-1", {"GPUSLICE_MEMORY_LIMIT_1=1073741824"}}};
  const json document = json::parse(FormatCdiSpec(spec));
  EXPECT_EQ(document["cdiVersion"], "0.6.0");
  EXPECT_EQ(document["kind"], "gpu.gpuslice.io/claim");
  EXPECT_EQ(document["containerEdits"]["env"][0], "NVIDIA_VISIBLE_DEVICES=GPU-a,GPU-b");
  EXPECT_EQ(document["containerEdits"]["mounts"][0]["options"],
            json::array({"rw", "nosuid", "nodev", "bind"}));
  EXPECT_EQ(document["containerEdits"]["mounts"][1]["options"][0], "ro");
  EXPECT_EQ(document["containerEdits"]["mounts"][1]["hostPath"], "/host/lib/libgpuslice.so");
  EXPECT_EQ(document["devices"][1]["name"], "uid-gpu-1");
  EXPECT_EQ(document["devices"][1]["containerEdits"]["env"][0],
            "GPUSLICE_MEMORY_LIMIT_1=1073741824");
  EXPECT_EQ(CdiDeviceId("uid-gpu-1"), "gpu.gpuslice.io/claim=uid-gpu-1");
}

TEST(Cdi, WriteReplacesTheFileWholeAndNamesErrors) {
  testing::TempDir dir;
  CdiSpec spec;
  spec.devices = {{"d", {"A=1"}}};
  Result<std::string> path = WriteCdiSpec(dir.Sub("cdi"), CdiSpecStem("uid-9"), spec);
  ASSERT_TRUE(path.ok()) << path.status().ToString();
  EXPECT_EQ(*path, dir.Sub("cdi") + "/gpu.gpuslice.io-uid-9.json");
  spec.devices[0].env = {"A=2"};
  ASSERT_TRUE(WriteCdiSpec(dir.Sub("cdi"), CdiSpecStem("uid-9"), spec).ok());
  EXPECT_THAT(Read(*path), HasSubstr("A=2"));
  EXPECT_EQ(access((dir.Sub("cdi") + "/.gpu.gpuslice.io-uid-9.tmp").c_str(), F_OK), -1);

  std::ofstream(dir.Sub("file")) << "not a directory";
  Result<std::string> refused = WriteCdiSpec(dir.Sub("file") + "/cdi", "x", spec);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr(dir.Sub("file")));
}

TEST(Checkpoint, RoundTripsAndAnEmptyStartIsFine) {
  testing::TempDir dir;
  Checkpoint fresh(dir.Sub("plugin/checkpoint.json"));
  ASSERT_TRUE(fresh.Load().ok());
  EXPECT_TRUE(fresh.claims().empty());
  fresh.Put({"uid-1",
             "team",
             "claim",
             {{{"gpu"}, "node-a", "gpu-0", "share-1", {"gpu.gpuslice.io/claim=uid-1-gpu-0"}},
              {{"gpu"}, "node-a", "gpu-1", "", {"gpu.gpuslice.io/claim=uid-1-gpu-1", "x/y=z"}}},
             "/regions/alloc-1",
             "/cdi/gpu.gpuslice.io-uid-1.json"});
  ASSERT_TRUE(fresh.Save().ok());

  Checkpoint again(dir.Sub("plugin/checkpoint.json"));
  ASSERT_TRUE(again.Load().ok());
  const PreparedClaim* claim = again.Find("uid-1");
  ASSERT_NE(claim, nullptr);
  EXPECT_EQ(claim->name, "claim");
  EXPECT_EQ(claim->region_dir, "/regions/alloc-1");
  ASSERT_EQ(claim->devices.size(), 2u);
  EXPECT_EQ(claim->devices[0].share_id, "share-1");
  EXPECT_EQ(claim->devices[1].share_id, "");
  EXPECT_EQ(claim->devices[1].cdi_device_ids[1], "x/y=z");
  again.Erase("uid-1");
  ASSERT_TRUE(again.Save().ok());
  Checkpoint empty(dir.Sub("plugin/checkpoint.json"));
  ASSERT_TRUE(empty.Load().ok());
  EXPECT_EQ(empty.Find("uid-1"), nullptr);
}

TEST(Checkpoint, AForeignOrBrokenFileIsAnErrorNamingIt) {
  testing::TempDir dir;
  for (const std::string text : {"{\"version\": \"other/v9\", \"claims\": {}}",
                                 "{\"version\": \"gpuslice.dra/v1\", \"claims\": {\"u\": 3}}",
                                 "not json"}) {
    std::ofstream(dir.Sub("checkpoint.json")) << text;
    Checkpoint checkpoint(dir.Sub("checkpoint.json"));
    const Status loaded = checkpoint.Load();
    EXPECT_EQ(loaded.code(), StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(loaded.message(), HasSubstr(dir.Sub("checkpoint.json")));
  }
}

}  // namespace
}  // namespace gpuslice::dra
