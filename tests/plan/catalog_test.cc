#include "plan/catalog.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fakes/text_mutator.h"

namespace gpuslice::plan {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kMiB = uint64_t{1} << 20;

TEST(BuiltinCatalog, HoldsTheDatedUsEast1Facts) {
  const Catalog& catalog = BuiltinCatalog();
  EXPECT_EQ(catalog.region, "us-east-1");
  EXPECT_EQ(catalog.price_date, "2026-07-20");
  EXPECT_EQ(catalog.types.size(), 68u);
  const InstanceType* p3 = catalog.Find("p3.8xlarge");
  ASSERT_NE(p3, nullptr);
  EXPECT_EQ(p3->family, "p3");
  EXPECT_EQ(p3->gpu_count, 4);
  EXPECT_EQ(p3->gpu_model, "v100");
  EXPECT_EQ(p3->gpu_memory_bytes, 16384 * kMiB);
  EXPECT_EQ(p3->vcpu, 32);
  EXPECT_EQ(p3->allocatable_cpu_millis, 31850);
  EXPECT_EQ(p3->allocatable_memory_bytes, 228187 * kMiB);
  EXPECT_EQ(p3->capacity_memory_bytes, 231116 * kMiB);  // 249856 MiB less 7.5% VM overhead
  EXPECT_EQ(p3->max_pods, 234);
  EXPECT_EQ(p3->karpenter_gpus, 4);
  EXPECT_DOUBLE_EQ(*p3->price_per_hour, 12.24);
}

TEST(BuiltinCatalog, TypesWithoutAPriceAreNotLaunchableOnDemand) {
  const InstanceType* p5e = BuiltinCatalog().Find("p5e.48xlarge");
  ASSERT_NE(p5e, nullptr);
  EXPECT_FALSE(p5e->price_per_hour.has_value());
}

TEST(BuiltinCatalog, FractionalGpuTypesCountNoGpus) {
  const InstanceType* g6f = BuiltinCatalog().Find("g6f.xlarge");
  ASSERT_NE(g6f, nullptr);
  EXPECT_EQ(g6f->gpu_count, 0);
  EXPECT_EQ(g6f->karpenter_gpus, 0);
}

constexpr std::string_view kHeader =
    "instance_type,family,arch,gpu_count,gpu_model,gpu_mem_mib_per_gpu,vcpu,mem_mib,"
    "karpenter_alloc_cpu_millis,karpenter_alloc_mem_mib,karpenter_max_pods,"
    "karpenter_nvidia_gpu,od_usd_per_hour,region,notes\n";

TEST(ParseCatalog, ReadsColumnsByNameAndQuotedFields) {
  Result<Catalog> catalog = ParseCatalog(std::string(kHeader) +
                                             "x.large,x,amd64,1,t4,16384,4,16384,3920,14481,29,1,0."
                                             "5,eu-west-1,\"a, quoted \"\"note\"\"\"\n",
                                         "mine.csv");
  ASSERT_TRUE(catalog.ok()) << catalog.status().ToString();
  EXPECT_EQ(catalog->region, "eu-west-1");
  EXPECT_EQ(catalog->types[0].notes, "a, quoted \"note\"");
  EXPECT_TRUE(catalog->price_date.empty());
}

TEST(ParseCatalog, NamesFileLineColumnAndValueOfBadRows) {
  const struct {
    std::string row;
    std::string message;
  } cases[] = {
      {"x.large,x,amd64,one,t4,16384,4,16384,3920,14481,29,1,0.5,,\n",
       "mine.csv: line 2: column gpu_count: \"one\" is not an integer"},
      {"x.large,x,sparc,1,t4,16384,4,16384,3920,14481,29,1,0.5,,\n",
       "column arch: \"sparc\" is not amd64 or arm64"},
      {"x.large,x,amd64,1,t4,16384,4,16384,3920,14481,29,1,cheap,,\n",
       "column od_usd_per_hour: \"cheap\" is not a price"},
      {"x.large,x,amd64,1,t4,16384,4,16384,5000,14481,29,1,0.5,,\n",
       "column karpenter_alloc_cpu_millis: \"5000\" exceeds the vCPUs"},
      {"x.large,x,amd64,1,,0,4,16384,3920,14481,29,1,0.5,,\n", "must name the GPU and its memory"},
  };
  for (const auto& c : cases) {
    Result<Catalog> catalog = ParseCatalog(std::string(kHeader) + c.row, "mine.csv");
    ASSERT_FALSE(catalog.ok()) << c.row;
    EXPECT_THAT(catalog.status().message(), HasSubstr(c.message));
  }
  EXPECT_THAT(ParseCatalog("instance_type,family\nx,y\n", "h.csv").status().message(),
              HasSubstr("h.csv: line 1: the header has no column arch"));
  EXPECT_THAT(ParseCatalog(kHeader, "empty.csv").status().message(),
              HasSubstr("lists no instance types"));
}

TEST(ParseCatalog, CapacityMemoryIsTheMemoryUnlessTheCatalogSaysWhatKarpenterCounts) {
  Result<Catalog> without = ParseCatalog(
      std::string(kHeader) + "x.large,x,amd64,1,t4,16384,4,16384,3920,14481,29,1,0.5,,\n", "a.csv");
  ASSERT_TRUE(without.ok()) << without.status().ToString();
  EXPECT_EQ(without->types[0].capacity_memory_bytes, 16384 * kMiB);

  const std::string header =
      "instance_type,family,arch,gpu_count,gpu_model,gpu_mem_mib_per_gpu,vcpu,mem_mib,"
      "karpenter_alloc_cpu_millis,karpenter_alloc_mem_mib,karpenter_capacity_mem_mib,"
      "karpenter_max_pods,karpenter_nvidia_gpu,od_usd_per_hour\n";
  Result<Catalog> with = ParseCatalog(
      header + "x.large,x,amd64,1,t4,16384,4,16384,3920,14481,15155,29,1,0.5\n", "b.csv");
  ASSERT_TRUE(with.ok()) << with.status().ToString();
  EXPECT_EQ(with->types[0].capacity_memory_bytes, 15155 * kMiB);
  EXPECT_THAT(
      ParseCatalog(header + "x.large,x,amd64,1,t4,16384,4,16384,3920,14481,17000,29,1,0.5\n",
                   "c.csv")
          .status()
          .message(),
      HasSubstr("column karpenter_capacity_mem_mib: \"17000\" exceeds the memory"));
  EXPECT_THAT(
      ParseCatalog(header + "x.large,x,amd64,1,t4,16384,4,16384,3920,14481,14000,29,1,0.5\n",
                   "d.csv")
          .status()
          .message(),
      HasSubstr("column karpenter_alloc_mem_mib: \"14481\" exceeds the memory"));
}

// Seeded random mutations of the built-in CSV: parsing returns a catalog or an error naming
// the source, never crashes.
TEST(ParseCatalog, MutatedCatalogsNeverCrash) {
  std::string csv;
  csv += kHeader;
  csv +=
      "g5.xlarge,g5,amd64,1,a10g,22888,4,16384,3920,14162,58,1,1.006,us-east-1,\n"
      "p3.8xlarge,p3,amd64,4,v100,16384,32,249856,31850,228187,234,4,12.24,us-east-1,note\n";
  testing::TextMutator mutator(2026, ",\"\n-.0123456789ex ");
  for (int i = 0; i < 3000; ++i) {
    const std::string text = mutator.Mutate(csv, 4);
    Result<Catalog> catalog = ParseCatalog(text, "fuzz.csv");
    if (!catalog.ok()) {
      EXPECT_EQ(catalog.status().message().rfind("fuzz.csv", 0), 0u);
    }
  }
}

}  // namespace
}  // namespace gpuslice::plan
