#include "kube/internal/yaml_field.h"

#include <charconv>

namespace gpuslice::kube::internal {
namespace {

std::string_view TypeName(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Undefined:
      break;
  }
  return "missing";
}

// Long values are cut so a message stays one readable line.
std::string Quote(std::string_view text) {
  constexpr size_t kMax = 80;
  std::string out = "\"";
  out += text.size() > kMax ? std::string(text.substr(0, kMax)) + "..." : std::string(text);
  out += "\"";
  return out;
}

}  // namespace

std::string JoinPath(std::string_view path, std::string_view key) {
  const bool plain = key.find_first_of("./") == std::string_view::npos && !key.empty();
  std::string out(path);
  if (plain) {
    if (!out.empty()) out += ".";
    out += key;
  } else {
    out += "[";
    out += key;
    out += "]";
  }
  return out;
}

Field::Field(const YAML::Node& node, std::string path, int fallback_line, int line_offset)
    : node_(node), path_(std::move(path)), line_(fallback_line), line_offset_(line_offset) {
  present_ = node_.IsDefined() && !node_.IsNull();
  if (node_.IsDefined() && node_.Mark().line >= 0) line_ = node_.Mark().line + 1 + line_offset_;
}

Field Field::operator[](std::string_view key) const {
  if (!present_ || !node_.IsMap())
    return Field(YAML::Node(YAML::NodeType::Undefined), JoinPath(path_, key), line_,
                 line_offset_);
  for (const auto& entry : node_) {
    if (entry.first.IsScalar() && entry.first.Scalar() == key) {
      return Field(entry.second, JoinPath(path_, key), line_, line_offset_);
    }
  }
  return Field(YAML::Node(YAML::NodeType::Undefined), JoinPath(path_, key), line_, line_offset_);
}

Field Field::At(size_t index) const {
  return Field(node_[index], path_ + "[" + std::to_string(index) + "]", line_, line_offset_);
}

Status Field::Error(std::string_view what) const {
  std::string message;
  if (line_ > 0) message = "line " + std::to_string(line_) + ": ";
  message += path_.empty() ? std::string("document") : path_;
  message += ": ";
  message += what;
  return Status::InvalidArgument(std::move(message));
}

std::string Field::Describe() const {
  if (present_ && node_.IsScalar()) return Quote(node_.Scalar());
  return std::string(TypeName(node_));
}

Status Field::ExpectMap() const {
  if (present_ && !node_.IsMap()) return Error("expected a mapping, got " + Describe());
  return Status::Ok();
}

Status Field::ExpectSequence() const {
  if (present_ && !node_.IsSequence()) return Error("expected a list, got " + Describe());
  return Status::Ok();
}

Status Field::ExpectPresent() const {
  if (!present_) return Error("is required");
  return Status::Ok();
}

Result<std::string> Field::String() const {
  GPUSLICE_RETURN_IF_ERROR(ExpectPresent());
  if (!node_.IsScalar()) return Error("expected a string, got " + Describe());
  return node_.Scalar();
}

Result<int64_t> Field::Int(int64_t min, int64_t max) const {
  GPUSLICE_RETURN_IF_ERROR(ExpectPresent());
  if (!node_.IsScalar()) return Error("expected an integer, got " + Describe());
  const std::string& text = node_.Scalar();
  int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) {
    return Error(Quote(text) + " is not an integer");
  }
  if (value < min || value > max) {
    return Error(Quote(text) + " is out of range [" + std::to_string(min) + ", " +
                 std::to_string(max) + "]");
  }
  return value;
}

Result<core::Quantity> Field::Quantity() const {
  GPUSLICE_RETURN_IF_ERROR(ExpectPresent());
  if (!node_.IsScalar()) return Error("expected a quantity, got " + Describe());
  Result<core::Quantity> quantity = core::Quantity::Parse(node_.Scalar());
  if (!quantity.ok()) return Error(quantity.status().message());
  return quantity;
}

Result<Labels> Field::StringMap() const {
  GPUSLICE_RETURN_IF_ERROR(ExpectMap());
  Labels out;
  if (!present_) return out;
  for (const auto& entry : node_) {
    if (!entry.first.IsScalar()) return Error("has a key that is not a string");
    Field value(entry.second, JoinPath(path_, entry.first.Scalar()), line_);
    Result<std::string> text =
        value.present() ? value.String() : Result<std::string>(std::string());
    if (!text.ok()) return text.status();
    out[entry.first.Scalar()] = *std::move(text);
  }
  return out;
}

Result<std::vector<std::string>> Field::StringList() const {
  GPUSLICE_RETURN_IF_ERROR(ExpectSequence());
  std::vector<std::string> out;
  for (size_t i = 0; i < size(); ++i) {
    Result<std::string> text = At(i).String();
    if (!text.ok()) return text.status();
    out.push_back(*std::move(text));
  }
  return out;
}

Result<ResourceList> Field::Resources() const {
  GPUSLICE_RETURN_IF_ERROR(ExpectMap());
  ResourceList out;
  if (!present_) return out;
  for (const auto& entry : node_) {
    if (!entry.first.IsScalar() || entry.first.Scalar().empty()) {
      return Error("has a resource name that is not a string");
    }
    const std::string& name = entry.first.Scalar();
    Field value(entry.second, JoinPath(path_, name), line_);
    Result<core::Quantity> quantity = value.Quantity();
    if (!quantity.ok()) return quantity.status();
    if (quantity->negative() && !quantity->is_zero()) {
      return value.Error(value.Describe() + " is negative");
    }
    out.insert_or_assign(name, *std::move(quantity));
  }
  return out;
}

}  // namespace gpuslice::kube::internal
