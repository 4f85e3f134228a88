#include "kube/internal/object_readers.h"

namespace gpuslice::kube::internal {
namespace {

// Reads one exact request (the request itself, or an alternative of firstAvailable).
Status ReadExact(const Field& exact, DeviceRequest* request) {
  GPUSLICE_RETURN_IF_ERROR(exact.ExpectMap());
  Result<std::string> device_class = exact["deviceClassName"].String();
  if (!device_class.ok()) return device_class.status();
  request->device_class = *device_class;
  const Field mode = exact["allocationMode"];
  if (mode.present()) {
    Result<std::string> text = mode.String();
    if (!text.ok()) return text.status();
    if (*text == "All") {
      return mode.Error("allocationMode All is not modelled: name a count of devices instead");
    }
    if (*text != "ExactCount") return mode.Error("\"" + *text + "\" is not ExactCount or All");
  }
  if (exact["count"].present()) {
    Result<int64_t> count = exact["count"].Int(1, 128);
    if (!count.ok()) return count.status();
    request->count = *count;
  }
  const Field capacity = exact["capacity"];
  GPUSLICE_RETURN_IF_ERROR(capacity.ExpectMap());
  Result<ResourceList> amounts = capacity["requests"].Resources();
  if (!amounts.ok()) return amounts.status();
  request->capacity = *std::move(amounts);
  return Status::Ok();
}

}  // namespace

Result<ClaimSpec> ReadClaim(const Field& root, bool is_template) {
  Result<Metadata> metadata = ReadMetadata(root["metadata"], /*namespaced=*/true);
  if (!metadata.ok()) return metadata.status();
  ClaimSpec claim;
  claim.namespace_name = metadata->namespace_name;
  claim.name = metadata->name;
  claim.is_template = is_template;
  const Field spec = is_template ? root["spec"]["spec"] : root["spec"];
  GPUSLICE_RETURN_IF_ERROR(spec.ExpectPresent());
  GPUSLICE_RETURN_IF_ERROR(spec.ExpectMap());
  const Field requests = spec["devices"]["requests"];
  GPUSLICE_RETURN_IF_ERROR(requests.ExpectSequence());
  for (size_t i = 0; i < requests.size(); ++i) {
    const Field entry = requests.At(i);
    GPUSLICE_RETURN_IF_ERROR(entry.ExpectMap());
    DeviceRequest request;
    Result<std::string> name = entry["name"].String();
    if (!name.ok()) return name.status();
    request.name = *name;
    const Field exact = entry["exactly"];
    const Field alternatives = entry["firstAvailable"];
    if (exact.present() == alternatives.present()) {
      return entry.Error("give exactly one of exactly and firstAvailable");
    }
    if (exact.present()) {
      GPUSLICE_RETURN_IF_ERROR(ReadExact(exact, &request));
    } else {
      GPUSLICE_RETURN_IF_ERROR(alternatives.ExpectSequence());
      if (alternatives.size() == 0) return alternatives.Error("lists no alternative");
      GPUSLICE_RETURN_IF_ERROR(ReadExact(alternatives.At(0), &request));
    }
    claim.requests.push_back(std::move(request));
  }
  return claim;
}

}  // namespace gpuslice::kube::internal
