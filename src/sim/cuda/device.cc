// Device entry points: enumeration, identity, attributes, peers and graph memory of the
// simulated GPUs this process may see.
#include <strings.h>

#include <cstdio>
#include <cstring>

#include "sim/cuda/device_attributes.h"
#include "sim/cuda/driver.h"
#include "sim/cuda/resources.h"

namespace {

using gpuslice::sim::GpuSpec;
using gpuslice::sim::cuda::Api;
using gpuslice::sim::cuda::Driver;

// Runs `body(spec)` for a valid device.
template <typename Body>
CUresult WithDevice(CUdevice device, Body body) {
  return Api([&](Driver& driver) {
    const CUresult valid = driver.CheckDevice(device);
    if (valid != CUDA_SUCCESS) return valid;
    return body(driver, driver.Spec(driver.GpuOf(device)));
  });
}

bool UuidBytes(const std::string& uuid, CUuuid* out) {
  // "GPU-" then 32 hex digits in 8-4-4-4-12 groups.
  int byte = 0;
  for (size_t i = 4; i < uuid.size() && byte < 16; ++i) {
    if (uuid[i] == '-') continue;
    unsigned value = 0;
    if (std::sscanf(uuid.c_str() + i, "%2x", &value) != 1) return false;
    out->bytes[byte++] = static_cast<char>(value);
    ++i;
  }
  return byte == 16;
}

}  // namespace

GPUSLICE_CUDA_EXPORT CUresult cuDeviceGet(CUdevice* device, int ordinal) {
  return Api([&](Driver& driver) {
    if (device == nullptr) return CUDA_ERROR_INVALID_VALUE;
    const CUresult valid = driver.CheckDevice(ordinal);
    if (valid != CUDA_SUCCESS) return valid;
    *device = ordinal;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuDeviceGetCount(int* count) {
  return Api([&](Driver& driver) {
    if (count == nullptr) return CUDA_ERROR_INVALID_VALUE;
    *count = driver.device_count();
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuDeviceGetName(char* name, int len, CUdevice dev) {
  return WithDevice(dev, [&](Driver&, const GpuSpec& gpu) {
    if (name == nullptr || len <= 0) return CUDA_ERROR_INVALID_VALUE;
    std::snprintf(name, static_cast<size_t>(len), "%s", gpu.name.c_str());
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuDeviceGetUuid_v2(CUuuid* uuid, CUdevice dev) {
  return WithDevice(dev, [&](Driver&, const GpuSpec& gpu) {
    if (uuid == nullptr) return CUDA_ERROR_INVALID_VALUE;
    return UuidBytes(gpu.uuid, uuid) ? CUDA_SUCCESS : CUDA_ERROR_UNKNOWN;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuDeviceGetUuid(CUuuid* uuid, CUdevice dev) {
  return cuDeviceGetUuid_v2(uuid, dev);
}

GPUSLICE_CUDA_EXPORT CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice dev) {
  return WithDevice(dev, [&](Driver&, const GpuSpec& gpu) {
    if (bytes == nullptr) return CUDA_ERROR_INVALID_VALUE;
    *bytes = gpu.memory_bytes;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuDeviceGetAttribute(int* pi, CUdevice_attribute attrib,
                                                   CUdevice dev) {
  return WithDevice(dev, [&](Driver&, const GpuSpec& gpu) {
    return gpuslice::sim::cuda::DeviceAttribute(gpu, attrib, pi);
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuDeviceGetPCIBusId(char* pciBusId, int len, CUdevice dev) {
  return WithDevice(dev, [&](Driver&, const GpuSpec& gpu) {
    if (pciBusId == nullptr || len <= 0) return CUDA_ERROR_INVALID_VALUE;
    // The driver's form has a 4-digit domain: "0000:18:00.0".
    std::snprintf(pciBusId, static_cast<size_t>(len), "%s", gpu.pci_bus_id.c_str() + 4);
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuDeviceGetByPCIBusId(CUdevice* dev, const char* pciBusId) {
  return Api([&](Driver& driver) {
    if (dev == nullptr || pciBusId == nullptr) return CUDA_ERROR_INVALID_VALUE;
    for (int device = 0; device < driver.device_count(); ++device) {
      const std::string& bus_id = driver.Spec(driver.GpuOf(device)).pci_bus_id;
      if (strcasecmp(bus_id.c_str(), pciBusId) == 0 ||
          strcasecmp(bus_id.c_str() + 4, pciBusId) == 0) {
        *dev = device;
        return CUDA_SUCCESS;
      }
    }
    return CUDA_ERROR_INVALID_DEVICE;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuDeviceComputeCapability(int* major, int* minor, CUdevice dev) {
  return WithDevice(dev, [&](Driver&, const GpuSpec& gpu) {
    if (major == nullptr || minor == nullptr) return CUDA_ERROR_INVALID_VALUE;
    *major = gpu.cc_major;
    *minor = gpu.cc_minor;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuDeviceGetProperties(CUdevprop* prop, CUdevice dev) {
  return WithDevice(dev, [&](Driver&, const GpuSpec& gpu) {
    if (prop == nullptr) return CUDA_ERROR_INVALID_VALUE;
    *prop = CUdevprop{1024,
                      {1024, 1024, 64},
                      {2147483647, 65535, 65535},
                      48 * 1024,
                      65536,
                      32,
                      2147483647,
                      65536,
                      gpu.clock_khz,
                      512};
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuDeviceCanAccessPeer(int* canAccessPeer, CUdevice dev,
                                                    CUdevice peerDev) {
  return Api([&](Driver& driver) {
    if (canAccessPeer == nullptr) return CUDA_ERROR_INVALID_VALUE;
    if (driver.CheckDevice(dev) != CUDA_SUCCESS || driver.CheckDevice(peerDev) != CUDA_SUCCESS) {
      return CUDA_ERROR_INVALID_DEVICE;
    }
    // Peers of one model share a baseboard (NVLink or PCIe switch); a device is not its own.
    *canAccessPeer = dev != peerDev && driver.Spec(driver.GpuOf(dev)).model ==
                                           driver.Spec(driver.GpuOf(peerDev)).model;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuDeviceGetP2PAttribute(int* value, CUdevice_P2PAttribute attrib,
                                                      CUdevice srcDevice, CUdevice dstDevice) {
  return Api([&](Driver&) {
    if (value == nullptr || srcDevice == dstDevice) return CUDA_ERROR_INVALID_DEVICE;
    int access = 0;
    const CUresult result = cuDeviceCanAccessPeer(&access, srcDevice, dstDevice);
    if (result != CUDA_SUCCESS) return result;
    switch (attrib) {
      case CU_DEVICE_P2P_ATTRIBUTE_PERFORMANCE_RANK:
        *value = 0;
        break;
      case CU_DEVICE_P2P_ATTRIBUTE_ACCESS_SUPPORTED:
      case CU_DEVICE_P2P_ATTRIBUTE_NATIVE_ATOMIC_SUPPORTED:
      case CU_DEVICE_P2P_ATTRIBUTE_CUDA_ARRAY_ACCESS_SUPPORTED:
        *value = access;
        break;
      case CU_DEVICE_P2P_ATTRIBUTE_ONLY_PARTIAL_NATIVE_ATOMIC_SUPPORTED:
        *value = 0;
        break;
      default:
        return CUDA_ERROR_INVALID_VALUE;
    }
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuDeviceGetDefaultMemPool(CUmemoryPool* pool_out, CUdevice dev) {
  return WithDevice(dev, [&](Driver& driver, const GpuSpec&) {
    if (pool_out == nullptr) return CUDA_ERROR_INVALID_VALUE;
    *pool_out = driver.DefaultPool(dev);
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuDeviceGetMemPool(CUmemoryPool* pool, CUdevice dev) {
  return WithDevice(dev, [&](Driver& driver, const GpuSpec&) {
    if (pool == nullptr) return CUDA_ERROR_INVALID_VALUE;
    *pool = driver.CurrentPool(dev);
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuDeviceSetMemPool(CUdevice dev, CUmemoryPool pool) {
  return WithDevice(dev, [&](Driver& driver, const GpuSpec&) {
    if (!driver.pools.Contains(pool)) return CUDA_ERROR_INVALID_HANDLE;
    if (pool->device != dev) return CUDA_ERROR_INVALID_DEVICE;
    driver.SetCurrentPool(dev, pool);
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuDeviceGraphMemTrim(CUdevice device) {
  return WithDevice(device, [&](Driver& driver, const GpuSpec&) {
    gpuslice::sim::cuda::TrimGraphMemory(driver, driver.GpuOf(device));
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuDeviceGetGraphMemAttribute(CUdevice device,
                                                           CUgraphMem_attribute attr, void* value) {
  return WithDevice(device, [&](Driver& driver, const GpuSpec&) {
    if (value == nullptr) return CUDA_ERROR_INVALID_VALUE;
    const int gpu = driver.GpuOf(device);
    std::lock_guard<std::mutex> lock(driver.graph_memory_mutex);
    cuuint64_t* out = static_cast<cuuint64_t*>(value);
    switch (attr) {
      case CU_GRAPH_MEM_ATTR_USED_MEM_CURRENT:
        *out = driver.graph_memory_used[gpu];
        break;
      case CU_GRAPH_MEM_ATTR_RESERVED_MEM_CURRENT:
        *out = driver.graph_memory_reserved[gpu];
        break;
      case CU_GRAPH_MEM_ATTR_USED_MEM_HIGH:
        *out = driver.graph_memory_used_high[gpu];
        break;
      case CU_GRAPH_MEM_ATTR_RESERVED_MEM_HIGH:
        *out = driver.graph_memory_reserved_high[gpu];
        break;
      default:
        return CUDA_ERROR_INVALID_VALUE;
    }
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuDeviceSetGraphMemAttribute(CUdevice device,
                                                           CUgraphMem_attribute attr, void* value) {
  return WithDevice(device, [&](Driver& driver, const GpuSpec&) {
    // Only the high-water marks can be set, and only back to zero (which restarts them at the
    // current figure).
    if (value == nullptr || *static_cast<cuuint64_t*>(value) != 0 ||
        (attr != CU_GRAPH_MEM_ATTR_USED_MEM_HIGH && attr != CU_GRAPH_MEM_ATTR_RESERVED_MEM_HIGH)) {
      return CUDA_ERROR_INVALID_VALUE;
    }
    const int gpu = driver.GpuOf(device);
    std::lock_guard<std::mutex> lock(driver.graph_memory_mutex);
    if (attr == CU_GRAPH_MEM_ATTR_USED_MEM_HIGH) {
      driver.graph_memory_used_high[gpu] = driver.graph_memory_used[gpu];
    } else {
      driver.graph_memory_reserved_high[gpu] = driver.graph_memory_reserved[gpu];
    }
    return CUDA_SUCCESS;
  });
}
