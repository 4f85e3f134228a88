#include "check.h"
#include "plan/catalog.h"
#include "targets.h"

namespace gpuslice::fuzz {

int Catalog(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Result<plan::Catalog> catalog = plan::ParseCatalog(text, "fuzz.csv");
  if (!catalog.ok()) {
    Expect(catalog.status().code() == StatusCode::kInvalidArgument,
           "catalog errors are InvalidArgument: " + catalog.status().ToString());
    return 0;
  }
  for (const plan::InstanceType& type : catalog->types) {
    Expect(!type.name.empty(), "every instance type has a name");
    Expect(type.gpu_count == 0 || type.gpu_memory_bytes > 0, "every GPU has memory");
    Expect(catalog->Find(type.name) != nullptr, "every type is found by name");
  }
  return 0;
}

}  // namespace gpuslice::fuzz
