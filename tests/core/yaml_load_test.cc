#include "core/yaml_load.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace gpuslice::core {
namespace {

using ::testing::HasSubstr;

// `levels` anchors, each a list of ten aliases of the one before: 10^levels leaves.
std::string Bomb(int levels) {
  std::string text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int level = 1; level < levels; ++level) {
    const std::string previous = "*a" + std::to_string(level - 1);
    text += "a" + std::to_string(level) + ": &a" + std::to_string(level) + " [";
    for (int i = 0; i < 10; ++i) text += (i == 0 ? "" : ", ") + previous;
    text += "]\n";
  }
  return text;
}

TEST(LoadYaml, ReadsDocumentsAsYamlCppDoes) {
  Result<std::vector<YAML::Node>> documents =
      LoadYamlDocuments("a: 1\nb: [x, y]\n---\n{\"c\": true}\n---\n", "f.yaml");
  ASSERT_TRUE(documents.ok()) << documents.status().ToString();
  ASSERT_EQ(documents->size(), 3u);
  EXPECT_EQ((*documents)[0]["b"][1].as<std::string>(), "y");
  EXPECT_TRUE((*documents)[1]["c"].as<bool>());
  Result<YAML::Node> first = LoadYaml("k: v\n---\nk: w\n", "f.yaml");
  ASSERT_TRUE(first.ok());
  EXPECT_EQ((*first)["k"].as<std::string>(), "v");
  Result<YAML::Node> empty = LoadYaml("", "f.yaml");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->IsNull());
}

TEST(ForEachYamlDocument, HandsOverOneDocumentAtATimeWithItsFirstLine) {
  const std::string text = "a: 1\n---\nb:\n  c: [x]\n--- {d: 2}\n...\n---\n# empty\n";
  std::vector<YamlDocument> seen;
  const Status status = ForEachYamlDocument(text, "f.yaml", {}, [&](const YamlDocument& document) {
    seen.push_back(document);
    return Status::Ok();
  });
  ASSERT_TRUE(status.ok()) << status.ToString();
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[0].first_line, 0);
  EXPECT_EQ(seen[0].node["a"].as<int>(), 1);
  EXPECT_EQ(seen[1].first_line, 1);
  EXPECT_EQ(seen[1].index, 1);
  // Marks count from the document's first line.
  EXPECT_EQ(seen[1].node["b"]["c"].Mark().line + seen[1].first_line, 3);
  EXPECT_EQ(seen[2].node["d"].as<int>(), 2);
  EXPECT_EQ(seen[2].node["d"].Mark().line + seen[2].first_line, 4);
  EXPECT_TRUE(seen[3].node.IsNull());
  // The visitor's error stops the walk.
  int visits = 0;
  const Status stopped = ForEachYamlDocument(text, "f.yaml", {}, [&](const YamlDocument&) {
    ++visits;
    return Status::InvalidArgument("stop");
  });
  EXPECT_EQ(stopped.message(), "stop");
  EXPECT_EQ(visits, 1);
}

TEST(ForEachYamlDocument, RefusesADocumentOverTheLimitBeforeBuildingIt) {
  const std::string text = "a: 1\n---\nlist: [" + std::string(2000, '1') + "]\n";
  YamlLimits limits;
  limits.document_bytes = 1000;
  int visits = 0;
  const Status status = ForEachYamlDocument(text, "big.yaml", limits, [&](const YamlDocument&) {
    ++visits;
    return Status::Ok();
  });
  EXPECT_EQ(status.message(),
            "big.yaml:2: document 2 is 2013 bytes, more than the 1000-byte limit for one document");
  EXPECT_EQ(visits, 0);
}

TEST(LoadYaml, RefusesADuplicateKeyNamingBothPlaces) {
  Result<YAML::Node> node =
      LoadYaml("version: v1\nprofile:\n  slices: 2\n  slices: 64\n", "c.yaml");
  ASSERT_EQ(node.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(node.status().message(),
            "c.yaml:4:3: duplicate key \"slices\" (first at line 3, column 3)");
  // In flow style and JSON too, and a null key counts once.
  EXPECT_THAT(LoadYaml("{a: 1, b: 2, a: 3}", "f").status().message(),
              HasSubstr("f:1:14: duplicate key \"a\""));
  EXPECT_THAT(LoadYaml("{\"a\": 1, \"a\": 1}", "f.json").status().message(),
              HasSubstr("duplicate key \"a\""));
  // A key reached through an alias is the anchored text.
  EXPECT_THAT(LoadYaml("k: &name slices\nm: {slices: 1, *name : 2}\n", "f").status().message(),
              HasSubstr("duplicate key \"slices\""));
}

TEST(LoadYaml, AllowsTheSameKeyInDifferentMappings) {
  Result<std::vector<YAML::Node>> documents = LoadYamlDocuments(
      "a: {name: x}\nb: {name: y}\nlist: [{name: 1}, {name: 2}]\n---\na: again\n", "f.yaml");
  EXPECT_TRUE(documents.ok()) << documents.status().ToString();
}

TEST(LoadYaml, RefusesAnAliasBombAtTheAliasThatCrossesTheBudget) {
  Result<YAML::Node> bomb = LoadYaml(Bomb(9), "bomb.yaml");
  ASSERT_EQ(bomb.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(bomb.status().message(), HasSubstr("bomb.yaml:5:"));
  EXPECT_THAT(bomb.status().message(), HasSubstr("aliases expand to more than"));
  EXPECT_THAT(bomb.status().message(), HasSubstr("at alias *a3"));
}

TEST(LoadYaml, AllowsModestAliasing) {
  // 11,110 nodes through aliases: well within the budget.
  Result<YAML::Node> node = LoadYaml(Bomb(4), "f.yaml");
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  EXPECT_EQ((*node)["a3"][9][9][9][9].as<std::string>(), "x");
  // A tighter budget refuses the same text.
  EXPECT_FALSE(LoadYaml(Bomb(4), "f.yaml", YamlLimits{1000}).ok());
}

TEST(LoadYaml, AllowsAsManyAliasedNodesAsTheTextWritesOut) {
  // A large file that reuses an anchor is not a bomb: its budget grows with what it holds.
  std::string text = "base: &base {a: 1}\nitems:\n";
  for (int i = 0; i < 30000; ++i) text += "- {x: " + std::to_string(i) + ", y: *base}\n";
  Result<YAML::Node> node = LoadYaml(text, "big.yaml", YamlLimits{100});
  EXPECT_TRUE(node.ok()) << node.status().ToString();
  // Aliases adding more than the text holds are refused past the fixed allowance.
  std::string heavy = "base: &base {a: 1, b: 2, c: 3, d: 4, e: 5}\nitems:\n";
  for (int i = 0; i < 30000; ++i) heavy += "- {x: " + std::to_string(i) + ", y: *base}\n";
  EXPECT_THAT(LoadYaml(heavy, "heavy.yaml", YamlLimits{100}).status().message(),
              HasSubstr("aliases expand to more than"));
}

TEST(LoadYaml, RefusesAnAliasInsideItsOwnAnchor) {
  Result<YAML::Node> cycle = LoadYaml("a: &loop [1, *loop]\n", "c.yaml");
  ASSERT_EQ(cycle.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(cycle.status().message(),
            "c.yaml:1:14: alias *loop is used inside its own anchor (a cycle)");
}

TEST(LoadYaml, NamesInvalidYamlByLineAndColumn) {
  Result<YAML::Node> node = LoadYaml("a: [1, 2\n", "bad.yaml");
  ASSERT_EQ(node.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(node.status().message(), HasSubstr("bad.yaml:2:1: not valid YAML: "));
  EXPECT_THAT(LoadYaml("a: *nowhere\n", "f").status().message(), HasSubstr("not valid YAML"));
}

TEST(LoadYaml, ReturnsOnStreamsYamlCppWouldLoopOn) {
  Result<std::vector<YAML::Node>> documents = LoadYamlDocuments("a: 1\n---\n,\n", "loop.yaml");
  ASSERT_EQ(documents.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(documents.status().message(),
              HasSubstr("not valid YAML: unexpected token where a document starts"));
}

}  // namespace
}  // namespace gpuslice::core
