#include "kube/internal/pod_spec_reader.h"

#include <algorithm>
#include <charconv>
#include <set>

#include "kube/scheduling.h"

namespace gpuslice::kube::internal {
namespace {

// Resources the API server refuses to overcommit: extended resources (a domain other than
// kubernetes.io) and hugepages. They must have a limit, a request equal to it, and whole units.
bool IsNonOvercommitable(std::string_view name) {
  if (name.substr(0, 10) == "hugepages-") return true;
  const size_t slash = name.find('/');
  if (slash == std::string_view::npos) return false;
  const std::string_view domain = name.substr(0, slash);
  return domain != "kubernetes.io" && !domain.ends_with(".kubernetes.io");
}

Status ValidateContainerResources(const Field& resources, const Container& container) {
  for (const auto& [name, request] : container.requests) {
    auto limit = container.limits.find(name);
    const Field request_field = resources["requests"][name];
    Result<int64_t> request_amount = ScaledAmount(name, request);
    if (!request_amount.ok()) return request_field.Error(request_amount.status().message());
    if (IsNonOvercommitable(name)) {
      if (limit == container.limits.end()) {
        return request_field.Error("resource " + name +
                                   " cannot be overcommitted, so it needs a limit equal to the "
                                   "request");
      }
    }
    if (limit == container.limits.end()) continue;
    Result<int64_t> limit_amount = ScaledAmount(name, limit->second);
    if (!limit_amount.ok()) return resources["limits"][name].Error(limit_amount.status().message());
    if (IsNonOvercommitable(name) && *request_amount != *limit_amount) {
      return request_field.Error("request " + request.text() + " of " + name +
                                 " must equal its limit " + limit->second.text() +
                                 " (it cannot be overcommitted)");
    }
    if (*request_amount > *limit_amount) {
      return request_field.Error("request " + request.text() + " of " + name +
                                 " exceeds its limit " + limit->second.text());
    }
  }
  for (const auto& [name, limit] : container.limits) {
    if (!IsNonOvercommitable(name) || name.starts_with("hugepages-")) continue;
    Result<int64_t> milli = limit.MilliValue();
    if (!milli.ok() || *milli % 1000 != 0) {
      return resources["limits"][name].Error(limit.text() + " of " + name +
                                             " is not a whole number");
    }
  }
  return Status::Ok();
}

Result<Container> ReadContainer(const Field& field, bool init) {
  GPUSLICE_RETURN_IF_ERROR(field.ExpectPresent());
  GPUSLICE_RETURN_IF_ERROR(field.ExpectMap());
  Container container;
  Result<std::string> name = field["name"].String();
  if (!name.ok()) return name.status();
  if (name->empty()) return field["name"].Error("must not be empty");
  container.name = *std::move(name);
  const Field resources = field["resources"];
  GPUSLICE_RETURN_IF_ERROR(resources.ExpectMap());
  Result<ResourceList> requests = resources["requests"].Resources();
  if (!requests.ok()) return requests.status();
  Result<ResourceList> limits = resources["limits"].Resources();
  if (!limits.ok()) return limits.status();
  container.requests = *std::move(requests);
  container.limits = *std::move(limits);
  for (const auto& [resource, limit] : container.limits)
    container.requests.emplace(resource, limit);
  GPUSLICE_RETURN_IF_ERROR(ValidateContainerResources(resources, container));
  const Field claims = resources["claims"];
  GPUSLICE_RETURN_IF_ERROR(claims.ExpectSequence());
  for (size_t i = 0; i < claims.size(); ++i) {
    GPUSLICE_RETURN_IF_ERROR(claims.At(i).ExpectMap());
    Result<std::string> claim = claims.At(i)["name"].String();
    if (!claim.ok()) return claim.status();
    container.claims.push_back(*std::move(claim));
  }
  const Field restart_policy = field["restartPolicy"];
  if (restart_policy.present()) {
    Result<std::string> policy = restart_policy.String();
    if (!policy.ok()) return policy.status();
    if (!init || *policy != "Always") {
      return restart_policy.Error(restart_policy.Describe() +
                                  " is not allowed; only init containers may set \"Always\"");
    }
    container.sidecar = true;
  }
  return container;
}

Result<std::vector<Container>> ReadContainers(const Field& list, bool init) {
  GPUSLICE_RETURN_IF_ERROR(list.ExpectSequence());
  std::vector<Container> containers;
  std::set<std::string> names;
  for (size_t i = 0; i < list.size(); ++i) {
    Result<Container> container = ReadContainer(list.At(i), init);
    if (!container.ok()) return container.status();
    if (!names.insert(container->name).second) {
      return list.At(i)["name"].Error("container name \"" + container->name + "\" is used twice");
    }
    containers.push_back(*std::move(container));
  }
  return containers;
}

Result<TaintEffect> ReadEffect(const Field& field) {
  Result<std::string> text = field.String();
  if (!text.ok()) return text.status();
  if (*text == "NoSchedule") return TaintEffect::kNoSchedule;
  if (*text == "PreferNoSchedule") return TaintEffect::kPreferNoSchedule;
  if (*text == "NoExecute") return TaintEffect::kNoExecute;
  return field.Error(field.Describe() +
                     " is not a taint effect (NoSchedule, PreferNoSchedule, "
                     "NoExecute)");
}

Result<Toleration> ReadToleration(const Field& field) {
  GPUSLICE_RETURN_IF_ERROR(field.ExpectPresent());
  GPUSLICE_RETURN_IF_ERROR(field.ExpectMap());
  Toleration toleration;
  if (field["key"].present()) {
    Result<std::string> key = field["key"].String();
    if (!key.ok()) return key.status();
    toleration.key = *std::move(key);
  }
  if (field["operator"].present()) {
    Result<std::string> op = field["operator"].String();
    if (!op.ok()) return op.status();
    if (*op == "Exists") {
      toleration.op = Toleration::Operator::kExists;
    } else if (*op != "Equal") {
      return field["operator"].Error(field["operator"].Describe() +
                                     " is not a toleration operator (Equal, Exists)");
    }
  }
  if (field["value"].present()) {
    Result<std::string> value = field["value"].String();
    if (!value.ok()) return value.status();
    toleration.value = *std::move(value);
  }
  if (field["effect"].present()) {
    Result<std::string> text = field["effect"].String();
    if (!text.ok()) return text.status();
    if (!text->empty()) {
      Result<TaintEffect> effect = ReadEffect(field["effect"]);
      if (!effect.ok()) return effect.status();
      toleration.effect = *effect;
    }
  }
  if (toleration.op == Toleration::Operator::kExists && !toleration.value.empty()) {
    return field["value"].Error("must be empty when operator is Exists");
  }
  if (toleration.op == Toleration::Operator::kEqual && toleration.key.empty()) {
    return field.Error("a toleration without a key must use operator Exists");
  }
  return toleration;
}

Result<std::vector<NodeSelectorTerm>> ReadRequiredNodeAffinity(const Field& affinity) {
  std::vector<NodeSelectorTerm> terms;
  const Field node_affinity = affinity["nodeAffinity"];
  GPUSLICE_RETURN_IF_ERROR(node_affinity.ExpectMap());
  const Field required = node_affinity["requiredDuringSchedulingIgnoredDuringExecution"];
  GPUSLICE_RETURN_IF_ERROR(required.ExpectMap());
  if (!required.present()) return terms;
  const Field list = required["nodeSelectorTerms"];
  GPUSLICE_RETURN_IF_ERROR(list.ExpectPresent());
  GPUSLICE_RETURN_IF_ERROR(list.ExpectSequence());
  if (list.size() == 0) return list.Error("must list at least one term");
  for (size_t i = 0; i < list.size(); ++i) {
    const Field term = list.At(i);
    GPUSLICE_RETURN_IF_ERROR(term.ExpectMap());
    if (term["matchFields"].present()) {
      return term["matchFields"].Error("matchFields is not supported; use matchExpressions");
    }
    Result<std::vector<NodeSelectorRequirement>> expressions =
        ReadRequirements(term["matchExpressions"], OperatorSet::kKubernetes);
    if (!expressions.ok()) return expressions.status();
    terms.push_back(*std::move(expressions));
  }
  return terms;
}

Result<std::vector<PreferredSchedulingTerm>> ReadPreferredNodeAffinity(const Field& affinity) {
  std::vector<PreferredSchedulingTerm> terms;
  const Field list = affinity["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"];
  GPUSLICE_RETURN_IF_ERROR(list.ExpectSequence());
  for (size_t i = 0; i < list.size(); ++i) {
    const Field item = list.At(i);
    GPUSLICE_RETURN_IF_ERROR(item.ExpectMap());
    PreferredSchedulingTerm term;
    GPUSLICE_RETURN_IF_ERROR(item["weight"].ExpectPresent());
    Result<int64_t> weight = item["weight"].Int(1, 100);
    if (!weight.ok()) return weight.status();
    term.weight = static_cast<int>(*weight);
    const Field preference = item["preference"];
    GPUSLICE_RETURN_IF_ERROR(preference.ExpectPresent());
    GPUSLICE_RETURN_IF_ERROR(preference.ExpectMap());
    if (preference["matchFields"].present()) {
      return preference["matchFields"].Error("matchFields is not supported; use matchExpressions");
    }
    Result<std::vector<NodeSelectorRequirement>> expressions =
        ReadRequirements(preference["matchExpressions"], OperatorSet::kKubernetes);
    if (!expressions.ok()) return expressions.status();
    term.preference = *std::move(expressions);
    terms.push_back(std::move(term));
  }
  return terms;
}

Result<SelectorOperator> ReadOperator(const Field& field, OperatorSet operators) {
  Result<std::string> text = field.String();
  if (!text.ok()) return text.status();
  static const std::pair<std::string_view, SelectorOperator> kOperators[] = {
      {"In", SelectorOperator::kIn},         {"NotIn", SelectorOperator::kNotIn},
      {"Exists", SelectorOperator::kExists}, {"DoesNotExist", SelectorOperator::kDoesNotExist},
      {"Gt", SelectorOperator::kGt},         {"Lt", SelectorOperator::kLt},
      {"Gte", SelectorOperator::kGte},       {"Lte", SelectorOperator::kLte},
  };
  for (const auto& [name, op] : kOperators) {
    if (*text != name) continue;
    if (operators == OperatorSet::kKubernetes &&
        (op == SelectorOperator::kGte || op == SelectorOperator::kLte)) {
      break;
    }
    return op;
  }
  return field.Error(field.Describe() + " is not a supported operator (" +
                     (operators == OperatorSet::kKubernetes
                          ? "In, NotIn, Exists, DoesNotExist, Gt, Lt"
                          : "In, NotIn, Exists, DoesNotExist, Gt, Lt, Gte, Lte") +
                     ")");
}

Status ValidateRequirementValues(const Field& field, const NodeSelectorRequirement& r) {
  const Field values = field["values"];
  switch (r.op) {
    case SelectorOperator::kIn:
    case SelectorOperator::kNotIn:
      if (r.values.empty())
        return values.Error("operator " + std::string(SelectorOperatorName(r.op)) +
                            " needs at least one value");
      return Status::Ok();
    case SelectorOperator::kExists:
    case SelectorOperator::kDoesNotExist:
      if (!r.values.empty())
        return values.Error("operator " + std::string(SelectorOperatorName(r.op)) +
                            " takes no values");
      return Status::Ok();
    case SelectorOperator::kGt:
    case SelectorOperator::kLt:
    case SelectorOperator::kGte:
    case SelectorOperator::kLte: {
      if (r.values.size() != 1) {
        return values.Error("operator " + std::string(SelectorOperatorName(r.op)) +
                            " needs exactly one integer value");
      }
      const std::string& text = r.values[0];
      int64_t value = 0;
      auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || value < 0) {
        return values.Error("\"" + text + "\" is not a non-negative integer");
      }
      return Status::Ok();
    }
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<NodeSelectorRequirement>> ReadRequirements(const Field& list,
                                                              OperatorSet operators) {
  GPUSLICE_RETURN_IF_ERROR(list.ExpectSequence());
  std::vector<NodeSelectorRequirement> requirements;
  for (size_t i = 0; i < list.size(); ++i) {
    const Field field = list.At(i);
    GPUSLICE_RETURN_IF_ERROR(field.ExpectPresent());
    GPUSLICE_RETURN_IF_ERROR(field.ExpectMap());
    NodeSelectorRequirement requirement;
    Result<std::string> key = field["key"].String();
    if (!key.ok()) return key.status();
    if (key->empty()) return field["key"].Error("must not be empty");
    requirement.key = *std::move(key);
    Result<SelectorOperator> op = ReadOperator(field["operator"], operators);
    if (!op.ok()) return op.status();
    requirement.op = *op;
    Result<std::vector<std::string>> values = field["values"].StringList();
    if (!values.ok()) return values.status();
    requirement.values = *std::move(values);
    GPUSLICE_RETURN_IF_ERROR(ValidateRequirementValues(field, requirement));
    if (field["minValues"].present()) {
      Result<int64_t> min_values = field["minValues"].Int(1, 50);
      if (!min_values.ok()) return min_values.status();
      requirement.min_values = static_cast<int>(*min_values);
    }
    requirements.push_back(std::move(requirement));
  }
  return requirements;
}

Result<Taint> ReadTaint(const Field& field) {
  GPUSLICE_RETURN_IF_ERROR(field.ExpectPresent());
  GPUSLICE_RETURN_IF_ERROR(field.ExpectMap());
  Taint taint;
  Result<std::string> key = field["key"].String();
  if (!key.ok()) return key.status();
  if (key->empty()) return field["key"].Error("must not be empty");
  taint.key = *std::move(key);
  if (field["value"].present()) {
    Result<std::string> value = field["value"].String();
    if (!value.ok()) return value.status();
    taint.value = *std::move(value);
  }
  Result<TaintEffect> effect = ReadEffect(field["effect"]);
  if (!effect.ok()) return effect.status();
  taint.effect = *effect;
  return taint;
}

Result<std::vector<Taint>> ReadTaints(const Field& list) {
  GPUSLICE_RETURN_IF_ERROR(list.ExpectSequence());
  std::vector<Taint> taints;
  for (size_t i = 0; i < list.size(); ++i) {
    Result<Taint> taint = ReadTaint(list.At(i));
    if (!taint.ok()) return taint.status();
    taints.push_back(*std::move(taint));
  }
  return taints;
}

Result<PodSpec> ReadPodSpec(const Field& spec) {
  GPUSLICE_RETURN_IF_ERROR(spec.ExpectPresent());
  GPUSLICE_RETURN_IF_ERROR(spec.ExpectMap());
  PodSpec out;
  Result<std::vector<Container>> containers = ReadContainers(spec["containers"], false);
  if (!containers.ok()) return containers.status();
  if (containers->empty()) return spec["containers"].Error("a pod needs at least one container");
  out.containers = *std::move(containers);
  Result<std::vector<Container>> init = ReadContainers(spec["initContainers"], true);
  if (!init.ok()) return init.status();
  out.init_containers = *std::move(init);
  for (const Container& c : out.init_containers) {
    for (const Container& app : out.containers) {
      if (c.name == app.name) {
        return spec["initContainers"].Error("container name \"" + c.name +
                                            "\" is used by an app container too");
      }
    }
  }
  Result<Labels> node_selector = spec["nodeSelector"].StringMap();
  if (!node_selector.ok()) return node_selector.status();
  out.node_selector = *std::move(node_selector);

  const Field affinity = spec["affinity"];
  GPUSLICE_RETURN_IF_ERROR(affinity.ExpectMap());
  Result<std::vector<NodeSelectorTerm>> terms = ReadRequiredNodeAffinity(affinity);
  if (!terms.ok()) return terms.status();
  out.required_node_affinity = *std::move(terms);
  Result<std::vector<PreferredSchedulingTerm>> preferred = ReadPreferredNodeAffinity(affinity);
  if (!preferred.ok()) return preferred.status();
  out.preferred_node_affinity = *std::move(preferred);
  for (const char* unmodelled : {"podAffinity", "podAntiAffinity"}) {
    if (affinity[unmodelled].present()) out.unmodelled.push_back(affinity[unmodelled].path());
  }
  if (spec["topologySpreadConstraints"].size() > 0) {
    out.unmodelled.push_back(spec["topologySpreadConstraints"].path());
  }

  const Field tolerations = spec["tolerations"];
  GPUSLICE_RETURN_IF_ERROR(tolerations.ExpectSequence());
  for (size_t i = 0; i < tolerations.size(); ++i) {
    Result<Toleration> toleration = ReadToleration(tolerations.At(i));
    if (!toleration.ok()) return toleration.status();
    out.tolerations.push_back(*std::move(toleration));
  }
  Result<ResourceList> overhead = spec["overhead"].Resources();
  if (!overhead.ok()) return overhead.status();
  out.overhead = *std::move(overhead);

  const Field claims = spec["resourceClaims"];
  GPUSLICE_RETURN_IF_ERROR(claims.ExpectSequence());
  for (size_t i = 0; i < claims.size(); ++i) {
    const Field entry = claims.At(i);
    GPUSLICE_RETURN_IF_ERROR(entry.ExpectMap());
    PodResourceClaim claim;
    Result<std::string> name = entry["name"].String();
    if (!name.ok()) return name.status();
    claim.name = *name;
    for (const auto& [key, target] : {std::pair<const char*, std::string*>{
                                          "resourceClaimTemplateName", &claim.template_name},
                                      {"resourceClaimName", &claim.claim_name}}) {
      if (!entry[key].present()) continue;
      Result<std::string> value = entry[key].String();
      if (!value.ok()) return value.status();
      *target = *value;
    }
    if (claim.template_name.empty() == claim.claim_name.empty()) {
      return entry.Error("give exactly one of resourceClaimTemplateName and resourceClaimName");
    }
    out.resource_claims.push_back(std::move(claim));
  }
  for (const std::vector<Container>* list : {&out.containers, &out.init_containers}) {
    for (const Container& container : *list) {
      for (const std::string& name : container.claims) {
        const bool known = std::any_of(
            out.resource_claims.begin(), out.resource_claims.end(),
            [&](const PodResourceClaim& claim) { return claim.name == name; });
        if (!known) {
          return claims.Error("container " + container.name + " uses claim \"" + name +
                              "\", which spec.resourceClaims does not list");
        }
      }
    }
  }
  return out;
}

}  // namespace gpuslice::kube::internal
