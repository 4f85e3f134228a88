#include "replay/trace.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "fakes/text_mutator.h"
#include "replay/internal/csv.h"

namespace gpuslice::replay {
namespace {

using internal::CsvReader;

std::vector<std::vector<std::string>> ReadAll(std::string_view text) {
  CsvReader reader(text);
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> fields;
  while (true) {
    Result<bool> more = reader.Next(&fields);
    EXPECT_TRUE(more.ok()) << more.status().ToString();
    if (!more.ok() || !*more) break;
    records.push_back(fields);
  }
  return records;
}

TEST(CsvReader, SplitsFieldsAndLinesWithOrWithoutFinalNewline) {
  EXPECT_EQ(ReadAll("a,b\n1,2\n"), (std::vector<std::vector<std::string>>{{"a", "b"}, {"1", "2"}}));
  EXPECT_EQ(ReadAll("a,b\r\n1,\r\n"),
            (std::vector<std::vector<std::string>>{{"a", "b"}, {"1", ""}}));
  EXPECT_EQ(ReadAll("x,,y"), (std::vector<std::vector<std::string>>{{"x", "", "y"}}));
}

TEST(CsvReader, UnquotesFieldsAndCountsLinesInsideQuotes) {
  CsvReader reader("\"a,b\",\"say \"\"hi\"\"\"\n\"two\nlines\",x\nlast,1\n");
  std::vector<std::string> fields;
  ASSERT_TRUE(*reader.Next(&fields));
  EXPECT_EQ(fields, (std::vector<std::string>{"a,b", "say \"hi\""}));
  ASSERT_TRUE(*reader.Next(&fields));
  EXPECT_EQ(fields, (std::vector<std::string>{"two\nlines", "x"}));
  EXPECT_EQ(reader.line(), 2);
  ASSERT_TRUE(*reader.Next(&fields));
  EXPECT_EQ(reader.line(), 4);
  EXPECT_FALSE(*reader.Next(&fields));
}

TEST(CsvReader, RejectsUnterminatedQuoteAndTextAfterClosingQuote) {
  std::vector<std::string> fields;
  CsvReader open("a\n\"never closed,1\n");
  ASSERT_TRUE(*open.Next(&fields));
  Result<bool> error = open.Next(&fields);
  ASSERT_FALSE(error.ok());
  EXPECT_EQ(error.status().message(), "line 2: quoted field is not terminated");

  CsvReader trailing("\"a\"b,1\n");
  EXPECT_EQ(trailing.Next(&fields).status().message(),
            "line 1: unexpected text after a closing quote");
}

constexpr std::string_view kNodes =
    "sn,cpu_milli,memory_mib,gpu,model\n"
    "node-a,64000,262144,2,P100\n"
    "node-b,96000,786432,8,G2\n"
    "cpu-only,32000,131072,0,\n";

TEST(ParseNodeList, ReadsEveryColumn) {
  Result<std::vector<NodeSpec>> nodes = ParseNodeList(kNodes, "nodes.csv");
  ASSERT_TRUE(nodes.ok()) << nodes.status().ToString();
  ASSERT_EQ(nodes->size(), 3u);
  EXPECT_EQ((*nodes)[0].name, "node-a");
  EXPECT_EQ((*nodes)[0].cpu_milli, 64000);
  EXPECT_EQ((*nodes)[0].memory_mib, 262144);
  EXPECT_EQ((*nodes)[0].gpu_count, 2);
  EXPECT_EQ((*nodes)[0].gpu_model, "P100");
  EXPECT_EQ((*nodes)[2].gpu_count, 0);
  EXPECT_EQ((*nodes)[2].gpu_model, "");
}

TEST(ParseNodeList, FindsColumnsByNameInAnyOrder) {
  Result<std::vector<NodeSpec>> nodes =
      ParseNodeList("model,gpu,sn,memory_mib,cpu_milli\nT4,2,n1,1024,8000\n", "x.csv");
  ASSERT_TRUE(nodes.ok()) << nodes.status().ToString();
  EXPECT_EQ((*nodes)[0].name, "n1");
  EXPECT_EQ((*nodes)[0].gpu_model, "T4");
  EXPECT_EQ((*nodes)[0].cpu_milli, 8000);
}

TEST(ParseNodeList, ErrorsNameFileLineColumnAndValue) {
  auto error = [](std::string_view text) {
    return ParseNodeList(text, "nodes.csv").status().message();
  };
  EXPECT_EQ(error("sn,cpu_milli,memory_mib,gpu,model\nn1,8000,1024,2,T4\nn2,8k,1024,2,T4\n"),
            "nodes.csv:3: column 'cpu_milli': '8k' is not a whole number");
  EXPECT_EQ(error("sn,cpu_milli,memory_mib,gpu,model\nn1,8000,1024,17,T4\n"),
            "nodes.csv:2: column 'gpu': 17 is above 16");
  EXPECT_EQ(error("sn,cpu_milli,memory_mib,gpu,model\nn1,8000,-1,1,T4\n"),
            "nodes.csv:2: column 'memory_mib': -1 is below 0");
  EXPECT_EQ(error("sn,cpu_milli,memory_mib,gpu,model\nn1,8000,1024,2,\n"),
            "nodes.csv:2: column 'model': empty, but the node has 2 GPUs");
  EXPECT_EQ(error("sn,cpu_milli,memory_mib,gpu,model\nn1,8000,1024,2\n"),
            "nodes.csv:2: has 4 fields, the header has 5");
  EXPECT_EQ(error("sn,cpu_milli,memory_mib,model\nn1,8000,1024,T4\n"),
            "nodes.csv:1: the header has no column 'gpu'");
  EXPECT_EQ(error("sn,sn,cpu_milli,memory_mib,gpu,model\n"),
            "nodes.csv:1: column 'sn' appears twice in the header");
  EXPECT_EQ(error(""), "nodes.csv: the file is empty");
  EXPECT_EQ(error("sn,cpu_milli,memory_mib,gpu,model\n\n"), "nodes.csv: no rows after the header");
}

constexpr std::string_view kPodHeader =
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,"
    "deletion_time,scheduled_time\n";

TEST(ParsePodList, ReadsEveryColumnOfTheFullVariant) {
  const std::string text = std::string(kPodHeader) +
                           "p0,12000,16384,1,460,V100M16|V100M32,LS,Running,0,12537496,0\n"
                           "p1,4000,8192,8,1000,,BE,Pending,10001278,10001403,\n";
  Result<std::vector<TracePod>> pods = ParsePodList(text, "pods.csv");
  ASSERT_TRUE(pods.ok()) << pods.status().ToString();
  ASSERT_EQ(pods->size(), 2u);
  const TracePod& p0 = (*pods)[0];
  EXPECT_EQ(p0.spec.name, "p0");
  EXPECT_EQ(p0.spec.cpu_milli, 12000);
  EXPECT_EQ(p0.spec.memory_mib, 16384);
  EXPECT_EQ(p0.spec.num_gpu, 1);
  EXPECT_EQ(p0.spec.gpu_milli, 460);
  EXPECT_EQ(p0.spec.gpu_models, (std::vector<std::string>{"V100M16", "V100M32"}));
  EXPECT_EQ(p0.qos, "LS");
  EXPECT_EQ(p0.phase, "Running");
  EXPECT_EQ(p0.creation_time, 0);
  EXPECT_EQ(p0.deletion_time, 12537496);
  EXPECT_EQ(p0.scheduled_time, 0);
  const TracePod& p1 = (*pods)[1];
  EXPECT_TRUE(p1.spec.gpu_models.empty());
  EXPECT_EQ(p1.spec.num_gpu, 8);
  EXPECT_FALSE(p1.scheduled_time.has_value());
}

TEST(ParsePodList, ReadsTheShortMultiGpuVariant) {
  Result<std::vector<TracePod>> pods = ParsePodList(
      "name,cpu_milli,memory_mib,num_gpu,gpu_milli\np,6000,12288,2,1000\n", "multigpu.csv");
  ASSERT_TRUE(pods.ok()) << pods.status().ToString();
  EXPECT_EQ((*pods)[0].spec.num_gpu, 2);
  EXPECT_EQ((*pods)[0].qos, "");
  EXPECT_FALSE((*pods)[0].creation_time.has_value());
}

TEST(ParsePodList, RejectsRequestsThePodModelCannotHold) {
  auto error = [](std::string_view row) {
    return ParsePodList(std::string(kPodHeader) + std::string(row), "pods.csv").status().message();
  };
  EXPECT_EQ(error("p,1000,1024,2,500,,LS,Running,0,1,0\n"),
            "pods.csv:2: pod 'p': gpu_milli 500 is a fraction but num_gpu is 2 (only "
            "single-GPU pods share a GPU)");
  EXPECT_EQ(error("p,1000,1024,1,0,,LS,Running,0,1,0\n"),
            "pods.csv:2: pod 'p': gpu_milli 0 is outside 1..1000");
  EXPECT_EQ(error("p,1000,1024,0,300,,LS,Running,0,1,0\n"),
            "pods.csv:2: pod 'p': gpu_milli 300 without any GPU (num_gpu is 0)");
  EXPECT_EQ(error("p,1000,1024,1,1200,,LS,Running,0,1,0\n"),
            "pods.csv:2: column 'gpu_milli': 1200 is above 1000");
  EXPECT_EQ(error("p,1000,1024,1,500,,LS,Running,soon,1,0\n"),
            "pods.csv:2: column 'creation_time': 'soon' is not a whole number");
  EXPECT_EQ(error(",1000,1024,1,500,,LS,Running,0,1,0\n"),
            "pods.csv:2: column 'name': the pod name is empty");
}

TEST(LoadPodList, ReadsTheFixtureAndNamesMissingFiles) {
  const std::string data = std::string(GPUSLICE_SOURCE_DIR) + "/tests/replay/data/";
  Result<std::vector<TracePod>> pods = LoadPodList(data + "openb_pod_list_excerpt.csv");
  ASSERT_TRUE(pods.ok()) << pods.status().ToString();
  EXPECT_EQ(pods->size(), 300u);
  Result<std::vector<NodeSpec>> nodes = LoadNodeList(data + "openb_node_list_excerpt.csv");
  ASSERT_TRUE(nodes.ok()) << nodes.status().ToString();
  EXPECT_EQ(nodes->size(), 60u);

  Result<std::vector<NodeSpec>> missing = LoadNodeList(data + "no-such-file.csv");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), data + "no-such-file.csv: cannot open: No such file or directory");
}

// Random byte-level mutations of valid files: the parsers either accept the text or return
// InvalidArgument naming the source; they never crash (ASan/UBSan watch) or throw.
TEST(ParseTraceFuzz, MutatedFilesNeverCrash) {
  const std::string data = std::string(GPUSLICE_SOURCE_DIR) + "/tests/replay/data/";
  std::ifstream pod_file(data + "openb_pod_list_excerpt.csv");
  std::string pods((std::istreambuf_iterator<char>(pod_file)), {});
  pods.resize(std::min<size_t>(pods.size(), 3000));
  const std::string seeds[] = {std::string(kNodes), pods};
  testing::TextMutator mutator(20230710, ",\n\r\"|-0123456789aZ \xEF\xBB\xBF");
  for (int round = 0; round < 3000; ++round) {
    const std::string text = mutator.Mutate(seeds[round % 2], 8);
    if (round % 2 == 0) {
      Result<std::vector<NodeSpec>> nodes = ParseNodeList(text, "fuzz.csv");
      if (!nodes.ok()) {
        EXPECT_EQ(nodes.status().code(), StatusCode::kInvalidArgument);
        EXPECT_EQ(nodes.status().message().rfind("fuzz.csv", 0), 0u) << nodes.status().message();
      }
    } else {
      Result<std::vector<TracePod>> parsed = ParsePodList(text, "fuzz.csv");
      if (!parsed.ok()) {
        EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
        EXPECT_EQ(parsed.status().message().rfind("fuzz.csv", 0), 0u) << parsed.status().message();
      }
    }
  }
}

// The full trace is not part of the repository; when it is around, check that it loads and
// matches the description published with it.
std::string OpenbDirectory() {
  if (const char* dir = std::getenv("GPUSLICE_OPENB_DIR")) return dir;
  return std::string(GPUSLICE_SOURCE_DIR) + "/../shared/traces/openb";
}

TEST(OpenbTrace, MatchesItsPublishedDescription) {
  const std::string dir = OpenbDirectory();
  if (!std::filesystem::exists(dir + "/openb_node_list_gpu_node.csv")) {
    GTEST_SKIP() << "the openb trace is not at " << dir << " (set GPUSLICE_OPENB_DIR)";
  }
  Result<std::vector<NodeSpec>> nodes = LoadNodeList(dir + "/openb_node_list_gpu_node.csv");
  ASSERT_TRUE(nodes.ok()) << nodes.status().ToString();
  std::map<std::string, int> gpus_by_model;
  for (const NodeSpec& node : *nodes) gpus_by_model[node.gpu_model] += node.gpu_count;
  EXPECT_EQ(nodes->size(), 1213u);
  EXPECT_EQ(gpus_by_model, (std::map<std::string, int>{{"A10", 2},
                                                       {"G2", 4392},
                                                       {"G3", 312},
                                                       {"P100", 265},
                                                       {"T4", 842},
                                                       {"V100M16", 195},
                                                       {"V100M32", 204}}));
  Result<std::vector<NodeSpec>> all_nodes = LoadNodeList(dir + "/openb_node_list_all_node.csv");
  ASSERT_TRUE(all_nodes.ok()) << all_nodes.status().ToString();
  EXPECT_EQ(all_nodes->size(), 1523u);

  Result<std::vector<TracePod>> pods = LoadPodList(dir + "/openb_pod_list_default.csv");
  ASSERT_TRUE(pods.ok()) << pods.status().ToString();
  int cpu_only = 0, sharing = 0, one_gpu = 0, multi_gpu = 0;
  for (const TracePod& pod : *pods) {
    const PodSpec& spec = pod.spec;
    cpu_only += spec.num_gpu == 0;
    sharing += spec.num_gpu == 1 && spec.gpu_milli < kMilliPerGpu;
    one_gpu += spec.num_gpu == 1 && spec.gpu_milli == kMilliPerGpu;
    multi_gpu += spec.num_gpu > 1;
  }
  EXPECT_EQ(pods->size(), 8152u);
  EXPECT_EQ(cpu_only, 1088);
  EXPECT_EQ(sharing, 3078);
  EXPECT_EQ(one_gpu, 3911);
  EXPECT_EQ(multi_gpu, 75);

  for (const char* variant : {"cpu050", "gpushare20", "gpushare40", "gpushare60", "gpushare80",
                              "gpuspec10", "gpuspec20", "multigpu20", "multigpu30"}) {
    Result<std::vector<TracePod>> other = LoadPodList(dir + "/openb_pod_list_" + variant + ".csv");
    EXPECT_TRUE(other.ok()) << other.status().ToString();
  }
}

}  // namespace
}  // namespace gpuslice::replay
