// A dependency of scope_module.cc only: loaded into the module's local scope, never global.
extern "C" __attribute__((visibility("default"))) int gpuslice_scope_dependency_marker() {
  return 1;
}
