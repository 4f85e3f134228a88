// gpuslice-cuda-probe: what a CUDA driver-API program inside a pod sees of its slice. The e2e
// suite runs it in pods on the real cluster. It loads libcuda.so.1 the way the CUDA runtime
// does (dlopen, then dlsym), so whatever the container's runtime injected as the driver, and
// libgpuslice.so in front of it, answer. Built with the C++ runtime linked in: the image that
// carries it holds nothing but glibc, like a user's minimal image.
//
//   cuda-probe info                 one JSON line per visible GPU: index, uuid, total, free
//   cuda-probe alloc BYTES [GPU]    allocate BYTES on GPU (default 0); exit 0, or 3 when the
//                                   driver says CUDA_ERROR_OUT_OF_MEMORY
//   cuda-probe hold BYTES [GPU]     allocate, print the result, then keep it until killed
//   cuda-probe fill CHUNK [GPU]     allocate CHUNK bytes at a time until refused; print the total
//   cuda-probe contract             the Allocate contract as the container sees it (env, files,
//                                   the limits file's text)
//   cuda-probe sleep                do nothing until killed (a pod's main process)
#include <dlfcn.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#ifdef GPUSLICE_REAL_CUDA_H
#include <cuda.h>
#else
#include "core/abi/cuda_types.h"
#include "core/abi/gpu_uuid.h"
#endif

namespace {

constexpr int kExitOutOfMemory = 3;

struct Driver {
  CUresult (*init)(unsigned int);
  CUresult (*device_get_count)(int*);
  CUresult (*device_get)(CUdevice*, int);
  CUresult (*device_get_uuid)(CUuuid*, CUdevice);
  CUresult (*primary_ctx_retain)(CUcontext*, CUdevice);
  CUresult (*ctx_set_current)(CUcontext);
  CUresult (*mem_get_info)(size_t*, size_t*);
  CUresult (*mem_alloc)(CUdeviceptr*, size_t);
  CUresult (*get_error_name)(CUresult, const char**);
};

template <typename Function>
void Resolve(void* library, const char* name, Function* out) {
  *out = reinterpret_cast<Function>(dlsym(library, name));
  if (*out == nullptr) {
    std::fprintf(stderr, "cuda-probe: libcuda.so.1 has no %s\n", name);
    std::exit(1);
  }
}

Driver LoadDriver() {
  void* library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
  if (library == nullptr) {
    std::fprintf(stderr, "cuda-probe: cannot load libcuda.so.1: %s\n", dlerror());
    std::exit(1);
  }
  Driver driver{};
  Resolve(library, "cuInit", &driver.init);
  Resolve(library, "cuDeviceGetCount", &driver.device_get_count);
  Resolve(library, "cuDeviceGet", &driver.device_get);
  Resolve(library, "cuDeviceGetUuid", &driver.device_get_uuid);
  Resolve(library, "cuDevicePrimaryCtxRetain", &driver.primary_ctx_retain);
  Resolve(library, "cuCtxSetCurrent", &driver.ctx_set_current);
  Resolve(library, "cuMemGetInfo_v2", &driver.mem_get_info);
  Resolve(library, "cuMemAlloc_v2", &driver.mem_alloc);
  Resolve(library, "cuGetErrorName", &driver.get_error_name);
  return driver;
}

const char* ErrorName(const Driver& driver, CUresult result) {
  const char* name = nullptr;
  if (driver.get_error_name(result, &name) != CUDA_SUCCESS || name == nullptr) return "unknown";
  return name;
}

void Check(const Driver& driver, CUresult result, const char* what) {
  if (result == CUDA_SUCCESS) return;
  std::fprintf(stderr, "cuda-probe: %s: %s\n", what, ErrorName(driver, result));
  std::exit(1);
}

// Makes GPU `ordinal` current, initializing the driver first.
void UseGpu(const Driver& driver, int ordinal) {
  Check(driver, driver.init(0), "cuInit");
  CUdevice device = 0;
  Check(driver, driver.device_get(&device, ordinal), "cuDeviceGet");
  CUcontext context = nullptr;
  Check(driver, driver.primary_ctx_retain(&context, device), "cuDevicePrimaryCtxRetain");
  Check(driver, driver.ctx_set_current(context), "cuCtxSetCurrent");
}

std::string Uuid(const Driver& driver, int ordinal) {
  CUdevice device = 0;
  CUuuid uuid{};
  Check(driver, driver.device_get(&device, ordinal), "cuDeviceGet");
  Check(driver, driver.device_get_uuid(&uuid, device), "cuDeviceGetUuid");
  return gpuslice::core::FormatGpuUuid(uuid.bytes);
}

uint64_t ParseBytes(const char* text) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long value = std::strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0') {
    std::fprintf(stderr, "cuda-probe: '%s' is not a number of bytes\n", text);
    std::exit(2);
  }
  return value;
}

int ParseGpu(int argc, char** argv, int position) {
  return argc > position ? static_cast<int>(ParseBytes(argv[position])) : 0;
}

[[noreturn]] void SleepForever() {
  for (;;) pause();
}

int Info(const Driver& driver) {
  Check(driver, driver.init(0), "cuInit");
  int count = 0;
  Check(driver, driver.device_get_count(&count), "cuDeviceGetCount");
  for (int i = 0; i < count; ++i) {
    UseGpu(driver, i);
    size_t free_bytes = 0, total_bytes = 0;
    Check(driver, driver.mem_get_info(&free_bytes, &total_bytes), "cuMemGetInfo");
    std::printf("{\"index\":%d,\"uuid\":\"%s\",\"total\":%zu,\"free\":%zu}\n", i,
                Uuid(driver, i).c_str(), total_bytes, free_bytes);
  }
  return 0;
}

int Alloc(const Driver& driver, uint64_t bytes, int gpu, bool hold) {
  UseGpu(driver, gpu);
  CUdeviceptr pointer = 0;
  const CUresult result = driver.mem_alloc(&pointer, bytes);
  std::printf("{\"bytes\":%llu,\"gpu\":%d,\"result\":\"%s\"}\n",
              static_cast<unsigned long long>(bytes), gpu, ErrorName(driver, result));
  std::fflush(stdout);
  if (result == CUDA_ERROR_OUT_OF_MEMORY) return kExitOutOfMemory;
  if (result != CUDA_SUCCESS) return 1;
  if (hold) SleepForever();
  return 0;
}

int Fill(const Driver& driver, uint64_t chunk, int gpu) {
  UseGpu(driver, gpu);
  uint64_t total = 0;
  CUresult result = CUDA_SUCCESS;
  while (chunk > 0) {
    CUdeviceptr pointer = 0;
    result = driver.mem_alloc(&pointer, chunk);
    if (result != CUDA_SUCCESS) break;
    total += chunk;
  }
  std::printf("{\"allocated\":%llu,\"chunk\":%llu,\"gpu\":%d,\"stoppedBy\":\"%s\"}\n",
              static_cast<unsigned long long>(total), static_cast<unsigned long long>(chunk), gpu,
              ErrorName(driver, result));
  return result == CUDA_ERROR_OUT_OF_MEMORY ? 0 : 1;
}

void PrintJsonString(const char* text) {
  std::putchar('"');
  for (const char* c = text; *c != '\0'; ++c) {
    if (*c == '"' || *c == '\\') {
      std::printf("\\%c", *c);
    } else if (static_cast<unsigned char>(*c) < 0x20) {
      std::printf("\\u%04x", *c);
    } else {
      std::putchar(*c);
    }
  }
  std::putchar('"');
}

// Environment variables of the contract, whether each contract path exists and is writable
// from inside the container, and the limits file's text (what the library trusts).
int Contract() {
  std::printf("{\"env\":{");
  bool first = true;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const char* text = *entry;
    if (std::strncmp(text, "GPUSLICE_", 9) != 0 && std::strncmp(text, "NVIDIA_", 7) != 0 &&
        std::strncmp(text, "LD_PRELOAD=", 11) != 0) {
      continue;
    }
    const char* equals = std::strchr(text, '=');
    if (equals == nullptr) continue;
    std::printf("%s", first ? "" : ",");
    first = false;
    PrintJsonString(std::string(text, equals).c_str());
    std::putchar(':');
    PrintJsonString(equals + 1);
  }
  std::printf("},\"files\":{");
  const char* paths[] = {"/usr/local/gpuslice/lib/libgpuslice.so", "/etc/ld.so.preload",
                         "/etc/gpuslice/limits", "/var/run/gpuslice/region"};
  for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); ++i) {
    struct stat info {};
    const bool exists = stat(paths[i], &info) == 0;
    std::printf("%s", i == 0 ? "" : ",");
    PrintJsonString(paths[i]);
    std::printf(":{\"exists\":%s,\"writable\":%s}", exists ? "true" : "false",
                exists && access(paths[i], W_OK) == 0 ? "true" : "false");
  }
  std::printf("},\"preload\":");
  char preload[512] = {};
  if (FILE* file = std::fopen("/etc/ld.so.preload", "r")) {
    const size_t n = std::fread(preload, 1, sizeof(preload) - 1, file);
    preload[n] = '\0';
    std::fclose(file);
  }
  PrintJsonString(preload);
  std::printf(",\"limits\":");
  char limits[4096] = {};
  if (FILE* file = std::fopen("/etc/gpuslice/limits", "r")) {
    const size_t n = std::fread(limits, 1, sizeof(limits) - 1, file);
    limits[n] = '\0';
    std::fclose(file);
  }
  PrintJsonString(limits);
  std::printf("}\n");
  return 0;
}

int Usage() {
  std::fprintf(stderr,
               "usage: cuda-probe info | alloc BYTES [GPU] | hold BYTES [GPU] | fill CHUNK [GPU] "
               "| contract | sleep\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // A pod's main process is PID 1: without handlers SIGTERM would be ignored.
  signal(SIGTERM, [](int) { _exit(0); });
  if (argc < 2) return Usage();
  const std::string command = argv[1];
  if (command == "sleep") SleepForever();
  if (command == "contract") return Contract();
  if (command == "info") return Info(LoadDriver());
  if ((command == "alloc" || command == "hold" || command == "fill") && argc >= 3) {
    const Driver driver = LoadDriver();
    const uint64_t bytes = ParseBytes(argv[2]);
    const int gpu = ParseGpu(argc, argv, 3);
    if (command == "fill") return Fill(driver, bytes, gpu);
    return Alloc(driver, bytes, gpu, command == "hold");
  }
  return Usage();
}
