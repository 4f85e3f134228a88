// Virtual memory management: physical allocations (cuMemCreate) are memory files counted on
// their GPU; address reservations are inaccessible host mappings; cuMemMap maps the file into
// a reservation and cuMemSetAccess opens it, so copies through mapped addresses round-trip
// and different mappings of one allocation see the same bytes. Exported handles are file
// descriptors, importable by another process.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "sim/cuda/driver.h"

namespace {

using gpuslice::sim::cuda::Allocation;
using gpuslice::sim::cuda::Api;
using gpuslice::sim::cuda::Driver;
using gpuslice::sim::cuda::MemoryKind;

constexpr size_t kGranularity = 2 << 20;  // what the real driver reports for device memory
constexpr char kMemfdPrefix[] = "gpuslice-sim-vmm:";

struct Physical {
  int fd = -1;
  size_t size = 0;
  int gpu = 0;
  int device = 0;
  CUmemAllocationProp prop{};
  int handle_references = 1;  // cuMemCreate / cuMemRetainAllocationHandle minus cuMemRelease
  int mappings = 0;
  bool imported = false;  // counted on the GPU by the process that created it
};

struct Mapping {
  size_t size = 0;
  CUmemGenericAllocationHandle handle = 0;
  CUmemAccess_flags access = CU_MEM_ACCESS_FLAGS_PROT_NONE;
};

// Thread-safe.
class Vmm {
 public:
  static Vmm& Get() {
    static Vmm* vmm = new Vmm();
    return *vmm;
  }

  std::mutex mutex;
  std::map<CUmemGenericAllocationHandle, std::unique_ptr<Physical>> physical;
  std::map<uintptr_t, size_t> reservations;  // base -> size
  std::map<uintptr_t, Mapping> mappings;     // base -> mapping

  Physical* Find(CUmemGenericAllocationHandle handle) {
    auto it = physical.find(handle);
    return it == physical.end() ? nullptr : it->second.get();
  }

  // REQUIRES: mutex held.
  void DropIfUnused(Driver& driver, CUmemGenericAllocationHandle handle) {
    Physical* allocation = Find(handle);
    if (allocation == nullptr || allocation->handle_references > 0 || allocation->mappings > 0) {
      return;
    }
    close(allocation->fd);
    if (!allocation->imported) driver.account().Release(allocation->gpu, allocation->size);
    physical.erase(handle);
  }

  // The reservation containing [address, address + bytes), or reservations.end().
  std::map<uintptr_t, size_t>::iterator Reservation(uintptr_t address, size_t bytes) {
    auto it = reservations.upper_bound(address);
    if (it == reservations.begin()) return reservations.end();
    --it;
    if (address < it->first || address + bytes > it->first + it->second) return reservations.end();
    return it;
  }

  // REQUIRES: mutex held.
  void Unmap(Driver& driver, uintptr_t base) {
    const Mapping mapping = mappings.at(base);
    mappings.erase(base);
    driver.memory.Erase(base);
    mmap(reinterpret_cast<void*>(base), mapping.size, PROT_NONE,
         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    if (Physical* allocation = Find(mapping.handle)) {
      --allocation->mappings;
      DropIfUnused(driver, mapping.handle);
    }
  }
};

CUresult CheckProp(Driver& driver, const CUmemAllocationProp* prop) {
  if (prop == nullptr || prop->type != CU_MEM_ALLOCATION_TYPE_PINNED)
    return CUDA_ERROR_INVALID_VALUE;
  if (prop->location.type != CU_MEM_LOCATION_TYPE_DEVICE) return CUDA_ERROR_NOT_SUPPORTED;
  if (driver.CheckDevice(prop->location.id) != CUDA_SUCCESS) return CUDA_ERROR_INVALID_DEVICE;
  if ((prop->requestedHandleTypes & ~CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR) != 0) {
    return CUDA_ERROR_NOT_SUPPORTED;  // Windows and fabric handles do not exist here
  }
  return CUDA_SUCCESS;
}

int AccessProtection(CUmemAccess_flags flags) {
  switch (flags) {
    case CU_MEM_ACCESS_FLAGS_PROT_READ:
      return PROT_READ;
    case CU_MEM_ACCESS_FLAGS_PROT_READWRITE:
      return PROT_READ | PROT_WRITE;
    default:
      return PROT_NONE;
  }
}

}  // namespace

GPUSLICE_CUDA_EXPORT CUresult cuMemGetAllocationGranularity(
    size_t* granularity, const CUmemAllocationProp* prop, CUmemAllocationGranularity_flags option) {
  return Api([&](Driver& driver) {
    if (granularity == nullptr || (option != CU_MEM_ALLOC_GRANULARITY_MINIMUM &&
                                   option != CU_MEM_ALLOC_GRANULARITY_RECOMMENDED)) {
      return CUDA_ERROR_INVALID_VALUE;
    }
    const CUresult valid = CheckProp(driver, prop);
    if (valid != CUDA_SUCCESS) return valid;
    *granularity = kGranularity;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuMemCreate(CUmemGenericAllocationHandle* handle, size_t size,
                                          const CUmemAllocationProp* prop,
                                          unsigned long long flags) {
  return Api([&](Driver& driver) {
    if (handle == nullptr || flags != 0 || size == 0 || size % kGranularity != 0) {
      return CUDA_ERROR_INVALID_VALUE;
    }
    const CUresult valid = CheckProp(driver, prop);
    if (valid != CUDA_SUCCESS) return valid;
    const int gpu = driver.GpuOf(prop->location.id);
    if (driver.IsLost(gpu)) return CUDA_ERROR_DEVICE_UNAVAILABLE;
    if (!driver.account().Reserve(gpu, size).ok()) return CUDA_ERROR_OUT_OF_MEMORY;
    const std::string name = kMemfdPrefix + driver.Spec(gpu).uuid;
    const int fd = memfd_create(name.c_str(), MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, static_cast<off_t>(size)) != 0) {
      if (fd >= 0) close(fd);
      driver.account().Release(gpu, size);
      return CUDA_ERROR_OUT_OF_MEMORY;
    }
    auto allocation = std::make_unique<Physical>();
    allocation->fd = fd;
    allocation->size = size;
    allocation->gpu = gpu;
    allocation->device = prop->location.id;
    allocation->prop = *prop;
    const auto id = reinterpret_cast<CUmemGenericAllocationHandle>(allocation.get());
    Vmm& vmm = Vmm::Get();
    std::lock_guard<std::mutex> lock(vmm.mutex);
    vmm.physical[id] = std::move(allocation);
    *handle = id;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuMemRelease(CUmemGenericAllocationHandle handle) {
  return Api([&](Driver& driver) {
    Vmm& vmm = Vmm::Get();
    std::lock_guard<std::mutex> lock(vmm.mutex);
    Physical* allocation = vmm.Find(handle);
    if (allocation == nullptr || allocation->handle_references == 0)
      return CUDA_ERROR_INVALID_VALUE;
    --allocation->handle_references;
    vmm.DropIfUnused(driver, handle);
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuMemAddressReserve(CUdeviceptr* ptr, size_t size, size_t alignment,
                                                  CUdeviceptr, unsigned long long flags) {
  return Api([&](Driver&) {
    if (ptr == nullptr || flags != 0 || size == 0 || size % kGranularity != 0 ||
        (alignment & (alignment - 1)) != 0) {
      return CUDA_ERROR_INVALID_VALUE;
    }
    const size_t align = std::max(alignment, kGranularity);
    if (size > SIZE_MAX - align) return CUDA_ERROR_OUT_OF_MEMORY;
    void* raw =
        mmap(nullptr, size + align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED) return CUDA_ERROR_OUT_OF_MEMORY;
    const uintptr_t start = reinterpret_cast<uintptr_t>(raw);
    const uintptr_t base = (start + align - 1) / align * align;
    if (base > start) munmap(raw, base - start);
    const uintptr_t end = base + size;
    if (start + size + align > end)
      munmap(reinterpret_cast<void*>(end), start + size + align - end);
    Vmm& vmm = Vmm::Get();
    std::lock_guard<std::mutex> lock(vmm.mutex);
    vmm.reservations[base] = size;
    *ptr = base;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuMemAddressFree(CUdeviceptr ptr, size_t size) {
  return Api([&](Driver& driver) {
    Vmm& vmm = Vmm::Get();
    std::lock_guard<std::mutex> lock(vmm.mutex);
    auto reservation = vmm.reservations.find(ptr);
    if (reservation == vmm.reservations.end() || reservation->second != size) {
      return CUDA_ERROR_INVALID_VALUE;
    }
    for (auto it = vmm.mappings.lower_bound(ptr);
         it != vmm.mappings.end() && it->first < ptr + size;) {
      const uintptr_t base = it->first;
      ++it;
      vmm.Unmap(driver, base);
    }
    munmap(reinterpret_cast<void*>(ptr), size);
    vmm.reservations.erase(reservation);
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuMemMap(CUdeviceptr ptr, size_t size, size_t offset,
                                       CUmemGenericAllocationHandle handle,
                                       unsigned long long flags) {
  return Api([&](Driver& driver) {
    if (flags != 0 || size == 0 || ptr % kGranularity != 0 || size % kGranularity != 0 ||
        offset % kGranularity != 0) {
      return CUDA_ERROR_INVALID_VALUE;
    }
    Vmm& vmm = Vmm::Get();
    std::lock_guard<std::mutex> lock(vmm.mutex);
    Physical* allocation = vmm.Find(handle);
    if (allocation == nullptr || offset > allocation->size || size > allocation->size - offset) {
      return CUDA_ERROR_INVALID_VALUE;
    }
    if (vmm.Reservation(ptr, size) == vmm.reservations.end()) return CUDA_ERROR_INVALID_VALUE;
    auto next = vmm.mappings.lower_bound(ptr);
    if ((next != vmm.mappings.end() && next->first < ptr + size) ||
        (next != vmm.mappings.begin() &&
         std::prev(next)->first + std::prev(next)->second.size > ptr)) {
      return CUDA_ERROR_ALREADY_MAPPED;
    }
    if (mmap(reinterpret_cast<void*>(ptr), size, PROT_NONE, MAP_SHARED | MAP_FIXED, allocation->fd,
             static_cast<off_t>(offset)) == MAP_FAILED) {
      return CUDA_ERROR_OUT_OF_MEMORY;
    }
    vmm.mappings[ptr] = Mapping{size, handle, CU_MEM_ACCESS_FLAGS_PROT_NONE};
    ++allocation->mappings;
    Allocation range;
    range.base = ptr;
    range.size = size;
    range.kind = MemoryKind::kVmmMapping;
    range.gpu = allocation->gpu;
    range.device = allocation->device;
    range.buffer_id = driver.NextId();
    range.vmm_handle = handle;
    range.accessible = false;  // until cuMemSetAccess
    driver.memory.Insert(range);
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuMemUnmap(CUdeviceptr ptr, size_t size) {
  return Api([&](Driver& driver) {
    Vmm& vmm = Vmm::Get();
    std::lock_guard<std::mutex> lock(vmm.mutex);
    auto first = vmm.mappings.find(ptr);
    if (first == vmm.mappings.end() || size == 0) return CUDA_ERROR_INVALID_VALUE;
    // The range must be made of whole mappings.
    uintptr_t covered = ptr;
    for (auto it = first; it != vmm.mappings.end() && it->first < ptr + size; ++it) {
      if (it->first != covered) return CUDA_ERROR_INVALID_VALUE;
      covered += it->second.size;
    }
    if (covered != ptr + size) return CUDA_ERROR_INVALID_VALUE;
    for (uintptr_t base = ptr; base < ptr + size;) {
      const size_t bytes = vmm.mappings.at(base).size;
      vmm.Unmap(driver, base);
      base += bytes;
    }
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuMemSetAccess(CUdeviceptr ptr, size_t size,
                                             const CUmemAccessDesc* desc, size_t count) {
  return Api([&](Driver& driver) {
    if (desc == nullptr || count == 0 || size == 0) return CUDA_ERROR_INVALID_VALUE;
    CUmemAccess_flags flags = CU_MEM_ACCESS_FLAGS_PROT_NONE;
    for (size_t i = 0; i < count; ++i) {
      if (desc[i].location.type != CU_MEM_LOCATION_TYPE_DEVICE ||
          driver.CheckDevice(desc[i].location.id) != CUDA_SUCCESS) {
        return CUDA_ERROR_INVALID_DEVICE;
      }
      // Every simulated device reads the same host memory, so the widest grant applies.
      if (AccessProtection(desc[i].flags) > AccessProtection(flags)) flags = desc[i].flags;
    }
    Vmm& vmm = Vmm::Get();
    std::lock_guard<std::mutex> lock(vmm.mutex);
    uintptr_t covered = ptr;
    for (auto it = vmm.mappings.upper_bound(ptr); covered < ptr + size;) {
      if (it == vmm.mappings.begin()) return CUDA_ERROR_INVALID_VALUE;
      auto mapping = std::prev(it);
      if (mapping->first + mapping->second.size <= covered) return CUDA_ERROR_INVALID_VALUE;
      covered = mapping->first + mapping->second.size;
      it = vmm.mappings.upper_bound(covered);
    }
    for (auto it = vmm.mappings.lower_bound(ptr);
         it != vmm.mappings.end() && it->first < ptr + size; ++it) {
      it->second.access = flags;
    }
    if (mprotect(reinterpret_cast<void*>(ptr), size, AccessProtection(flags)) != 0) {
      return CUDA_ERROR_INVALID_VALUE;
    }
    driver.memory.SetAccessible(ptr, size, flags == CU_MEM_ACCESS_FLAGS_PROT_READWRITE);
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuMemGetAccess(unsigned long long* flags,
                                             const CUmemLocation* location, CUdeviceptr ptr) {
  return Api([&](Driver& driver) {
    if (flags == nullptr || location == nullptr) return CUDA_ERROR_INVALID_VALUE;
    if (location->type != CU_MEM_LOCATION_TYPE_DEVICE ||
        driver.CheckDevice(location->id) != CUDA_SUCCESS) {
      return CUDA_ERROR_INVALID_DEVICE;
    }
    Vmm& vmm = Vmm::Get();
    std::lock_guard<std::mutex> lock(vmm.mutex);
    auto it = vmm.mappings.upper_bound(ptr);
    if (it == vmm.mappings.begin()) return CUDA_ERROR_INVALID_VALUE;
    --it;
    if (ptr >= it->first + it->second.size) return CUDA_ERROR_INVALID_VALUE;
    *flags = it->second.access;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuMemGetAllocationPropertiesFromHandle(
    CUmemAllocationProp* prop, CUmemGenericAllocationHandle handle) {
  return Api([&](Driver&) {
    if (prop == nullptr) return CUDA_ERROR_INVALID_VALUE;
    Vmm& vmm = Vmm::Get();
    std::lock_guard<std::mutex> lock(vmm.mutex);
    const Physical* allocation = vmm.Find(handle);
    if (allocation == nullptr) return CUDA_ERROR_INVALID_VALUE;
    *prop = allocation->prop;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuMemRetainAllocationHandle(CUmemGenericAllocationHandle* handle,
                                                          void* addr) {
  return Api([&](Driver&) {
    if (handle == nullptr) return CUDA_ERROR_INVALID_VALUE;
    const uintptr_t address = reinterpret_cast<uintptr_t>(addr);
    Vmm& vmm = Vmm::Get();
    std::lock_guard<std::mutex> lock(vmm.mutex);
    auto it = vmm.mappings.upper_bound(address);
    if (it == vmm.mappings.begin()) return CUDA_ERROR_INVALID_VALUE;
    --it;
    if (address >= it->first + it->second.size) return CUDA_ERROR_INVALID_VALUE;
    Physical* allocation = vmm.Find(it->second.handle);
    if (allocation == nullptr) return CUDA_ERROR_INVALID_VALUE;
    ++allocation->handle_references;
    *handle = it->second.handle;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuMemExportToShareableHandle(void* shareableHandle,
                                                           CUmemGenericAllocationHandle handle,
                                                           CUmemAllocationHandleType handleType,
                                                           unsigned long long flags) {
  return Api([&](Driver&) {
    if (shareableHandle == nullptr || flags != 0) return CUDA_ERROR_INVALID_VALUE;
    if (handleType != CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR) return CUDA_ERROR_NOT_SUPPORTED;
    Vmm& vmm = Vmm::Get();
    std::lock_guard<std::mutex> lock(vmm.mutex);
    const Physical* allocation = vmm.Find(handle);
    if (allocation == nullptr ||
        (allocation->prop.requestedHandleTypes & CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR) == 0) {
      return CUDA_ERROR_INVALID_VALUE;
    }
    const int fd = fcntl(allocation->fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) return CUDA_ERROR_OPERATING_SYSTEM;
    *static_cast<int*>(shareableHandle) = fd;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuMemImportFromShareableHandle(
    CUmemGenericAllocationHandle* handle, void* osHandle, CUmemAllocationHandleType shHandleType) {
  return Api([&](Driver& driver) {
    if (handle == nullptr) return CUDA_ERROR_INVALID_VALUE;
    if (shHandleType != CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR) return CUDA_ERROR_NOT_SUPPORTED;
    const int source = static_cast<int>(reinterpret_cast<intptr_t>(osHandle));
    // A simulated allocation's file is named after its GPU's UUID.
    char link[PATH_MAX] = {};
    const std::string path = "/proc/self/fd/" + std::to_string(source);
    const ssize_t length = readlink(path.c_str(), link, sizeof(link) - 1);
    const std::string target = length > 0 ? std::string(link, static_cast<size_t>(length)) : "";
    const size_t prefix = target.find(kMemfdPrefix);
    struct stat info;
    if (prefix == std::string::npos || fstat(source, &info) != 0) return CUDA_ERROR_INVALID_VALUE;
    const std::string uuid = target.substr(prefix + sizeof(kMemfdPrefix) - 1, 40);
    int device = -1;
    for (int candidate = 0; candidate < driver.device_count(); ++candidate) {
      if (driver.Spec(driver.GpuOf(candidate)).uuid == uuid) device = candidate;
    }
    if (device < 0) return CUDA_ERROR_INVALID_DEVICE;
    const int fd = fcntl(source, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) return CUDA_ERROR_OPERATING_SYSTEM;
    auto allocation = std::make_unique<Physical>();
    allocation->fd = fd;
    allocation->size = static_cast<size_t>(info.st_size);
    allocation->gpu = driver.GpuOf(device);
    allocation->device = device;
    allocation->prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    allocation->prop.requestedHandleTypes = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
    allocation->prop.location = {CU_MEM_LOCATION_TYPE_DEVICE, device};
    allocation->imported = true;
    const auto id = reinterpret_cast<CUmemGenericAllocationHandle>(allocation.get());
    Vmm& vmm = Vmm::Get();
    std::lock_guard<std::mutex> lock(vmm.mutex);
    vmm.physical[id] = std::move(allocation);
    *handle = id;
    return CUDA_SUCCESS;
  });
}
