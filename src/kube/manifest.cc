#include "kube/manifest.h"

#include <yaml-cpp/yaml.h>

#include <map>

#include "core/yaml_load.h"
#include "io/file.h"
#include "kube/internal/object_readers.h"
#include "kube/internal/yaml_emit.h"
#include "kube/internal/yaml_field.h"

namespace gpuslice::kube {
namespace {

using internal::Field;

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

// One document at a time: a large stream never holds more than one document's YAML nodes.
Status ParseDocuments(std::string_view text, std::string_view file_name, Manifests* out) {
  return core::ForEachYamlDocument(
      text, file_name, {}, [&](const core::YamlDocument& document) -> Status {
        Source source;
        source.file = std::string(file_name);
        source.document = document.index + 1;
        const Field root(document.node, "", document.first_line + 1, document.first_line);
        if (!root.present()) return Status::Ok();  // empty documents, e.g. after a final "---"
        if (!root.node().IsMap()) {
          return root.Error("expected a Kubernetes object (a mapping), got " + root.Describe())
              .WithContext(source.ToString());
        }
        try {
          return ReadObject(root, source, out);
        } catch (const YAML::Exception& e) {
          return Status::InvalidArgument(source.ToString() + ": " + e.msg);
        }
      });
}


}  // namespace

Status ParseManifests(std::string_view text, std::string_view file_name, Manifests* out) {
  GPUSLICE_RETURN_IF_ERROR(ParseDocuments(text, file_name, out));
  return CheckUnique(*out);
}

Result<Manifests> LoadManifests(const std::vector<std::string>& paths) {
  Manifests manifests;
  uint64_t total_bytes = 0;
  for (const std::string& path : paths) {
    Result<std::vector<std::string>> files =
        io::ListInputFiles(path, {".yaml", ".yml", ".json"});
    if (!files.ok()) return files.status();
    for (const std::string& file : *files) {
      Result<std::string> text = io::ReadFile(file);
      if (!text.ok()) return text.status();
      total_bytes += text->size();
      if (total_bytes > io::kMaxInputBytes) {
        return Status::InvalidArgument(file + ": the manifests together are more than the " +
                                       std::to_string(io::kMaxInputBytes) + "-byte limit");
      }
      const std::string name = file == io::kStdinPath ? "standard input" : file;
      GPUSLICE_RETURN_IF_ERROR(ParseDocuments(*text, name, &manifests));
    }
  }
  GPUSLICE_RETURN_IF_ERROR(CheckUnique(manifests));
  return manifests;
}

}  // namespace gpuslice::kube
