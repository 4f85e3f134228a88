// The simulated CUDA driver as a driver-API client sees it: devices, contexts, and every
// allocation path counted on the simulated GPU (where every process sees it), with
// host-backed memory so copies round-trip, and out-of-memory at the GPU's capacity.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <thread>
#include <vector>

#include "core/abi/gpu_uuid.h"
#include "sim/cuda_test_support.h"

namespace gpuslice::sim::testing {
namespace {

TEST_F(CudaTest, DevicesAreTheNodesGpus) {
  int count = 0;
  GPUSLICE_ASSERT_CU(cuDeviceGetCount(&count));
  ASSERT_EQ(count, 2);
  for (CUdevice device = 0; device < 2; ++device) {
    const GpuSpec& gpu = NodeState().gpu(device);
    char name[128];
    GPUSLICE_ASSERT_CU(cuDeviceGetName(name, sizeof(name), device));
    EXPECT_EQ(name, gpu.name);
    size_t total = 0;
    GPUSLICE_ASSERT_CU(cuDeviceTotalMem_v2(&total, device));
    EXPECT_EQ(total, gpu.memory_bytes);
    CUuuid uuid;
    GPUSLICE_ASSERT_CU(cuDeviceGetUuid_v2(&uuid, device));
    EXPECT_EQ(core::FormatGpuUuid(uuid.bytes), gpu.uuid);  // the UUID NVML reports
    int major = 0, minor = 0, sms = 0;
    GPUSLICE_ASSERT_CU(
        cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device));
    GPUSLICE_ASSERT_CU(
        cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device));
    GPUSLICE_ASSERT_CU(
        cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, device));
    EXPECT_EQ(major, gpu.cc_major);
    EXPECT_EQ(minor, gpu.cc_minor);
    EXPECT_EQ(sms, gpu.sm_count);
    char bus_id[32];
    GPUSLICE_ASSERT_CU(cuDeviceGetPCIBusId(bus_id, sizeof(bus_id), device));
    EXPECT_EQ(bus_id, gpu.pci_bus_id.substr(4));
    CUdevice found = -1;
    GPUSLICE_ASSERT_CU(cuDeviceGetByPCIBusId(&found, bus_id));
    EXPECT_EQ(found, device);
  }
  int value = 0;
  EXPECT_EQ(cuDeviceGetAttribute(&value, CU_DEVICE_ATTRIBUTE_MAX, 0), CUDA_ERROR_INVALID_VALUE);
  CUdevice device;
  EXPECT_EQ(cuDeviceGet(&device, 2), CUDA_ERROR_INVALID_DEVICE);
  int version = 0;
  GPUSLICE_ASSERT_CU(cuDriverGetVersion(&version));
  EXPECT_EQ(version, 13000);
}

TEST_F(CudaTest, ContextsCountTheirMemoryAndStackPerThread) {
  EXPECT_EQ(MyMemory(0), kContextMemory);  // the primary context of SetUp
  CUcontext created = nullptr;
  GPUSLICE_ASSERT_CU(cuCtxCreate_v4(&created, nullptr, 0, 1));
  CUcontext current = nullptr;
  GPUSLICE_ASSERT_CU(cuCtxGetCurrent(&current));
  EXPECT_EQ(current, created);
  CUdevice device = -1;
  GPUSLICE_ASSERT_CU(cuCtxGetDevice(&device));
  EXPECT_EQ(device, 1);
  CUcontext popped = nullptr;
  GPUSLICE_ASSERT_CU(cuCtxPopCurrent_v2(&popped));
  EXPECT_EQ(popped, created);
  GPUSLICE_ASSERT_CU(cuCtxGetCurrent(&current));
  EXPECT_EQ(current, ctx_);
  GPUSLICE_ASSERT_CU(cuCtxPushCurrent_v2(created));
  GPUSLICE_ASSERT_CU(cuCtxDestroy_v2(created));
  GPUSLICE_ASSERT_CU(cuCtxGetCurrent(&current));
  EXPECT_EQ(current, ctx_);
  EXPECT_EQ(cuCtxPushCurrent_v2(created), CUDA_ERROR_INVALID_CONTEXT);
  unsigned int flags = 0;
  int active = 0;
  GPUSLICE_ASSERT_CU(cuDevicePrimaryCtxGetState(0, &flags, &active));
  EXPECT_EQ(active, 1);
  GPUSLICE_ASSERT_CU(cuDevicePrimaryCtxGetState(1, &flags, &active));
  EXPECT_EQ(active, 0);
  // Another thread starts with no current context.
  std::thread([] {
    CUcontext none = reinterpret_cast<CUcontext>(1);
    EXPECT_EQ(cuCtxGetCurrent(&none), CUDA_SUCCESS);
    EXPECT_EQ(none, nullptr);
    CUdeviceptr pointer = 0;
    EXPECT_EQ(cuMemAlloc_v2(&pointer, 16), CUDA_ERROR_INVALID_CONTEXT);
  }).join();
}

TEST_F(CudaTest, EveryAllocationPathCountsOnTheGpuUntilFreed) {
  const uint64_t base = MyMemory(0);
  CUdeviceptr plain = 0, pitched = 0, managed = 0;
  size_t pitch = 0;
  GPUSLICE_ASSERT_CU(cuMemAlloc_v2(&plain, 1000));
  GPUSLICE_ASSERT_CU(cuMemAllocPitch_v2(&pitched, &pitch, 1000, 10, 4));
  EXPECT_EQ(pitch % 512, 0u);
  EXPECT_GE(pitch, 1000u);
  GPUSLICE_ASSERT_CU(cuMemAllocManaged(&managed, 3000, CU_MEM_ATTACH_GLOBAL));
  CUarray array = nullptr;
  CUDA_ARRAY3D_DESCRIPTOR descriptor{};
  descriptor.Width = 64;
  descriptor.Height = 32;
  descriptor.Depth = 2;
  descriptor.Format = CU_AD_FORMAT_FLOAT;
  descriptor.NumChannels = 4;
  GPUSLICE_ASSERT_CU(cuArray3DCreate_v2(&array, &descriptor));
  CUmipmappedArray mipmap = nullptr;
  descriptor.Depth = 0;
  GPUSLICE_ASSERT_CU(cuMipmappedArrayCreate(&mipmap, &descriptor, 3));
  const uint64_t array_bytes = 64 * 32 * 2 * 16;
  const uint64_t mipmap_bytes = (64 * 32 + 32 * 16 + 16 * 8) * 16;
  EXPECT_EQ(MyMemory(0), base + 1000 + pitch * 10 + 3000 + array_bytes + mipmap_bytes);
  void* host = nullptr;
  GPUSLICE_ASSERT_CU(cuMemAllocHost_v2(&host, 1 << 20));  // pinned host memory: not the GPU's
  EXPECT_EQ(MyMemory(0), base + 1000 + pitch * 10 + 3000 + array_bytes + mipmap_bytes);
  GPUSLICE_ASSERT_CU(cuMemFree_v2(plain));
  GPUSLICE_ASSERT_CU(cuMemFree_v2(pitched));
  GPUSLICE_ASSERT_CU(cuMemFree_v2(managed));
  GPUSLICE_ASSERT_CU(cuArrayDestroy(array));
  GPUSLICE_ASSERT_CU(cuMipmappedArrayDestroy(mipmap));
  GPUSLICE_ASSERT_CU(cuMemFreeHost(host));
  EXPECT_EQ(MyMemory(0), base);
  EXPECT_EQ(cuMemFree_v2(plain), CUDA_ERROR_INVALID_VALUE);  // freed twice
  EXPECT_EQ(cuMemAlloc_v2(&plain, 0), CUDA_ERROR_INVALID_VALUE);
}

TEST_F(CudaTest, OutOfMemoryIsAtTheGpusCapacity) {
  size_t free = 0, total = 0;
  GPUSLICE_ASSERT_CU(cuMemGetInfo_v2(&free, &total));
  EXPECT_EQ(total, kH100Memory);
  EXPECT_EQ(free, kH100Memory - NodeState().MemoryUsed(0));
  CUdeviceptr all = 0, more = 0;
  GPUSLICE_ASSERT_CU(cuMemAlloc_v2(&all, free - 1));
  EXPECT_EQ(cuMemAlloc_v2(&more, 2), CUDA_ERROR_OUT_OF_MEMORY);
  GPUSLICE_ASSERT_CU(cuMemAlloc_v2(&more, 1));
  GPUSLICE_ASSERT_CU(cuMemGetInfo_v2(&free, &total));
  EXPECT_EQ(free, 0u);
  GPUSLICE_ASSERT_CU(cuMemFree_v2(more));
  GPUSLICE_ASSERT_CU(cuMemFree_v2(all));
}

TEST_F(CudaTest, CopiesRoundTripThroughDeviceMemory) {
  std::vector<uint32_t> input(4096);
  std::iota(input.begin(), input.end(), 7u);
  std::vector<uint32_t> output(input.size());
  const size_t bytes = input.size() * sizeof(uint32_t);
  CUdeviceptr a = 0, b = 0;
  GPUSLICE_ASSERT_CU(cuMemAlloc_v2(&a, bytes));
  GPUSLICE_ASSERT_CU(cuMemAlloc_v2(&b, bytes));
  GPUSLICE_ASSERT_CU(cuMemcpyHtoD_v2(a, input.data(), bytes));
  GPUSLICE_ASSERT_CU(cuMemcpyDtoD_v2(b, a, bytes));
  GPUSLICE_ASSERT_CU(cuMemcpyDtoH_v2(output.data(), b, bytes));
  EXPECT_EQ(output, input);
  GPUSLICE_ASSERT_CU(cuMemsetD32_v2(a, 0xdeadbeef, input.size()));
  GPUSLICE_ASSERT_CU(cuMemcpyDtoHAsync_v2(output.data(), a, bytes, nullptr));
  GPUSLICE_ASSERT_CU(cuStreamSynchronize(nullptr));
  EXPECT_EQ(output[4095], 0xdeadbeefu);
  GPUSLICE_ASSERT_CU(cuMemsetD8_v2(b, 0xab, 3));
  GPUSLICE_ASSERT_CU(cuMemcpy(reinterpret_cast<CUdeviceptr>(output.data()), b, 4));
  EXPECT_EQ(output[0], 0x00ababab);  // three bytes set, the fourth still input[0]'s
  // Past the end of an allocation is refused, not silently done.
  EXPECT_EQ(cuMemcpyHtoD_v2(a + 8, input.data(), bytes), CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(cuMemsetD16_v2(a + 1, 0, 4), CUDA_ERROR_INVALID_VALUE);  // misaligned
  GPUSLICE_ASSERT_CU(cuMemFree_v2(a));
  GPUSLICE_ASSERT_CU(cuMemFree_v2(b));
}

TEST_F(CudaTest, PitchedAndArrayCopiesKeepTheirLayout) {
  constexpr size_t kWidth = 100, kHeight = 8;
  std::vector<unsigned char> input(kWidth * kHeight), output(kWidth * kHeight);
  for (size_t i = 0; i < input.size(); ++i) input[i] = static_cast<unsigned char>(i * 7);
  CUdeviceptr pitched = 0;
  size_t pitch = 0;
  GPUSLICE_ASSERT_CU(cuMemAllocPitch_v2(&pitched, &pitch, kWidth, kHeight, 4));
  CUDA_MEMCPY2D to_device{};
  to_device.srcMemoryType = CU_MEMORYTYPE_HOST;
  to_device.srcHost = input.data();
  to_device.srcPitch = kWidth;
  to_device.dstMemoryType = CU_MEMORYTYPE_DEVICE;
  to_device.dstDevice = pitched;
  to_device.dstPitch = pitch;
  to_device.WidthInBytes = kWidth;
  to_device.Height = kHeight;
  GPUSLICE_ASSERT_CU(cuMemcpy2D_v2(&to_device));
  // Device pitch -> array -> host, through a 3D copy.
  CUarray array = nullptr;
  CUDA_ARRAY_DESCRIPTOR descriptor{kWidth, kHeight, CU_AD_FORMAT_UNSIGNED_INT8, 1};
  GPUSLICE_ASSERT_CU(cuArrayCreate_v2(&array, &descriptor));
  CUDA_MEMCPY3D to_array{};
  to_array.srcMemoryType = CU_MEMORYTYPE_DEVICE;
  to_array.srcDevice = pitched;
  to_array.srcPitch = pitch;
  to_array.dstMemoryType = CU_MEMORYTYPE_ARRAY;
  to_array.dstArray = array;
  to_array.WidthInBytes = kWidth;
  to_array.Height = kHeight;
  to_array.Depth = 1;
  GPUSLICE_ASSERT_CU(cuMemcpy3D_v2(&to_array));
  CUDA_MEMCPY2D to_host{};
  to_host.srcMemoryType = CU_MEMORYTYPE_ARRAY;
  to_host.srcArray = array;
  to_host.dstMemoryType = CU_MEMORYTYPE_HOST;
  to_host.dstHost = output.data();
  to_host.dstPitch = kWidth;
  to_host.WidthInBytes = kWidth;
  to_host.Height = kHeight;
  GPUSLICE_ASSERT_CU(cuMemcpy2D_v2(&to_host));
  EXPECT_EQ(output, input);
  // A linear copy reads within one row of a 2D array.
  std::vector<unsigned char> row(kWidth / 2);
  GPUSLICE_ASSERT_CU(cuMemcpyAtoH_v2(row.data(), array, kWidth / 2, row.size()));
  EXPECT_TRUE(std::equal(row.begin(), row.end(), input.begin() + kWidth / 2));
  CUDA_ARRAY_DESCRIPTOR read_back{};
  GPUSLICE_ASSERT_CU(cuArrayGetDescriptor_v2(&read_back, array));
  EXPECT_EQ(read_back.Width, kWidth);
  EXPECT_EQ(read_back.Format, CU_AD_FORMAT_UNSIGNED_INT8);
  EXPECT_EQ(cuMemcpyAtoH_v2(output.data(), array, 1, output.size()), CUDA_ERROR_INVALID_VALUE);
  GPUSLICE_ASSERT_CU(cuArrayDestroy(array));
  GPUSLICE_ASSERT_CU(cuMemFree_v2(pitched));
}

TEST_F(CudaTest, PoolsKeepFreedMemoryUntilSynchronizationTrimsThem) {
  const uint64_t base = MyMemory(0);
  CUstream stream = nullptr;
  GPUSLICE_ASSERT_CU(cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING));
  CUdeviceptr first = 0, second = 0;
  GPUSLICE_ASSERT_CU(cuMemAllocAsync(&first, 1 << 20, stream));
  EXPECT_EQ(MyMemory(0), base + (1 << 20));
  GPUSLICE_ASSERT_CU(cuMemFreeAsync(first, stream));
  EXPECT_EQ(MyMemory(0), base + (1 << 20));  // kept by the pool
  GPUSLICE_ASSERT_CU(cuMemAllocAsync(&second, 1 << 20, stream));
  EXPECT_EQ(second, first);  // reused
  EXPECT_EQ(cuMemFreeAsync(second + 4, stream), CUDA_ERROR_INVALID_VALUE);
  GPUSLICE_ASSERT_CU(cuMemFreeAsync(second, stream));
  GPUSLICE_ASSERT_CU(cuStreamSynchronize(stream));  // release threshold 0: all goes back
  EXPECT_EQ(MyMemory(0), base);

  CUmemPoolProps props{};
  props.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
  props.location = {CU_MEM_LOCATION_TYPE_DEVICE, 0};
  CUmemoryPool pool = nullptr;
  GPUSLICE_ASSERT_CU(cuMemPoolCreate(&pool, &props));
  cuuint64_t threshold = 8 << 20;
  GPUSLICE_ASSERT_CU(cuMemPoolSetAttribute(pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &threshold));
  CUdeviceptr pooled = 0;
  GPUSLICE_ASSERT_CU(cuMemAllocFromPoolAsync(&pooled, 2 << 20, pool, stream));
  GPUSLICE_ASSERT_CU(cuMemFreeAsync(pooled, stream));
  GPUSLICE_ASSERT_CU(cuStreamSynchronize(stream));
  cuuint64_t reserved = 0, used = 1;
  GPUSLICE_ASSERT_CU(cuMemPoolGetAttribute(pool, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT, &reserved));
  GPUSLICE_ASSERT_CU(cuMemPoolGetAttribute(pool, CU_MEMPOOL_ATTR_USED_MEM_CURRENT, &used));
  EXPECT_EQ(reserved, 2u << 20);  // under its threshold, so kept
  EXPECT_EQ(used, 0u);
  EXPECT_EQ(MyMemory(0), base + (2 << 20));
  GPUSLICE_ASSERT_CU(cuMemPoolTrimTo(pool, 0));
  EXPECT_EQ(MyMemory(0), base);
  GPUSLICE_ASSERT_CU(cuMemPoolDestroy(pool));
  CUmemoryPool default_pool = nullptr;
  GPUSLICE_ASSERT_CU(cuDeviceGetDefaultMemPool(&default_pool, 0));
  EXPECT_EQ(cuMemPoolDestroy(default_pool), CUDA_ERROR_INVALID_VALUE);
  GPUSLICE_ASSERT_CU(cuStreamDestroy_v2(stream));
}

TEST_F(CudaTest, VirtualMemoryMapsPhysicalAllocationsIntoReservations) {
  const uint64_t base = MyMemory(0);
  CUmemAllocationProp prop{};
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.location = {CU_MEM_LOCATION_TYPE_DEVICE, 0};
  prop.requestedHandleTypes = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
  size_t granularity = 0;
  GPUSLICE_ASSERT_CU(
      cuMemGetAllocationGranularity(&granularity, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM));
  ASSERT_EQ(granularity, 2u << 20);
  CUmemGenericAllocationHandle handle = 0;
  EXPECT_EQ(cuMemCreate(&handle, granularity + 1, &prop, 0), CUDA_ERROR_INVALID_VALUE);
  GPUSLICE_ASSERT_CU(cuMemCreate(&handle, 2 * granularity, &prop, 0));
  EXPECT_EQ(MyMemory(0), base + 2 * granularity);
  CUdeviceptr range = 0;
  GPUSLICE_ASSERT_CU(cuMemAddressReserve(&range, 4 * granularity, 0, 0, 0));
  // The same physical memory mapped twice: both views see the same bytes.
  GPUSLICE_ASSERT_CU(cuMemMap(range, 2 * granularity, 0, handle, 0));
  GPUSLICE_ASSERT_CU(cuMemMap(range + 2 * granularity, 2 * granularity, 0, handle, 0));
  const char message[] = "shared bytes";
  EXPECT_EQ(cuMemcpyHtoD_v2(range, message, sizeof(message)), CUDA_ERROR_INVALID_VALUE);
  CUmemAccessDesc access{{CU_MEM_LOCATION_TYPE_DEVICE, 0}, CU_MEM_ACCESS_FLAGS_PROT_READWRITE};
  GPUSLICE_ASSERT_CU(cuMemSetAccess(range, 4 * granularity, &access, 1));
  GPUSLICE_ASSERT_CU(cuMemcpyHtoD_v2(range + 10, message, sizeof(message)));
  char read[sizeof(message)] = {};
  GPUSLICE_ASSERT_CU(cuMemcpyDtoH_v2(read, range + 2 * granularity + 10, sizeof(message)));
  EXPECT_STREQ(read, message);
  unsigned long long flags = 0;
  GPUSLICE_ASSERT_CU(cuMemGetAccess(&flags, &access.location, range));
  EXPECT_EQ(flags, CU_MEM_ACCESS_FLAGS_PROT_READWRITE);
  CUmemGenericAllocationHandle retained = 0;
  GPUSLICE_ASSERT_CU(cuMemRetainAllocationHandle(&retained, reinterpret_cast<void*>(range)));
  EXPECT_EQ(retained, handle);
  GPUSLICE_ASSERT_CU(cuMemRelease(retained));
  // Exported as a file descriptor and imported back: the same memory, counted once.
  int fd = -1;
  GPUSLICE_ASSERT_CU(
      cuMemExportToShareableHandle(&fd, handle, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0));
  CUmemGenericAllocationHandle imported = 0;
  GPUSLICE_ASSERT_CU(cuMemImportFromShareableHandle(
      &imported, reinterpret_cast<void*>(intptr_t{fd}), CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR));
  close(fd);
  EXPECT_EQ(MyMemory(0), base + 2 * granularity);
  GPUSLICE_ASSERT_CU(cuMemRelease(imported));
  // Released while mapped, the memory lives until the last mapping goes.
  GPUSLICE_ASSERT_CU(cuMemRelease(handle));
  EXPECT_EQ(MyMemory(0), base + 2 * granularity);
  GPUSLICE_ASSERT_CU(cuMemUnmap(range, 2 * granularity));
  EXPECT_EQ(MyMemory(0), base + 2 * granularity);
  GPUSLICE_ASSERT_CU(cuMemUnmap(range + 2 * granularity, 2 * granularity));
  EXPECT_EQ(MyMemory(0), base);
  GPUSLICE_ASSERT_CU(cuMemAddressFree(range, 4 * granularity));
}

TEST_F(CudaTest, PointerAttributesDescribeEachKindOfMemory) {
  CUdeviceptr device = 0, managed = 0;
  GPUSLICE_ASSERT_CU(cuMemAlloc_v2(&device, 4096));
  GPUSLICE_ASSERT_CU(cuMemAllocManaged(&managed, 4096, CU_MEM_ATTACH_GLOBAL));
  unsigned int type = 0, is_managed = 1;
  GPUSLICE_ASSERT_CU(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, device + 100));
  EXPECT_EQ(type, CU_MEMORYTYPE_DEVICE);
  GPUSLICE_ASSERT_CU(cuPointerGetAttribute(&is_managed, CU_POINTER_ATTRIBUTE_IS_MANAGED, device));
  EXPECT_EQ(is_managed, 0u);
  GPUSLICE_ASSERT_CU(cuPointerGetAttribute(&is_managed, CU_POINTER_ATTRIBUTE_IS_MANAGED, managed));
  EXPECT_EQ(is_managed, 1u);
  CUdeviceptr start = 0;
  size_t size = 0;
  GPUSLICE_ASSERT_CU(cuMemGetAddressRange_v2(&start, &size, device + 100));
  EXPECT_EQ(start, device);
  EXPECT_EQ(size, 4096u);
  CUcontext owner = nullptr;
  GPUSLICE_ASSERT_CU(cuPointerGetAttribute(&owner, CU_POINTER_ATTRIBUTE_CONTEXT, device));
  EXPECT_EQ(owner, ctx_);
  int stack_value = 0;
  const CUdeviceptr host = reinterpret_cast<CUdeviceptr>(&stack_value);
  EXPECT_EQ(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, host),
            CUDA_ERROR_INVALID_VALUE);
  CUpointer_attribute attributes[] = {CU_POINTER_ATTRIBUTE_MEMORY_TYPE,
                                      CU_POINTER_ATTRIBUTE_CONTEXT};
  type = 7;
  void* data[] = {&type, &owner};
  GPUSLICE_ASSERT_CU(cuPointerGetAttributes(2, attributes, data, host));
  EXPECT_EQ(type, 0u);
  EXPECT_EQ(owner, nullptr);
  GPUSLICE_ASSERT_CU(cuMemFree_v2(device));
  GPUSLICE_ASSERT_CU(cuMemFree_v2(managed));
}

TEST_F(CudaTest, ResettingThePrimaryContextFreesWhatItOwned) {
  const uint64_t base = MyMemory(0);
  CUdeviceptr leaked = 0;
  GPUSLICE_ASSERT_CU(cuMemAlloc_v2(&leaked, 5 << 20));
  EXPECT_EQ(MyMemory(0), base + (5 << 20));
  GPUSLICE_ASSERT_CU(cuDevicePrimaryCtxReset_v2(0));
  EXPECT_EQ(MyMemory(0), base);  // a fresh context (still retained) holds only itself
  EXPECT_EQ(cuMemFree_v2(leaked), CUDA_ERROR_INVALID_VALUE);
}

TEST_F(CudaTest, TheLegacy32BitEntryPointsAllocateBelow4GiB) {
  const uint64_t base = MyMemory(0);
  CUdeviceptr_v1 legacy = 0;
  GPUSLICE_ASSERT_CU(cuMemAlloc(&legacy, 1 << 20));
  EXPECT_NE(legacy, 0u);
  EXPECT_EQ(MyMemory(0), base + (1 << 20));
  const char text[] = "old binaries";
  char back[sizeof(text)] = {};
  GPUSLICE_ASSERT_CU(cuMemcpyHtoD_v2(legacy, text, sizeof(text)));
  GPUSLICE_ASSERT_CU(cuMemcpyDtoH_v2(back, legacy, sizeof(text)));
  EXPECT_STREQ(back, text);
  unsigned int free = 0, total = 0;
  GPUSLICE_ASSERT_CU(cuMemGetInfo(&free, &total));
  EXPECT_EQ(total, kH100Memory);
  GPUSLICE_ASSERT_CU(cuMemFree(legacy));
  EXPECT_EQ(MyMemory(0), base);
  CUarray array = nullptr;
  const CUDA_ARRAY_DESCRIPTOR_v1 descriptor{16, 16, CU_AD_FORMAT_FLOAT, 1};
  GPUSLICE_ASSERT_CU(cuArrayCreate(&array, &descriptor));
  EXPECT_EQ(MyMemory(0), base + 16 * 16 * 4);
  GPUSLICE_ASSERT_CU(cuArrayDestroy(array));
}

TEST_F(CudaTest, ALostGpuRefusesNewWork) {
  ASSERT_TRUE(NodeState().SetLost(0, true).ok());
  CUdeviceptr pointer = 0;
  EXPECT_EQ(cuMemAlloc_v2(&pointer, 64), CUDA_ERROR_DEVICE_UNAVAILABLE);
  ASSERT_TRUE(NodeState().SetLost(0, false).ok());
  GPUSLICE_ASSERT_CU(cuMemAlloc_v2(&pointer, 64));
  GPUSLICE_ASSERT_CU(cuMemFree_v2(pointer));
}

}  // namespace
}  // namespace gpuslice::sim::testing
