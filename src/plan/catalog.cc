#include "plan/catalog.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>

namespace gpuslice::embedded {
extern const std::string_view kBuiltinCatalogCsv;
}  // namespace gpuslice::embedded

namespace gpuslice::plan {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr std::string_view kBuiltinPriceDate = "2026-07-20";

// Splits one CSV record (RFC 4180 quoting, no embedded newlines).
Result<std::vector<std::string>> SplitRecord(std::string_view line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"' && fields.back().empty()) {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  if (quoted) return Status::InvalidArgument("unterminated quoted field");
  return fields;
}

class Row {
 public:
  Row(const std::map<std::string, size_t>& columns, std::vector<std::string> fields,
      std::string where)
      : columns_(columns), fields_(std::move(fields)), where_(std::move(where)) {}

  std::string Text(const std::string& column) const {
    auto it = columns_.find(column);
    return it == columns_.end() || it->second >= fields_.size() ? std::string()
                                                                : fields_[it->second];
  }

  Status Error(const std::string& column, std::string_view what) const {
    return Status::InvalidArgument(where_ + ": column " + column + ": \"" + Text(column) + "\" " +
                                   std::string(what));
  }

  Result<int64_t> Int(const std::string& column, int64_t min) const {
    const std::string text = Text(column);
    int64_t value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
      return Error(column, "is not an integer");
    }
    if (value < min) return Error(column, "is below " + std::to_string(min));
    return value;
  }

  Result<std::optional<double>> Price(const std::string& column) const {
    const std::string text = Text(column);
    if (text.empty()) return std::optional<double>();
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (end != text.c_str() + text.size() || !std::isfinite(value) || value < 0) {
      return Error(column, "is not a price in USD per hour");
    }
    return std::optional<double>(value);
  }

 private:
  const std::map<std::string, size_t>& columns_;
  std::vector<std::string> fields_;
  std::string where_;
};

Result<InstanceType> ReadType(const Row& row) {
  InstanceType type;
  type.name = row.Text("instance_type");
  if (type.name.empty()) return row.Error("instance_type", "is empty");
  type.family = row.Text("family");
  type.arch = row.Text("arch");
  if (type.arch != "amd64" && type.arch != "arm64")
    return row.Error("arch", "is not amd64 or arm64");
  type.gpu_model = row.Text("gpu_model");
  struct IntColumn {
    const char* column;
    int64_t min;
    int64_t* target;
  };
  int64_t gpus = 0, gpu_mib = 0, vcpu = 0, mib = 0, alloc_mib = 0, max_pods = 0, k_gpus = 0;
  const IntColumn ints[] = {
      {"gpu_count", 0, &gpus},
      {"gpu_mem_mib_per_gpu", 0, &gpu_mib},
      {"vcpu", 1, &vcpu},
      {"mem_mib", 1, &mib},
      {"karpenter_alloc_cpu_millis", 1, &type.allocatable_cpu_millis},
      {"karpenter_alloc_mem_mib", 1, &alloc_mib},
      {"karpenter_max_pods", 1, &max_pods},
      {"karpenter_nvidia_gpu", 0, &k_gpus},
  };
  constexpr int64_t kSane = int64_t{1} << 31;  // keeps every product below int64 range
  for (const IntColumn& c : ints) {
    Result<int64_t> value = row.Int(c.column, c.min);
    if (!value.ok()) return value.status();
    if (*value >= kSane) return row.Error(c.column, "is implausibly large");
    *c.target = *value;
  }
  type.gpu_count = static_cast<int>(gpus);
  type.gpu_memory_bytes = static_cast<uint64_t>(gpu_mib) * kMiB;
  type.vcpu = static_cast<int>(vcpu);
  type.memory_bytes = static_cast<uint64_t>(mib) * kMiB;
  type.allocatable_memory_bytes = static_cast<uint64_t>(alloc_mib) * kMiB;
  type.capacity_memory_bytes = type.memory_bytes;
  if (!row.Text("karpenter_capacity_mem_mib").empty()) {
    Result<int64_t> capacity_mib = row.Int("karpenter_capacity_mem_mib", 1);
    if (!capacity_mib.ok()) return capacity_mib.status();
    if (*capacity_mib > mib) return row.Error("karpenter_capacity_mem_mib", "exceeds the memory");
    type.capacity_memory_bytes = static_cast<uint64_t>(*capacity_mib) * kMiB;
  }
  type.max_pods = static_cast<int>(max_pods);
  type.karpenter_gpus = static_cast<int>(k_gpus);
  if (type.allocatable_cpu_millis > type.vcpu * int64_t{1000}) {
    return row.Error("karpenter_alloc_cpu_millis", "exceeds the vCPUs");
  }
  if (type.allocatable_memory_bytes > type.capacity_memory_bytes) {
    return row.Error("karpenter_alloc_mem_mib", "exceeds the memory");
  }
  if (type.gpu_count > 0 && (type.gpu_model.empty() || type.gpu_memory_bytes == 0)) {
    return row.Error("gpu_model", "must name the GPU and its memory when gpu_count > 0");
  }
  Result<std::optional<double>> price = row.Price("od_usd_per_hour");
  if (!price.ok()) return price.status();
  type.price_per_hour = *price;
  type.notes = row.Text("notes");
  return type;
}

}  // namespace

const InstanceType* Catalog::Find(std::string_view name) const {
  for (const InstanceType& type : types) {
    if (type.name == name) return &type;
  }
  return nullptr;
}

Result<Catalog> ParseCatalog(std::string_view csv, std::string_view source) {
  Catalog catalog;
  catalog.source = std::string(source);
  std::map<std::string, size_t> columns;
  std::set<std::string> regions;
  size_t line_number = 0;
  while (!csv.empty()) {
    const size_t end = csv.find('\n');
    std::string_view line = csv.substr(0, end);
    csv = end == std::string_view::npos ? std::string_view() : csv.substr(end + 1);
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    const std::string where = std::string(source) + ": line " + std::to_string(line_number);
    Result<std::vector<std::string>> fields = SplitRecord(line);
    if (!fields.ok()) return fields.status().WithContext(where);
    if (columns.empty()) {
      for (size_t i = 0; i < fields->size(); ++i) columns[(*fields)[i]] = i;
      for (const char* required :
           {"instance_type", "family", "arch", "gpu_count", "gpu_model", "gpu_mem_mib_per_gpu",
            "vcpu", "mem_mib", "karpenter_alloc_cpu_millis", "karpenter_alloc_mem_mib",
            "karpenter_max_pods", "karpenter_nvidia_gpu", "od_usd_per_hour"}) {
        if (!columns.contains(required)) {
          return Status::InvalidArgument(where + ": the header has no column " + required);
        }
      }
      continue;
    }
    Row row(columns, *std::move(fields), where);
    Result<InstanceType> type = ReadType(row);
    if (!type.ok()) return type.status();
    if (catalog.Find(type->name) != nullptr) {
      return row.Error("instance_type", "is listed twice");
    }
    if (!row.Text("region").empty()) regions.insert(row.Text("region"));
    catalog.types.push_back(*std::move(type));
  }
  if (catalog.types.empty()) {
    return Status::InvalidArgument(std::string(source) + ": the catalog lists no instance types");
  }
  catalog.region = regions.size() == 1 ? *regions.begin() : regions.empty() ? "" : "mixed";
  return catalog;
}

const Catalog& BuiltinCatalog() {
  static const Catalog catalog = [] {
    Result<Catalog> parsed = ParseCatalog(embedded::kBuiltinCatalogCsv, "built-in");
    // The file is part of the source tree and checked by the test suite.
    if (!parsed.ok()) std::abort();
    parsed->price_date = std::string(kBuiltinPriceDate);
    return *std::move(parsed);
  }();
  return catalog;
}

}  // namespace gpuslice::plan
