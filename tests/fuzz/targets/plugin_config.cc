#include <string>

#include "check.h"
#include "core/config.h"
#include "plan/render.h"
#include "targets.h"

namespace gpuslice::fuzz {

int PluginConfig(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Result<core::Config> config = core::ParseConfig(text, "fuzz.yaml");
  if (config.ok()) {
    // Whatever is accepted formats to a document that reads back the same.
    const std::string formatted = core::FormatConfig(*config);
    Result<core::Config> again = core::ParseConfig(formatted, "formatted.yaml");
    Expect(again.ok(), "a formatted config reads back: " + again.status().ToString());
    Expect(core::FormatConfig(*again) == formatted, "a config round-trips");
  } else {
    Expect(config.status().message().rfind("fuzz.yaml", 0) == 0,
           "config errors name the file: " + config.status().message());
  }
  // The same text as Helm values (a config under `config:`) or a bare config.
  Result<core::Config> values = plan::ReadPluginConfig(text, "values.yaml");
  if (!values.ok()) {
    Expect(values.status().code() == StatusCode::kInvalidArgument,
           "values errors are InvalidArgument: " + values.status().ToString());
  }
  return 0;
}

}  // namespace gpuslice::fuzz
