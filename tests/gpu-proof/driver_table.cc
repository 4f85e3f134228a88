#include "driver_table.h"

#include <dlfcn.h>

#include <cstring>

namespace gpuslice::proof {
namespace {

// Asks for the variant of `name` that CUDA `version` (1000*major + 10*minor) introduced, so the
// signature is the one declared in the table whatever newer variants the driver has.
template <typename Function>
bool Resolve(const Driver& driver, const char* name, int version, Function* out,
             std::string* missing) {
  void* function = nullptr;
  CUdriverProcAddressQueryResult found = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
  const CUresult result =
      driver.get_proc_address(name, &function, version, CU_GET_PROC_ADDRESS_DEFAULT, &found);
  if (result != CUDA_SUCCESS || found != CU_GET_PROC_ADDRESS_SUCCESS || function == nullptr) {
    if (missing->empty()) {
      *missing = std::string(name) + ": cuGetProcAddress_v2 returned " +
                 std::to_string(static_cast<int>(result)) + ", found " +
                 std::to_string(static_cast<int>(found));
    }
    return false;
  }
  *out = reinterpret_cast<Function>(function);
  return true;
}

}  // namespace

std::string LoadDriver(Driver* driver) {
  driver->library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
  if (driver->library == nullptr) return std::string("libcuda.so.1: ") + dlerror();
  driver->get_proc_address = reinterpret_cast<decltype(driver->get_proc_address)>(
      dlsym(driver->library, "cuGetProcAddress_v2"));
  auto* get_version =
      reinterpret_cast<CUresult (*)(int*)>(dlsym(driver->library, "cuDriverGetVersion"));
  if (driver->get_proc_address == nullptr || get_version == nullptr) {
    return "libcuda.so.1 has no cuGetProcAddress_v2 or cuDriverGetVersion (a driver older "
           "than CUDA 12)";
  }
  if (get_version(&driver->version) != CUDA_SUCCESS) return "cuDriverGetVersion failed";

  DriverTable& api = driver->api;
  std::string missing;
  bool ok = true;
  ok &= Resolve(*driver, "cuInit", 2000, &api.init, &missing);
  ok &= Resolve(*driver, "cuDriverGetVersion", 2020, &api.driver_get_version, &missing);
  ok &= Resolve(*driver, "cuGetErrorName", 6000, &api.get_error_name, &missing);
  ok &= Resolve(*driver, "cuDeviceGetCount", 2000, &api.device_get_count, &missing);
  ok &= Resolve(*driver, "cuDeviceGet", 2000, &api.device_get, &missing);
  ok &= Resolve(*driver, "cuDeviceGetName", 2000, &api.device_get_name, &missing);
  ok &= Resolve(*driver, "cuDeviceGetUuid", 11040, &api.device_get_uuid, &missing);
  ok &= Resolve(*driver, "cuDeviceGetAttribute", 2000, &api.device_get_attribute, &missing);
  ok &= Resolve(*driver, "cuDeviceTotalMem", 3020, &api.device_total_mem, &missing);
  ok &= Resolve(*driver, "cuDevicePrimaryCtxRetain", 7000, &api.primary_ctx_retain, &missing);
  ok &= Resolve(*driver, "cuCtxSetCurrent", 4000, &api.ctx_set_current, &missing);
  ok &= Resolve(*driver, "cuCtxSynchronize", 2000, &api.ctx_synchronize, &missing);
  ok &= Resolve(*driver, "cuMemGetInfo", 3020, &api.mem_get_info, &missing);
  ok &= Resolve(*driver, "cuMemAlloc", 3020, &api.mem_alloc, &missing);
  ok &= Resolve(*driver, "cuMemFree", 3020, &api.mem_free, &missing);
  ok &= Resolve(*driver, "cuMemAllocPitch", 3020, &api.mem_alloc_pitch, &missing);
  ok &= Resolve(*driver, "cuMemAllocManaged", 6000, &api.mem_alloc_managed, &missing);
  ok &= Resolve(*driver, "cuMemAllocAsync", 11020, &api.mem_alloc_async, &missing);
  ok &= Resolve(*driver, "cuMemFreeAsync", 11020, &api.mem_free_async, &missing);
  ok &= Resolve(*driver, "cuDeviceGetDefaultMemPool", 11020, &api.device_get_default_mem_pool,
                &missing);
  ok &= Resolve(*driver, "cuMemPoolCreate", 11020, &api.mem_pool_create, &missing);
  ok &= Resolve(*driver, "cuMemPoolDestroy", 11020, &api.mem_pool_destroy, &missing);
  ok &= Resolve(*driver, "cuMemPoolTrimTo", 11020, &api.mem_pool_trim_to, &missing);
  ok &=
      Resolve(*driver, "cuMemAllocFromPoolAsync", 11020, &api.mem_alloc_from_pool_async, &missing);
  ok &= Resolve(*driver, "cuMemGetAllocationGranularity", 10020,
                &api.mem_get_allocation_granularity, &missing);
  ok &= Resolve(*driver, "cuMemCreate", 10020, &api.mem_create, &missing);
  ok &= Resolve(*driver, "cuMemRelease", 10020, &api.mem_release, &missing);
  ok &= Resolve(*driver, "cuMemAddressReserve", 10020, &api.mem_address_reserve, &missing);
  ok &= Resolve(*driver, "cuMemAddressFree", 10020, &api.mem_address_free, &missing);
  ok &= Resolve(*driver, "cuMemMap", 10020, &api.mem_map, &missing);
  ok &= Resolve(*driver, "cuMemUnmap", 10020, &api.mem_unmap, &missing);
  ok &= Resolve(*driver, "cuMemSetAccess", 10020, &api.mem_set_access, &missing);
  ok &= Resolve(*driver, "cuArrayCreate", 3020, &api.array_create, &missing);
  ok &= Resolve(*driver, "cuArrayDestroy", 2000, &api.array_destroy, &missing);
  ok &= Resolve(*driver, "cuMipmappedArrayCreate", 5000, &api.mipmapped_array_create, &missing);
  ok &= Resolve(*driver, "cuMipmappedArrayDestroy", 5000, &api.mipmapped_array_destroy, &missing);
  ok &= Resolve(*driver, "cuGraphCreate", 10000, &api.graph_create, &missing);
  ok &= Resolve(*driver, "cuGraphAddMemAllocNode", 11040, &api.graph_add_mem_alloc_node, &missing);
  ok &= Resolve(*driver, "cuGraphDestroy", 10000, &api.graph_destroy, &missing);
  ok &= Resolve(*driver, "cuMemcpyHtoD", 3020, &api.memcpy_htod, &missing);
  ok &= Resolve(*driver, "cuMemcpyDtoH", 3020, &api.memcpy_dtoh, &missing);
  ok &= Resolve(*driver, "cuModuleLoadData", 2000, &api.module_load_data, &missing);
  ok &= Resolve(*driver, "cuModuleGetFunction", 2000, &api.module_get_function, &missing);
  ok &= Resolve(*driver, "cuLaunchKernel", 4000, &api.launch_kernel, &missing);
  ok &= Resolve(*driver, "cuEventCreate", 2000, &api.event_create, &missing);
  ok &= Resolve(*driver, "cuEventRecord", 2000, &api.event_record, &missing);
  ok &= Resolve(*driver, "cuEventSynchronize", 2000, &api.event_synchronize, &missing);
  ok &= Resolve(*driver, "cuEventElapsedTime", 2000, &api.event_elapsed_time, &missing);
  return ok ? "" : missing;
}

std::string ObjectOf(const void* function) {
  Dl_info info{};
  if (function == nullptr || dladdr(function, &info) == 0 || info.dli_fname == nullptr) {
    return "?";
  }
  const char* slash = std::strrchr(info.dli_fname, '/');
  return slash == nullptr ? info.dli_fname : slash + 1;
}

std::string ErrorText(const Driver& driver, CUresult result) {
  const char* name = nullptr;
  if (driver.api.get_error_name == nullptr ||
      driver.api.get_error_name(result, &name) != CUDA_SUCCESS || name == nullptr) {
    name = "CUDA error";
  }
  return std::string(name) + " (" + std::to_string(static_cast<int>(result)) + ")";
}

// Written by hand for PTX ISA 7.0 so that any CUDA 11+ driver JIT-compiles it for its GPU.
const char kProofPtx[] = R"(.version 7.0
.target sm_70
.address_size 64

.visible .entry gpuslice_proof_add(
    .param .u64 a, .param .u64 b, .param .u64 c, .param .u32 n)
{
    .reg .pred %p;
    .reg .b32 %r<6>;
    .reg .f32 %f<4>;
    .reg .b64 %rd<8>;
    ld.param.u64 %rd1, [a];
    ld.param.u64 %rd2, [b];
    ld.param.u64 %rd3, [c];
    ld.param.u32 %r1, [n];
    mov.u32 %r2, %ctaid.x;
    mov.u32 %r3, %ntid.x;
    mov.u32 %r4, %tid.x;
    mad.lo.u32 %r5, %r2, %r3, %r4;
    setp.ge.u32 %p, %r5, %r1;
    @%p bra DONE;
    cvta.to.global.u64 %rd1, %rd1;
    cvta.to.global.u64 %rd2, %rd2;
    cvta.to.global.u64 %rd3, %rd3;
    mul.wide.u32 %rd4, %r5, 4;
    add.u64 %rd5, %rd1, %rd4;
    add.u64 %rd6, %rd2, %rd4;
    add.u64 %rd7, %rd3, %rd4;
    ld.global.f32 %f1, [%rd5];
    ld.global.f32 %f2, [%rd6];
    add.rn.f32 %f3, %f1, %f2;
    st.global.f32 [%rd7], %f3;
DONE:
    ret;
}

.visible .entry gpuslice_proof_work(.param .u64 out, .param .u32 iterations)
{
    .reg .pred %p;
    .reg .b32 %r<8>;
    .reg .f32 %f<2>;
    .reg .b64 %rd<4>;
    ld.param.u64 %rd1, [out];
    ld.param.u32 %r1, [iterations];
    mov.u32 %r2, %ctaid.x;
    mov.u32 %r3, %ntid.x;
    mov.u32 %r4, %tid.x;
    mad.lo.u32 %r5, %r2, %r3, %r4;
    cvt.rn.f32.u32 %f1, %r5;
    mov.u32 %r6, 0;
    setp.eq.u32 %p, %r1, 0;
    @%p bra STORE;
LOOP:
    fma.rn.f32 %f1, %f1, 0f3F7FFFEF, 0f3F000000;
    add.u32 %r6, %r6, 1;
    setp.lt.u32 %p, %r6, %r1;
    @%p bra LOOP;
STORE:
    cvta.to.global.u64 %rd1, %rd1;
    mul.wide.u32 %rd2, %r5, 4;
    add.u64 %rd3, %rd1, %rd2;
    st.global.f32 [%rd3], %f1;
    ret;
}

.visible .entry gpuslice_proof_empty()
{
    ret;
}
)";

}  // namespace gpuslice::proof
