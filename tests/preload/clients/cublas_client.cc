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
// spell it: the suffixed one from the version that introduced it, the unsuffixed one before.
void* Resolve(const char* name, int version) {
  struct Suffixed {
    int version;
    std::string symbol;
  };
  static const std::map<std::string, Suffixed> kCurrentSymbols = {
      {"cuCtxCreate", {12050, "cuCtxCreate_v4"}},
      {"cuCtxDestroy", {4000, "cuCtxDestroy_v2"}},
      {"cuMemGetInfo", {3020, "cuMemGetInfo_v2"}},
      {"cuDeviceTotalMem", {3020, "cuDeviceTotalMem_v2"}},
      {"cuMemAlloc", {3020, "cuMemAlloc_v2"}},
      {"cuMemFree", {3020, "cuMemFree_v2"}},
      {"cuMemAllocPitch", {3020, "cuMemAllocPitch_v2"}},
      {"cuArrayCreate", {3020, "cuArrayCreate_v2"}},
      {"cuGraphAddKernelNode", {12000, "cuGraphAddKernelNode_v2"}},
      {"cuGraphInstantiate", {11000, "cuGraphInstantiate_v2"}},
      {"cuStreamBeginCapture", {10010, "cuStreamBeginCapture_v2"}},
  };
  auto current = kCurrentSymbols.find(name);
  const bool suffixed = current != kCurrentSymbols.end() && version >= current->second.version;
  return dlsym(driver, suffixed ? current->second.symbol.c_str() : name);
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
