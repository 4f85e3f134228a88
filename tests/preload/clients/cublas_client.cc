// A client that finds the driver the way cuBLAS does: dlopen("libcuda.so.1", RTLD_LAZY) and a
// dlsym of each exported symbol it wants, some of them unsuffixed legacy names.
//
// Extra command: dlsym <names file> -> for each dlsym("name") of a file in the format of
// cublas13_dlsym_names.txt, "<name> <library> <symbol>", then "end".
#include <dlfcn.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "driver_api.h"

namespace {

void* driver = nullptr;

// The exported symbol of each CUDA version of an API name, as a library that dlsyms would
// spell it.
void* Resolve(const char* name, int version) {
  static const std::map<std::string, std::string> kCurrentSymbols = {
      {"cuCtxCreate", "cuCtxCreate_v4"},
      {"cuMemGetInfo", "cuMemGetInfo_v2"},
      {"cuDeviceTotalMem", "cuDeviceTotalMem_v2"},
      {"cuMemAlloc", "cuMemAlloc_v2"},
      {"cuMemFree", "cuMemFree_v2"},
      {"cuMemAllocPitch", "cuMemAllocPitch_v2"},
      {"cuArrayCreate", "cuArrayCreate_v2"},
      {"cuGraphAddKernelNode", "cuGraphAddKernelNode_v2"},
  };
  auto current = kCurrentSymbols.find(name);
  const bool legacy = version < 3020;
  return dlsym(driver,
               current != kCurrentSymbols.end() && !legacy ? current->second.c_str() : name);
}

std::vector<std::string> DlsymReport(const std::string& line) {
  std::istringstream in(line);
  std::string command, path;
  in >> command >> path;
  if (command != "dlsym") return {};
  std::vector<std::string> answers;
  std::ifstream file(path);
  std::string text;
  while (std::getline(file, text)) {
    const size_t open = text.find("dlsym(");
    if (open == std::string::npos) continue;
    const size_t first = text.find('"', open);
    const size_t last = text.find('"', first + 1);
    const std::string name = text.substr(first + 1, last - first - 1);
    answers.push_back(name + " " +
                      gpuslice::testing::DescribeFunction(dlsym(driver, name.c_str())));
  }
  answers.push_back("end");
  return answers;
}

}  // namespace

int main() {
  driver = dlopen("libcuda.so.1", RTLD_LAZY);
  if (driver == nullptr) {
    std::fprintf(stderr, "cublas_client: %s\n", dlerror());
    return 1;
  }
  gpuslice::testing::DriverApi api;
  gpuslice::testing::ResolveAll(api, &Resolve);
  return gpuslice::testing::RunClient(api, &DlsymReport);
}
