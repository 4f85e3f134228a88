#include "plugin/container_metrics.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "core/contract.h"
#include "fakes/fake_gpu_backend.h"
#include "fakes/temp_dir.h"

namespace gpuslice::plugin {
namespace {

namespace fs = std::filesystem;
namespace region = core::region;

constexpr const char* kGpuA = "GPU-aaaa";
constexpr const char* kGpuB = "GPU-bbbb";

// An allocation directory as RegionStore::Create lays it out, with `region_bytes` as its
// region file; returns its record.
AllocationRecord MakeDirectory(const testing::TempDir& dir, const std::string& name,
                               const std::vector<std::string>& ids,
                               const std::vector<core::contract::GpuLimits>& gpus,
                               const std::string& region_bytes) {
  const std::string directory = dir.Sub(name);
  fs::create_directories(directory + "/limits");
  core::contract::LimitsFile limits;
  limits.gpus = gpus;
  limits.region_path = "/var/run/gpuslice/region";
  std::ofstream(directory + "/limits/limits") << core::contract::FormatLimitsFile(limits);
  std::ofstream(directory + "/region", std::ios::binary) << region_bytes;
  AllocationRecord record;
  record.directory = directory;
  record.resource = "nvidia.com/gpu";
  record.device_ids = ids;
  return record;
}

// A current-layout region in which GPU 1 holds the given figures.
std::string CurrentRegion(uint64_t used, uint64_t peak, uint64_t refused, uint64_t throttled_ns) {
  auto laid_out = std::make_unique<region::Region>();
  const region::Header header = region::CurrentHeader();
  std::memcpy(&laid_out->header, &header, sizeof(header));
  laid_out->devices[1].used_bytes = used;
  laid_out->counters[1].peak_bytes = peak;
  laid_out->counters[1].refused_allocations = refused;
  laid_out->counters[1].throttled_ns = throttled_ns;
  return std::string(reinterpret_cast<const char*>(laid_out.get()), region::kRegionSize);
}

// The same GPU figures in a region laid out by a library of layout version 1.
std::string VersionOneRegion(uint64_t used) {
  std::string bytes = CurrentRegion(used, 0, 0, 0).substr(0, region::kVersion1Size);
  region::Header header = region::CurrentHeader();
  header.version = 1;
  header.size = region::kVersion1Size;
  std::memcpy(bytes.data(), &header, sizeof(header));
  return bytes;
}

LiveAllocation Live(const std::vector<std::string>& ids, const std::string& pod) {
  return {"nvidia.com/gpu", ids, "team-a", pod, "main"};
}

TEST(ContainerMetrics, JoinsRegionsToTheContainersTheKubeletLists) {
  testing::TempDir dir;
  std::vector<AllocationRecord> records = {
      MakeDirectory(dir, "a", {"GPU-aaaa::0", "GPU-bbbb::1"},
                    {{kGpuA, 100, 100}, {kGpuB, 1000, 25}}, CurrentRegion(300, 700, 2, 1'500'000'000)),
      MakeDirectory(dir, "gone", {"GPU-aaaa::3"}, {{kGpuA, 100, 100}}, ""),
  };
  // Device IDs in another order still name the same allocation.
  std::vector<ContainerGpuUsage> usage =
      CollectContainerUsage(records, {Live({"GPU-bbbb::1", "GPU-aaaa::0"}, "trainer")});
  ASSERT_EQ(usage.size(), 2u);
  EXPECT_EQ(usage[0].gpu_uuid, kGpuA);
  EXPECT_EQ(usage[1].gpu_uuid, kGpuB);
  EXPECT_EQ(usage[1].pod, "trainer");
  EXPECT_EQ(usage[1].memory_limit_bytes, 1000u);
  EXPECT_EQ(usage[1].compute_percent, 25);
  EXPECT_TRUE(usage[1].counters_known);
  EXPECT_EQ(usage[1].usage.used_bytes, 300u);
  EXPECT_EQ(usage[1].usage.peak_bytes, 700u);
  EXPECT_EQ(usage[1].usage.refused_allocations, 2u);

  const std::string text = RenderContainerMetrics(usage);
  const std::string labels =
      "{namespace=\"team-a\",pod=\"trainer\",container=\"main\",gpu=\"GPU-bbbb\","
      "resource=\"nvidia.com/gpu\"}";
  EXPECT_NE(text.find("\ngpuslice_container_memory_used_bytes" + labels + " 300\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\ngpuslice_container_memory_peak_bytes" + labels + " 700\n"),
            std::string::npos);
  EXPECT_NE(text.find("\ngpuslice_container_memory_limit_bytes" + labels + " 1000\n"),
            std::string::npos);
  EXPECT_NE(text.find("\ngpuslice_container_oom_refusals_total" + labels + " 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("\ngpuslice_container_compute_share_ratio" + labels + " 0.25\n"),
            std::string::npos);
  EXPECT_NE(text.find("\ngpuslice_container_throttled_seconds_total" + labels + " 1.5\n"),
            std::string::npos);
  EXPECT_NE(text.find("# TYPE gpuslice_container_throttled_seconds_total counter\n"),
            std::string::npos);
  // A directory the kubelet no longer lists gives no series.
  EXPECT_EQ(text.find("GPU-aaaa::3"), std::string::npos);
  EXPECT_EQ(CollectContainerUsage(records, {}).size(), 0u);
}

TEST(ContainerMetrics, ReadsARegionOfLayoutVersionOne) {
  testing::TempDir dir;
  std::vector<AllocationRecord> records = {MakeDirectory(
      dir, "old", {"GPU-bbbb::0"}, {{kGpuA, 100, 100}, {kGpuB, 1000, 50}}, VersionOneRegion(42))};
  std::vector<ContainerGpuUsage> usage =
      CollectContainerUsage(records, {Live({"GPU-bbbb::0"}, "old")});
  ASSERT_EQ(usage.size(), 2u);
  EXPECT_TRUE(usage[1].usage_known);
  EXPECT_FALSE(usage[1].counters_known);
  EXPECT_EQ(usage[1].usage.used_bytes, 42u);
  const std::string text = RenderContainerMetrics(usage);
  EXPECT_NE(text.find("gpuslice_container_memory_used_bytes{namespace=\"team-a\",pod=\"old\","
                      "container=\"main\",gpu=\"GPU-bbbb\",resource=\"nvidia.com/gpu\"} 42\n"),
            std::string::npos)
      << text;
  // A version-1 region keeps no counters: no series pretends they are zero.
  EXPECT_EQ(text.find("gpuslice_container_memory_peak_bytes{"), std::string::npos);
  EXPECT_EQ(text.find("gpuslice_container_oom_refusals_total{"), std::string::npos);
}

TEST(ContainerMetrics, ComputeUsedIsThatOfTheProcessesTheRegionNames) {
  testing::TempDir dir;
  std::string current = CurrentRegion(0, 0, 0, 0);
  const uint32_t pid = 4242;
  std::memcpy(current.data() + region::kNvmlPidsBegin + 7 * sizeof(uint32_t), &pid, sizeof(pid));
  // A version-2 region does not name its processes to NVML.
  std::string second = current.substr(0, region::kVersion2Size);
  region::Header header = region::CurrentHeader();
  header.version = 2;
  header.size = region::kVersion2Size;
  std::memcpy(second.data(), &header, sizeof(header));
  std::vector<AllocationRecord> records = {
      MakeDirectory(dir, "a", {"GPU-bbbb::0"}, {{kGpuA, 100, 100}, {kGpuB, 1000, 50}}, current),
      MakeDirectory(dir, "b", {"GPU-bbbb::1"}, {{kGpuB, 1000, 50}}, second),
      MakeDirectory(dir, "c", {"GPU-bbbb::2"}, {{kGpuB, 1000, 50}}, ""),
  };
  testing::FakeGpuBackend backend({});
  const uint64_t now = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
  for (int i = 40; i >= 0; --i) {
    backend.AddUtilization(kGpuB, {pid, now - static_cast<uint64_t>(i) * 100'000, 40});
    backend.AddUtilization(kGpuB, {pid + 1, now - static_cast<uint64_t>(i) * 100'000, 60});
  }
  ComputeUsage compute(backend);
  compute.Sample({kGpuA, kGpuB});
  std::vector<ContainerGpuUsage> usage = CollectContainerUsage(
      records,
      {Live({"GPU-bbbb::0"}, "named"), Live({"GPU-bbbb::1"}, "older"),
       Live({"GPU-bbbb::2"}, "unused")},
      &compute);
  ASSERT_EQ(usage.size(), 4u);
  EXPECT_EQ(usage[0].compute_used_ratio, 0.0);  // GPU A: sampled, none of its processes ran
  ASSERT_TRUE(usage[1].compute_used_ratio.has_value());
  EXPECT_NEAR(*usage[1].compute_used_ratio, 0.4, 0.03);
  EXPECT_FALSE(usage[2].compute_used_ratio.has_value());
  EXPECT_EQ(usage[3].compute_used_ratio, 0.0);  // not laid out: no process used the GPU
  const std::string text = RenderContainerMetrics(usage);
  EXPECT_NE(text.find("# TYPE gpuslice_container_compute_used_ratio gauge\n"), std::string::npos);
  EXPECT_NE(text.find("\ngpuslice_container_compute_used_ratio{namespace=\"team-a\",pod=\"named\","
                      "container=\"main\",gpu=\"GPU-bbbb\",resource=\"nvidia.com/gpu\"} 0."),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("gpuslice_container_compute_used_ratio{namespace=\"team-a\",pod=\"older\""),
            std::string::npos);
  // Without sampling, no series.
  EXPECT_FALSE(CollectContainerUsage(records, {Live({"GPU-bbbb::0"}, "named")})[1]
                   .compute_used_ratio.has_value());
}

TEST(ContainerMetrics, DamagedOrEmptyRegionsKeepTheLimitsOnly) {
  testing::TempDir dir;
  std::string truncated = CurrentRegion(5, 5, 0, 0);
  truncated.resize(truncated.size() / 2);
  std::string future = CurrentRegion(5, 5, 0, 0);
  region::Header header = region::CurrentHeader();
  header.version = region::kLayoutVersion + 1;
  std::memcpy(future.data(), &header, sizeof(header));
  std::vector<AllocationRecord> records = {
      MakeDirectory(dir, "truncated", {"GPU-aaaa::0"}, {{kGpuA, 100, 100}}, truncated),
      MakeDirectory(dir, "future", {"GPU-aaaa::1"}, {{kGpuA, 100, 100}}, future),
      MakeDirectory(dir, "empty", {"GPU-aaaa::2"}, {{kGpuA, 100, 100}}, ""),
      MakeDirectory(dir, "nolimits", {"GPU-aaaa::3"}, {{kGpuA, 100, 100}}, ""),
  };
  fs::remove(dir.Sub("nolimits/limits/limits"));
  std::vector<ContainerGpuUsage> usage = CollectContainerUsage(
      records, {Live({"GPU-aaaa::0"}, "t"), Live({"GPU-aaaa::1"}, "f"),
                Live({"GPU-aaaa::2"}, "e"), Live({"GPU-aaaa::3"}, "n")});
  ASSERT_EQ(usage.size(), 3u);  // no limits file, no series
  EXPECT_FALSE(usage[0].usage_known);
  EXPECT_FALSE(usage[1].usage_known);
  // Not laid out yet: nothing used, nothing refused.
  EXPECT_TRUE(usage[2].usage_known);
  EXPECT_TRUE(usage[2].counters_known);
  EXPECT_EQ(usage[2].usage.used_bytes, 0u);
  const std::string text = RenderContainerMetrics(usage);
  EXPECT_EQ(text.find("gpuslice_container_memory_used_bytes{namespace=\"team-a\",pod=\"t\""),
            std::string::npos);
  EXPECT_NE(text.find("gpuslice_container_memory_limit_bytes{namespace=\"team-a\",pod=\"t\""),
            std::string::npos);
  EXPECT_NE(text.find("gpuslice_container_memory_used_bytes{namespace=\"team-a\",pod=\"e\""),
            std::string::npos);
}

TEST(ContainerMetrics, TheNewestDirectoryOfAReusedAllocationCounts) {
  testing::TempDir dir;
  std::vector<AllocationRecord> records = {
      MakeDirectory(dir, "first", {"GPU-bbbb::0"}, {{kGpuA, 1, 100}, {kGpuB, 1, 100}},
                    CurrentRegion(11, 11, 0, 0)),
      MakeDirectory(dir, "second", {"GPU-bbbb::0"}, {{kGpuA, 1, 100}, {kGpuB, 1, 100}},
                    CurrentRegion(22, 22, 0, 0)),
  };
  std::vector<ContainerGpuUsage> usage =
      CollectContainerUsage(records, {Live({"GPU-bbbb::0"}, "p")});
  ASSERT_EQ(usage.size(), 2u);
  EXPECT_EQ(usage[1].usage.used_bytes, 22u);
}

TEST(ContainerMetrics, LabelValuesAreEscaped) {
  ContainerGpuUsage gpu;
  gpu.namespace_name = "a\"b";
  gpu.pod = "c\\d";
  gpu.container = "e\nf";
  gpu.gpu_uuid = kGpuA;
  gpu.resource = "nvidia.com/gpu";
  const std::string text = RenderContainerMetrics({gpu});
  EXPECT_NE(text.find("{namespace=\"a\\\"b\",pod=\"c\\\\d\",container=\"e\\nf\","),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace gpuslice::plugin
