// The proof kit's memory checks: every allocation path filled to the slice, the memory info
// the driver and NVML report, a kernel's results, and two processes of one container.
#include <dlfcn.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "driver_session.h"

namespace gpuslice::proof {
namespace {

// One way of allocating device memory, as a unit the fill loop can take and give back.
struct AllocationPath {
  const char* name;
  uint64_t max_chunk;  // what one allocation of this kind can hold at most
  CUresult (*allocate)(Session&, uint64_t bytes, uint64_t* handle, void* state);
  CUresult (*release)(Session&, uint64_t handle, uint64_t bytes, void* state);
};

// State some paths need across allocations: the pool they allocate from.
struct PathState {
  CUmemoryPool pool = nullptr;
};

CUresult AllocPlain(Session& s, uint64_t bytes, uint64_t* handle, void*) {
  CUdeviceptr pointer = 0;
  const CUresult result = s.api().mem_alloc(&pointer, bytes);
  *handle = pointer;
  return result;
}
CUresult FreeDevice(Session& s, uint64_t handle, uint64_t, void*) {
  return s.api().mem_free(handle);
}
CUresult AllocPitch(Session& s, uint64_t bytes, uint64_t* handle, void*) {
  CUdeviceptr pointer = 0;
  size_t pitch = 0;
  const CUresult result = s.api().mem_alloc_pitch(&pointer, &pitch, 65536, bytes / 65536, 16);
  *handle = pointer;
  return result;
}
CUresult AllocManaged(Session& s, uint64_t bytes, uint64_t* handle, void*) {
  CUdeviceptr pointer = 0;
  const CUresult result = s.api().mem_alloc_managed(&pointer, bytes, CU_MEM_ATTACH_GLOBAL);
  *handle = pointer;
  return result;
}
CUresult AllocAsync(Session& s, uint64_t bytes, uint64_t* handle, void*) {
  CUdeviceptr pointer = 0;
  const CUresult result = s.api().mem_alloc_async(&pointer, bytes, nullptr);
  *handle = pointer;
  return result;
}
CUresult FreeAsync(Session& s, uint64_t handle, uint64_t, void*) {
  const CUresult result = s.api().mem_free_async(handle, nullptr);
  return result == CUDA_SUCCESS ? s.api().ctx_synchronize() : result;
}
CUresult AllocFromPool(Session& s, uint64_t bytes, uint64_t* handle, void* state) {
  auto* path = static_cast<PathState*>(state);
  if (path->pool == nullptr) {
    CUmemPoolProps props{};
    props.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
    props.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    props.location.id = s.device();
    const CUresult created = s.api().mem_pool_create(&path->pool, &props);
    if (created != CUDA_SUCCESS) return created;
  }
  CUdeviceptr pointer = 0;
  const CUresult result = s.api().mem_alloc_from_pool_async(&pointer, bytes, path->pool, nullptr);
  *handle = pointer;
  return result;
}
CUmemAllocationProp DeviceProp(const Session& s) {
  CUmemAllocationProp prop{};
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  prop.location.id = s.device();
  return prop;
}
// As expandable segments do: physical memory mapped into a reserved range, the handle
// released at once so the mapping alone keeps it.
CUresult AllocVmm(Session& s, uint64_t bytes, uint64_t* handle, void*) {
  const CUmemAllocationProp prop = DeviceProp(s);
  CUmemGenericAllocationHandle physical = 0;
  CUresult result = s.api().mem_create(&physical, bytes, &prop, 0);
  if (result != CUDA_SUCCESS) return result;
  CUdeviceptr range = 0;
  result = s.api().mem_address_reserve(&range, bytes, 0, 0, 0);
  if (result == CUDA_SUCCESS) result = s.api().mem_map(range, bytes, 0, physical, 0);
  CUmemAccessDesc access{};
  access.location = prop.location;
  access.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
  if (result == CUDA_SUCCESS) result = s.api().mem_set_access(range, bytes, &access, 1);
  s.api().mem_release(physical);
  *handle = range;
  return result;
}
CUresult FreeVmm(Session& s, uint64_t handle, uint64_t bytes, void*) {
  const CUresult result = s.api().mem_unmap(handle, bytes);
  return result == CUDA_SUCCESS ? s.api().mem_address_free(handle, bytes) : result;
}
CUresult AllocArray(Session& s, uint64_t bytes, uint64_t* handle, void*) {
  CUDA_ARRAY_DESCRIPTOR descriptor{};
  descriptor.Width = 4096;  // rows of 4096 floats
  descriptor.Height = bytes / (4096 * 4);
  descriptor.Format = CU_AD_FORMAT_FLOAT;
  descriptor.NumChannels = 1;
  CUarray array = nullptr;
  const CUresult result = s.api().array_create(&array, &descriptor);
  *handle = reinterpret_cast<uint64_t>(array);
  return result;
}
CUresult FreeArray(Session& s, uint64_t handle, uint64_t, void*) {
  return s.api().array_destroy(reinterpret_cast<CUarray>(handle));
}
CUresult AllocMipmap(Session& s, uint64_t bytes, uint64_t* handle, void*) {
  CUDA_ARRAY3D_DESCRIPTOR descriptor{};
  descriptor.Width = 4096;  // rows of 4096 bytes
  descriptor.Height = bytes / 4096;
  descriptor.Format = CU_AD_FORMAT_UNSIGNED_INT8;
  descriptor.NumChannels = 1;
  CUmipmappedArray array = nullptr;
  const CUresult result = s.api().mipmapped_array_create(&array, &descriptor, 1);
  *handle = reinterpret_cast<uint64_t>(array);
  return result;
}
CUresult FreeMipmap(Session& s, uint64_t handle, uint64_t, void*) {
  return s.api().mipmapped_array_destroy(reinterpret_cast<CUmipmappedArray>(handle));
}
CUresult AllocGraph(Session& s, uint64_t bytes, uint64_t* handle, void*) {
  CUgraph graph = nullptr;
  CUresult result = s.api().graph_create(&graph, 0);
  if (result != CUDA_SUCCESS) return result;
  CUDA_MEM_ALLOC_NODE_PARAMS params{};
  params.poolProps.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
  params.poolProps.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  params.poolProps.location.id = s.device();
  params.bytesize = bytes;
  CUgraphNode node = nullptr;
  result = s.api().graph_add_mem_alloc_node(&node, graph, nullptr, 0, &params);
  if (result != CUDA_SUCCESS) s.api().graph_destroy(graph);
  *handle = reinterpret_cast<uint64_t>(graph);
  return result;
}
CUresult FreeGraph(Session& s, uint64_t handle, uint64_t, void*) {
  return s.api().graph_destroy(reinterpret_cast<CUgraph>(handle));
}

// Gives back what pools keep cached, so a path's frees show in the memory info at once.
void TrimPools(Session& s, PathState& state) {
  s.api().ctx_synchronize();
  CUmemoryPool pool = nullptr;
  if (s.api().device_get_default_mem_pool(&pool, s.device()) == CUDA_SUCCESS) {
    s.api().mem_pool_trim_to(pool, 0);
  }
  if (state.pool != nullptr) {
    s.api().mem_pool_trim_to(state.pool, 0);
    s.api().mem_pool_destroy(state.pool);
    state.pool = nullptr;
  }
}

// Fills the slice through one path in chunks until the driver (through the library) refuses;
// passes when the refusal is CUDA_ERROR_OUT_OF_MEMORY, comes only once the next chunk would not
// fit in what was free (within 2% of the slice), and every byte comes back after the frees.
void CheckPath(Session& s, const AllocationPath& path, uint64_t slice, uint64_t granularity) {
  const std::string check = std::string("driver.alloc.") + path.name;
  PathState state;
  const uint64_t free_before = s.Free();
  uint64_t chunk = std::min<uint64_t>(free_before / 8, path.max_chunk);
  chunk = chunk / granularity * granularity;
  if (chunk == 0) {
    Report(check, "fail", "",
           "the slice has less than 8 allocation granules free: " + Mib(free_before));
    return;
  }
  std::vector<uint64_t> handles;
  CUresult refusal = CUDA_SUCCESS;
  while (handles.size() < 1024) {
    uint64_t handle = 0;
    refusal = path.allocate(s, chunk, &handle, &state);
    if (refusal != CUDA_SUCCESS) break;
    handles.push_back(handle);
  }
  const uint64_t granted = handles.size() * chunk;
  CUresult release_error = CUDA_SUCCESS;
  for (uint64_t handle : handles) {
    const CUresult released = path.release(s, handle, chunk, &state);
    if (released != CUDA_SUCCESS && release_error == CUDA_SUCCESS) release_error = released;
  }
  TrimPools(s, state);
  const uint64_t free_after = s.Free();
  const uint64_t slack = slice / 50;
  const std::string figure =
      "granted " + Mib(granted) + " of " + Mib(free_before) + " free in " + Mib(chunk) + " chunks";
  std::string problem;
  if (refusal == CUDA_SUCCESS) {
    problem = "never refused after " + std::to_string(handles.size()) + " allocations";
  } else if (refusal != CUDA_ERROR_OUT_OF_MEMORY) {
    problem = "refused with " + s.Error(refusal) + ", not CUDA_ERROR_OUT_OF_MEMORY";
  } else if (granted > free_before || granted > slice) {
    problem = "granted more than " + std::string(granted > slice ? "the slice" : "was free");
  } else if (granted + chunk + slack <= free_before) {
    problem = "refused early: " + Mib(free_before - granted) + " were still free";
  } else if (release_error != CUDA_SUCCESS) {
    problem = "freeing failed: " + s.Error(release_error);
  } else if (free_after + 2 * kMiB < free_before) {
    problem = "frees did not come back: " + Mib(free_after) + " free after, " + Mib(free_before) +
              " before";
  }
  Report(check, problem.empty() ? "pass" : "fail", figure,
         problem.empty()
             ? "refused with " + s.Error(refusal) + "; " + Mib(free_after) + " free after the frees"
             : problem);
}

// The last bytes of the slice: all but 2 MiB of what is free can be had, then 4 MiB cannot.
void CheckEdge(Session& s, uint64_t slice) {
  const uint64_t free = s.Free();
  const uint64_t most = free > 2 * kMiB ? (free - 2 * kMiB) / (2 * kMiB) * (2 * kMiB) : 0;
  CUdeviceptr big = 0, more = 0;
  const CUresult first = most > 0 ? s.api().mem_alloc(&big, most) : CUDA_ERROR_INVALID_VALUE;
  const CUresult second = first == CUDA_SUCCESS ? s.api().mem_alloc(&more, 4 * kMiB) : first;
  if (second == CUDA_SUCCESS) s.api().mem_free(more);
  if (first == CUDA_SUCCESS) s.api().mem_free(big);
  std::string problem;
  if (free > slice) {
    problem = Mib(free) + " free, more than the slice";
  } else if (first != CUDA_SUCCESS) {
    problem = "cuMemAlloc of " + Mib(most) + " of the " + Mib(free) + " free: " + s.Error(first);
  } else if (second != CUDA_ERROR_OUT_OF_MEMORY) {
    problem = "4 MiB more past the slice: " +
              (second == CUDA_SUCCESS ? std::string("granted") : s.Error(second));
  }
  Report("driver.alloc.edge", problem.empty() ? "pass" : "fail",
         Mib(most) + " of " + Mib(free) + " granted, 4 MiB more refused",
         problem.empty() ? "cuMemAlloc up to the slice's last 2 MiB" : problem);
}

// Every memory entry point, looked up the two ways libraries do (dlsym of the versioned symbol
// and cuGetProcAddress_v2), must land in libgpuslice.so.
void CheckHooked(Session& s) {
  static const struct {
    const char* name;
    const char* symbol;
    int version;
  } kEntryPoints[] = {
      {"cuMemAlloc", "cuMemAlloc_v2", 3020},
      {"cuMemAllocPitch", "cuMemAllocPitch_v2", 3020},
      {"cuMemAllocManaged", "cuMemAllocManaged", 6000},
      {"cuMemAllocAsync", "cuMemAllocAsync", 11020},
      {"cuMemAllocFromPoolAsync", "cuMemAllocFromPoolAsync", 11020},
      {"cuMemCreate", "cuMemCreate", 10020},
      {"cuArrayCreate", "cuArrayCreate_v2", 3020},
      {"cuMipmappedArrayCreate", "cuMipmappedArrayCreate", 5000},
      {"cuGraphAddMemAllocNode", "cuGraphAddMemAllocNode", 11040},
      {"cuMemFree", "cuMemFree_v2", 3020},
      {"cuMemGetInfo", "cuMemGetInfo_v2", 3020},
      {"cuLaunchKernel", "cuLaunchKernel", 4000},
  };
  int hooked = 0, total = 0;
  std::string missed;
  for (const auto& entry : kEntryPoints) {
    void* looked_up = dlsym(s.driver().library, entry.symbol);
    void* resolved = nullptr;
    CUdriverProcAddressQueryResult found = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
    s.driver().get_proc_address(entry.name, &resolved, entry.version, CU_GET_PROC_ADDRESS_DEFAULT,
                                &found);
    for (void* function : {looked_up, resolved}) {
      ++total;
      const std::string object = ObjectOf(function);
      if (object.find("libgpuslice") != std::string::npos) {
        ++hooked;
      } else if (missed.size() < 200) {
        missed += std::string(missed.empty() ? "" : ", ") + entry.name + " in " + object;
      }
    }
  }
  Report("driver.hooked", hooked == total ? "pass" : "fail",
         std::to_string(hooked) + "/" + std::to_string(total) + " lookups",
         hooked == total ? "dlsym and cuGetProcAddress_v2 both return libgpuslice's hooks"
                         : "not hooked: " + missed);
}

void CheckInfo(Session& s, uint64_t slice) {
  size_t free = 0, total = 0;
  const CUresult result = s.api().mem_get_info(&free, &total);
  const bool info_ok = result == CUDA_SUCCESS && total == slice && free <= total;
  Report("driver.mem_info", info_ok ? "pass" : "fail",
         "total " + Mib(total) + ", free " + Mib(free),
         result != CUDA_SUCCESS ? "cuMemGetInfo: " + s.Error(result)
                                : "cuMemGetInfo total must be the slice, " + Mib(slice));
  size_t device_total = 0;
  const CUresult total_result = s.api().device_total_mem(&device_total, s.device());
  Report("driver.total_mem",
         total_result == CUDA_SUCCESS && device_total == slice ? "pass" : "fail", Mib(device_total),
         "cuDeviceTotalMem must be the slice, " + Mib(slice));
}

// NVML loaded the way pynvml and nvidia-smi's users do, asked by the GPU's UUID.
void CheckNvml(Session& s, uint64_t slice) {
  void* nvml = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (nvml == nullptr) {
    Report("nvml.mem_info", "skip", "", "libnvidia-ml.so.1 is not installed");
    return;
  }
  struct Memory {
    unsigned long long total, free, used;
  };
  using Init = int (*)();
  using ByUuid = int (*)(const char*, void**);
  using MemoryInfo = int (*)(void*, Memory*);
  const auto init = reinterpret_cast<Init>(dlsym(nvml, "nvmlInit_v2"));
  const auto by_uuid = reinterpret_cast<ByUuid>(dlsym(nvml, "nvmlDeviceGetHandleByUUID"));
  const auto memory_info = reinterpret_cast<MemoryInfo>(dlsym(nvml, "nvmlDeviceGetMemoryInfo"));
  void* device = nullptr;
  Memory memory{};
  const std::string uuid = s.Uuid();
  int status = -1;
  if (init != nullptr && by_uuid != nullptr && memory_info != nullptr && (status = init()) == 0 &&
      (status = by_uuid(uuid.c_str(), &device)) == 0) {
    status = memory_info(device, &memory);
  }
  const bool ok = status == 0 && memory.total == slice && memory.free <= memory.total;
  Report("nvml.mem_info", ok ? "pass" : "fail",
         "total " + Mib(memory.total) + ", used " + Mib(memory.used),
         status != 0
             ? "NVML call failed with " + std::to_string(status) + " for " + uuid
             : "nvmlDeviceGetMemoryInfo of " + uuid + " must show the slice, " + Mib(slice));
}

// c = a + b on the GPU, compared bit for bit with the same IEEE sums on the host.
void CheckKernel(Session& s, bool simulated) {
  if (simulated) {
    Report("driver.kernel", "skip", "", "the simulated driver does not execute kernel code");
    return;
  }
  constexpr unsigned kCount = 1u << 20;
  std::vector<float> a(kCount), b(kCount), c(kCount), expected(kCount);
  for (unsigned i = 0; i < kCount; ++i) {
    a[i] = static_cast<float>(i) * 0.5f;
    b[i] = 1.0f / static_cast<float>(i + 1);
    expected[i] = a[i] + b[i];
  }
  const size_t bytes = kCount * sizeof(float);
  CUdeviceptr da = 0, db = 0, dc = 0;
  CUresult result = s.api().mem_alloc(&da, bytes);
  if (result == CUDA_SUCCESS) result = s.api().mem_alloc(&db, bytes);
  if (result == CUDA_SUCCESS) result = s.api().mem_alloc(&dc, bytes);
  if (result == CUDA_SUCCESS) result = s.api().memcpy_htod(da, a.data(), bytes);
  if (result == CUDA_SUCCESS) result = s.api().memcpy_htod(db, b.data(), bytes);
  unsigned count = kCount;
  void* params[] = {&da, &db, &dc, &count};
  if (result == CUDA_SUCCESS) {
    result = s.api().launch_kernel(s.Kernel("gpuslice_proof_add"), kCount / 256, 1, 1, 256, 1, 1, 0,
                                   nullptr, params, nullptr);
  }
  if (result == CUDA_SUCCESS) result = s.api().ctx_synchronize();
  if (result == CUDA_SUCCESS) result = s.api().memcpy_dtoh(c.data(), dc, bytes);
  for (CUdeviceptr pointer : {da, db, dc}) {
    if (pointer != 0) s.api().mem_free(pointer);
  }
  unsigned wrong = 0;
  for (unsigned i = 0; i < kCount; ++i) wrong += std::memcmp(&c[i], &expected[i], 4) != 0;
  const bool ok = result == CUDA_SUCCESS && wrong == 0;
  Report("driver.kernel", ok ? "pass" : "fail",
         std::to_string(kCount - wrong) + "/" + std::to_string(kCount) + " sums exact",
         result != CUDA_SUCCESS ? "launch or copy failed: " + s.Error(result)
                                : "a JIT-compiled PTX kernel's results, bit for bit");
}

}  // namespace

int RunMemory(const Arguments& arguments) {
  const uint64_t slice = Number(arguments, "slice", true);
  const bool simulated = arguments.count("simulated") > 0;
  Session s;
  CheckHooked(s);
  CheckInfo(s, slice);
  CheckNvml(s, slice);
  CUmemAllocationProp prop = DeviceProp(s);
  size_t granularity = 0;
  if (s.api().mem_get_allocation_granularity(&granularity, &prop,
                                             CU_MEM_ALLOC_GRANULARITY_MINIMUM) != CUDA_SUCCESS ||
      granularity == 0) {
    granularity = 2 * kMiB;
  }
  const uint64_t unit = std::max<uint64_t>(granularity, 2 * kMiB);
  const AllocationPath paths[] = {
      {"plain", ~0ULL, AllocPlain, FreeDevice},
      {"pitch", ~0ULL, AllocPitch, FreeDevice},
      {"managed", ~0ULL, AllocManaged, FreeDevice},
      {"async", ~0ULL, AllocAsync, FreeAsync},
      {"pool", ~0ULL, AllocFromPool, FreeAsync},
      {"vmm", ~0ULL, AllocVmm, FreeVmm},
      // 2D arrays are at most 65536 rows high, mipmapped ones 32768 on current GPUs.
      {"array", 512 * kMiB, AllocArray, FreeArray},
      {"mipmap", 128 * kMiB, AllocMipmap, FreeMipmap},
      {"graph", ~0ULL, AllocGraph, FreeGraph},
  };
  for (const AllocationPath& path : paths) CheckPath(s, path, slice, unit);
  CheckEdge(s, slice);
  CheckKernel(s, simulated);
  return 0;
}

int RunHold(const Arguments& arguments) {
  const uint64_t bytes = Number(arguments, "bytes", true);
  Session s;
  CUdeviceptr pointer = 0;
  const CUresult result = s.api().mem_alloc(&pointer, bytes);
  if (result != CUDA_SUCCESS) {
    std::printf("refused %s\n", s.Error(result).c_str());
    return 0;
  }
  std::printf("holding %llu\n", static_cast<unsigned long long>(bytes));
  std::fflush(stdout);
  char buffer[64];
  while (read(STDIN_FILENO, buffer, sizeof(buffer)) > 0) {
  }
  s.api().mem_free(pointer);
  return 0;
}

int RunProcesses(const Arguments& arguments) {
  const uint64_t slice = Number(arguments, "slice", true);
  const uint64_t held = slice * 6 / 10 / (2 * kMiB) * (2 * kMiB);
  const uint64_t wanted = (slice - held / 2) / (2 * kMiB) * (2 * kMiB);
  // The holder starts before this process touches CUDA, so nothing of its driver state is
  // inherited across the fork.
  int to_holder[2], from_holder[2];
  if (pipe(to_holder) != 0 || pipe(from_holder) != 0) Fail(3, "pipe failed");
  const pid_t holder = fork();
  if (holder < 0) Fail(3, "fork failed");
  if (holder == 0) {
    dup2(to_holder[0], STDIN_FILENO);
    dup2(from_holder[1], STDOUT_FILENO);
    close(to_holder[1]);
    close(from_holder[0]);
    const std::string bytes = std::to_string(held);
    execl("/proc/self/exe", "gpu_proof_driver", "hold", "--bytes", bytes.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(to_holder[0]);
  close(from_holder[1]);
  char line[256] = {};
  FILE* answers = fdopen(from_holder[0], "r");
  const bool holding =
      std::fgets(line, sizeof(line), answers) != nullptr && std::strncmp(line, "holding", 7) == 0;
  line[std::strcspn(line, "\n")] = '\0';

  Session s;
  const uint64_t free_seen = s.Free();
  CUdeviceptr pointer = 0;
  const CUresult refused = holding ? s.api().mem_alloc(&pointer, wanted) : CUDA_SUCCESS;
  if (refused == CUDA_SUCCESS && pointer != 0) s.api().mem_free(pointer);
  const bool shared = holding && free_seen + held <= slice && refused == CUDA_ERROR_OUT_OF_MEMORY;
  Report("processes.one_limit", shared ? "pass" : "fail",
         "other holds " + Mib(held) + ", this sees " + Mib(free_seen) + " free",
         !holding ? std::string("the holder did not allocate: ") + line
         : shared ? "a second process of the container is refused " + Mib(wanted)
                  : "a second process got or saw memory the first holds (" +
                        (refused == CUDA_SUCCESS ? std::string("granted ") + Mib(wanted)
                                                 : s.Error(refused)) +
                        ")");

  kill(holder, SIGKILL);
  waitpid(holder, nullptr, 0);
  close(to_holder[1]);
  std::fclose(answers);
  // The driver tears the dead process's context down asynchronously; give it a bounded time.
  const auto start = std::chrono::steady_clock::now();
  CUresult granted = CUDA_ERROR_OUT_OF_MEMORY;
  while (std::chrono::steady_clock::now() - start < std::chrono::seconds(10)) {
    pointer = 0;
    granted = s.api().mem_alloc(&pointer, wanted);
    if (granted == CUDA_SUCCESS) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - start)
                          .count();
  if (granted == CUDA_SUCCESS) s.api().mem_free(pointer);
  // Only a refusal before the kill makes a grant after it mean anything.
  const bool gave_back = shared && granted == CUDA_SUCCESS;
  Report("processes.sigkill_gives_back", gave_back ? "pass" : "fail",
         Mib(wanted) + (granted == CUDA_SUCCESS ? " granted after " : " refused for ") +
             std::to_string(waited) + " ms",
         !shared                   ? "the limit did not hold while the holder lived"
         : granted == CUDA_SUCCESS ? "the killed holder's memory came back to the container"
                                   : "still refused 10 s after SIGKILL: " + s.Error(granted));
  return 0;
}

}  // namespace gpuslice::proof
