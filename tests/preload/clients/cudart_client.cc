// A client that finds the driver the way the CUDA runtime (libcudart) does: one
// dlopen("libcuda.so.1"), one dlsym("cuGetProcAddress_v2"), and every other entry point by
// cuGetProcAddress_v2 with a name and a CUDA version, before cuInit.
//
// Extra command: replay <requests file> -> for each request of a file in the format of
// cudart13_getprocaddress_requests.txt, "<request> <CUresult> <library> <symbol>", then "end".
#include <dlfcn.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "driver_api.h"

namespace {

using GetProcAddress = CUresult (*)(const char*, void**, int, cuuint64_t,
                                    CUdriverProcAddressQueryResult*);
GetProcAddress get_proc_address = nullptr;

void* Resolve(const char* name, int version) {
  void* function = nullptr;
  CUdriverProcAddressQueryResult found{};
  get_proc_address(name, &function, version, 0, &found);
  return function;
}

std::vector<std::string> Replay(const std::string& line) {
  std::istringstream in(line);
  std::string command, path;
  in >> command >> path;
  if (command != "replay") return {};
  std::vector<std::string> answers;
  std::ifstream file(path);
  std::string word;
  while (file >> word) {
    if (word[0] == '#') {  // a comment runs to the end of its line
      std::getline(file, word);
      continue;
    }
    const size_t at = word.find('@');
    if (at == std::string::npos) continue;
    std::string name = word.substr(0, at);
    if (name == "\"\"") name.clear();
    const bool per_thread = word.ends_with("/ptds");
    const int version = std::stoi(word.substr(at + 1));
    void* function = nullptr;
    CUdriverProcAddressQueryResult found{};
    const CUresult result =
        get_proc_address(name.c_str(), &function, version,
                         per_thread ? CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM : 0, &found);
    answers.push_back(word + " " + std::to_string(static_cast<int>(result)) + " " +
                      gpuslice::testing::DescribeFunction(function));
  }
  answers.push_back("end");
  return answers;
}

}  // namespace

int main() {
  void* driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (driver == nullptr) {
    std::fprintf(stderr, "cudart_client: %s\n", dlerror());
    return 1;
  }
  get_proc_address = reinterpret_cast<GetProcAddress>(dlsym(driver, "cuGetProcAddress_v2"));
  if (get_proc_address == nullptr) return 1;
  gpuslice::testing::DriverApi api;
  gpuslice::testing::ResolveAll(api, &Resolve);
  return gpuslice::testing::RunClient(api, &Replay);
}
