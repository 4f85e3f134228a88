// The README and docs/ as a newcomer follows them: every relative link (and its #anchor)
// leads somewhere, and every command the README presents as runnable names a program the
// build produces, a script in the repository, or a tool the README tells the reader to have.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
const fs::path kSource = GPUSLICE_SOURCE_DIR;
const fs::path kBin = GPUSLICE_BIN_DIR;

std::string Slurp(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<fs::path> MarkdownFiles() {
  std::vector<fs::path> files = {kSource / "README.md", kSource / "CONTRIBUTING.md"};
  for (const auto& entry : fs::directory_iterator(kSource / "docs")) {
    if (entry.path().extension() == ".md") files.push_back(entry.path());
  }
  return files;
}

// Lines outside fenced code blocks, where links are links.
std::vector<std::string> ProseLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  bool fenced = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("```", 0) == 0) {
      fenced = !fenced;
      continue;
    }
    if (!fenced) lines.push_back(line);
  }
  return lines;
}

// GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens.
std::string Anchor(const std::string& heading) {
  std::string anchor;
  for (unsigned char c : heading) {
    if (std::isalnum(c)) {
      anchor += static_cast<char>(std::tolower(c));
    } else if (c == ' ' || c == '-') {
      anchor += '-';
    } else if (c == '_') {
      anchor += '_';
    }
  }
  return anchor;
}

std::set<std::string> Anchors(const fs::path& markdown) {
  std::set<std::string> anchors;
  for (const std::string& line : ProseLines(Slurp(markdown))) {
    const size_t hashes = line.find_first_not_of('#');
    if (hashes == 0 || hashes == std::string::npos || line[hashes] != ' ') continue;
    anchors.insert(Anchor(line.substr(hashes + 1)));
  }
  return anchors;
}

// The targets of the line's Markdown links: what "](" opens and ")" closes, without spaces.
std::vector<std::string> LinkTargets(const std::string& line) {
  std::vector<std::string> targets;
  for (size_t open = line.find("]("); open != std::string::npos; open = line.find("](", open + 2)) {
    const size_t close = line.find(')', open + 2);
    if (close == std::string::npos) break;
    const std::string target = line.substr(open + 2, close - open - 2);
    if (!target.empty() && target.find(' ') == std::string::npos) targets.push_back(target);
  }
  return targets;
}

TEST(Docs, EveryRelativeLinkAndAnchorResolves) {
  int checked = 0;
  for (const fs::path& file : MarkdownFiles()) {
    for (const std::string& line : ProseLines(Slurp(file))) {
      for (const std::string& target : LinkTargets(line)) {
        if (target.rfind("http://", 0) == 0 || target.rfind("https://", 0) == 0) continue;
        const size_t hash = target.find('#');
        const std::string path_part = target.substr(0, hash);
        const fs::path resolved = path_part.empty() ? file : file.parent_path() / path_part;
        ++checked;
        EXPECT_TRUE(fs::exists(resolved)) << file.filename() << ": " << target << " does not exist";
        if (hash != std::string::npos && resolved.extension() == ".md" && fs::exists(resolved)) {
          const std::string anchor = target.substr(hash + 1);
          EXPECT_TRUE(Anchors(resolved).count(anchor))
              << file.filename() << ": " << target << ": no heading has the anchor #" << anchor;
        }
      }
    }
  }
  EXPECT_GT(checked, 20) << "the link pattern no longer finds the docs' links";
}

TEST(Docs, EveryReadmeCommandNamesWhatTheBuildOrRepositoryHas) {
  // Tools the README asks the reader to have (the install section) or that setup.sh installs.
  const std::set<std::string> external = {"cmake", "helm", "kubectl"};
  const std::string readme = Slurp(kSource / "README.md");
  std::istringstream in(readme);
  bool shell = false;
  int checked = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("```", 0) == 0) {
      shell = !shell && line == "```sh";
      continue;
    }
    if (!shell) continue;
    // Each step of a line: split at && and take the program of each.
    std::vector<std::string> steps;
    for (size_t start = 0;;) {
      const size_t and_then = line.find("&&", start);
      steps.push_back(line.substr(start, and_then == std::string::npos ? std::string::npos : and_then - start));
      if (and_then == std::string::npos) break;
      start = and_then + 2;
    }
    for (const std::string& step : steps) {
      std::istringstream words(step);
      std::string program;
      words >> program;
      if (program.empty() || program[0] == '#' || program[0] == '-') continue;
      if (program == "bash") words >> program;
      ++checked;
      const std::string release_bin = "build/release/bin/";
      if (program.rfind(release_bin, 0) == 0) {
        EXPECT_TRUE(fs::exists(kBin / program.substr(release_bin.size())))
            << "README runs " << program << ", which the build does not produce";
      } else if (program.find('/') != std::string::npos) {
        EXPECT_TRUE(fs::exists(kSource / program)) << "README runs " << program << ", which is not in the repository";
      } else {
        EXPECT_TRUE(external.count(program)) << "README runs " << program << ", which it never says where to get";
      }
    }
  }
  EXPECT_GT(checked, 8) << "no command blocks found in the README";
}

}  // namespace
