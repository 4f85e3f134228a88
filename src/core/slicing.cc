#include "core/slicing.h"

#include "core/quantity.h"

#include <fnmatch.h>

#include <algorithm>
#include <cassert>
#include <charconv>

namespace gpuslice::core {
namespace {

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlnum(char c) { return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }

// RFC 1123 subdomain: dot-separated labels of lower-case alphanumerics and '-', each starting
// and ending alphanumeric, 253 characters at most.
bool IsDnsSubdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find('.', start);
    if (end == std::string_view::npos) end = s.size();
    std::string_view label = s.substr(start, end - start);
    if (label.empty() || !IsLowerAlnum(label.front()) || !IsLowerAlnum(label.back())) {
      return false;
    }
    for (char c : label) {
      if (!IsLowerAlnum(c) && c != '-') return false;
    }
    start = end + 1;
  }
  return true;
}

// The name part of a Kubernetes qualified name.
bool IsQualifiedNamePart(std::string_view s) {
  if (s.empty() || s.size() > 63 || !IsAlnum(s.front()) || !IsAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return IsAlnum(c) || c == '-' || c == '_' || c == '.'; });
}

}  // namespace

bool GpuSelector::Matches(const GpuInfo& gpu) const {
  for (const std::string& glob : models) {
    if (fnmatch(glob.c_str(), gpu.name.c_str(), FNM_CASEFOLD) == 0) return true;
  }
  if (std::find(indices.begin(), indices.end(), gpu.index) != indices.end()) return true;
  return std::find(uuids.begin(), uuids.end(), gpu.uuid) != uuids.end();
}

SliceLimits LimitsForSlices(const SlicingProfile& profile, uint64_t gpu_memory_bytes, int k) {
  assert(profile.slices >= 1 && k >= 1 && k <= profile.slices);
  const uint64_t usable = gpu_memory_bytes > profile.reserved_memory_bytes
                              ? gpu_memory_bytes - profile.reserved_memory_bytes
                              : 0;
  const auto slices = static_cast<uint64_t>(profile.slices);
  SliceLimits limits;
  limits.memory_bytes = usable / slices * static_cast<uint64_t>(k);
  limits.compute_percent =
      profile.enforce_compute ? std::max(1, k * 100 / profile.slices) : 100;
  return limits;
}

Status CheckSliceMemory(const SlicingProfile& profile, uint64_t gpu_memory_bytes) {
  if (profile.reserved_memory_bytes >= gpu_memory_bytes) {
    return Status::InvalidArgument("reservedMemory " + FormatBytes(profile.reserved_memory_bytes) +
                                   " is not less than the GPU's memory (" +
                                   FormatBytes(gpu_memory_bytes) + ")");
  }
  if (LimitsForSlices(profile, gpu_memory_bytes, 1).memory_bytes == 0) {
    return Status::InvalidArgument("reservedMemory " + FormatBytes(profile.reserved_memory_bytes) +
                                   " leaves less than one byte for each of " +
                                   std::to_string(profile.slices) + " slices");
  }
  return Status::Ok();
}

std::string MakeDeviceId(std::string_view gpu_uuid, int slice) {
  std::string id(gpu_uuid);
  id += "::";
  id += std::to_string(slice);
  return id;
}

Result<DeviceIdParts> ParseDeviceId(std::string_view id) {
  const size_t separator = id.rfind("::");
  auto invalid = [&] {
    return Status::InvalidArgument("device ID \"" + std::string(id) +
                                   "\" is not of the form <GPU-UUID>::<slice>");
  };
  if (separator == std::string_view::npos || separator == 0) return invalid();
  std::string_view number = id.substr(separator + 2);
  DeviceIdParts parts;
  auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), parts.slice);
  if (number.empty() || error != std::errc() || end != number.data() + number.size() ||
      parts.slice < 0) {
    return invalid();
  }
  parts.gpu_uuid = std::string(id.substr(0, separator));
  return parts;
}

Status ValidateResourceName(std::string_view resource_name) {
  auto invalid = [&](std::string_view why) {
    return Status::InvalidArgument("resource name \"" + std::string(resource_name) +
                                   "\" is invalid: " + std::string(why));
  };
  const size_t slash = resource_name.find('/');
  if (slash == std::string_view::npos) {
    return invalid("an extended resource needs a domain prefix, e.g. gpuslice.io/slice");
  }
  std::string_view domain = resource_name.substr(0, slash);
  std::string_view name = resource_name.substr(slash + 1);
  if (domain == "kubernetes.io" ||
      (domain.size() > 14 && domain.substr(domain.size() - 14) == ".kubernetes.io")) {
    return invalid("the kubernetes.io domain is reserved for native resources");
  }
  if (domain.substr(0, 9) == "requests.") {
    return invalid("the \"requests.\" prefix is reserved for quota");
  }
  // The kubelet validates the quota form "requests.<name>" as a qualified name.
  if (!IsDnsSubdomain(std::string("requests.") + std::string(domain))) {
    return invalid("the domain must be a lower-case DNS subdomain");
  }
  if (!IsQualifiedNamePart(name)) {
    return invalid(
        "the name after '/' must be 1-63 alphanumerics, '-', '_' or '.', starting and ending "
        "alphanumeric");
  }
  return Status::Ok();
}

}  // namespace gpuslice::core
