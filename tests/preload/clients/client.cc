// The command loop every test client runs, whatever way it found the driver's functions.
//
// Commands (one per line on stdin; one answer line each on stdout):
//   init                      cuInit, device 0, retain and make current its primary context
//   init-created              the same with a context made by cuCtxCreate
//   info                      -> "info <free> <total>" from cuMemGetInfo
//   total                     -> "total <bytes>" from cuDeviceTotalMem
//   nvml                      -> "nvml <free> <total> <used>" from nvmlDeviceGetMemoryInfo of
//                             GPU 0, NVML loaded the way pynvml does (dlopen)
//   alloc <path> <bytes>      -> "ok <id>" | "err <CUresult>" | "unsupported"; path is one of
//                             plain pitch managed async pool vmm array mipmap graph legacy;
//                             vmm-mapped: cuMemCreate, map it into a reserved range and
//                             cuMemRelease the handle at once (as allocators do); its free
//                             unmaps and frees the range
//   free <id>                 -> "ok" | "err <CUresult>"
//   instantiate <id> <entry>  instantiates the graph <id> (of alloc graph or capture) -> "ok <id>"
//                             | "err <CUresult>" | "unsupported"; entry is one of flags params
//                             legacy legacy-v2 (cuGraphInstantiateWithFlags, -WithParams,
//                             cuGraphInstantiate, cuGraphInstantiate_v2); free of the new id is
//                             cuGraphExecDestroy
//   run <id>                  launches the executable graph <id> and waits for it
//                             -> "ok" | "err <CUresult>"
//   capture <bytes>           on a stream of its own: begins a capture, captures cuMemAllocAsync
//                             of <bytes> and cuMemFreeAsync of it, ends the capture -> "ok <id>"
//                             (the captured graph; free destroys it) | "err <CUresult>"
//   capture-invalidated <bytes>
//                             the same with a synchronization of the capturing stream, which
//                             invalidates the capture, before its end -> "err <CUresult>"
//   pool-keep                 the default pool keeps every freed block (release threshold max)
//   pool-trim                 the default pool gives back every free block -> "ok" | "err ..."
//   graph-address <id>        -> "address <n>": the address of graph <id>'s allocation node
//   free-address <n>          cuMemFree(<n>) -> "ok" | "err <CUresult>"
//   graph-trim                cuDeviceGraphMemTrim -> "ok" | "err <CUresult>"
//   context                   another context on the device (cuCtxCreate; the first stays
//                             current) -> "ok <id>" | "err <CUresult>"; free destroys it
//   limit <name> <bytes>      cuCtxSetLimit of heap, printf or stack -> "ok" | "err <CUresult>"
//   vmm-export <bytes>        vmm-mapped, made exportable and exported as a file descriptor
//                             -> "ok <id> <fd>"; free unmaps it
//   vmm-import <pid> <fd> <bytes>
//                             imports the memory process <pid> exported as <fd> and maps it
//                             into a range of its own -> "ok <id>"; free unmaps it
//   library-launch            loads a library and launches one of its kernels (what lazy
//                             loading puts on the device at that first launch) and waits
//                             -> "ok" | "err <CUresult>"
//   stress <threads> <rounds> <max_bytes> <seed>
//                             threads allocate and free at random, then free what they hold
//                             -> "ok <granted> <refused>"
//   churn <bytes>             -> "churning", then allocates and frees until killed
//   launch <path> <count>     path: kernel ex cooperative graph -> "ok" | "err <CUresult>"
//   burn <milliseconds>       launches kernels back to back for that long, then waits for them
//                             -> "ok <launches>"; burn-<path> with a launch path as above
//   checkpoint <pid>          as cuda-checkpoint does, without a context of its own: cuInit,
//                             then locks process <pid> and checkpoints it -> "ok" | "err ..."
//   restore <pid>             cuInit, then restores process <pid> and unlocks it -> "ok" |
//                             "err <CUresult>" (of the restore) | "unsupported"
//   checkpoint-state <pid>    -> "state <CUprocessState>" | "err <CUresult>" | "unsupported"
//   exit
#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "driver_api.h"

namespace gpuslice::testing {
namespace {

enum class Kind {
  kDevice,
  kDeviceAsync,
  kLegacy,
  kPhysical,
  kMapped,
  kArray,
  kMipmap,
  kGraph,
  kGraphExec,
  kContext
};

struct Handle {
  Kind kind;
  unsigned long long value;
  size_t size = 0;                 // of a kMapped range
  unsigned long long address = 0;  // of a kGraph's allocation node
};

class Client {
 public:
  explicit Client(const DriverApi& api) : api_(api) {}

  std::string Run(const std::string& line) {
    std::istringstream in(line);
    std::string command;
    in >> command;
    if (command == "init") return Init(false);
    if (command == "init-created") return Init(true);
    if (command == "pool-keep" || command == "pool-trim") {
      CUmemoryPool pool = nullptr;
      CUresult result = api_.device_get_default_mem_pool(&pool, device_);
      cuuint64_t keep_everything = ~cuuint64_t{0};
      if (result == CUDA_SUCCESS) {
        result = command == "pool-trim"
                     ? api_.mem_pool_trim_to(pool, 0)
                     : api_.mem_pool_set_attribute(pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
                                                   &keep_everything);
      }
      return result == CUDA_SUCCESS ? "ok" : Error(result);
    }
    if (command == "graph-address") {
      int id = 0;
      in >> id;
      Handle graph{};
      if (!Find(id, &graph) || graph.kind != Kind::kGraph) return "err unknown-id";
      return "address " + std::to_string(graph.address);
    }
    if (command == "free-address") {
      unsigned long long address = 0;
      in >> address;
      const CUresult result = api_.mem_free(address);
      return result == CUDA_SUCCESS ? "ok" : Error(result);
    }
    if (command == "graph-trim") {
      const CUresult result = api_.device_graph_mem_trim(device_);
      return result == CUDA_SUCCESS ? "ok" : Error(result);
    }
    if (command == "context") {
      CUcontext created = nullptr;
      CUresult result = api_.ctx_create(&created, nullptr, 0, device_);
      if (result == CUDA_SUCCESS) result = api_.ctx_set_current(context_);
      if (result != CUDA_SUCCESS) return Error(result);
      return Keep({Kind::kContext, reinterpret_cast<unsigned long long>(created)});
    }
    if (command == "limit") {
      std::string name;
      unsigned long long bytes = 0;
      in >> name >> bytes;
      const CUlimit limit = name == "heap"     ? CU_LIMIT_MALLOC_HEAP_SIZE
                            : name == "printf" ? CU_LIMIT_PRINTF_FIFO_SIZE
                                               : CU_LIMIT_STACK_SIZE;
      const CUresult result = api_.ctx_set_limit(limit, bytes);
      return result == CUDA_SUCCESS ? "ok" : Error(result);
    }
    if (command == "checkpoint" || command == "restore" || command == "checkpoint-state") {
      int pid = 0;
      in >> pid;
      return Checkpoint(command, pid);
    }
    if (command == "library-launch") return LaunchLibraryKernel();
    if (command == "vmm-export") {
      unsigned long long bytes = 0;
      in >> bytes;
      return ExportMemory(bytes);
    }
    if (command == "vmm-import") {
      int pid = 0, fd = -1;
      unsigned long long bytes = 0;
      in >> pid >> fd >> bytes;
      return ImportMemory(pid, fd, bytes);
    }
    if (command == "info") {
      size_t free = 0, total = 0;
      CUresult result = api_.mem_get_info(&free, &total);
      if (result != CUDA_SUCCESS) return Error(result);
      return "info " + std::to_string(free) + " " + std::to_string(total);
    }
    if (command == "nvml") return NvmlMemory();
    if (command == "total") {
      size_t total = 0;
      CUresult result = api_.device_total_mem(&total, device_);
      return result == CUDA_SUCCESS ? "total " + std::to_string(total) : Error(result);
    }
    if (command == "alloc") {
      std::string path;
      unsigned long long bytes = 0;
      in >> path >> bytes;
      Handle handle{};
      std::string answer = Allocate(path, bytes, &handle);
      if (answer != "ok") return answer;
      return Keep(handle);
    }
    if (command == "free") {
      int id = 0;
      in >> id;
      Handle handle{};
      {
        std::lock_guard<std::mutex> guard(mutex_);
        auto found = handles_.find(id);
        if (found == handles_.end()) return "err unknown-id";
        handle = found->second;
        handles_.erase(found);
      }
      CUresult result = Free(handle);
      return result == CUDA_SUCCESS ? "ok" : Error(result);
    }
    if (command == "instantiate") {
      int id = 0;
      std::string entry;
      in >> id >> entry;
      return Instantiate(id, entry);
    }
    if (command == "run") {
      int id = 0;
      in >> id;
      Handle exec{};
      if (!Find(id, &exec)) return "err unknown-id";
      CUresult result = api_.graph_launch(reinterpret_cast<CUgraphExec>(exec.value), nullptr);
      if (result == CUDA_SUCCESS) result = api_.ctx_synchronize();
      return result == CUDA_SUCCESS ? "ok" : Error(result);
    }
    if (command == "capture" || command == "capture-invalidated") {
      unsigned long long bytes = 0;
      in >> bytes;
      return Capture(bytes, command == "capture-invalidated");
    }
    if (command == "stress") {
      int threads = 0, rounds = 0;
      unsigned long long max_bytes = 0, seed = 0;
      in >> threads >> rounds >> max_bytes >> seed;
      return Stress(threads, rounds, max_bytes, seed);
    }
    if (command == "churn") {
      unsigned long long bytes = 0;
      in >> bytes;
      std::cout << "churning" << std::endl;
      for (;;) {
        CUdeviceptr pointer = 0;
        if (api_.mem_alloc(&pointer, bytes) == CUDA_SUCCESS) api_.mem_free(pointer);
      }
    }
    if (command == "launch") {
      std::string path;
      int count = 0;
      in >> path >> count;
      return Launch(path, count);
    }
    if (command.rfind("burn", 0) == 0) {
      // "burn" launches plain kernels; "burn-<path>" any launch path.
      const std::string path = command == "burn" ? "kernel" : command.substr(5);
      long long milliseconds = 0;
      in >> milliseconds;
      const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(milliseconds);
      long long launches = 0;
      while (std::chrono::steady_clock::now() < end) {
        std::string answer = Launch(path, 1);
        if (answer != "ok") return answer;
        ++launches;
      }
      api_.ctx_synchronize();
      return "ok " + std::to_string(launches);
    }
    return "err unknown-command";
  }

 private:
  static std::string Error(CUresult result) {
    return "err " + std::to_string(static_cast<int>(result));
  }

  // "ok <id>" for `handle`, which free <id> frees.
  std::string Keep(const Handle& handle) {
    std::lock_guard<std::mutex> guard(mutex_);
    handles_[++next_id_] = handle;
    return "ok " + std::to_string(next_id_);
  }

  bool Find(int id, Handle* handle) {
    std::lock_guard<std::mutex> guard(mutex_);
    auto found = handles_.find(id);
    if (found == handles_.end()) return false;
    *handle = found->second;
    return true;
  }

  std::string Instantiate(int id, const std::string& entry) {
    Handle handle{};
    if (!Find(id, &handle) || handle.kind != Kind::kGraph) return "err unknown-id";
    const auto graph = reinterpret_cast<CUgraph>(handle.value);
    CUgraphExec exec = nullptr;
    CUresult result = CUDA_ERROR_NOT_SUPPORTED;
    if (entry == "flags") {
      result = api_.graph_instantiate(&exec, graph, 0);
    } else if (entry == "params") {
      CUDA_GRAPH_INSTANTIATE_PARAMS params{};
      result = api_.graph_instantiate_with_params(&exec, graph, &params);
    } else if (entry == "legacy" || entry == "legacy-v2") {
      const auto instantiate =
          entry == "legacy" ? api_.graph_instantiate_v1 : api_.graph_instantiate_v2;
      if (instantiate == nullptr) return "unsupported";
      CUgraphNode error_node = nullptr;
      char log[256];
      result = instantiate(&exec, graph, &error_node, log, sizeof(log));
    } else {
      return "err unknown-entry";
    }
    if (result != CUDA_SUCCESS) return Error(result);
    return Keep({Kind::kGraphExec, reinterpret_cast<unsigned long long>(exec)});
  }

  std::string Capture(unsigned long long bytes, bool invalidate) {
    CUresult result = CUDA_SUCCESS;
    if (capture_stream_ == nullptr) {
      result = api_.stream_create(&capture_stream_, CU_STREAM_NON_BLOCKING);
    }
    if (result == CUDA_SUCCESS) {
      result = api_.stream_begin_capture(capture_stream_, CU_STREAM_CAPTURE_MODE_GLOBAL);
    }
    if (result != CUDA_SUCCESS) return Error(result);
    CUdeviceptr pointer = 0;
    result = api_.mem_alloc_async(&pointer, bytes, capture_stream_);
    if (result == CUDA_SUCCESS) result = api_.mem_free_async(pointer, capture_stream_);
    // Not allowed while capturing: refused, and the capture is invalidated.
    if (result == CUDA_SUCCESS && invalidate) api_.stream_synchronize(capture_stream_);
    CUgraph graph = nullptr;
    const CUresult ended = api_.stream_end_capture(capture_stream_, &graph);
    if (result != CUDA_SUCCESS && graph != nullptr) api_.graph_destroy(graph);
    if (result == CUDA_SUCCESS) result = ended;
    if (result != CUDA_SUCCESS) return Error(result);
    return Keep({Kind::kGraph, reinterpret_cast<unsigned long long>(graph)});
  }

  // With `created`, a context of its own (cuCtxCreate) instead of the primary one.
  std::string Init(bool created) {
    CUresult result = api_.init(0);
    if (result == CUDA_SUCCESS) result = api_.device_get(&device_, 0);
    if (result == CUDA_SUCCESS) {
      result = created ? api_.ctx_create(&context_, nullptr, 0, device_)
                       : api_.primary_ctx_retain(&context_, device_);
    }
    if (result == CUDA_SUCCESS) result = api_.ctx_set_current(context_);
    static const char kImage[] = "gpuslice test module";
    if (result == CUDA_SUCCESS) result = api_.module_load_data(&module_, kImage);
    if (result == CUDA_SUCCESS) result = api_.module_get_function(&function_, module_, "kernel");
    return result == CUDA_SUCCESS ? "ok" : Error(result);
  }

  std::string NvmlMemory() {
    struct Memory {
      unsigned long long total, free, used;
    };
    void* nvml = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (nvml == nullptr) return "err no-nvml";
    using Init = int (*)();
    using HandleByIndex = int (*)(unsigned int, void**);
    using MemoryInfo = int (*)(void*, Memory*);
    const auto init = reinterpret_cast<Init>(dlsym(nvml, "nvmlInit_v2"));
    const auto by_index =
        reinterpret_cast<HandleByIndex>(dlsym(nvml, "nvmlDeviceGetHandleByIndex_v2"));
    const auto memory_info = reinterpret_cast<MemoryInfo>(dlsym(nvml, "nvmlDeviceGetMemoryInfo"));
    void* device = nullptr;
    Memory memory{};
    if (init == nullptr || by_index == nullptr || memory_info == nullptr || init() != 0 ||
        by_index(0, &device) != 0 || memory_info(device, &memory) != 0) {
      return "err nvml-call";
    }
    return "nvml " + std::to_string(memory.free) + " " + std::to_string(memory.total) + " " +
           std::to_string(memory.used);
  }

  std::string Allocate(const std::string& path, unsigned long long bytes, Handle* handle) {
    CUresult result = CUDA_ERROR_NOT_SUPPORTED;
    if (path == "plain") {
      CUdeviceptr pointer = 0;
      result = api_.mem_alloc(&pointer, bytes);
      *handle = {Kind::kDevice, pointer};
    } else if (path == "pitch") {
      CUdeviceptr pointer = 0;
      size_t pitch = 0;
      result = api_.mem_alloc_pitch(&pointer, &pitch, bytes / 4, 4, 4);
      *handle = {Kind::kDevice, pointer};
    } else if (path == "managed") {
      CUdeviceptr pointer = 0;
      result = api_.mem_alloc_managed(&pointer, bytes, CU_MEM_ATTACH_GLOBAL);
      *handle = {Kind::kDevice, pointer};
    } else if (path == "async") {
      CUdeviceptr pointer = 0;
      result = api_.mem_alloc_async(&pointer, bytes, nullptr);
      *handle = {Kind::kDeviceAsync, pointer};
    } else if (path == "pool") {
      CUmemoryPool pool = nullptr;
      CUdeviceptr pointer = 0;
      result = api_.device_get_default_mem_pool(&pool, device_);
      if (result == CUDA_SUCCESS)
        result = api_.mem_alloc_from_pool_async(&pointer, bytes, pool, nullptr);
      *handle = {Kind::kDeviceAsync, pointer};
    } else if (path == "vmm") {
      CUmemAllocationProp prop{};
      prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
      prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
      prop.location.id = device_;
      CUmemGenericAllocationHandle physical = 0;
      result = api_.mem_create(&physical, bytes, &prop, 0);
      *handle = {Kind::kPhysical, physical};
    } else if (path == "vmm-mapped") {
      CUmemAllocationProp prop{};
      prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
      prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
      prop.location.id = device_;
      CUmemGenericAllocationHandle physical = 0;
      CUdeviceptr range = 0;
      result = api_.mem_create(&physical, bytes, &prop, 0);
      if (result == CUDA_SUCCESS) result = api_.mem_address_reserve(&range, bytes, 0, 0, 0);
      if (result == CUDA_SUCCESS) result = api_.mem_map(range, bytes, 0, physical, 0);
      if (result == CUDA_SUCCESS) result = api_.mem_release(physical);
      *handle = {Kind::kMapped, range, bytes};
    } else if (path == "array") {
      // Rows of 4096 floats.
      CUDA_ARRAY_DESCRIPTOR descriptor{};
      descriptor.Width = 4096;
      descriptor.Height = bytes / (4096 * 4);
      descriptor.Format = CU_AD_FORMAT_FLOAT;
      descriptor.NumChannels = 1;
      CUarray array = nullptr;
      result = api_.array_create(&array, &descriptor);
      *handle = {Kind::kArray, reinterpret_cast<unsigned long long>(array)};
    } else if (path == "mipmap") {
      // Rows of 4096 bytes.
      CUDA_ARRAY3D_DESCRIPTOR descriptor{};
      descriptor.Width = 4096;
      descriptor.Height = bytes / 4096;
      descriptor.Format = CU_AD_FORMAT_UNSIGNED_INT8;
      descriptor.NumChannels = 1;
      CUmipmappedArray array = nullptr;
      result = api_.mipmapped_array_create(&array, &descriptor, 1);
      *handle = {Kind::kMipmap, reinterpret_cast<unsigned long long>(array)};
    } else if (path == "graph") {
      CUgraph graph = nullptr;
      result = api_.graph_create(&graph, 0);
      CUDA_MEM_ALLOC_NODE_PARAMS params{};
      params.poolProps.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
      params.poolProps.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
      params.poolProps.location.id = device_;
      params.bytesize = bytes;
      CUgraphNode node = nullptr;
      if (result == CUDA_SUCCESS) {
        result = api_.graph_add_mem_alloc_node(&node, graph, nullptr, 0, &params);
        if (result != CUDA_SUCCESS) api_.graph_destroy(graph);
      }
      *handle = {Kind::kGraph, reinterpret_cast<unsigned long long>(graph), 0, params.dptr};
    } else if (path == "legacy") {
      if (api_.mem_alloc_v1 == nullptr) return "unsupported";
      unsigned int pointer = 0;
      result = api_.mem_alloc_v1(&pointer, static_cast<unsigned int>(bytes));
      *handle = {Kind::kLegacy, pointer};
    } else {
      return "err unknown-path";
    }
    return result == CUDA_SUCCESS ? "ok" : Error(result);
  }

  CUresult Free(const Handle& handle) {
    switch (handle.kind) {
      case Kind::kDevice:
        return api_.mem_free(handle.value);
      case Kind::kDeviceAsync: {
        CUresult result = api_.mem_free_async(handle.value, nullptr);
        return result == CUDA_SUCCESS ? api_.ctx_synchronize() : result;
      }
      case Kind::kLegacy:
        return api_.mem_free_v1(static_cast<unsigned int>(handle.value));
      case Kind::kPhysical:
        return api_.mem_release(handle.value);
      case Kind::kMapped: {
        const CUresult result = api_.mem_unmap(handle.value, handle.size);
        return result == CUDA_SUCCESS ? api_.mem_address_free(handle.value, handle.size) : result;
      }
      case Kind::kArray:
        return api_.array_destroy(reinterpret_cast<CUarray>(handle.value));
      case Kind::kMipmap:
        return api_.mipmapped_array_destroy(reinterpret_cast<CUmipmappedArray>(handle.value));
      case Kind::kGraph:
        return api_.graph_destroy(reinterpret_cast<CUgraph>(handle.value));
      case Kind::kGraphExec:
        return api_.graph_exec_destroy(reinterpret_cast<CUgraphExec>(handle.value));
      case Kind::kContext:
        return api_.ctx_destroy(reinterpret_cast<CUcontext>(handle.value));
    }
    return CUDA_ERROR_INVALID_VALUE;
  }

  std::string Stress(int threads, int rounds, unsigned long long max_bytes,
                     unsigned long long seed) {
    std::atomic<long long> granted{0}, refused{0}, failed{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        // Threads share the context, as threads of one CUDA process do.
        api_.ctx_set_current(context_);
        std::mt19937_64 random(seed * 1000 + static_cast<unsigned long long>(t));
        std::vector<CUdeviceptr> held;
        for (int round = 0; round < rounds; ++round) {
          if (!held.empty() && random() % 2 == 0) {
            const size_t index = random() % held.size();
            if (api_.mem_free(held[index]) != CUDA_SUCCESS) ++failed;
            held.erase(held.begin() + static_cast<long>(index));
            continue;
          }
          CUdeviceptr pointer = 0;
          const CUresult result = api_.mem_alloc(&pointer, 1 + random() % max_bytes);
          if (result == CUDA_SUCCESS) {
            held.push_back(pointer);
            ++granted;
          } else if (result == CUDA_ERROR_OUT_OF_MEMORY) {
            ++refused;
          } else {
            ++failed;
          }
        }
        for (CUdeviceptr pointer : held) {
          if (api_.mem_free(pointer) != CUDA_SUCCESS) ++failed;
        }
      });
    }
    for (std::thread& worker : workers) worker.join();
    if (failed != 0) return "err " + std::to_string(failed.load()) + "-unexpected-results";
    return "ok " + std::to_string(granted.load()) + " " + std::to_string(refused.load());
  }

  std::string Launch(const std::string& path, int count) {
    for (int i = 0; i < count; ++i) {
      CUresult result = CUDA_ERROR_NOT_SUPPORTED;
      if (path == "kernel") {
        result = api_.launch_kernel(function_, 1, 1, 1, 32, 1, 1, 0, nullptr, nullptr, nullptr);
      } else if (path == "ex") {
        CUlaunchConfig config{};
        config.gridDimX = config.gridDimY = config.gridDimZ = 1;
        config.blockDimX = 32;
        config.blockDimY = config.blockDimZ = 1;
        result = api_.launch_kernel_ex(&config, function_, nullptr, nullptr);
      } else if (path == "cooperative") {
        result = api_.launch_cooperative_kernel(function_, 1, 1, 1, 32, 1, 1, 0, nullptr, nullptr);
      } else if (path == "graph") {
        result = LaunchGraph();
      }
      if (result != CUDA_SUCCESS) return Error(result);
    }
    return "ok";
  }

  std::string ExportMemory(unsigned long long bytes) {
    CUmemAllocationProp prop{};
    prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    prop.location.id = device_;
    prop.requestedHandleTypes = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
    CUmemGenericAllocationHandle physical = 0;
    CUdeviceptr range = 0;
    int fd = -1;
    CUresult result = api_.mem_create(&physical, bytes, &prop, 0);
    if (result == CUDA_SUCCESS) result = api_.mem_address_reserve(&range, bytes, 0, 0, 0);
    if (result == CUDA_SUCCESS) result = api_.mem_map(range, bytes, 0, physical, 0);
    if (result == CUDA_SUCCESS) {
      result = api_.mem_export_to_shareable_handle(&fd, physical,
                                                   CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0);
    }
    if (result == CUDA_SUCCESS) result = api_.mem_release(physical);
    if (result != CUDA_SUCCESS) return Error(result);
    const std::string kept = Keep({Kind::kMapped, range, bytes});
    return kept + " " + std::to_string(fd);
  }

  // Another process's descriptor is opened through /proc, as a process given it over a unix
  // socket would hold it.
  std::string ImportMemory(int pid, int fd, unsigned long long bytes) {
    const std::string path = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd);
    const int own = open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (own < 0) return "err cannot-open-" + path;
    CUmemGenericAllocationHandle imported = 0;
    CUdeviceptr range = 0;
    CUresult result = api_.mem_import_from_shareable_handle(
        &imported, reinterpret_cast<void*>(static_cast<intptr_t>(own)),
        CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR);
    close(own);
    if (result == CUDA_SUCCESS) result = api_.mem_address_reserve(&range, bytes, 0, 0, 0);
    if (result == CUDA_SUCCESS) result = api_.mem_map(range, bytes, 0, imported, 0);
    if (result == CUDA_SUCCESS) result = api_.mem_release(imported);
    if (result != CUDA_SUCCESS) return Error(result);
    return Keep({Kind::kMapped, range, bytes});
  }

  std::string Checkpoint(const std::string& command, int pid) {
    if (api_.checkpoint_lock == nullptr || api_.checkpoint_checkpoint == nullptr ||
        api_.checkpoint_restore == nullptr || api_.checkpoint_unlock == nullptr ||
        api_.checkpoint_get_state == nullptr) {
      return "unsupported";
    }
    CUresult result = api_.init(0);
    if (result != CUDA_SUCCESS) return Error(result);
    if (command == "checkpoint-state") {
      CUprocessState state = CU_PROCESS_STATE_FAILED;
      result = api_.checkpoint_get_state(pid, &state);
      return result == CUDA_SUCCESS ? "state " + std::to_string(static_cast<int>(state))
                                    : Error(result);
    }
    if (command == "checkpoint") {
      result = api_.checkpoint_lock(pid, nullptr);
      if (result == CUDA_SUCCESS) result = api_.checkpoint_checkpoint(pid, nullptr);
    } else {
      result = api_.checkpoint_restore(pid, nullptr);
      if (result == CUDA_SUCCESS) result = api_.checkpoint_unlock(pid, nullptr);
    }
    return result == CUDA_SUCCESS ? "ok" : Error(result);
  }

  std::string LaunchLibraryKernel() {
    static const char kImage[] = "gpuslice test library";
    CUlibrary library = nullptr;
    CUkernel kernel = nullptr;
    CUresult result =
        api_.library_load_data(&library, kImage, nullptr, nullptr, 0, nullptr, nullptr, 0);
    if (result == CUDA_SUCCESS) result = api_.library_get_kernel(&kernel, library, "kernel");
    if (result == CUDA_SUCCESS) {
      result = api_.launch_kernel(reinterpret_cast<CUfunction>(kernel), 1, 1, 1, 32, 1, 1, 0,
                                  nullptr, nullptr, nullptr);
    }
    if (result == CUDA_SUCCESS) result = api_.ctx_synchronize();
    return result == CUDA_SUCCESS ? "ok" : Error(result);
  }

  CUresult LaunchGraph() {
    if (graph_exec_ == nullptr) {
      CUgraph graph = nullptr;
      CUresult result = api_.graph_create(&graph, 0);
      CUDA_KERNEL_NODE_PARAMS params{};
      params.func = function_;
      params.gridDimX = params.gridDimY = params.gridDimZ = 1;
      params.blockDimX = 32;
      params.blockDimY = params.blockDimZ = 1;
      CUgraphNode node = nullptr;
      if (result == CUDA_SUCCESS)
        result = api_.graph_add_kernel_node(&node, graph, nullptr, 0, &params);
      if (result == CUDA_SUCCESS) result = api_.graph_instantiate(&graph_exec_, graph, 0);
      if (result != CUDA_SUCCESS) return result;
    }
    return api_.graph_launch(graph_exec_, nullptr);
  }

  const DriverApi& api_;
  CUdevice device_ = 0;
  CUcontext context_ = nullptr;
  CUmodule module_ = nullptr;
  CUfunction function_ = nullptr;
  CUgraphExec graph_exec_ = nullptr;
  CUstream capture_stream_ = nullptr;
  std::mutex mutex_;
  std::map<int, Handle> handles_;
  int next_id_ = 0;
};

}  // namespace

void ResolveAll(DriverApi& api, Resolver resolve) {
  const auto get = [resolve](auto& field, const char* name, int version) {
    field = reinterpret_cast<std::remove_reference_t<decltype(field)>>(resolve(name, version));
  };
  get(api.init, "cuInit", 2000);
  get(api.device_get, "cuDeviceGet", 2000);
  get(api.primary_ctx_retain, "cuDevicePrimaryCtxRetain", 7000);
  get(api.ctx_create, "cuCtxCreate", 12050);
  get(api.ctx_set_current, "cuCtxSetCurrent", 4000);
  get(api.ctx_destroy, "cuCtxDestroy", 4000);
  get(api.ctx_set_limit, "cuCtxSetLimit", 3010);
  get(api.ctx_synchronize, "cuCtxSynchronize", 2000);
  get(api.mem_get_info, "cuMemGetInfo", 3020);
  get(api.device_total_mem, "cuDeviceTotalMem", 3020);
  get(api.mem_alloc, "cuMemAlloc", 3020);
  get(api.mem_free, "cuMemFree", 3020);
  get(api.mem_alloc_pitch, "cuMemAllocPitch", 3020);
  get(api.mem_alloc_managed, "cuMemAllocManaged", 6000);
  get(api.mem_alloc_async, "cuMemAllocAsync", 11020);
  get(api.mem_alloc_from_pool_async, "cuMemAllocFromPoolAsync", 11020);
  get(api.mem_free_async, "cuMemFreeAsync", 11020);
  get(api.device_get_default_mem_pool, "cuDeviceGetDefaultMemPool", 11020);
  get(api.mem_pool_set_attribute, "cuMemPoolSetAttribute", 11020);
  get(api.mem_pool_trim_to, "cuMemPoolTrimTo", 11020);
  get(api.mem_create, "cuMemCreate", 10020);
  get(api.mem_release, "cuMemRelease", 10020);
  get(api.mem_address_reserve, "cuMemAddressReserve", 10020);
  get(api.mem_address_free, "cuMemAddressFree", 10020);
  get(api.mem_map, "cuMemMap", 10020);
  get(api.mem_unmap, "cuMemUnmap", 10020);
  get(api.mem_export_to_shareable_handle, "cuMemExportToShareableHandle", 10020);
  get(api.mem_import_from_shareable_handle, "cuMemImportFromShareableHandle", 10020);
  get(api.array_create, "cuArrayCreate", 3020);
  get(api.array_destroy, "cuArrayDestroy", 2000);
  get(api.mipmapped_array_create, "cuMipmappedArrayCreate", 5000);
  get(api.mipmapped_array_destroy, "cuMipmappedArrayDestroy", 5000);
  get(api.graph_create, "cuGraphCreate", 10000);
  get(api.graph_add_mem_alloc_node, "cuGraphAddMemAllocNode", 11040);
  get(api.graph_destroy, "cuGraphDestroy", 10000);
  get(api.graph_instantiate, "cuGraphInstantiateWithFlags", 11040);
  get(api.graph_add_kernel_node, "cuGraphAddKernelNode", 12000);
  get(api.graph_launch, "cuGraphLaunch", 10000);
  get(api.module_load_data, "cuModuleLoadData", 2000);
  get(api.module_get_function, "cuModuleGetFunction", 2000);
  get(api.launch_kernel, "cuLaunchKernel", 4000);
  get(api.launch_kernel_ex, "cuLaunchKernelEx", 11060);
  get(api.launch_cooperative_kernel, "cuLaunchCooperativeKernel", 9000);
  get(api.mem_alloc_v1, "cuMemAlloc", 2000);
  get(api.mem_free_v1, "cuMemFree", 2000);
  get(api.graph_instantiate_with_params, "cuGraphInstantiateWithParams", 12000);
  get(api.graph_instantiate_v1, "cuGraphInstantiate", 10000);
  get(api.graph_instantiate_v2, "cuGraphInstantiate", 11000);
  get(api.graph_exec_destroy, "cuGraphExecDestroy", 10000);
  get(api.device_graph_mem_trim, "cuDeviceGraphMemTrim", 11040);
  get(api.library_load_data, "cuLibraryLoadData", 12000);
  get(api.library_get_kernel, "cuLibraryGetKernel", 12000);
  get(api.stream_create, "cuStreamCreate", 2000);
  get(api.stream_synchronize, "cuStreamSynchronize", 2000);
  get(api.stream_begin_capture, "cuStreamBeginCapture", 10010);
  get(api.stream_end_capture, "cuStreamEndCapture", 10000);
}

std::string DescribeFunction(const void* address) {
  Dl_info info{};
  if (address == nullptr) return "- -";
  if (dladdr(address, &info) == 0 || info.dli_fname == nullptr) return "? ?";
  std::string library = info.dli_fname;
  library = library.substr(library.rfind('/') + 1);
  return library + " " + (info.dli_sname != nullptr ? info.dli_sname : "?");
}

int RunClient(const DriverApi& api, ExtraCommands extra) {
  Client client(api);
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line == "exit") break;
    if (line.empty()) continue;
    std::vector<std::string> answers = extra != nullptr ? extra(line) : std::vector<std::string>();
    if (answers.empty()) answers.push_back(client.Run(line));
    for (const std::string& answer : answers) std::cout << answer << '\n';
    std::cout.flush();
  }
  return 0;
}

}  // namespace gpuslice::testing
