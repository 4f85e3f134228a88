#include "kube/scheduling.h"

#include <algorithm>

namespace gpuslice::kube {
namespace {

bool AddChecked(int64_t a, int64_t b, int64_t* out) { return !__builtin_add_overflow(a, b, out); }

Status Overflow(std::string_view resource) {
  return Status::InvalidArgument("the pod's total request of " + std::string(resource) +
                                 " overflows a 64-bit integer");
}

// Adds every amount of `add` into `*sum`.
Status Accumulate(const ResourceAmounts& add, ResourceAmounts* sum) {
  for (const auto& [name, amount] : add) {
    int64_t& total = (*sum)[name];
    if (!AddChecked(total, amount, &total)) return Overflow(name);
  }
  return Status::Ok();
}

Result<ResourceAmounts> Amounts(const ResourceList& list) {
  ResourceAmounts amounts;
  for (const auto& [name, quantity] : list) {
    Result<int64_t> amount = ScaledAmount(name, quantity);
    if (!amount.ok()) return amount.status();
    amounts[name] = *amount;
  }
  return amounts;
}

void TakeMax(const ResourceAmounts& candidate, ResourceAmounts* max) {
  for (const auto& [name, amount] : candidate) {
    auto [it, inserted] = max->emplace(name, amount);
    if (!inserted) it->second = std::max(it->second, amount);
  }
}

bool IsBinaryResource(std::string_view name) {
  return name == kResourceMemory || name == "ephemeral-storage" ||
         name.substr(0, 10) == "hugepages-";
}

}  // namespace

Result<int64_t> ScaledAmount(std::string_view name, const core::Quantity& quantity) {
  return name == kResourceCpu ? quantity.MilliValue() : quantity.Value();
}

std::string FormatAmount(std::string_view name, int64_t amount) {
  if (name == kResourceCpu) {
    if (amount % 1000 == 0) return std::to_string(amount / 1000);
    return std::to_string(amount) + "m";
  }
  if (IsBinaryResource(name) && amount > 0) return core::FormatBytes(static_cast<uint64_t>(amount));
  return std::to_string(amount);
}

bool Tolerates(const Toleration& toleration, const Taint& taint) {
  if (toleration.effect && *toleration.effect != taint.effect) return false;
  if (!toleration.key.empty() && toleration.key != taint.key) return false;
  if (toleration.op == Toleration::Operator::kExists) return true;
  return toleration.value == taint.value;
}

const Taint* FirstUntoleratedTaint(const std::vector<Toleration>& tolerations,
                                   const std::vector<Taint>& taints, bool strict) {
  for (const Taint& taint : taints) {
    if (!strict && taint.effect == TaintEffect::kPreferNoSchedule) continue;
    const bool tolerated = std::any_of(tolerations.begin(), tolerations.end(),
                                       [&](const Toleration& t) { return Tolerates(t, taint); });
    if (!tolerated) return &taint;
  }
  return nullptr;
}

Result<ResourceAmounts> PodRequests(const PodSpec& spec) {
  ResourceAmounts total;
  for (const Container& container : spec.containers) {
    Result<ResourceAmounts> amounts = Amounts(container.requests);
    if (!amounts.ok()) return amounts.status();
    GPUSLICE_RETURN_IF_ERROR(Accumulate(*amounts, &total));
  }
  // Init containers run one at a time, each next to the sidecars started before it; sidecars
  // then keep running next to the app containers.
  ResourceAmounts sidecars;
  ResourceAmounts init_peak;
  for (const Container& container : spec.init_containers) {
    Result<ResourceAmounts> amounts = Amounts(container.requests);
    if (!amounts.ok()) return amounts.status();
    if (container.sidecar) {
      GPUSLICE_RETURN_IF_ERROR(Accumulate(*amounts, &total));
      GPUSLICE_RETURN_IF_ERROR(Accumulate(*amounts, &sidecars));
      TakeMax(sidecars, &init_peak);
    } else {
      ResourceAmounts step = sidecars;
      GPUSLICE_RETURN_IF_ERROR(Accumulate(*amounts, &step));
      TakeMax(step, &init_peak);
    }
  }
  TakeMax(init_peak, &total);
  Result<ResourceAmounts> overhead = Amounts(spec.overhead);
  if (!overhead.ok()) return overhead.status();
  GPUSLICE_RETURN_IF_ERROR(Accumulate(*overhead, &total));
  std::erase_if(total, [](const auto& entry) { return entry.second == 0; });
  return total;
}

std::string TaintToString(const Taint& taint) {
  std::string out = taint.key;
  if (!taint.value.empty()) out += "=" + taint.value;
  out += ":";
  out += TaintEffectName(taint.effect);
  return out;
}

}  // namespace gpuslice::kube
