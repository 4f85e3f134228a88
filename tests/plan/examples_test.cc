// The shipped examples: render's output under examples/gpuslice/ must be what render writes for
// the example NodePools today, and planning them must give the answers the README quotes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "kube/manifest.h"
#include "plan/planner.h"
#include "plan/render.h"

namespace gpuslice::plan {
namespace {

std::string Read(const std::string& relative) {
  std::ifstream in(std::string(GPUSLICE_SOURCE_DIR) + "/" + relative);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

kube::Manifests Load(const std::vector<std::string>& relative) {
  std::vector<std::string> paths;
  for (const std::string& r : relative) paths.push_back(std::string(GPUSLICE_SOURCE_DIR) + "/" + r);
  Result<kube::Manifests> manifests = kube::LoadManifests(paths);
  EXPECT_TRUE(manifests.ok()) << manifests.status().ToString();
  return manifests.ok() ? *std::move(manifests) : kube::Manifests();
}

// examples/gpuslice/ is `gpuslice render examples/nodepool-gpu.yaml
// examples/inference/nodepool.yaml --slice-memory 4Gi --output-dir examples/gpuslice`.
TEST(Examples, RenderedFilesAreCurrent) {
  const kube::Manifests pools =
      Load({"examples/nodepool-gpu.yaml", "examples/inference/nodepool.yaml"});
  Result<SlicingProfile> profile =
      SlicingProfile::FromSliceMemory(uint64_t{4} << 30, std::string(kSliceResource), 0);
  ASSERT_TRUE(profile.ok());
  Result<Rendering> rendering = Render(pools.node_pools, BuiltinCatalog(), *profile);
  ASSERT_TRUE(rendering.ok()) << rendering.status().ToString();
  EXPECT_EQ(rendering->node_pools_yaml, Read("examples/gpuslice/nodepools.yaml"));
  EXPECT_EQ(rendering->node_overlays_yaml, Read("examples/gpuslice/nodeoverlays.yaml"));
  EXPECT_EQ(rendering->values_yaml, Read("examples/gpuslice/values.yaml"));
}

TEST(Examples, PlanPlacesEveryPodAndSlicingSaves) {
  const kube::Manifests manifests = Load(
      {"examples/gpu-example-deployment.yaml", "examples/gpu-example-pod.yaml",
       "examples/nodepool-gpu.yaml", "examples/inference", "examples/gpuslice/nodeoverlays.yaml"});
  Result<core::Config> config =
      ReadPluginConfig(Read("examples/gpuslice/values.yaml"), "values.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  PlanOptions options;
  options.catalog = &BuiltinCatalog();
  options.profile = SlicingProfile::FromConfig(*config, "values.yaml");
  Result<Plan> plan = MakePlan(manifests, options);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_THAT(plan->warnings, ::testing::IsEmpty());
  ASSERT_EQ(plan->scenarios.size(), 3u);
  EXPECT_EQ(plan->pods, 20u);
  for (const Scenario& s : plan->scenarios) {
    SCOPED_TRACE(s.name);
    EXPECT_EQ(s.pods_placed, 20u);
  }
  const double whole = plan->scenarios[0].cost_per_hour;
  const double sliced = plan->scenarios[1].cost_per_hour;
  const double optimal = plan->scenarios[2].cost_per_hour;
  EXPECT_LT(sliced, whole);
  EXPECT_LE(optimal, sliced + 1e-9);
  EXPECT_TRUE(plan->scenarios[2].proven_optimal);
}

}  // namespace
}  // namespace gpuslice::plan
