// A client that looks symbols up with dlsym(RTLD_DEFAULT), which glibc answers in the scope
// of the object that calls it: from the executable (linked to libcuda.so.1, so the driver is
// global), and from a library it dlopened RTLD_LOCAL (scope_module.cc), whose dependency only
// that library sees.
//
// Extra commands, each answered by "<library basename> <symbol>" or "- -" when not found:
//   default <name>   dlsym(RTLD_DEFAULT, name) called by the executable
//   module <name>    dlsym(RTLD_DEFAULT, name) called by the module
#include <dlfcn.h>

#include <cstdio>
#include <sstream>

#include "driver_api.h"

// A symbol of the executable itself (exported: the executable is linked with its symbols
// dynamic, as programs embedding Python are).
extern "C" __attribute__((visibility("default"))) int gpuslice_scope_client_marker() { return 1; }

namespace {

using ModuleLookup = void* (*)(const char*);
ModuleLookup module_lookup = nullptr;

std::vector<std::string> Lookup(const std::string& line) {
  std::istringstream in(line);
  std::string command, name;
  in >> command >> name;
  if (command == "default") {
    return {gpuslice::testing::DescribeFunction(dlsym(RTLD_DEFAULT, name.c_str()))};
  }
  if (command == "module") {
    return {gpuslice::testing::DescribeFunction(module_lookup(name.c_str()))};
  }
  return {};
}

}  // namespace

int main() {
  void* module = dlopen(GPUSLICE_SCOPE_MODULE, RTLD_NOW | RTLD_LOCAL);
  if (module == nullptr) {
    std::fprintf(stderr, "scope_client: %s\n", dlerror());
    return 1;
  }
  module_lookup = reinterpret_cast<ModuleLookup>(dlsym(module, "gpuslice_scope_module_lookup"));
  if (module_lookup == nullptr || gpuslice_scope_client_marker() != 1) return 1;
  // No driver commands: the lookups above are all this client answers.
  gpuslice::testing::DriverApi api;
  return gpuslice::testing::RunClient(api, &Lookup);
}
