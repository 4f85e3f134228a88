// Workload kinds expanded into the pods their controllers would create.
#include <algorithm>
#include <limits>

#include "kube/internal/object_readers.h"
#include "kube/internal/pod_spec_reader.h"

namespace gpuslice::kube::internal {
namespace {

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();

Result<int64_t> ReadCount(const Field& field, int64_t fallback) {
  if (!field.present()) return fallback;
  return field.Int(0, kInt32Max);
}

Result<bool> ReadBool(const Field& field) {
  if (!field.present()) return false;
  Result<std::string> text = field.String();
  if (!text.ok()) return text.status();
  if (*text == "true") return true;
  if (*text == "false") return false;
  return field.Error(field.Describe() + " is not a boolean");
}

// The number of pods a Job runs at once: its parallelism, but never more than the
// completions it still needs; none while suspended.
Result<int64_t> JobPods(const Field& job_spec) {
  GPUSLICE_RETURN_IF_ERROR(job_spec.ExpectPresent());
  GPUSLICE_RETURN_IF_ERROR(job_spec.ExpectMap());
  Result<bool> suspended = ReadBool(job_spec["suspend"]);
  if (!suspended.ok()) return suspended.status();
  Result<int64_t> parallelism = ReadCount(job_spec["parallelism"], 1);
  if (!parallelism.ok()) return parallelism.status();
  Result<int64_t> completions = ReadCount(job_spec["completions"], *parallelism);
  if (!completions.ok()) return completions.status();
  return *suspended ? 0 : std::min(*parallelism, *completions);
}

Result<std::shared_ptr<const PodTemplate>> ReadTemplate(const Field& field) {
  GPUSLICE_RETURN_IF_ERROR(field.ExpectPresent());
  GPUSLICE_RETURN_IF_ERROR(field.ExpectMap());
  auto out = std::make_shared<PodTemplate>();
  const Field metadata = field["metadata"];
  GPUSLICE_RETURN_IF_ERROR(metadata.ExpectMap());
  Result<Labels> labels = metadata["labels"].StringMap();
  if (!labels.ok()) return labels.status();
  Result<Labels> annotations = metadata["annotations"].StringMap();
  if (!annotations.ok()) return annotations.status();
  out->labels = *std::move(labels);
  out->annotations = *std::move(annotations);
  Result<PodSpec> spec = ReadPodSpec(field["spec"]);
  if (!spec.ok()) return spec.status();
  out->spec = *std::move(spec);
  return std::shared_ptr<const PodTemplate>(std::move(out));
}

Status AddPods(const Metadata& owner, std::string_view kind,
               const std::shared_ptr<const PodTemplate>& pod_template, int64_t count,
               const Source& source, const Field& count_field, Manifests* out) {
  if (static_cast<int64_t>(out->pods.size()) + count > kMaxPods) {
    return count_field.Error(std::to_string(count) + " pods would take the input past " +
                             std::to_string(kMaxPods) + " pods");
  }
  for (int64_t i = 0; i < count; ++i) {
    Pod pod;
    pod.namespace_name = owner.namespace_name;
    pod.name = owner.name + "-" + std::to_string(i);
    pod.pod_template = pod_template;
    pod.owner_kind = std::string(kind);
    pod.owner_name = owner.name;
    pod.source = source;
    out->pods.push_back(std::move(pod));
  }
  return Status::Ok();
}

void NoteUnmodelled(const PodSpec& spec, const Source& source, Manifests* out) {
  for (const std::string& path : spec.unmodelled) {
    out->warnings.push_back(source.ToString() + ": " + path +
                            " is not modelled; pods are planned without it");
  }
}

}  // namespace

bool IsWorkloadKind(std::string_view kind) {
  return kind == "Pod" || kind == "Deployment" || kind == "ReplicaSet" || kind == "StatefulSet" ||
         kind == "Job" || kind == "CronJob" || kind == "DaemonSet";
}

Result<Metadata> ReadMetadata(const Field& metadata, bool namespaced) {
  GPUSLICE_RETURN_IF_ERROR(metadata.ExpectPresent());
  GPUSLICE_RETURN_IF_ERROR(metadata.ExpectMap());
  Metadata out;
  Result<std::string> name = metadata["name"].String();
  if (!name.ok()) return name.status();
  if (name->empty()) return metadata["name"].Error("must not be empty");
  out.name = *std::move(name);
  if (namespaced) {
    out.namespace_name = "default";
    if (metadata["namespace"].present()) {
      Result<std::string> ns = metadata["namespace"].String();
      if (!ns.ok()) return ns.status();
      if (!ns->empty()) out.namespace_name = *std::move(ns);
    }
  }
  Result<Labels> labels = metadata["labels"].StringMap();
  if (!labels.ok()) return labels.status();
  out.labels = *std::move(labels);
  Result<Labels> annotations = metadata["annotations"].StringMap();
  if (!annotations.ok()) return annotations.status();
  out.annotations = *std::move(annotations);
  return out;
}

Status ReadWorkload(const Field& root, std::string_view kind, const Source& source,
                    Manifests* out) {
  Result<Metadata> metadata = ReadMetadata(root["metadata"], true);
  if (!metadata.ok()) return metadata.status();
  const Field spec = root["spec"];
  GPUSLICE_RETURN_IF_ERROR(spec.ExpectPresent());
  GPUSLICE_RETURN_IF_ERROR(spec.ExpectMap());

  if (kind == "Pod") {
    Result<PodSpec> pod_spec = ReadPodSpec(spec);
    if (!pod_spec.ok()) return pod_spec.status();
    if (static_cast<int64_t>(out->pods.size()) >= kMaxPods) {
      return root.Error("the input has more than " + std::to_string(kMaxPods) + " pods");
    }
    NoteUnmodelled(*pod_spec, source, out);
    Pod pod;
    pod.namespace_name = metadata->namespace_name;
    pod.name = metadata->name;
    pod.source = source;
    pod.pod_template = std::make_shared<const PodTemplate>(
        PodTemplate{metadata->labels, metadata->annotations, *std::move(pod_spec)});
    out->pods.push_back(std::move(pod));
    return Status::Ok();
  }

  Field template_field = spec["template"];
  Field count_field = spec["replicas"];
  int64_t count = 1;
  if (kind == "Job" || kind == "CronJob") {
    const Field job_spec = kind == "Job" ? spec : spec["jobTemplate"]["spec"];
    if (kind == "CronJob") {
      GPUSLICE_RETURN_IF_ERROR(spec["jobTemplate"].ExpectMap());
      Result<bool> suspended = ReadBool(spec["suspend"]);
      if (!suspended.ok()) return suspended.status();
      if (*suspended) return Status::Ok();
    }
    Result<int64_t> pods = JobPods(job_spec);
    if (!pods.ok()) return pods.status();
    count = *pods;
    template_field = job_spec["template"];
    count_field = job_spec["parallelism"];
  } else if (kind != "DaemonSet") {
    Result<int64_t> replicas = ReadCount(count_field, 1);
    if (!replicas.ok()) return replicas.status();
    count = *replicas;
  }

  Result<std::shared_ptr<const PodTemplate>> pod_template = ReadTemplate(template_field);
  if (!pod_template.ok()) return pod_template.status();
  NoteUnmodelled((*pod_template)->spec, source, out);
  if (kind == "DaemonSet") {
    out->daemon_sets.push_back(
        DaemonSet{metadata->namespace_name, metadata->name, (*pod_template)->spec, source});
    return Status::Ok();
  }
  return AddPods(*metadata, kind, *pod_template, count, source, count_field, out);
}

}  // namespace gpuslice::kube::internal
