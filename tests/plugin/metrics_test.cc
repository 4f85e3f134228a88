#include "plugin/metrics.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "fakes/temp_dir.h"

namespace gpuslice::plugin {
namespace {

TEST(MetricsRegistry, RendersTheTextExpositionFormat) {
  MetricsRegistry registry;
  DeclarePluginMetrics(registry);
  registry.Set(kMetricGpuSlices, {{"gpu", "GPU-a"}, {"model", "NVIDIA \"H100\"\\x"}}, 4);
  registry.Increment(kMetricAllocations, {{"resource", "nvidia.com/gpu"}});
  registry.Increment(kMetricAllocations, {{"resource", "nvidia.com/gpu"}}, 2);
  registry.Increment("undeclared_total", {});
  const std::string text = registry.Render();
  EXPECT_NE(text.find("# TYPE gpuslice_gpu_slices gauge\n"), std::string::npos);
  EXPECT_NE(text.find("gpuslice_gpu_slices{gpu=\"GPU-a\",model=\"NVIDIA \\\"H100\\\"\\\\x\"} 4\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("gpuslice_allocations_total{resource=\"nvidia.com/gpu\"} 3\n"),
            std::string::npos);
  EXPECT_EQ(text.find("undeclared_total"), std::string::npos);
  EXPECT_EQ(registry.Get(kMetricAllocations, {{"resource", "nvidia.com/gpu"}}), 3);
  registry.Clear(kMetricGpuSlices);
  EXPECT_EQ(registry.Get(kMetricGpuSlices, {{"gpu", "GPU-a"}}), 0);
}

// Runs `promtool check metrics` on the rendered text: the format Prometheus itself accepts.
TEST(MetricsRegistry, PassesPromtool) {
  if (system("command -v promtool >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "promtool is not installed (scripts/setup.sh --test-tools installs it)";
  }
  MetricsRegistry registry;
  DeclarePluginMetrics(registry);
  registry.Set(kMetricGpuSlices, {{"gpu", "GPU-a"}, {"resource", "nvidia.com/gpu"}}, 4);
  registry.Set(kMetricGpuHealthy, {{"gpu", "GPU-a"}}, 1);
  registry.Increment(kMetricXidEvents, {{"gpu", "GPU-a"}, {"xid", "79"}, {"critical", "true"}});
  registry.Increment(kMetricRegistrations, {{"resource", "nvidia.com/gpu"}, {"result", "success"}});
  testing::TempDir dir;
  const std::string file = dir.Sub("metrics.txt");
  std::ofstream(file) << registry.Render();
  const std::string command = "promtool check metrics < " + file + " > " + dir.Sub("out") + " 2>&1";
  const int status = system(command.c_str());
  std::ifstream out(dir.Sub("out"));
  std::string output((std::istreambuf_iterator<char>(out)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << output;
  EXPECT_EQ(output, "") << "promtool found lint problems";
}

}  // namespace
}  // namespace gpuslice::plugin
