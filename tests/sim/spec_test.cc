#include "sim/spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "fakes/temp_dir.h"
#include "fakes/text_mutator.h"
#include "sim/models.h"

namespace gpuslice::sim {
namespace {

using ::testing::HasSubstr;

TEST(ParseSpecString, ExpandsCountsInOrderWithTheModelsFacts) {
  Result<SimSpec> spec = ParseSpecString("2xH100-80GB,1xT4");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  ASSERT_EQ(spec->gpus.size(), 3u);
  EXPECT_EQ(spec->gpus[0].name, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(spec->gpus[0].memory_bytes, 81559ULL << 20);
  EXPECT_EQ(spec->gpus[1].model, "H100-80GB");
  EXPECT_EQ(spec->gpus[2].name, "Tesla T4");
  EXPECT_EQ(spec->gpus[2].memory_bytes, 15360ULL << 20);
  EXPECT_EQ(spec->gpus[2].cc_major, 7);
  EXPECT_EQ(spec->gpus[2].cc_minor, 5);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(spec->gpus[static_cast<size_t>(i)].minor, i);
  EXPECT_EQ(spec->driver_version, "580.65.06");
  EXPECT_EQ(spec->cuda_version, 13000);
  EXPECT_TRUE(ValidateSpec(*spec).ok());
}

TEST(ParseSpecString, AcceptsModelsWithoutCountAnyCaseAndSpaces) {
  Result<SimSpec> spec = ParseSpecString(" l4 , 3Xa100-80gb ");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  ASSERT_EQ(spec->gpus.size(), 4u);
  EXPECT_EQ(spec->gpus[0].model, "L4");
  EXPECT_EQ(spec->gpus[3].name, "NVIDIA A100-SXM4-80GB");
}

TEST(ParseSpecString, EveryModelIsNamedAndSized) {
  for (const GpuModel& model : AllModels()) {
    Result<SimSpec> spec = ParseSpecString(model.key);
    ASSERT_TRUE(spec.ok()) << model.key;
    EXPECT_EQ(spec->gpus[0].name, model.nvml_name);
    EXPECT_GT(spec->gpus[0].memory_bytes, 10ULL << 30) << model.key;
    EXPECT_GT(spec->gpus[0].sm_count, 0) << model.key;
  }
  EXPECT_EQ(FindModel("t4")->nvml_name, "Tesla T4");
  EXPECT_EQ(FindModel("H100-80GB")->nvml_name, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(FindModel("H100"), nullptr);
}

TEST(ParseSpecString, ErrorsNameTheItemAndValue) {
  struct Case {
    const char* spec;
    const char* message;
  };
  const Case cases[] = {
      {"", "empty"},
      {"2xH100-80GB,,T4", "item 2 '': empty item"},
      {"2xH100-80GB,1xT5", "item 2 '1xT5': unknown GPU model 'T5' (known: H100-80GB"},
      {"0xT4", "item 1 '0xT4': count '0' must be between 1 and 32"},
      {"99xT4", "count '99' must be between 1 and 32"},
      {"20xT4,20xL4", "40 GPUs; a node holds at most 32"},
      {"2x", "unknown GPU model ''"},
      {"x", "unknown GPU model 'x'"},
  };
  for (const Case& c : cases) {
    Result<SimSpec> spec = ParseSpecString(c.spec);
    ASSERT_FALSE(spec.ok()) << c.spec;
    EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(spec.status().message(), HasSubstr(c.message)) << c.spec;
  }
}

TEST(ParseSpecString, DerivesStableDistinctIdentities) {
  Result<SimSpec> first = ParseSpecString("8xH100-80GB");
  Result<SimSpec> again = ParseSpecString("8xH100-80GB");
  ASSERT_TRUE(first.ok() && again.ok());
  std::set<std::string> uuids, buses;
  for (size_t i = 0; i < 8; ++i) {
    EXPECT_EQ(first->gpus[i].uuid, again->gpus[i].uuid);
    EXPECT_THAT(first->gpus[i].uuid,
                ::testing::MatchesRegex(
                    "GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"));
    uuids.insert(first->gpus[i].uuid);
    buses.insert(first->gpus[i].pci_bus_id);
    // Four GPUs per socket on an eight-GPU baseboard.
    EXPECT_EQ(first->gpus[i].numa_node, i < 4 ? 0 : 1);
  }
  EXPECT_EQ(uuids.size(), 8u);
  EXPECT_EQ(buses.size(), 8u);
  EXPECT_EQ(first->gpus[0].pci_bus_id, "00000000:18:00.0");
  // A different model at the same position is a different GPU.
  EXPECT_NE(ParseSpecString("L4")->gpus[0].uuid, ParseSpecString("T4")->gpus[0].uuid);
}

TEST(ParseSpecYaml, SetsEveryFactAndKnobPerGpu) {
  Result<SimSpec> spec = ParseSpecYaml(R"(
version: v1
driverVersion: "570.86.15"
cudaVersion: "12.8"
uuidSeed: node-a
numaNodes: 1
gpus:
  - model: H100-80GB
    count: 2
    kernelDuration: 250us
    contextMemory: 512Mi
    moduleMemory: 8Mi
    kernelLocalMemory: 4Ki
  - model: T4
    name: Tesla T4 (custom)
    uuid: GPU-0a1b2c3d-0000-4000-8000-000000000001
    memory: 16Gi
    minor: 7
    pciBusId: "0000:3b:00.0"
    numaNode: -1
    kernelDuration: 2ms
    launchQueueDepth: 8
    smCount: 20
    computeCapability: "7.0"
)",
                                       "node.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->driver_version, "570.86.15");
  EXPECT_EQ(spec->cuda_version, 12080);
  ASSERT_EQ(spec->gpus.size(), 3u);
  EXPECT_EQ(spec->gpus[0].kernel_duration_ns, 250'000u);
  EXPECT_EQ(spec->gpus[1].context_memory_bytes, 512ULL << 20);
  EXPECT_EQ(spec->gpus[1].module_memory_bytes, 8ULL << 20);
  EXPECT_EQ(spec->gpus[1].kernel_local_memory_bytes, 4096u);
  EXPECT_EQ(spec->gpus[2].module_memory_bytes, 0u);
  EXPECT_EQ(spec->gpus[0].numa_node, 0);
  const GpuSpec& t4 = spec->gpus[2];
  EXPECT_EQ(t4.name, "Tesla T4 (custom)");
  EXPECT_EQ(t4.uuid, "GPU-0a1b2c3d-0000-4000-8000-000000000001");
  EXPECT_EQ(t4.memory_bytes, 16ULL << 30);
  EXPECT_EQ(t4.minor, 7);
  EXPECT_EQ(t4.pci_bus_id, "00000000:3B:00.0");
  EXPECT_EQ(t4.numa_node, -1);
  EXPECT_EQ(t4.kernel_duration_ns, 2'000'000u);
  EXPECT_EQ(t4.launch_queue_depth, 8u);
  EXPECT_EQ(t4.sm_count, 20);
  EXPECT_EQ(t4.cc_major, 7);
  EXPECT_EQ(t4.cc_minor, 0);
  // The seed changes derived UUIDs, so two simulated nodes do not share GPU identities.
  EXPECT_NE(spec->gpus[0].uuid, ParseSpecString("2xH100-80GB")->gpus[0].uuid);
}

TEST(ParseSpecYaml, ErrorsNameFileLineFieldAndValue) {
  struct Case {
    const char* yaml;
    const char* message;
  };
  const Case cases[] = {
      {"gpus: [{model: T4}]", "version: missing"},
      {"version: v2\ngpus: [{model: T4}]", "version: 'v2' is not supported"},
      {"version: v1\n", "gpus: missing"},
      {"version: v1\ngpus: []", "expected a non-empty list"},
      {"version: v1\ngpu: []", "n.yaml:2: gpu: unknown field"},
      {"version: v1\ngpus:\n  - model: T4\n    memroy: 1Gi\n",
       "n.yaml:4: gpus[0].memroy: unknown field"},
      {"version: v1\ngpus:\n  - model: T9\n", "n.yaml:3: gpus[0].model: unknown GPU model 'T9'"},
      {"version: v1\ngpus:\n  - model: T4\n    memory: lots\n", "gpus[0].memory:"},
      {"version: v1\ngpus:\n  - model: T4\n    kernelDuration: 5 parsecs\n",
       "gpus[0].kernelDuration: duration '5 parsecs'"},
      {"version: v1\ngpus:\n  - model: T4\n    count: 2\n    uuid: "
       "GPU-0a1b2c3d-0000-4000-8000-000000000001\n",
       "gpus[0].uuid: can only be set on an entry with count 1"},
      {"version: v1\ngpus:\n  - model: T4\n    uuid: GPU-XYZ\n",
       "gpus[0].uuid: 'GPU-XYZ' is not of the form"},
      {"version: v1\ngpus:\n  - model: T4\n    pciBusId: 3b:00\n", "gpus[0].pciBusId: '3b:00'"},
      {"version: v1\ngpus:\n  - {model: T4, minor: 1}\n  - {model: T4, minor: 1}\n",
       "minor '1' is used twice"},
      {"version: v1\ngpus:\n  - {model: T4, memory: 1Gi, contextMemory: 2Gi}\n", "contextMemory"},
      {"version: v1\ngpus:\n  - {model: T4, memory: 1Gi, moduleMemory: 1Gi}\n",
       "moduleMemory '1073741824' must be less than the GPU's memory"},
      {"version: v1\ngpus:\n  - {model: T4, kernelLocalMemory: 1Mi}\n",
       "kernelLocalMemory '1048576' must be at most 512Ki"},
      {"version: v1\ngpus:\n  - {model: T4, count: 33}\n", "gpus[0].count: '33' must be"},
      {"version: v1\ncudaVersion: thirteen\ngpus: [{model: T4}]", "cudaVersion: 'thirteen'"},
      {"version: v1\ngpus: [{model: T4}\n", "n.yaml:3:1: not valid YAML"},
      {"version: v1\ngpus:\n  - {model: T4, memory: 1Gi, memory: 2Gi}\n",
       "n.yaml:3:30: duplicate key \"memory\" (first at line 3, column 17)"},
      {"- just\n- a list\n", "expected a mapping"},
      {"version: v1\ngpus:\n  - {model: A100-80GB, migMode: sometimes}\n",
       "gpus[0].migMode: 'sometimes' must be true or false"},
  };
  for (const Case& c : cases) {
    Result<SimSpec> spec = ParseSpecYaml(c.yaml, "n.yaml");
    ASSERT_FALSE(spec.ok()) << c.yaml;
    EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument) << c.yaml;
    EXPECT_THAT(spec.status().message(), HasSubstr(c.message)) << c.yaml;
  }
}

TEST(ParseSpecYaml, PutsAGpuInMigMode) {
  Result<SimSpec> spec = ParseSpecYaml(
      "version: v1\ngpus:\n  - {model: A100-80GB, migMode: true}\n  - {model: A100-80GB}\n",
      "n.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_TRUE(spec->gpus[0].mig_mode);
  EXPECT_FALSE(spec->gpus[1].mig_mode);
}

TEST(ParseSpec, ReadsYamlFilesAndReportsMissingOnes) {
  testing::TempDir dir;
  std::ofstream(dir.Sub("node.yaml")) << "version: v1\ngpus: [{model: L40S, count: 3}]\n";
  Result<SimSpec> spec = ParseSpec(dir.Sub("node.yaml"));
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->gpus.size(), 3u);
  Result<SimSpec> missing = ParseSpec(dir.Sub("absent.yaml"));
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("absent.yaml"));
  // A bare spec string is never mistaken for a file.
  EXPECT_TRUE(ParseSpec("1xT4").ok());
}

TEST(ParseDuration, ReadsUnitsAndRejectsTheRest) {
  EXPECT_EQ(*ParseDuration("1ms"), 1'000'000u);
  EXPECT_EQ(*ParseDuration("1.5ms"), 1'500'000u);
  EXPECT_EQ(*ParseDuration("250us"), 250'000u);
  EXPECT_EQ(*ParseDuration("2s"), 2'000'000'000u);
  EXPECT_EQ(*ParseDuration("100ns"), 100u);
  for (const char* bad : {"", "ms", "5", "5 min", "-1ms", "1e3ms", "1.2.3ms", "99999999999s"}) {
    EXPECT_FALSE(ParseDuration(bad).ok()) << bad;
  }
  EXPECT_EQ(FormatDuration(1'000'000), "1ms");
  EXPECT_EQ(FormatDuration(250'000), "250us");
  EXPECT_EQ(FormatDuration(1'500), "1500ns");
}

// Random mutations of valid specs never crash the parsers, and whatever they accept is a
// valid spec. Seeded, so a failure reproduces.
TEST(SpecFuzz, MutatedSpecsAreParsedOrRejectedCleanly) {
  const std::vector<std::string> seeds = {
      "2xH100-80GB,1xT4",
      "L4",
      "version: v1\ngpus:\n  - model: H100-80GB\n    count: 2\n    kernelDuration: 2ms\n",
      "version: v1\nuuidSeed: a\ngpus:\n  - {model: T4, uuid: "
      "GPU-0a1b2c3d-0000-4000-8000-000000000001, "
      "pciBusId: '0000:3b:00.0', minor: 3, memory: 16Gi}\n",
  };
  ::gpuslice::testing::TextMutator mutator(
      20240601, "0123456789xX,:-.{}[]\n \"'#&*!|>%@`GPUTHAvgpusmodelcount");
  int accepted = 0;
  for (int round = 0; round < 3000; ++round) {
    const std::string text = mutator.Mutate(seeds[mutator.Below(seeds.size())]);
    const bool yaml = text.find("version") != std::string::npos;
    Result<SimSpec> spec = yaml ? ParseSpecYaml(text, "fuzz.yaml") : ParseSpecString(text);
    if (spec.ok()) {
      ++accepted;
      EXPECT_TRUE(ValidateSpec(*spec).ok()) << text;
    } else {
      EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument) << text;
      EXPECT_FALSE(spec.status().message().empty());
    }
  }
  EXPECT_GT(accepted, 0);  // the mutations are not all fatal, so acceptance is exercised too
}

}  // namespace
}  // namespace gpuslice::sim
