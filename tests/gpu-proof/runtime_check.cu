// The proof kit's CUDA runtime program, built with the node's nvcc by scripts/gpu-proof.sh and
// run with libgpuslice.so preloaded: the runtime reaches the driver through
// cuGetProcAddress_v2, as every framework built on it does. Reports one line per check:
//   RESULT <tab> check <tab> pass|fail <tab> figure <tab> detail
// usage: runtime_check --slice BYTES
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr uint64_t kMiB = 1ULL << 20;

__global__ void Add(const float* a, const float* b, float* c, unsigned n) {
  const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) c[i] = a[i] + b[i];
}

void Report(const std::string& check, bool pass, const std::string& figure,
            const std::string& detail) {
  std::printf("RESULT\t%s\t%s\t%s\t%s\n", check.c_str(), pass ? "pass" : "fail", figure.c_str(),
              detail.c_str());
  std::fflush(stdout);
}

std::string Mib(uint64_t bytes) { return std::to_string(bytes / kMiB) + " MiB"; }

std::string Error(cudaError_t error) {
  return std::string(cudaGetErrorName(error)) + " (" + std::to_string(static_cast<int>(error)) +
         ")";
}

size_t Free() {
  size_t free = 0, total = 0;
  cudaMemGetInfo(&free, &total);
  return free;
}

// One runtime allocation path; `handle` is what its release takes back.
struct Path {
  const char* name;
  uint64_t max_chunk;
  cudaError_t (*allocate)(uint64_t bytes, void** handle);
  cudaError_t (*release)(void* handle);
};

cudaError_t Malloc(uint64_t bytes, void** handle) { return cudaMalloc(handle, bytes); }
cudaError_t Free(void* handle) { return cudaFree(handle); }
cudaError_t Pitch(uint64_t bytes, void** handle) {
  size_t pitch = 0;
  return cudaMallocPitch(handle, &pitch, 65536, bytes / 65536);
}
cudaError_t Managed(uint64_t bytes, void** handle) {
  return cudaMallocManaged(handle, bytes, cudaMemAttachGlobal);
}
cudaError_t Async(uint64_t bytes, void** handle) { return cudaMallocAsync(handle, bytes, 0); }
cudaError_t FreeAsync(void* handle) {
  const cudaError_t error = cudaFreeAsync(handle, 0);
  return error == cudaSuccess ? cudaStreamSynchronize(0) : error;
}
cudaError_t Array3d(uint64_t bytes, void** handle) {
  const cudaChannelFormatDesc format = cudaCreateChannelDesc<float>();
  cudaArray_t array = nullptr;
  const cudaError_t error =
      cudaMalloc3DArray(&array, &format, make_cudaExtent(4096, bytes / (4096 * 4), 0));
  *handle = array;
  return error;
}
cudaError_t FreeArray(void* handle) { return cudaFreeArray(static_cast<cudaArray_t>(handle)); }

// Fills the slice in chunks until refused; passes when the refusal is cudaErrorMemoryAllocation
// once the next chunk would not fit (within 2% of the slice) and the frees give it all back.
void CheckPath(const Path& path, uint64_t slice) {
  const std::string check = std::string("runtime.alloc.") + path.name;
  const uint64_t free_before = Free();
  const uint64_t chunk =
      std::min<uint64_t>(free_before / 8, path.max_chunk) / (2 * kMiB) * (2 * kMiB);
  std::vector<void*> handles;
  cudaError_t refusal = cudaSuccess;
  while (chunk > 0 && handles.size() < 1024) {
    void* handle = nullptr;
    refusal = path.allocate(chunk, &handle);
    if (refusal != cudaSuccess) break;
    handles.push_back(handle);
  }
  cudaGetLastError();  // an allocation error is not sticky, but it is remembered
  const uint64_t granted = handles.size() * chunk;
  cudaError_t release_error = cudaSuccess;
  for (void* handle : handles) {
    const cudaError_t released = path.release(handle);
    if (released != cudaSuccess && release_error == cudaSuccess) release_error = released;
  }
  cudaDeviceSynchronize();
  cudaMemPool_t pool = nullptr;
  if (cudaDeviceGetDefaultMemPool(&pool, 0) == cudaSuccess) cudaMemPoolTrimTo(pool, 0);
  const uint64_t free_after = Free();
  std::string problem;
  if (refusal == cudaSuccess) {
    problem = "never refused after " + std::to_string(handles.size()) + " allocations";
  } else if (refusal != cudaErrorMemoryAllocation) {
    problem = "refused with " + Error(refusal) + ", not cudaErrorMemoryAllocation";
  } else if (granted > free_before || granted > slice) {
    problem = "granted more than " + std::string(granted > slice ? "the slice" : "was free");
  } else if (granted + chunk + slice / 50 <= free_before) {
    problem = "refused early: " + Mib(free_before - granted) + " were still free";
  } else if (release_error != cudaSuccess) {
    problem = "freeing failed: " + Error(release_error);
  } else if (free_after + 2 * kMiB < free_before) {
    problem = "frees did not come back: " + Mib(free_after) + " free after, " + Mib(free_before) +
              " before";
  }
  Report(
      check, problem.empty(),
      "granted " + Mib(granted) + " of " + Mib(free_before) + " free in " + Mib(chunk) + " chunks",
      problem.empty() ? "refused with " + Error(refusal) : problem);
}

// c = a + b, launched directly and through a captured graph, bit for bit against the host.
void CheckKernels() {
  constexpr unsigned kCount = 1u << 20;
  std::vector<float> a(kCount), b(kCount), c(kCount), expected(kCount);
  for (unsigned i = 0; i < kCount; ++i) {
    a[i] = static_cast<float>(i) * 0.25f;
    b[i] = 3.0f / static_cast<float>(i + 1);
    expected[i] = a[i] + b[i];
  }
  const size_t bytes = kCount * sizeof(float);
  float *da = nullptr, *db = nullptr, *dc = nullptr;
  cudaError_t error = cudaMalloc(&da, bytes);
  if (error == cudaSuccess) error = cudaMalloc(&db, bytes);
  if (error == cudaSuccess) error = cudaMalloc(&dc, bytes);
  if (error == cudaSuccess) error = cudaMemcpy(da, a.data(), bytes, cudaMemcpyHostToDevice);
  if (error == cudaSuccess) error = cudaMemcpy(db, b.data(), bytes, cudaMemcpyHostToDevice);
  unsigned count = kCount;
  void* args[] = {&da, &db, &dc, &count};
  const dim3 grid(kCount / 256), block(256);
  auto exact = [&]() {
    unsigned right = 0;
    for (unsigned i = 0; i < kCount; ++i) right += std::memcmp(&c[i], &expected[i], 4) == 0;
    return right;
  };

  if (error == cudaSuccess) {
    error = cudaLaunchKernel(reinterpret_cast<const void*>(&Add), grid, block, args, 0, nullptr);
  }
  if (error == cudaSuccess) error = cudaMemcpy(c.data(), dc, bytes, cudaMemcpyDeviceToHost);
  const unsigned direct = error == cudaSuccess ? exact() : 0;
  Report("runtime.kernel", error == cudaSuccess && direct == kCount,
         std::to_string(direct) + "/" + std::to_string(kCount) + " sums exact",
         error == cudaSuccess ? "a kernel built by nvcc, launched by the runtime"
                              : "failed: " + Error(error));

  cudaStream_t stream = nullptr;
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  std::fill(c.begin(), c.end(), 0.0f);
  if (error == cudaSuccess) error = cudaMemset(dc, 0, bytes);
  if (error == cudaSuccess) error = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
  if (error == cudaSuccess) error = cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal);
  if (error == cudaSuccess) {
    error = cudaLaunchKernel(reinterpret_cast<const void*>(&Add), grid, block, args, 0, stream);
    const cudaError_t ended = cudaStreamEndCapture(stream, &graph);
    if (error == cudaSuccess) error = ended;
  }
  if (error == cudaSuccess) error = cudaGraphInstantiate(&exec, graph, 0);
  if (error == cudaSuccess) error = cudaGraphLaunch(exec, stream);
  if (error == cudaSuccess) error = cudaStreamSynchronize(stream);
  if (error == cudaSuccess) error = cudaMemcpy(c.data(), dc, bytes, cudaMemcpyDeviceToHost);
  const unsigned replayed = error == cudaSuccess ? exact() : 0;
  Report("runtime.graph", error == cudaSuccess && replayed == kCount,
         std::to_string(replayed) + "/" + std::to_string(kCount) + " sums exact",
         error == cudaSuccess ? "the same kernel captured into a graph and launched"
                              : "failed: " + Error(error));
  if (exec != nullptr) cudaGraphExecDestroy(exec);
  if (graph != nullptr) cudaGraphDestroy(graph);
  if (stream != nullptr) cudaStreamDestroy(stream);
  for (float* pointer : {da, db, dc}) cudaFree(pointer);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || std::strcmp(argv[1], "--slice") != 0) {
    std::fprintf(stderr, "usage: runtime_check --slice BYTES\n");
    return 2;
  }
  char* end = nullptr;
  const uint64_t slice = std::strtoull(argv[2], &end, 10);
  if (*end != '\0' || slice == 0) {
    std::fprintf(stderr, "runtime_check: --slice '%s' is not a positive number\n", argv[2]);
    return 2;
  }
  if (cudaError_t error = cudaFree(nullptr); error != cudaSuccess) {  // starts the runtime
    std::fprintf(stderr, "runtime_check: the CUDA runtime cannot start: %s\n",
                 Error(error).c_str());
    return 3;
  }
  size_t free = 0, total = 0;
  const cudaError_t info = cudaMemGetInfo(&free, &total);
  Report("runtime.mem_info", info == cudaSuccess && total == slice && free <= total,
         "total " + Mib(total) + ", free " + Mib(free),
         "cudaMemGetInfo total must be the slice, " + Mib(slice));
  const Path paths[] = {
      {"malloc", ~0ULL, Malloc, Free},
      {"pitch", ~0ULL, Pitch, Free},
      {"managed", ~0ULL, Managed, Free},
      {"async", ~0ULL, Async, FreeAsync},
      {"array3d", 512 * kMiB, Array3d, FreeArray},  // at most 65536 rows
  };
  for (const Path& path : paths) CheckPath(path, slice);
  CheckKernels();
  return 0;
}
