#include "plan/slicing.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "plan/fixtures.h"
#include "plan/planner.h"
#include "plan/render.h"

namespace gpuslice::plan {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const InstanceType& Type(std::string_view name) { return *BuiltinCatalog().Find(name); }

TEST(SlicingProfile, SliceCountsPerModelWithAWildcard) {
  Result<SlicingProfile> profile = SlicingProfile::FromSliceCounts("*=2,V100=4", BuiltinCatalog(),
                                                                   std::string(kSliceResource), 0);
  ASSERT_TRUE(profile.ok()) << profile.status().ToString();
  EXPECT_EQ(profile->For(Type("p3.2xlarge"))->slices, 4);
  EXPECT_EQ(profile->For(Type("g5.xlarge"))->slices, 2);
  EXPECT_EQ(profile->For(Type("g5.xlarge"))->resource_name, "gpuslice.io/slice");
  EXPECT_EQ(profile->description(), "every GPU=2, v100=4 as gpuslice.io/slice");
  Result<SlicingProfile> only =
      SlicingProfile::FromSliceCounts("a10g=2", BuiltinCatalog(), std::string(kSliceResource), 0);
  ASSERT_TRUE(only.ok());
  EXPECT_FALSE(only->For(Type("p3.2xlarge"))->sliced());
}

TEST(SlicingProfile, RefusesUnknownModelsAndBadCounts) {
  const auto error = [](std::string_view spec) {
    return SlicingProfile::FromSliceCounts(spec, BuiltinCatalog(), std::string(kSliceResource), 0)
        .status()
        .message();
  };
  EXPECT_THAT(error("v10=4"), HasSubstr("the catalog has no GPU model \"v10\""));
  EXPECT_THAT(error("v100=0"), HasSubstr("slices from 1 to 64"));
  EXPECT_THAT(error("v100=four"), HasSubstr("expected <model>=<slices>"));
  EXPECT_THAT(error("v100=2,v100=4"), HasSubstr("given twice"));
  EXPECT_THAT(SlicingProfile::FromSliceCounts("4", BuiltinCatalog(), "slice", 0).status().message(),
              HasSubstr("slice"));
}

TEST(SlicingProfile, SliceMemoryFitsAsManySlicesAsTheGpuHolds) {
  Result<SlicingProfile> profile =
      SlicingProfile::FromSliceMemory(uint64_t{10} << 30, std::string(kSliceResource), 0);
  ASSERT_TRUE(profile.ok());
  EXPECT_EQ(profile->For(Type("p3.2xlarge"))->slices, 1);     // 16 GiB
  EXPECT_EQ(profile->For(Type("p3dn.24xlarge"))->slices, 3);  // 32 GiB
  EXPECT_EQ(profile->For(Type("p5.48xlarge"))->slices, 8);    // 80 GiB
  EXPECT_EQ(profile->For(Type("g6e.xlarge"))->slices, 4);     // 44.7 GiB
  Result<SlicingProfile> reserved = SlicingProfile::FromSliceMemory(
      uint64_t{10} << 30, std::string(kSliceResource), uint64_t{1} << 30);
  EXPECT_EQ(reserved->For(Type("p5.48xlarge"))->slices, 7);
  EXPECT_EQ(reserved->For(Type("p5.48xlarge"))->SliceMemory(uint64_t{80} << 30),
            (uint64_t{79} << 30) / 7);
}

// The globs render writes must match the names NVML reports on those GPUs, and only them.
TEST(SlicingProfile, RefusesGpusTheReservedMemoryLeavesEmpty) {
  const Catalog catalog = BuiltinCatalog();
  const InstanceType* t4 = nullptr;
  for (const InstanceType& type : catalog.types) {
    if (type.gpu_model == "t4" && t4 == nullptr) t4 = &type;
  }
  ASSERT_NE(t4, nullptr);
  Result<SlicingProfile> counts = SlicingProfile::FromSliceCounts(
      "4", catalog, std::string(kSliceResource), t4->gpu_memory_bytes);
  ASSERT_TRUE(counts.ok());
  Result<GpuSlices> slices = counts->For(*t4);
  ASSERT_EQ(slices.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(slices.status().message(),
              HasSubstr("instance type " + t4->name + " (t4): reservedMemory"));
  Result<SlicingProfile> memory = SlicingProfile::FromSliceMemory(
      1 << 30, std::string(kSliceResource), t4->gpu_memory_bytes + 1);
  EXPECT_FALSE(memory->For(*t4).ok());
  Result<core::Config> config = core::ParseConfig(
      "version: v1\ndefaultProfile: {reservedMemory: 64Gi}\n", "values.yaml");
  ASSERT_TRUE(config.ok());
  EXPECT_FALSE(SlicingProfile::FromConfig(*config, "values.yaml").For(*t4).ok());
  // A type the profile leaves whole and unreserved is fine.
  Result<SlicingProfile> other =
      SlicingProfile::FromSliceCounts("v100=2", catalog, std::string(kSliceResource), 0);
  EXPECT_TRUE(other->For(*t4).ok());
}

TEST(PluginConfig, ModelGlobsMatchEachCatalogGpuAndNoOther) {
  Result<SlicingProfile> profile =
      SlicingProfile::FromSliceMemory(uint64_t{8} << 30, std::string(kSliceResource), 0);
  std::vector<const InstanceType*> types;
  for (const InstanceType& type : BuiltinCatalog().types) types.push_back(&type);
  Result<core::Config> config = PluginConfig(types, *profile);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  for (const InstanceType& type : BuiltinCatalog().types) {
    if (type.gpu_count == 0) continue;
    SCOPED_TRACE(type.name + " " + NvmlName(type));
    core::GpuInfo gpu;
    gpu.name = NvmlName(type);
    gpu.memory_bytes = type.gpu_memory_bytes;
    Result<std::vector<const core::SlicingProfile*>> assigned =
        core::AssignProfiles(*config, {gpu});
    ASSERT_TRUE(assigned.ok()) << assigned.status().ToString();
    EXPECT_EQ(assigned->front()->slices, profile->For(type)->slices);
    EXPECT_EQ(assigned->front()->resource_name, "gpuslice.io/slice");
  }
  // V100s of 16 and 32 GiB get different counts, so they get one profile each.
  std::vector<std::string> v100;
  for (const core::SlicingProfile& p : config->profiles) {
    if (p.name.starts_with("v100")) v100.push_back(p.name + " " + p.match.models[0]);
  }
  EXPECT_THAT(v100, ElementsAre("v100-16gb *V100*16GB*", "v100-32gb *V100*32GB*"));
}

TEST(SliceOverlays, OneOverlayPerCountLimitedToThePool) {
  const kube::Manifests manifests = testing::Parse(testing::NodePool("gpu", "p3, p3dn"));
  const kube::NodePool& pool = manifests.node_pools[0];
  Result<SlicingProfile> profile =
      SlicingProfile::FromSliceCounts("v100=4", BuiltinCatalog(), std::string(kSliceResource), 0);
  Result<std::vector<kube::NodeOverlay>> overlays =
      SliceOverlays(pool, NodePoolTypes(BuiltinCatalog(), pool), *profile);
  ASSERT_TRUE(overlays.ok());
  std::vector<std::string> summary;
  for (const kube::NodeOverlay& o : *overlays) {
    std::string types;
    for (const std::string& t : o.requirements[1].values) types += t + " ";
    summary.push_back(o.name + ": " + types + o.capacity.at("gpuslice.io/slice").text());
    EXPECT_TRUE(IsManagedOverlay(o));
    EXPECT_EQ(o.requirements[0].key, "karpenter.sh/nodepool");
    EXPECT_EQ(o.requirements[0].values, std::vector<std::string>{"gpu"});
  }
  EXPECT_THAT(summary, ElementsAre("gpuslice-gpu-slice-4: p3.2xlarge 4",
                                   "gpuslice-gpu-slice-16: p3.8xlarge 16",
                                   "gpuslice-gpu-slice-32: p3.16xlarge p3dn.24xlarge 32"));
}

TEST(Render, WritesTaintedPoolsOverlaysAndValuesThatReadBack) {
  const kube::Manifests input = testing::Parse(
      "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: gpu}\nspec:\n  template:\n"
      "    spec:\n      requirements: [{key: karpenter.k8s.aws/instance-family, operator: In, "
      "values: [g5]}]\n");
  Result<SlicingProfile> profile =
      SlicingProfile::FromSliceCounts("a10g=2", BuiltinCatalog(), std::string(kSliceResource), 0);
  Result<Rendering> rendering = Render(input.node_pools, BuiltinCatalog(), *profile);
  ASSERT_TRUE(rendering.ok()) << rendering.status().ToString();
  const kube::Manifests output =
      testing::Parse(rendering->node_pools_yaml + rendering->node_overlays_yaml);
  ASSERT_EQ(output.node_pools.size(), 1u);
  ASSERT_EQ(output.node_pools[0].taints.size(), 1u);
  EXPECT_EQ(kube::TaintToString(output.node_pools[0].taints[0]), "nvidia.com/gpu=true:NoSchedule");
  EXPECT_EQ(output.node_overlays.size(), 3u);  // 2, 8 and 16 slices
  EXPECT_EQ(rendering->types.size(), 8u);
  EXPECT_THAT(rendering->values_yaml, HasSubstr("config:\n  version: v1\n"));
  Result<core::Config> config = ReadPluginConfig(rendering->values_yaml, "values.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  ASSERT_EQ(config->profiles.size(), 1u);
  EXPECT_EQ(config->profiles[0].slices, 2);
  EXPECT_EQ(config->profiles[0].match.models, std::vector<std::string>{"*A10G*"});
}

TEST(ReadPluginConfig, AcceptsBareConfigAndNamesTheFileOnErrors) {
  Result<core::Config> bare = ReadPluginConfig(
      "version: v1\nprofiles:\n- {name: t4, match: {models: ['*T4']}, slices: 2}\n", "c.yaml");
  ASSERT_TRUE(bare.ok()) << bare.status().ToString();
  EXPECT_EQ(bare->profiles[0].slices, 2);
  EXPECT_THAT(ReadPluginConfig("config:\n  version: v2\n", "values.yaml").status().message(),
              HasSubstr("values.yaml"));
  EXPECT_THAT(ReadPluginConfig("config: [\n", "bad.yaml").status().message(),
              HasSubstr("bad.yaml"));
}

}  // namespace
}  // namespace gpuslice::plan
