#include <algorithm>

#include "core/abi/cuda_types.h"
#include "preload/hook_table.h"

namespace gpuslice::preload {
namespace {

bool EndsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

}  // namespace

bool IsPerThreadVariant(std::string_view symbol) {
  return EndsWith(symbol, "_ptds") || EndsWith(symbol, "_ptsz");
}

std::string_view ApiName(std::string_view symbol) {
  if (IsPerThreadVariant(symbol)) symbol.remove_suffix(5);
  const size_t suffix = symbol.rfind("_v");
  if (suffix != std::string_view::npos && suffix + 2 < symbol.size() &&
      symbol.find_first_not_of("0123456789", suffix + 2) == std::string_view::npos) {
    symbol = symbol.substr(0, suffix);
  }
  return symbol;
}

const HookEntry* FindHookBySymbol(std::span<const HookEntry> table, std::string_view symbol) {
  for (const HookEntry& entry : table) {
    if (symbol == entry.symbol) return &entry;
  }
  return nullptr;
}

const HookEntry* FindHookByFunction(std::span<const HookEntry> table, const void* hook) {
  for (const HookEntry& entry : table) {
    if (entry.hook == hook) return &entry;
  }
  return nullptr;
}

const HookEntry* FindHookForRequest(std::span<const HookEntry> table, std::string_view name,
                                    int cuda_version, uint64_t flags) {
  const bool per_thread = (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) != 0;
  const HookEntry* best[2] = {nullptr, nullptr};  // [default stream, per-thread stream]
  for (const HookEntry& entry : table) {
    if (entry.cuda_version == 0 || entry.cuda_version > cuda_version) continue;
    if (ApiName(entry.symbol) != name) continue;
    const HookEntry*& slot = best[IsPerThreadVariant(entry.symbol) ? 1 : 0];
    if (slot == nullptr || entry.cuda_version > slot->cuda_version) slot = &entry;
  }
  if (per_thread && best[1] != nullptr) return best[1];
  return best[0];
}

const HookEntry* FindHookForAnswer(std::span<const HookEntry> table, std::string_view name,
                                   int cuda_version, uint64_t flags, int driver_version,
                                   const void* answer, RealFunctionLookup real) {
  for (const HookEntry& entry : table) {
    if (entry.cuda_version == 0 || ApiName(entry.symbol) != name) continue;
    if (answer == entry.hook || answer == real(entry)) return &entry;
  }
  const HookEntry* picked =
      FindHookForRequest(table, name, std::min(cuda_version, driver_version), flags);
  // A hook of a variant the driver lacks has nothing to call: the driver's answer is better.
  return picked != nullptr && real(*picked) != nullptr ? picked : nullptr;
}

}  // namespace gpuslice::preload
