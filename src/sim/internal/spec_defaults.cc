#include "sim/internal/spec_defaults.h"

#include <array>
#include <cctype>
#include <cinttypes>
#include <cstdio>

namespace gpuslice::sim::internal {
namespace {

uint64_t Fnv1a(std::string_view text) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::string DeriveUuid(std::string_view seed, int index, std::string_view model_key) {
  const uint64_t base =
      Fnv1a(std::string(seed) + "/" + std::to_string(index) + "/" + std::string(model_key));
  const uint64_t hi = SplitMix64(base);
  const uint64_t lo = SplitMix64(base ^ 0x5a5a5a5a5a5a5a5aULL);
  char text[64];
  std::snprintf(text, sizeof(text),
                "GPU-%08" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%012" PRIx64, hi >> 32,
                (hi >> 16) & 0xffff, hi & 0xffff, lo >> 48, lo & uint64_t{0xffffffffffff});
  return text;
}

// The bus numbers of the eight GPU slots of an HGX baseboard; larger nodes continue in the
// next PCI domain.
constexpr std::array<int, 8> kHgxBusNumbers = {0x18, 0x2A, 0x3A, 0x5D, 0x9A, 0xAB, 0xBA, 0xDB};

std::string DerivePciBusId(int index) {
  char text[32];
  std::snprintf(text, sizeof(text), "%08X:%02X:00.0", index / 8,
                kHgxBusNumbers[static_cast<size_t>(index % 8)]);
  return text;
}

bool ParseHex(std::string_view text, size_t digits, unsigned* out) {
  if (text.size() != digits) return false;
  unsigned value = 0;
  for (char c : text) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
    value = value * 16 + static_cast<unsigned>(std::isdigit(static_cast<unsigned char>(c))
                                                   ? c - '0'
                                                   : std::tolower(c) - 'a' + 10);
  }
  *out = value;
  return true;
}

}  // namespace

GpuSpec GpuFromModel(const GpuModel& model, int index, int total, int numa_nodes,
                     std::string_view uuid_seed) {
  GpuSpec gpu;
  gpu.model = std::string(model.key);
  gpu.name = std::string(model.nvml_name);
  gpu.uuid = DeriveUuid(uuid_seed, index, model.key);
  gpu.memory_bytes = model.memory_mib << 20;
  gpu.minor = index;
  gpu.pci_bus_id = DerivePciBusId(index);
  gpu.numa_node = numa_nodes > 0 ? index * numa_nodes / (total > 0 ? total : 1) : -1;
  gpu.pci_device_id = model.pci_device_id;
  gpu.pci_subsystem_id = model.pci_subsystem_id;
  gpu.cc_major = model.cc_major;
  gpu.cc_minor = model.cc_minor;
  gpu.sm_count = model.sm_count;
  gpu.clock_khz = model.clock_khz;
  gpu.memory_clock_khz = model.memory_clock_khz;
  gpu.memory_bus_width = model.memory_bus_width;
  gpu.l2_cache_bytes = model.l2_cache_bytes;
  gpu.max_threads_per_sm = model.max_threads_per_sm;
  gpu.shared_memory_per_sm = model.shared_memory_per_sm;
  gpu.shared_memory_per_block_optin = model.shared_memory_per_block_optin;
  return gpu;
}

int DefaultNumaNodes(int total) { return total >= 4 ? 2 : 1; }

bool IsValidUuid(std::string_view uuid) {
  static constexpr std::string_view kPattern = "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
  if (uuid.size() != kPattern.size()) return false;
  for (size_t i = 0; i < uuid.size(); ++i) {
    const char c = uuid[i];
    if (kPattern[i] == 'x') {
      if (!std::isdigit(static_cast<unsigned char>(c)) && (c < 'a' || c > 'f')) return false;
    } else if (c != kPattern[i]) {
      return false;
    }
  }
  return true;
}

std::optional<std::string> NormalizePciBusId(std::string_view bus_id) {
  // domain:bus:device.function
  const size_t first = bus_id.find(':');
  const size_t second = first == std::string_view::npos ? first : bus_id.find(':', first + 1);
  const size_t dot = second == std::string_view::npos ? second : bus_id.find('.', second + 1);
  if (dot == std::string_view::npos) return std::nullopt;
  const std::string_view domain_text = bus_id.substr(0, first);
  unsigned domain = 0, bus = 0, device = 0, function = 0;
  if (!(ParseHex(domain_text, 8, &domain) || ParseHex(domain_text, 4, &domain)) ||
      !ParseHex(bus_id.substr(first + 1, second - first - 1), 2, &bus) ||
      !ParseHex(bus_id.substr(second + 1, dot - second - 1), 2, &device) ||
      !ParseHex(bus_id.substr(dot + 1), 1, &function) || device > 0x1f || function > 7) {
    return std::nullopt;
  }
  char text[32];
  std::snprintf(text, sizeof(text), "%08X:%02X:%02X.%X", domain, bus, device, function);
  return std::string(text);
}

}  // namespace gpuslice::sim::internal
