#include "sim/environment.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>

#include "core/contract.h"

namespace gpuslice::sim {
namespace {

const char* Get(std::string_view name) { return std::getenv(std::string(name).c_str()); }

}  // namespace

Result<OpenedState> OpenStateFromEnvironment() {
  const char* path = Get(kStateEnv);
  if (path == nullptr || *path == '\0') {
    return Status::FailedPrecondition(std::string(kStateEnv) +
                                      " is not set: set it to the path of the simulated node's "
                                      "state file (and " +
                                      std::string(kSpecEnv) + " to create it, e.g. '2xH100-80GB')");
  }
  const char* spec_env = Get(kSpecEnv);
  return OpenOrCreateState(path, spec_env == nullptr ? "" : spec_env);
}

Result<OpenedState> OpenOrCreateState(const std::string& path, const std::string& spec_text) {
  auto parse = [&]() -> Result<SimSpec> {
    if (spec_text.empty()) {
      return Status::FailedPrecondition("state file '" + path + "' does not exist yet and " +
                                        std::string(kSpecEnv) +
                                        " is not set: set it to a spec such as '2xH100-80GB,1xT4'");
    }
    Result<SimSpec> spec = ParseSpec(spec_text);
    if (!spec.ok()) return spec.status().WithContext(std::string(kSpecEnv));
    return spec;
  };
  Result<std::unique_ptr<SimState>> state = SimState::OpenOrCreate(path, spec_text, parse);
  if (!state.ok()) return state.status();
  OpenedState opened{std::move(*state), ""};
  if (!spec_text.empty() && spec_text != opened.state->spec_text()) {
    opened.warning = "state file '" + path + "' was created from spec '" +
                     opened.state->spec_text() + "'; " + std::string(kSpecEnv) + "='" + spec_text +
                     "' is ignored (remove the file to start over)";
  }
  return opened;
}

std::optional<std::string> ContainerVisibleDevices() {
  const std::string_view prefix = core::contract::kSimCdiGpuEnvPrefix;
  std::string injected;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view variable(*entry);
    const size_t equals = variable.find('=');
    if (variable.substr(0, prefix.size()) != prefix || equals == std::string_view::npos) continue;
    injected += (injected.empty() ? "" : ",") + std::string(variable.substr(equals + 1));
  }
  if (!injected.empty()) return injected;
  const char* visible = Get(kVisibleDevicesEnv);
  if (visible == nullptr) return std::nullopt;
  return std::string(visible);
}

Result<std::vector<int>> VisibleGpus(const SimState& state, const char* visible_devices) {
  std::vector<int> all(static_cast<size_t>(state.gpu_count()));
  for (int i = 0; i < state.gpu_count(); ++i) all[static_cast<size_t>(i)] = i;
  const std::string_view value = visible_devices == nullptr ? "" : visible_devices;
  if (value.empty() || value == "all") return all;
  if (value == "none" || value == "void") return std::vector<int>();
  std::vector<int> visible;
  size_t start = 0;
  for (;;) {
    const size_t comma = value.find(',', start);
    const std::string_view entry = value.substr(start, comma - start);
    int index = -1;
    const auto [end, error] = std::from_chars(entry.data(), entry.data() + entry.size(), index);
    if (error != std::errc() || end != entry.data() + entry.size()) {
      index = -1;
      for (int i = 0; i < state.gpu_count(); ++i) {
        if (state.gpu(i).uuid == entry) index = i;
      }
    }
    if (index < 0 || index >= state.gpu_count()) {
      return Status::InvalidArgument(std::string(kVisibleDevicesEnv) + "='" + std::string(value) +
                                     "': no simulated GPU '" + std::string(entry) + "'");
    }
    visible.push_back(index);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  std::sort(visible.begin(), visible.end());
  visible.erase(std::unique(visible.begin(), visible.end()), visible.end());
  return visible;
}

Result<unsigned int> HostPidOffset(const char* value) {
  if (value == nullptr || *value == '\0') return 0u;
  const std::string_view text(value);
  unsigned int offset = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), offset);
  if (error != std::errc() || end != text.data() + text.size() || offset > (1u << 30)) {
    return Status::InvalidArgument(std::string(kHostPidOffsetEnv) + "=\"" + std::string(text) +
                                   "\" is not a PID offset from 0 to 1073741824");
  }
  return offset;
}

}  // namespace gpuslice::sim
