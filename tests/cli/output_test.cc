#include "cli/output.h"

#include <gtest/gtest.h>

#include <sstream>

namespace gpuslice::cli {
namespace {

TEST(Table, AlignsColumnsAndRightAlignsNumbers) {
  Table table({"NAME", "GPUS", "MEMORY", "COST"});
  table.AddRow({"g5.xlarge", "1", "22.4 GiB", "$1.006"});
  table.AddRow({"p3.8xlarge", "4", "15.0 GiB", "$12.24"});
  table.AddRow({"1 Tesla T4", "12", "7.5 GiB", "-"});
  std::ostringstream out;
  table.Print(out);
  EXPECT_EQ(out.str(),
            "NAME        GPUS  MEMORY    COST\n"
            "g5.xlarge      1  22.4 GiB  $1.006\n"
            "p3.8xlarge     4  15.0 GiB  $12.24\n"
            "1 Tesla T4    12   7.5 GiB  -\n");
}

TEST(WriteDocument, EmitsTheSameDocumentAsJsonAndYaml) {
  const nlohmann::json document = {
      {"scenarios", {{{"name", "whole"}, {"costPerHour", 12.24}, {"gpus", 12}, {"ok", true}}}},
      {"empty", nlohmann::json::array()}};
  std::ostringstream json, yaml;
  WriteDocument(document, OutputFormat::kJson, json);
  WriteDocument(document, OutputFormat::kYaml, yaml);
  EXPECT_EQ(nlohmann::json::parse(json.str()), document);
  EXPECT_EQ(yaml.str(),
            "empty: []\n"
            "scenarios:\n"
            "  - costPerHour: 12.24\n"
            "    gpus: 12\n"
            "    name: whole\n"
            "    ok: true\n");
}

}  // namespace
}  // namespace gpuslice::cli
