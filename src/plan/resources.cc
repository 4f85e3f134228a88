#include "plan/resources.h"

#include <algorithm>

namespace gpuslice::plan {

ResourceSpace::ResourceSpace()
    : names_{std::string(kube::kResourceCpu), std::string(kube::kResourceMemory),
             std::string(kube::kResourcePods), std::string(kube::kResourceNvidiaGpu)} {}

int ResourceSpace::Index(std::string_view name) {
  const int found = Find(name);
  if (found >= 0) return found;
  names_.emplace_back(name);
  return size() - 1;
}

int ResourceSpace::Find(std::string_view name) const {
  auto it = std::find(names_.begin(), names_.end(), name);
  return it == names_.end() ? -1 : static_cast<int>(it - names_.begin());
}

Amounts ResourceSpace::FromAmounts(const kube::ResourceAmounts& amounts) {
  Amounts out;
  for (const auto& [name, amount] : amounts) {
    const int index = Index(name);
    if (static_cast<int>(out.size()) <= index) out.resize(index + 1, 0);
    out[index] = amount;
  }
  return out;
}

std::string ResourceSpace::Format(const Amounts& amounts) const {
  std::string out;
  for (size_t i = 0; i < amounts.size() && i < names_.size(); ++i) {
    if (amounts[i] == 0) continue;
    if (!out.empty()) out += ", ";
    out += names_[i] + "=" +
           (amounts[i] == kUnlimited ? "unlimited" : kube::FormatAmount(names_[i], amounts[i]));
  }
  return out.empty() ? "nothing" : out;
}

void AddTo(Amounts* sum, const Amounts& add) {
  if (sum->size() < add.size()) sum->resize(add.size(), 0);
  for (size_t i = 0; i < add.size(); ++i) {
    int64_t& total = (*sum)[i];
    if (__builtin_add_overflow(total, add[i], &total)) total = kUnlimited;
  }
}

int FirstExceeded(const Amounts& request, const Amounts& capacity) {
  for (size_t i = 0; i < request.size(); ++i) {
    if (request[i] > At(capacity, static_cast<int>(i))) return static_cast<int>(i);
  }
  return -1;
}

bool Fits(const Amounts& request, const Amounts& capacity) {
  return FirstExceeded(request, capacity) < 0;
}

}  // namespace gpuslice::plan
