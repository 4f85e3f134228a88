#include "kube/manifest.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <system_error>

#include "io/file.h"
#include "kube/internal/object_readers.h"
#include "kube/internal/yaml_emit.h"
#include "kube/internal/yaml_field.h"

namespace gpuslice::kube {
namespace {

using internal::Field;

// Larger inputs are refused rather than read into memory: no manifest set is this big.
constexpr std::uintmax_t kMaxFileBytes = 64u << 20;

struct KindInfo {
  std::string_view kind;
  std::string_view api_version;
};

constexpr KindInfo kKinds[] = {
    {"Pod", "v1"},
    {"Deployment", "apps/v1"},
    {"ReplicaSet", "apps/v1"},
    {"StatefulSet", "apps/v1"},
    {"DaemonSet", "apps/v1"},
    {"Job", "batch/v1"},
    {"CronJob", "batch/v1"},
    {"NodePool", "karpenter.sh/v1"},
    {"NodeOverlay", "karpenter.sh/v1alpha1"},
    {"ResourceClaim", "resource.k8s.io/v1"},
    {"ResourceClaimTemplate", "resource.k8s.io/v1"},
};

std::string ScalarOr(const Field& field, std::string fallback) {
  if (field.present() && field.node().IsScalar()) return field.node().Scalar();
  return fallback;
}

Status ReadObject(const Field& root, Source source, Manifests* out);

Status ReadList(const Field& root, const Source& source, Manifests* out) {
  const Field items = root["items"];
  GPUSLICE_RETURN_IF_ERROR(items.ExpectSequence().WithContext(source.ToString()));
  for (size_t i = 0; i < items.size(); ++i) {
    const Field item = items.At(i);
    if (!item.present() || !item.node().IsMap()) {
      return item.Error("expected a Kubernetes object (a mapping), got " + item.Describe())
          .WithContext(source.ToString());
    }
    GPUSLICE_RETURN_IF_ERROR(ReadObject(item, source, out));
  }
  return Status::Ok();
}

Status ReadObject(const Field& root, Source source, Manifests* out) {
  const std::string kind = ScalarOr(root["kind"], "");
  const std::string api_version = ScalarOr(root["apiVersion"], "");
  source.line = root.line();
  source.kind = kind;
  source.name.clear();
  if (kind.empty() || api_version.empty()) {
    out->warnings.push_back(source.ToString() +
                            ": not a Kubernetes object (no apiVersion and kind); skipped");
    return Status::Ok();
  }
  if (kind == "List" && api_version == "v1") return ReadList(root, source, out);

  const KindInfo* info = nullptr;
  for (const KindInfo& candidate : kKinds) {
    if (candidate.kind == kind) info = &candidate;
  }
  if (info == nullptr) {
    out->warnings.push_back(source.ToString() + ": kind " + kind + " (" + api_version +
                            ") is not read; skipped");
    return Status::Ok();
  }
  const Field metadata = root["metadata"];
  const std::string name = ScalarOr(metadata["name"], "");
  const bool namespaced = kind != "NodePool" && kind != "NodeOverlay";
  source.name =
      namespaced && !name.empty() ? ScalarOr(metadata["namespace"], "default") + "/" + name : name;
  if (api_version != info->api_version) {
    return root["apiVersion"]
        .Error("\"" + api_version + "\" is not supported for kind " + kind + "; use " +
               std::string(info->api_version))
        .WithContext(source.ToString());
  }

  Status status;
  if (internal::IsWorkloadKind(kind)) {
    status = internal::ReadWorkload(root, kind, source, out);
  } else if (kind == "ResourceClaim" || kind == "ResourceClaimTemplate") {
    Result<ClaimSpec> claim = internal::ReadClaim(root, kind == "ResourceClaimTemplate");
    if (claim.ok()) {
      claim->source = source;
      out->claims.push_back(*std::move(claim));
    }
    status = claim.status();
  } else if (kind == "NodePool") {
    Result<NodePool> pool = internal::ReadNodePool(root);
    if (pool.ok()) {
      pool->source = source;
      pool->document_yaml = internal::EmitYaml(root.node());
      out->node_pools.push_back(*std::move(pool));
    }
    status = pool.status();
  } else {
    Result<NodeOverlay> overlay = internal::ReadNodeOverlay(root);
    if (overlay.ok()) {
      overlay->source = source;
      out->node_overlays.push_back(*std::move(overlay));
    }
    status = overlay.status();
  }
  return status.WithContext(source.ToString());
}

template <typename T, typename KeyFn>
Status CheckUnique(const std::vector<T>& objects, std::string_view what, KeyFn key) {
  std::map<std::string, const Source*> seen;
  for (const T& object : objects) {
    auto [it, inserted] = seen.emplace(key(object), &object.source);
    if (!inserted) {
      return Status::InvalidArgument(std::string(what) + " " + it->first + " is defined twice: " +
                                     it->second->ToString() + " and " + object.source.ToString());
    }
  }
  return Status::Ok();
}

Status CheckUnique(const Manifests& manifests) {
  GPUSLICE_RETURN_IF_ERROR(CheckUnique(
      manifests.pods, "pod", [](const Pod& p) { return p.namespace_name + "/" + p.name; }));
  GPUSLICE_RETURN_IF_ERROR(CheckUnique(manifests.daemon_sets, "DaemonSet", [](const DaemonSet& d) {
    return d.namespace_name + "/" + d.name;
  }));
  GPUSLICE_RETURN_IF_ERROR(
      CheckUnique(manifests.node_pools, "NodePool", [](const NodePool& p) { return p.name; }));
  return CheckUnique(manifests.node_overlays, "NodeOverlay",
                     [](const NodeOverlay& o) { return o.name; });
}

// Records where each document's root starts and whether it is a bare null.
class RootProbe : public YAML::EventHandler {
 public:
  bool root_is_null() const { return root_is_null_; }
  int root_position() const { return root_position_; }
  int root_line() const { return root_line_; }

  void OnDocumentStart(const YAML::Mark&) override {
    depth_ = 0;
    root_is_null_ = false;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override {
    if (depth_ == 0) Root(mark, true);
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { Root(mark, false); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    Root(mark, false);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Root(mark, false);
    ++depth_;
  }
  void OnSequenceEnd() override { --depth_; }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Root(mark, false);
    ++depth_;
  }
  void OnMapEnd() override { --depth_; }

 private:
  void Root(const YAML::Mark& mark, bool is_null) {
    if (depth_ != 0) return;
    root_is_null_ = is_null;
    root_position_ = mark.pos;
    root_line_ = mark.line + 1;
  }

  int depth_ = 0;
  bool root_is_null_ = false;
  int root_position_ = -1;
  int root_line_ = 0;
};

// yaml-cpp 0.7's LoadAll never returns on some malformed streams (a stray "," where a document
// starts): its parser reports an empty document without consuming the offending token, again and
// again. Walk the stream once with events and refuse it when a document makes no progress.
Status CheckStreamAdvances(std::string_view text, std::string_view file_name) {
  std::istringstream in{std::string(text)};
  YAML::Parser parser(in);
  RootProbe probe;
  int last_null_position = -1;
  while (parser.HandleNextDocument(probe)) {
    if (!probe.root_is_null()) {
      last_null_position = -1;
      continue;
    }
    if (probe.root_position() == last_null_position) {
      return Status::InvalidArgument(std::string(file_name) + ": line " +
                                     std::to_string(probe.root_line()) +
                                     ": invalid YAML: unexpected token where a document starts");
    }
    last_null_position = probe.root_position();
  }
  return Status::Ok();
}

Status ParseDocuments(std::string_view text, std::string_view file_name, Manifests* out) {
  std::vector<YAML::Node> documents;
  try {
    GPUSLICE_RETURN_IF_ERROR(CheckStreamAdvances(text, file_name));
    documents = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    std::string message(file_name);
    if (e.mark.line >= 0) {
      message += ": line " + std::to_string(e.mark.line + 1) + ", column " +
                 std::to_string(e.mark.column + 1);
    }
    return Status::InvalidArgument(message + ": invalid YAML: " + e.msg);
  }
  for (size_t i = 0; i < documents.size(); ++i) {
    Source source;
    source.file = std::string(file_name);
    source.document = static_cast<int>(i + 1);
    const Field root(documents[i], "");
    if (!root.present()) continue;  // empty documents, e.g. after a trailing "---"
    if (!root.node().IsMap()) {
      return root.Error("expected a Kubernetes object (a mapping), got " + root.Describe())
          .WithContext(source.ToString());
    }
    try {
      GPUSLICE_RETURN_IF_ERROR(ReadObject(root, source, out));
    } catch (const YAML::Exception& e) {
      return Status::InvalidArgument(source.ToString() + ": " + e.what());
    }
  }
  return Status::Ok();
}


Result<std::vector<std::filesystem::path>> ExpandPath(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code error;
  const fs::file_status status = fs::status(path, error);
  if (error || !fs::exists(status)) return Status::NotFound(path + ": no such file or directory");
  if (!fs::is_directory(status)) return std::vector<fs::path>{path};
  std::vector<fs::path> files;
  for (fs::recursive_directory_iterator
           it(path, fs::directory_options::follow_directory_symlink, error),
       end;
       !error && it != end; it.increment(error)) {
    const std::string extension = it->path().extension().string();
    if (it->is_regular_file() &&
        (extension == ".yaml" || extension == ".yml" || extension == ".json")) {
      files.push_back(it->path());
    }
  }
  if (error) return Status::Unavailable(path + ": " + error.message());
  if (files.empty()) {
    return Status::InvalidArgument(path + ": directory holds no .yaml, .yml or .json files");
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

Status ParseManifests(std::string_view text, std::string_view file_name, Manifests* out) {
  GPUSLICE_RETURN_IF_ERROR(ParseDocuments(text, file_name, out));
  return CheckUnique(*out);
}

Result<Manifests> LoadManifests(const std::vector<std::string>& paths) {
  Manifests manifests;
  for (const std::string& path : paths) {
    Result<std::vector<std::filesystem::path>> files = ExpandPath(path);
    if (!files.ok()) return files.status();
    for (const std::filesystem::path& file : *files) {
      Result<std::string> text = io::ReadFile(file.string(), kMaxFileBytes);
      if (!text.ok()) return text.status();
      GPUSLICE_RETURN_IF_ERROR(ParseDocuments(*text, file.string(), &manifests));
    }
  }
  GPUSLICE_RETURN_IF_ERROR(CheckUnique(manifests));
  return manifests;
}

}  // namespace gpuslice::kube
