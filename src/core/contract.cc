#include "core/contract.h"

#include <charconv>

namespace gpuslice::core::contract {
namespace {

// NVML's UUID buffer holds 96 bytes with the terminating NUL.
constexpr size_t kMaxUuidLength = 95;

std::string Quoted(std::string_view text) {
  // Control characters would garble the one stderr line that reports them.
  std::string out = "\"";
  for (char c : text.substr(0, 120)) {
    const auto byte = static_cast<unsigned char>(c);
    out += byte < 0x20 || byte == 0x7f ? '?' : c;
  }
  if (text.size() > 120) out += "...";
  return out + "\"";
}

std::vector<std::string_view> Fields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t at = 0;
  while (at < line.size()) {
    while (at < line.size() && line[at] == ' ') ++at;
    size_t end = at;
    while (end < line.size() && line[end] != ' ') ++end;
    if (end > at) fields.push_back(line.substr(at, end - at));
    at = end;
  }
  return fields;
}

bool ParseWhole(std::string_view text, uint64_t max, uint64_t* value) {
  const char* end = text.data() + text.size();
  auto [stop, error] = std::from_chars(text.data(), end, *value);
  return !text.empty() && error == std::errc() && stop == end && *value <= max &&
         (text.size() == 1 || text[0] != '0');
}

Status CheckRegionPath(std::string_view path) {
  if (path.empty()) return Status::Ok();
  if (path.front() != '/') {
    return Status::InvalidArgument("region " + Quoted(path) + " is not an absolute path");
  }
  for (char c : path) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7f) {
      return Status::InvalidArgument("region " + Quoted(path) +
                                     " holds a space or a control character");
    }
  }
  return Status::Ok();
}

Status CheckGpu(const GpuLimits& gpu) {
  GPUSLICE_RETURN_IF_ERROR(ValidateGpuUuid(gpu.uuid));
  if (gpu.memory_bytes > kMaxMemoryLimitBytes) {
    return Status::InvalidArgument("GPU " + gpu.uuid + ": memory " +
                                   std::to_string(gpu.memory_bytes) + " is above " +
                                   std::to_string(kMaxMemoryLimitBytes));
  }
  if (gpu.compute_percent < 1 || gpu.compute_percent > 100) {
    return Status::InvalidArgument("GPU " + gpu.uuid + ": compute " +
                                   std::to_string(gpu.compute_percent) + " is not 1-100");
  }
  return Status::Ok();
}

}  // namespace

Status ValidateGpuUuid(std::string_view uuid) {
  bool valid = uuid.size() > 4 && uuid.size() <= kMaxUuidLength && uuid.substr(0, 4) == "GPU-";
  for (size_t i = 4; valid && i < uuid.size(); ++i) {
    const char c = uuid[i];
    valid = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
  }
  if (valid) return Status::Ok();
  return Status::InvalidArgument(Quoted(uuid) + " is not a GPU UUID (GPU-<hex digits and dashes>)");
}

Status ValidateLimitsFile(const LimitsFile& limits) {
  if (limits.gpus.empty()) return Status::InvalidArgument("the limits name no GPU");
  if (limits.gpus.size() > static_cast<size_t>(kMaxAllocatedGpus)) {
    return Status::InvalidArgument("the limits name " + std::to_string(limits.gpus.size()) +
                                   " GPUs; a container gets at most " +
                                   std::to_string(kMaxAllocatedGpus));
  }
  for (size_t i = 0; i < limits.gpus.size(); ++i) {
    GPUSLICE_RETURN_IF_ERROR(CheckGpu(limits.gpus[i]));
    for (size_t j = 0; j < i; ++j) {
      if (limits.gpus[j].uuid == limits.gpus[i].uuid) {
        return Status::InvalidArgument("GPU " + limits.gpus[i].uuid + " is named twice");
      }
    }
  }
  return CheckRegionPath(limits.region_path);
}

std::string FormatLimitsFile(const LimitsFile& limits) {
  std::string text =
      "# The slice of one container, written by gpuslice-device-plugin; read by libgpuslice.so.\n"
      "version " +
      std::to_string(kLimitsFileVersion) + "\n";
  if (!limits.region_path.empty()) text += "region " + limits.region_path + "\n";
  text += std::string("allow-disable ") + (limits.allow_disable ? "true" : "false") + "\n";
  for (const GpuLimits& gpu : limits.gpus) {
    text += "gpu " + gpu.uuid + " memory " + std::to_string(gpu.memory_bytes) + " compute " +
            std::to_string(gpu.compute_percent) + "\n";
  }
  return text;
}

Result<LimitsFile> ParseLimitsFile(std::string_view text) {
  if (text.size() > kMaxLimitsFileBytes) {
    return Status::InvalidArgument("the limits file is " + std::to_string(text.size()) +
                                   " bytes, more than " + std::to_string(kMaxLimitsFileBytes));
  }
  LimitsFile limits;
  bool have_version = false, have_region = false, have_allow_disable = false;
  size_t line_number = 0;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_number;
    auto error = [&](const std::string& problem) {
      return Status::InvalidArgument("limits file line " + std::to_string(line_number) + ": " +
                                     problem);
    };
    for (char c : line) {
      const auto byte = static_cast<unsigned char>(c);
      if (byte < 0x20 || byte == 0x7f) return error("holds a control character");
    }
    const std::vector<std::string_view> fields = Fields(line);
    if (fields.empty() || fields[0].front() == '#') continue;
    const std::string_view key = fields[0];
    if (!have_version) {
      uint64_t version = 0;
      if (key != "version" || fields.size() != 2 || !ParseWhole(fields[1], 1000, &version)) {
        return error("expected \"version " + std::to_string(kLimitsFileVersion) + "\", got " +
                     Quoted(line));
      }
      if (version != static_cast<uint64_t>(kLimitsFileVersion)) {
        return error("version " + std::to_string(version) + " is not supported (this build reads " +
                     std::to_string(kLimitsFileVersion) + ")");
      }
      have_version = true;
    } else if (key == "region") {
      if (have_region) return error("region is given twice");
      if (fields.size() != 2) return error("expected \"region <absolute path>\"");
      GPUSLICE_RETURN_IF_ERROR(CheckRegionPath(fields[1]).WithContext("limits file line " +
                                                                      std::to_string(line_number)));
      limits.region_path = std::string(fields[1]);
      have_region = true;
    } else if (key == "allow-disable") {
      if (have_allow_disable) return error("allow-disable is given twice");
      if (fields.size() != 2 || (fields[1] != "true" && fields[1] != "false")) {
        return error("expected \"allow-disable true\" or \"allow-disable false\"");
      }
      limits.allow_disable = fields[1] == "true";
      have_allow_disable = true;
    } else if (key == "gpu") {
      GpuLimits gpu;
      uint64_t compute = 0;
      if (fields.size() != 6 || fields[2] != "memory" || fields[4] != "compute") {
        return error("expected \"gpu <GPU-UUID> memory <bytes> compute <percent>\", got " +
                     Quoted(line));
      }
      gpu.uuid = std::string(fields[1]);
      if (!ParseWhole(fields[3], kMaxMemoryLimitBytes, &gpu.memory_bytes)) {
        return error("memory " + Quoted(fields[3]) + " is not a whole number of bytes from 0 to " +
                     std::to_string(kMaxMemoryLimitBytes));
      }
      if (!ParseWhole(fields[5], 100, &compute) || compute == 0) {
        return error("compute " + Quoted(fields[5]) + " is not a whole percent from 1 to 100");
      }
      gpu.compute_percent = static_cast<int>(compute);
      if (limits.gpus.size() == static_cast<size_t>(kMaxAllocatedGpus)) {
        return error("more than " + std::to_string(kMaxAllocatedGpus) + " GPUs");
      }
      limits.gpus.push_back(std::move(gpu));
      GPUSLICE_RETURN_IF_ERROR(CheckGpu(limits.gpus.back())
                                   .WithContext("limits file line " + std::to_string(line_number)));
      for (size_t j = 0; j + 1 < limits.gpus.size(); ++j) {
        if (limits.gpus[j].uuid == limits.gpus.back().uuid) {
          return error("GPU " + limits.gpus.back().uuid + " is named twice");
        }
      }
    } else {
      return error("unknown key " + Quoted(key) + " (known: region, allow-disable, gpu)");
    }
  }
  if (!have_version) return Status::InvalidArgument("the limits file is empty (no version line)");
  if (limits.gpus.empty()) return Status::InvalidArgument("the limits file names no GPU");
  return limits;
}

}  // namespace gpuslice::core::contract
