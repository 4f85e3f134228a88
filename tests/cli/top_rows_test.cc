// `gpuslice top`'s reading of /metrics: the Prometheus text parser on the format's corners and
// on mutations of real agent output, and the rows built from what the plugin's own renderer
// writes, so the reader and the writer of the series cannot drift apart.
#include "cli/top_rows.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "cli/prometheus_text.h"
#include "fakes/text_mutator.h"
#include "plugin/container_metrics.h"

namespace gpuslice::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

plugin::ContainerGpuUsage Usage(std::string ns, std::string pod, std::string gpu) {
  plugin::ContainerGpuUsage usage;
  usage.namespace_name = std::move(ns);
  usage.pod = std::move(pod);
  usage.container = "main";
  usage.resource = "nvidia.com/gpu";
  usage.gpu_uuid = std::move(gpu);
  usage.memory_limit_bytes = 10ULL << 30;
  usage.compute_percent = 25;
  usage.usage_known = true;
  usage.counters_known = true;
  usage.usage.used_bytes = 3ULL << 30;
  usage.usage.peak_bytes = 4ULL << 30;
  usage.usage.refused_allocations = 2;
  usage.usage.throttled_ns = 1'500'000'000;
  usage.compute_used_ratio = 0.2;
  return usage;
}

TEST(ParsePrometheusText, ReadsLabelsEscapesValuesAndTimestamps) {
  Result<std::vector<Sample>> samples = ParsePrometheusText(
      "# HELP a_total things\n# TYPE a_total counter\n"
      "a_total{x=\"1\",y=\"q\\\"uote\\\\ and\\nline\"} 3 1700000000000\n"
      "\n  b:c 1.5e3\r\n"
      "d{ z = \"\" , } +Inf\n"
      "e NaN\n"
      "f{} -2\n",
      "agent");
  ASSERT_TRUE(samples.ok()) << samples.status().ToString();
  ASSERT_EQ(samples->size(), 5u);
  EXPECT_EQ((*samples)[0].name, "a_total");
  EXPECT_THAT((*samples)[0].labels, ElementsAre(Pair("x", "1"), Pair("y", "q\"uote\\ and\nline")));
  EXPECT_EQ((*samples)[0].value, 3);
  EXPECT_EQ((*samples)[1].name, "b:c");
  EXPECT_EQ((*samples)[1].value, 1500);
  EXPECT_THAT((*samples)[2].labels, ElementsAre(Pair("z", "")));
  EXPECT_TRUE(std::isinf((*samples)[2].value));
  EXPECT_TRUE(std::isnan((*samples)[3].value));
  EXPECT_EQ((*samples)[4].value, -2);
}

TEST(ParsePrometheusText, MalformedLinesAreNamedBySourceAndLine) {
  const std::pair<const char*, const char*> cases[] = {
      {"ok 1\n{x=\"1\"} 2\n", "agent:2: a sample must start with a metric name"},
      {"a{x=1} 2\n", "agent:1: label x's value is not quoted"},
      {"a{x=\"1} 2\n", "agent:1: label x: a label value has no closing quote"},
      {"a{x=\"\\t\"} 2\n", "agent:1: label x: unknown escape \\t"},
      {"a{x=\"1\",x=\"2\"} 2\n", "agent:1: label x is given twice"},
      {"a{x=\"1\" y=\"2\"} 2\n", "agent:1: labels must be separated"},
      {"a{9=\"1\"} 2\n", "agent:1: a label name is missing or invalid"},
      {"a{x\"1\"} 2\n", "agent:1: label x has no '='"},
      {"a 1x\n", "agent:1: value \"1x\" is not a number"},
      {"a inf\n", "agent:1: value \"inf\" is not a number"},
      {"a\n", "agent:1: value \"\" is not a number"},
      {"a 1 12.5\n", "agent:1: timestamp \"12.5\""},
      {"a 1 12 extra\n", "agent:1: text after the timestamp"},
  };
  for (const auto& [text, message] : cases) {
    Result<std::vector<Sample>> samples = ParsePrometheusText(text, "agent");
    ASSERT_FALSE(samples.ok()) << text;
    EXPECT_EQ(samples.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(samples.status().message(), HasSubstr(message)) << text;
  }
  const std::string huge(kMaxMetricsBytes + 1, '#');
  Result<std::vector<Sample>> too_big = ParsePrometheusText(huge, "agent");
  ASSERT_FALSE(too_big.ok());
  EXPECT_THAT(too_big.status().message(), HasSubstr("-byte limit"));
}

TEST(ParsePrometheusText, MutationsOfAgentOutputGiveSamplesOrAnError) {
  const std::string valid = plugin::RenderContainerMetrics(
      {Usage("team-a", "trainer", "GPU-1"), Usage("team-b", "serve\"r", "GPU-2")});
  testing::TextMutator mutator(20261206, "{}=\",\\ \n#+-.eE0123456789aINf_:");
  for (int i = 0; i < 3000; ++i) {
    const std::string text = mutator.Mutate(valid);
    Result<std::vector<Sample>> samples = ParsePrometheusText(text, "agent");
    if (!samples.ok()) {
      EXPECT_THAT(samples.status().message(), HasSubstr("agent:"));
      continue;
    }
    // Whatever parses also makes rows or a clear error.
    Result<std::vector<ContainerSliceRow>> rows = ContainerSliceRows(*samples, "n", "agent");
    if (rows.ok()) {
      for (const ContainerSliceRow& row : *rows) EXPECT_EQ(TopTableCells(row).size(), 9u);
    }
  }
}

TEST(ContainerSliceRows, JoinsTheSeriesThePluginRendersIntoOneRowPerContainerGpu) {
  plugin::ContainerGpuUsage old = Usage("team-a", "old", "GPU-1");
  old.counters_known = false;  // a version-1 region: no peak, refusals or waits
  old.compute_used_ratio = std::nullopt;
  const std::string text = plugin::RenderContainerMetrics(
      {Usage("team-b", "serve\"r", "GPU-2"), Usage("team-a", "trainer", "GPU-1"), old});
  Result<std::vector<Sample>> samples = ParsePrometheusText(
      "# plugin metrics first\ngpuslice_gpu_healthy{gpu=\"GPU-1\"} 1\n" + text, "agent");
  ASSERT_TRUE(samples.ok()) << samples.status().ToString();
  Result<std::vector<ContainerSliceRow>> rows = ContainerSliceRows(*samples, "node-1", "agent");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 3u);
  // Sorted by namespace, then pod.
  EXPECT_EQ((*rows)[0].pod, "old");
  EXPECT_EQ((*rows)[1].pod, "trainer");
  EXPECT_EQ((*rows)[2].pod, "serve\"r");

  const ContainerSliceRow& trainer = (*rows)[1];
  EXPECT_EQ(trainer.node, "node-1");
  EXPECT_EQ(trainer.namespace_name, "team-a");
  EXPECT_EQ(trainer.container, "main");
  EXPECT_EQ(trainer.gpu, "GPU-1");
  EXPECT_EQ(trainer.resource, "nvidia.com/gpu");
  EXPECT_EQ(trainer.memory_used_bytes, 3.0 * (1ULL << 30));
  EXPECT_EQ(trainer.memory_peak_bytes, 4.0 * (1ULL << 30));
  EXPECT_EQ(trainer.memory_limit_bytes, 10.0 * (1ULL << 30));
  EXPECT_EQ(trainer.oom_refusals, 2);
  EXPECT_EQ(trainer.compute_share, 0.25);
  EXPECT_EQ(trainer.compute_used, 0.2);
  EXPECT_EQ(trainer.throttled_seconds, 1.5);
  EXPECT_THAT(TopTableCells(trainer),
              ElementsAre("node-1", "team-a/trainer", "main", "GPU-1", "3.0 GiB / 10.0 GiB (30%)",
                          "4.0 GiB", "2", "20% / 25%", "1.5s"));
  const nlohmann::json json = TopRowJson(trainer);
  EXPECT_EQ(json["memoryUsedBytes"], 3ULL << 30);
  EXPECT_EQ(json["computeShare"], 0.25);
  EXPECT_EQ(json["computeUsed"], 0.2);
  EXPECT_EQ(json["oomRefusals"], 2);

  // What the agent did not export is unknown, not zero.
  const ContainerSliceRow& version1 = (*rows)[0];
  EXPECT_EQ(version1.memory_used_bytes, 3.0 * (1ULL << 30));
  EXPECT_FALSE(version1.memory_peak_bytes.has_value());
  EXPECT_FALSE(version1.oom_refusals.has_value());
  EXPECT_THAT(TopTableCells(version1),
              ElementsAre("node-1", "team-a/old", "main", "GPU-1", "3.0 GiB / 10.0 GiB (30%)", "-",
                          "-", "- / 25%", "-"));
  EXPECT_TRUE(TopRowJson(version1)["memoryPeakBytes"].is_null());
  EXPECT_TRUE(TopRowJson(version1)["computeUsed"].is_null());
  EXPECT_EQ(TopTableHeaders().size(), 9u);
}

TEST(ContainerSliceRows, ASeriesWithoutItsLabelsIsAnError) {
  Result<std::vector<Sample>> samples = ParsePrometheusText(
      "gpuslice_container_memory_used_bytes{namespace=\"a\",pod=\"p\",gpu=\"G\",resource=\"r\"} "
      "1\n",
      "agent");
  ASSERT_TRUE(samples.ok());
  Result<std::vector<ContainerSliceRow>> rows = ContainerSliceRows(*samples, "n", "http://x");
  ASSERT_FALSE(rows.ok());
  EXPECT_THAT(rows.status().message(),
              HasSubstr("http://x: a gpuslice_container_memory_used_bytes series has no "
                        "container label"));
}

}  // namespace
}  // namespace gpuslice::cli
