#include "core/yaml_load.h"

#include <yaml-cpp/eventhandler.h>

#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <unordered_map>

namespace gpuslice::core {
namespace {

std::string Where(std::string_view file_name, const YAML::Mark& mark) {
  std::string where(file_name);
  if (!mark.is_null()) {
    // Appended piece by piece: GCC 12 warns falsely (-Wrestrict) on a chain of operator+.
    where += ':';
    where += std::to_string(mark.line + 1);
    where += ':';
    where += std::to_string(mark.column + 1);
  }
  return where;
}

std::string Quoted(const std::string& text) {
  constexpr size_t kMax = 80;
  return "\"" + (text.size() > kMax ? text.substr(0, kMax) + "..." : text) + "\"";
}

// Walks the parser's events once, before any node is built: duplicate keys, alias expansion and
// documents that make no progress are found here, while nothing but counters is in memory.
class StreamCheck : public YAML::EventHandler {
 public:
  StreamCheck(std::string_view file_name, const YamlLimits& limits)
      : file_name_(file_name), limits_(limits) {}

  // The first problem found, if any; later events are ignored once there is one.
  const std::optional<Status>& problem() const { return problem_; }
  // Where each document's first token is.
  const std::vector<YAML::Mark>& document_starts() const { return document_starts_; }

  // Called after each document: refuses a null document at the place the previous one was,
  // which is how yaml-cpp 0.7 loops forever on some malformed streams (a stray "," where a
  // document starts).
  void CheckProgress() {
    if (problem_ || !root_is_null_) {
      last_null_root_ = -1;
      return;
    }
    if (root_mark_.pos == last_null_root_) {
      Fail(root_mark_, "not valid YAML: unexpected token where a document starts");
    }
    last_null_root_ = root_mark_.pos;
  }

  void OnDocumentStart(const YAML::Mark& mark) override {
    document_starts_.push_back(mark);
    stack_.clear();
    anchors_.clear();
    root_seen_ = false;
    root_is_null_ = false;
  }
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    Leaf(mark, anchor, std::string("\0null", 5), /*is_null=*/true);
  }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                const std::string& value) override {
    Leaf(mark, anchor, value, /*is_null=*/false);
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (problem_) return;
    Root(mark, false);
    if (anchor >= anchors_.size() || !anchors_[anchor].complete) {
      const std::string name = anchor < anchors_.size() ? anchors_[anchor].name : "";
      Fail(mark, "alias *" + name + " is used inside its own anchor (a cycle)");
      return;
    }
    const Anchor& target = anchors_[anchor];
    if (target.scalar) KeyCheck(mark, *target.scalar);
    alias_nodes_ += target.size;
    expanded_ += target.size;
    if (alias_nodes_ > limits_.alias_nodes + literal_nodes_) {
      Fail(mark, "aliases expand to more than " +
                     std::to_string(limits_.alias_nodes + literal_nodes_) +
                     " nodes (at alias *" + target.name +
                     "); write the repeated parts out instead of aliasing them");
      return;
    }
    Completed();
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    Open(mark, anchor, /*is_map=*/false);
  }
  void OnSequenceEnd() override { Close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    Open(mark, anchor, /*is_map=*/true);
  }
  void OnMapEnd() override { Close(); }
  void OnAnchor(const YAML::Mark&, const std::string& name) override { pending_anchor_ = name; }

 private:
  struct Frame {
    bool is_map = false;
    uint64_t children = 0;
    YAML::anchor_t anchor = 0;
    uint64_t expanded_at_start = 0;
    std::unordered_map<std::string, YAML::Mark> keys;  // mappings only
  };
  struct Anchor {
    std::string name;
    bool complete = false;
    uint64_t size = 0;                  // nodes of its subtree, aliases expanded
    std::optional<std::string> scalar;  // its text, when it anchors a scalar (alias keys)
  };

  void Fail(const YAML::Mark& mark, const std::string& what) {
    if (!problem_) problem_ = Status::InvalidArgument(Where(file_name_, mark) + ": " + what);
  }

  void Root(const YAML::Mark& mark, bool is_null) {
    if (!stack_.empty() || root_seen_) return;
    root_seen_ = true;
    root_is_null_ = is_null;
    root_mark_ = mark;
  }

  // A key is a node started while its mapping holds an even number of children.
  void KeyCheck(const YAML::Mark& mark, const std::string& key) {
    if (stack_.empty() || !stack_.back().is_map || stack_.back().children % 2 != 0) return;
    auto [it, inserted] = stack_.back().keys.emplace(key, mark);
    if (!inserted) {
      const std::string shown = key == std::string("\0null", 5) ? "null" : Quoted(key);
      Fail(mark, "duplicate key " + shown + " (first at line " +
                     std::to_string(it->second.line + 1) + ", column " +
                     std::to_string(it->second.column + 1) + ")");
    }
  }

  void StartAnchor(YAML::anchor_t anchor) {
    if (anchor == 0) return;
    if (anchors_.size() <= anchor) anchors_.resize(anchor + 1);
    anchors_[anchor] = Anchor{pending_anchor_, false, 0, std::nullopt};
  }

  void Leaf(const YAML::Mark& mark, YAML::anchor_t anchor, const std::string& text,
            bool is_null) {
    if (problem_) return;
    Root(mark, is_null);
    KeyCheck(mark, text);
    ++literal_nodes_;
    ++expanded_;
    if (anchor != 0) {
      StartAnchor(anchor);
      anchors_[anchor].complete = true;
      anchors_[anchor].size = 1;
      anchors_[anchor].scalar = text;
    }
    Completed();
  }

  void Open(const YAML::Mark& mark, YAML::anchor_t anchor, bool is_map) {
    if (problem_) return;
    Root(mark, false);
    ++literal_nodes_;
    ++expanded_;
    StartAnchor(anchor);
    Frame frame;
    frame.is_map = is_map;
    frame.anchor = anchor;
    frame.expanded_at_start = expanded_ - 1;
    stack_.push_back(std::move(frame));
  }

  void Close() {
    if (problem_ || stack_.empty()) return;
    const Frame& frame = stack_.back();
    if (frame.anchor != 0) {
      anchors_[frame.anchor].complete = true;
      anchors_[frame.anchor].size = expanded_ - frame.expanded_at_start;
    }
    stack_.pop_back();
    Completed();
  }

  void Completed() {
    if (!stack_.empty()) ++stack_.back().children;
  }

  std::string_view file_name_;
  YamlLimits limits_;
  std::optional<Status> problem_;
  std::vector<YAML::Mark> document_starts_;
  std::vector<Frame> stack_;
  std::vector<Anchor> anchors_;  // by yaml-cpp's per-document anchor number
  std::string pending_anchor_;
  uint64_t literal_nodes_ = 0;
  uint64_t alias_nodes_ = 0;
  uint64_t expanded_ = 0;
  bool root_seen_ = false;
  bool root_is_null_ = false;
  YAML::Mark root_mark_ = YAML::Mark::null_mark();
  int last_null_root_ = -1;
};

Status InvalidYaml(std::string_view file_name, const YAML::Exception& e) {
  return Status::InvalidArgument(Where(file_name, e.mark) + ": not valid YAML: " + e.msg);
}

// Runs the checks over the whole stream; returns where its documents start.
Result<std::vector<YAML::Mark>> CheckStream(const std::string& text, std::string_view file_name,
                                            const YamlLimits& limits) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  StreamCheck check(file_name, limits);
  while (parser.HandleNextDocument(check)) {
    check.CheckProgress();
    if (check.problem()) return *check.problem();
  }
  if (check.problem()) return *check.problem();
  return check.document_starts();
}

// A document's text: from the start of the line its first token is on to where the next
// document's line starts. nullopt when the marks do not fit the text (then the stream is read
// whole instead).
struct DocumentText {
  size_t begin = 0;
  size_t end = 0;
  int first_line = 0;
};

std::optional<std::vector<DocumentText>> SplitDocuments(const std::string& text,
                                                        const std::vector<YAML::Mark>& starts) {
  std::vector<DocumentText> documents;
  for (const YAML::Mark& mark : starts) {
    if (mark.pos < 0 || static_cast<size_t>(mark.pos) > text.size()) return std::nullopt;
    const size_t pos = static_cast<size_t>(mark.pos);
    const size_t newline = pos == 0 ? std::string::npos : text.rfind('\n', pos - 1);
    const size_t begin = newline == std::string::npos ? 0 : newline + 1;
    if (!documents.empty() && begin < documents.back().begin) return std::nullopt;
    if (!documents.empty()) documents.back().end = begin;
    documents.push_back({begin, text.size(), mark.line});
  }
  return documents;
}

}  // namespace

Status ForEachYamlDocument(std::string_view text, std::string_view file_name,
                           const YamlLimits& limits,
                           const std::function<Status(const YamlDocument&)>& visit) {
  const std::string owned(text);
  std::optional<std::vector<DocumentText>> documents;
  try {
    Result<std::vector<YAML::Mark>> starts = CheckStream(owned, file_name, limits);
    if (!starts.ok()) return starts.status();
    documents = SplitDocuments(owned, *starts);
    for (size_t i = 0; documents && i < documents->size(); ++i) {
      const DocumentText& document = (*documents)[i];
      if (document.end - document.begin > limits.document_bytes) {
        return Status::InvalidArgument(
            std::string(file_name) + ":" + std::to_string(document.first_line + 1) +
            ": document " + std::to_string(i + 1) + " is " +
            std::to_string(document.end - document.begin) + " bytes, more than the " +
            std::to_string(limits.document_bytes) + "-byte limit for one document");
      }
    }
  } catch (const YAML::Exception& e) {
    return InvalidYaml(file_name, e);
  }
  if (!documents) {
    Result<std::vector<YAML::Node>> all = LoadYamlDocuments(text, file_name, limits);
    if (!all.ok()) return all.status();
    for (size_t i = 0; i < all->size(); ++i) {
      GPUSLICE_RETURN_IF_ERROR(visit({(*all)[i], 0, static_cast<int>(i)}));
    }
    return Status::Ok();
  }
  for (size_t i = 0; i < documents->size(); ++i) {
    const DocumentText& document = (*documents)[i];
    YamlDocument parsed;
    parsed.first_line = document.first_line;
    parsed.index = static_cast<int>(i);
    try {
      std::vector<YAML::Node> nodes =
          YAML::LoadAll(owned.substr(document.begin, document.end - document.begin));
      if (nodes.size() > 1) {
        // The stream's parser saw one document here, the document's own text reads as more
        // (stray bytes after a flow collection do that): refused rather than guessed at.
        return Status::InvalidArgument(
            std::string(file_name) + ":" + std::to_string(document.first_line + 1) +
            ": document " + std::to_string(i + 1) +
            " reads as several documents on its own; separate documents with '---' lines");
      }
      if (!nodes.empty()) parsed.node = nodes.front();
    } catch (const YAML::Exception& e) {
      YAML::Mark mark = e.mark;
      if (!mark.is_null()) mark.line += document.first_line;
      return InvalidYaml(file_name, YAML::Exception(mark, e.msg));
    }
    GPUSLICE_RETURN_IF_ERROR(visit(parsed));
  }
  return Status::Ok();
}

Result<std::vector<YAML::Node>> LoadYamlDocuments(std::string_view text, std::string_view file_name,
                                                  const YamlLimits& limits) {
  const std::string owned(text);
  try {
    Result<std::vector<YAML::Mark>> starts = CheckStream(owned, file_name, limits);
    if (!starts.ok()) return starts.status();
    return YAML::LoadAll(owned);
  } catch (const YAML::Exception& e) {
    return InvalidYaml(file_name, e);
  }
}

Result<YAML::Node> LoadYaml(std::string_view text, std::string_view file_name,
                            const YamlLimits& limits) {
  Result<std::vector<YAML::Node>> documents = LoadYamlDocuments(text, file_name, limits);
  if (!documents.ok()) return documents.status();
  if (documents->empty()) return YAML::Node();
  return documents->front();
}

}  // namespace gpuslice::core
