// Karpenter's NodePool (karpenter.sh/v1) and NodeOverlay (karpenter.sh/v1alpha1), validated as
// their CRDs validate them.
#include <algorithm>

#include "kube/internal/object_readers.h"
#include "kube/internal/pod_spec_reader.h"

namespace gpuslice::kube::internal {
namespace {

// Labels Karpenter sets itself and refuses in NodePool requirements and template labels.
bool IsRestrictedLabel(std::string_view key) {
  return key == "karpenter.sh/nodepool" || key == "kubernetes.io/hostname";
}

Result<int> ReadWeight(const Field& field, int max) {
  if (!field.present()) return 0;
  Result<int64_t> weight = field.Int(1, max);
  if (!weight.ok()) return weight.status();
  return static_cast<int>(*weight);
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Digits with at most one decimal point, ending in a digit: the CRDs' `\d*\.?\d+`.
bool IsDecimal(std::string_view text) {
  return !text.empty() && IsDigit(text.back()) && std::count(text.begin(), text.end(), '.') <= 1 &&
         std::all_of(text.begin(), text.end(), [](char c) { return c == '.' || IsDigit(c); });
}

// spec.price: `^\d+(\.\d+)?$`.
bool IsPrice(std::string_view text) { return IsDecimal(text) && IsDigit(text.front()); }

// spec.priceAdjustment: a signed amount, "+<n>%", or a decrease of at most 100%:
// `^(([+-]\d*\.?\d+)|(\+\d*\.?\d+%)|(-\d{1,2}(\.\d+)?%)|(-100%))$`.
bool IsPriceAdjustment(std::string_view text) {
  if (text.size() < 2 || (text[0] != '+' && text[0] != '-')) return false;
  const std::string_view rest = text.substr(1);
  if (rest.back() != '%') return IsDecimal(rest);
  const std::string_view percent = rest.substr(0, rest.size() - 1);
  if (text[0] == '+') return IsDecimal(percent);
  if (percent == "100") return true;
  const std::string_view whole = percent.substr(0, percent.find('.'));
  return IsPrice(percent) && !whole.empty() && whole.size() <= 2;
}

Result<std::optional<std::string>> ReadPattern(const Field& field,
                                               bool (*matches)(std::string_view),
                                               std::string_view expected) {
  if (!field.present()) return std::optional<std::string>();
  Result<std::string> text = field.String();
  if (!text.ok()) return text.status();
  if (!matches(*text)) {
    return field.Error(field.Describe() + " is not " + std::string(expected));
  }
  return std::optional<std::string>(*std::move(text));
}

}  // namespace

Result<NodePool> ReadNodePool(const Field& root) {
  Result<Metadata> metadata = ReadMetadata(root["metadata"], false);
  if (!metadata.ok()) return metadata.status();
  NodePool pool;
  pool.name = metadata->name;
  const Field spec = root["spec"];
  GPUSLICE_RETURN_IF_ERROR(spec.ExpectPresent());
  GPUSLICE_RETURN_IF_ERROR(spec.ExpectMap());
  const Field node_template = spec["template"];
  GPUSLICE_RETURN_IF_ERROR(node_template.ExpectPresent());
  GPUSLICE_RETURN_IF_ERROR(node_template.ExpectMap());
  const Field template_metadata = node_template["metadata"];
  GPUSLICE_RETURN_IF_ERROR(template_metadata.ExpectMap());
  Result<Labels> labels = template_metadata["labels"].StringMap();
  if (!labels.ok()) return labels.status();
  for (const auto& [key, value] : *labels) {
    if (IsRestrictedLabel(key)) {
      return template_metadata["labels"][key].Error("label " + key + " is set by Karpenter");
    }
  }
  pool.template_labels = *std::move(labels);

  const Field node_spec = node_template["spec"];
  GPUSLICE_RETURN_IF_ERROR(node_spec.ExpectPresent());
  GPUSLICE_RETURN_IF_ERROR(node_spec.ExpectMap());
  const Field requirements_field = node_spec["requirements"];
  // Karpenter's NodePool CRD (v1.15) takes Gte and Lte besides Kubernetes' operators.
  Result<std::vector<NodeSelectorRequirement>> requirements =
      ReadRequirements(requirements_field, OperatorSet::kWithGteLte);
  if (!requirements.ok()) return requirements.status();
  for (size_t i = 0; i < requirements->size(); ++i) {
    if (IsRestrictedLabel((*requirements)[i].key)) {
      return requirements_field.At(i)["key"].Error("label " + (*requirements)[i].key +
                                                   " is set by Karpenter and cannot be required");
    }
  }
  pool.requirements = *std::move(requirements);
  Result<std::vector<Taint>> taints = ReadTaints(node_spec["taints"]);
  if (!taints.ok()) return taints.status();
  pool.taints = *std::move(taints);
  Result<std::vector<Taint>> startup_taints = ReadTaints(node_spec["startupTaints"]);
  if (!startup_taints.ok()) return startup_taints.status();
  pool.startup_taints = *std::move(startup_taints);

  Result<ResourceList> limits = spec["limits"].Resources();
  if (!limits.ok()) return limits.status();
  pool.limits = *std::move(limits);
  // The v1 CRD bounds NodePool weights to [1, 100].
  Result<int> weight = ReadWeight(spec["weight"], 100);
  if (!weight.ok()) return weight.status();
  pool.weight = *weight;
  return pool;
}

Result<NodeOverlay> ReadNodeOverlay(const Field& root) {
  Result<Metadata> metadata = ReadMetadata(root["metadata"], false);
  if (!metadata.ok()) return metadata.status();
  NodeOverlay overlay;
  overlay.name = metadata->name;
  overlay.labels = metadata->labels;
  const Field spec = root["spec"];
  GPUSLICE_RETURN_IF_ERROR(spec.ExpectPresent());
  GPUSLICE_RETURN_IF_ERROR(spec.ExpectMap());
  Result<std::vector<NodeSelectorRequirement>> requirements =
      ReadRequirements(spec["requirements"], OperatorSet::kWithGteLte);
  if (!requirements.ok()) return requirements.status();
  overlay.requirements = *std::move(requirements);

  Result<std::optional<std::string>> price =
      ReadPattern(spec["price"], IsPrice, "a price such as \"5.00\"");
  if (!price.ok()) return price.status();
  Result<std::optional<std::string>> adjustment = ReadPattern(
      spec["priceAdjustment"], IsPriceAdjustment,
      "a price adjustment such as \"+10%\", \"-15%\" or \"-0.5\" (percentages from -100%)");
  if (!adjustment.ok()) return adjustment.status();
  if (price->has_value() && adjustment->has_value()) {
    return spec["priceAdjustment"].Error("cannot be set together with price");
  }
  overlay.price = *std::move(price);
  overlay.price_adjustment = *std::move(adjustment);

  const Field capacity_field = spec["capacity"];
  Result<ResourceList> capacity = capacity_field.Resources();
  if (!capacity.ok()) return capacity.status();
  for (const auto& [name, quantity] : *capacity) {
    if (name == "cpu" || name == "memory" || name == "ephemeral-storage" || name == "pods") {
      return capacity_field[name].Error("a NodeOverlay can only add extended resources, not " +
                                        name);
    }
  }
  overlay.capacity = *std::move(capacity);
  // The v1alpha1 CRD bounds NodeOverlay weights to [1, 10000].
  Result<int> weight = ReadWeight(spec["weight"], 10000);
  if (!weight.ok()) return weight.status();
  overlay.weight = *weight;
  return overlay;
}

}  // namespace gpuslice::kube::internal
