// A library that scope_client.cc dlopens RTLD_LOCAL, as Python loads an extension module: its
// own dependency (scope_dependency.cc) is in its scope but not in the global one.
#include <dlfcn.h>

extern "C" int gpuslice_scope_dependency_marker();

// Keeps the dependency needed, whatever the linker's --as-needed.
extern "C" __attribute__((visibility("default"))) int gpuslice_scope_module_marker() {
  return gpuslice_scope_dependency_marker();
}

// dlsym(RTLD_DEFAULT) called from inside the module, where glibc searches the module's scope.
extern "C" __attribute__((visibility("default"))) void* gpuslice_scope_module_lookup(
    const char* name) {
  return dlsym(RTLD_DEFAULT, name);
}
