#include "replay/trace.h"

#include <algorithm>
#include <charconv>
#include <functional>
#include <limits>

#include "io/file.h"
#include "replay/internal/csv.h"

namespace gpuslice::replay {
namespace {

// One data row with its header, answering typed lookups by column name. Every error names the
// source, line, column and offending value.
class Row {
 public:
  Row(std::string_view source, int line, const std::vector<std::string>& fields,
      const std::vector<std::string>& header)
      : source_(source), line_(line), fields_(fields), header_(header) {}

  // The raw text of `column`, or "" when the file has no such column.
  std::string_view Text(std::string_view column) const {
    const int index = Index(column);
    return index < 0 ? std::string_view() : std::string_view(fields_[index]);
  }

  Result<int64_t> Integer(std::string_view column, int64_t min, int64_t max) const {
    const std::string_view text = Text(column);
    int64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
      // Built piecewise: GCC 12 warns (-Wrestrict, a false positive) on "'" + std::string.
      std::string what(1, '\'');
      what.append(text).append("' is not a whole number");
      return Error(column, what);
    }
    if (value < min) {
      return Error(column, std::to_string(value) + " is below " + std::to_string(min));
    }
    if (value > max) {
      return Error(column, std::to_string(value) + " is above " + std::to_string(max));
    }
    return value;
  }

  // An integer column that may be absent or empty.
  Result<std::optional<int64_t>> OptionalInteger(std::string_view column) const {
    if (Text(column).empty()) return std::optional<int64_t>();
    Result<int64_t> value =
        Integer(column, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
    if (!value.ok()) return value.status();
    return std::optional<int64_t>(*value);
  }

  Status Error(std::string_view column, const std::string& what) const {
    return Status::InvalidArgument(Where() + "column '" + std::string(column) + "': " + what);
  }
  std::string Where() const { return std::string(source_) + ":" + std::to_string(line_) + ": "; }

 private:
  int Index(std::string_view column) const {
    for (size_t i = 0; i < header_.size(); ++i) {
      if (header_[i] == column) return static_cast<int>(i);
    }
    return -1;
  }

  std::string_view source_;
  int line_;
  const std::vector<std::string>& fields_;
  const std::vector<std::string>& header_;
};

// Reads the header, checks `required` columns are there, then hands each data row to `on_row`.
Status ParseTable(std::string_view text, std::string_view source,
                  const std::vector<std::string_view>& required,
                  const std::function<Status(const Row&)>& on_row) {
  internal::CsvReader reader(text);
  std::vector<std::string> header;
  auto csv_error = [&](const Status& status) {
    return Status::InvalidArgument(std::string(source) + ":" + status.message());
  };
  Result<bool> has_header = reader.Next(&header);
  if (!has_header.ok()) return csv_error(has_header.status());
  if (!*has_header) return Status::InvalidArgument(std::string(source) + ": the file is empty");
  // A byte order mark from spreadsheet exports is not part of the first column's name.
  if (!header.empty() && header[0].starts_with("\xEF\xBB\xBF")) header[0].erase(0, 3);
  for (size_t i = 0; i < header.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (header[i] == header[j]) {
        return Status::InvalidArgument(std::string(source) + ":1: column '" + header[i] +
                                       "' appears twice in the header");
      }
    }
  }
  for (std::string_view column : required) {
    if (std::find(header.begin(), header.end(), column) == header.end()) {
      return Status::InvalidArgument(std::string(source) + ":1: the header has no column '" +
                                     std::string(column) + "'");
    }
  }
  std::vector<std::string> fields;
  int rows = 0;
  while (true) {
    Result<bool> has_row = reader.Next(&fields);
    if (!has_row.ok()) return csv_error(has_row.status());
    if (!*has_row) break;
    if (fields.size() == 1 && fields[0].empty()) continue;  // blank line
    const Row row(source, reader.line(), fields, header);
    if (fields.size() != header.size()) {
      return Status::InvalidArgument(row.Where() + "has " + std::to_string(fields.size()) +
                                     " fields, the header has " + std::to_string(header.size()));
    }
    GPUSLICE_RETURN_IF_ERROR(on_row(row));
    ++rows;
  }
  if (rows == 0) return Status::InvalidArgument(std::string(source) + ": no rows after the header");
  return Status::Ok();
}

constexpr int64_t kMaxInt = std::numeric_limits<int64_t>::max();

std::vector<std::string> SplitModels(std::string_view spec) {
  std::vector<std::string> models;
  size_t start = 0;
  while (start <= spec.size()) {
    size_t end = spec.find('|', start);
    if (end == std::string_view::npos) end = spec.size();
    if (end > start) models.emplace_back(spec.substr(start, end - start));
    start = end + 1;
  }
  return models;
}


}  // namespace

Result<std::vector<NodeSpec>> ParseNodeList(std::string_view text, std::string_view source) {
  std::vector<NodeSpec> nodes;
  Status status = ParseTable(
      text, source, {"sn", "cpu_milli", "memory_mib", "gpu", "model"}, [&](const Row& row) {
        NodeSpec node;
        node.name = row.Text("sn");
        if (node.name.empty()) return row.Error("sn", "the node name is empty");
        Result<int64_t> cpu = row.Integer("cpu_milli", 0, kMaxInt);
        if (!cpu.ok()) return cpu.status();
        Result<int64_t> memory = row.Integer("memory_mib", 0, kMaxInt);
        if (!memory.ok()) return memory.status();
        Result<int64_t> gpus = row.Integer("gpu", 0, kMaxGpusPerNode);
        if (!gpus.ok()) return gpus.status();
        node.cpu_milli = *cpu;
        node.memory_mib = *memory;
        node.gpu_count = static_cast<int>(*gpus);
        node.gpu_model = row.Text("model");
        if (node.gpu_count > 0 && node.gpu_model.empty()) {
          return row.Error("model",
                           "empty, but the node has " + std::to_string(node.gpu_count) + " GPUs");
        }
        nodes.push_back(std::move(node));
        return Status::Ok();
      });
  if (!status.ok()) return status;
  return nodes;
}

Result<std::vector<TracePod>> ParsePodList(std::string_view text, std::string_view source) {
  std::vector<TracePod> pods;
  Status status =
      ParseTable(text, source, {"name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli"},
                 [&](const Row& row) {
                   TracePod pod;
                   PodSpec& spec = pod.spec;
                   spec.name = row.Text("name");
                   if (spec.name.empty()) return row.Error("name", "the pod name is empty");
                   Result<int64_t> cpu = row.Integer("cpu_milli", 0, kMaxInt);
                   if (!cpu.ok()) return cpu.status();
                   Result<int64_t> memory = row.Integer("memory_mib", 0, kMaxInt);
                   if (!memory.ok()) return memory.status();
                   Result<int64_t> gpus = row.Integer("num_gpu", 0, kMaxGpusPerNode);
                   if (!gpus.ok()) return gpus.status();
                   Result<int64_t> milli = row.Integer("gpu_milli", 0, kMilliPerGpu);
                   if (!milli.ok()) return milli.status();
                   spec.cpu_milli = *cpu;
                   spec.memory_mib = *memory;
                   spec.num_gpu = static_cast<int>(*gpus);
                   spec.gpu_milli = static_cast<int>(*milli);
                   spec.gpu_models = SplitModels(row.Text("gpu_spec"));
                   if (Status valid = ValidatePodSpec(spec); !valid.ok()) {
                     return Status::InvalidArgument(row.Where() + valid.message());
                   }
                   pod.qos = row.Text("qos");
                   pod.phase = row.Text("pod_phase");
                   for (auto [column, field] : {std::pair{"creation_time", &pod.creation_time},
                                                std::pair{"deletion_time", &pod.deletion_time},
                                                std::pair{"scheduled_time", &pod.scheduled_time}}) {
                     Result<std::optional<int64_t>> time = row.OptionalInteger(column);
                     if (!time.ok()) return time.status();
                     *field = *time;
                   }
                   pods.push_back(std::move(pod));
                   return Status::Ok();
                 });
  if (!status.ok()) return status;
  return pods;
}

Result<std::vector<NodeSpec>> LoadNodeList(const std::string& path) {
  Result<std::string> text = io::ReadFile(path);
  if (!text.ok()) return text.status();
  return ParseNodeList(*text, path);
}

Result<std::vector<TracePod>> LoadPodList(const std::string& path) {
  Result<std::string> text = io::ReadFile(path);
  if (!text.ok()) return text.status();
  return ParsePodList(*text, path);
}

}  // namespace gpuslice::replay
