#include "sim/cuda/errors.h"

namespace gpuslice::sim::cuda {
namespace {

struct ErrorText {
  CUresult code;
  const char* name;
  const char* description;
};

#define GPUSLICE_ERROR(code, text) \
  { code, #code, text }
constexpr ErrorText kErrors[] = {
    GPUSLICE_ERROR(CUDA_SUCCESS, "no error"),
    GPUSLICE_ERROR(CUDA_ERROR_INVALID_VALUE, "invalid argument"),
    GPUSLICE_ERROR(CUDA_ERROR_OUT_OF_MEMORY, "out of memory"),
    GPUSLICE_ERROR(CUDA_ERROR_NOT_INITIALIZED, "initialization error"),
    GPUSLICE_ERROR(CUDA_ERROR_DEINITIALIZED, "driver shutting down"),
    GPUSLICE_ERROR(CUDA_ERROR_PROFILER_DISABLED,
                   "profiler disabled while using external profiling tool"),
    GPUSLICE_ERROR(CUDA_ERROR_PROFILER_NOT_INITIALIZED,
                   "profiler not initialized: call cudaProfilerInitialize()"),
    GPUSLICE_ERROR(CUDA_ERROR_PROFILER_ALREADY_STARTED, "profiler already started"),
    GPUSLICE_ERROR(CUDA_ERROR_PROFILER_ALREADY_STOPPED, "profiler already stopped"),
    GPUSLICE_ERROR(CUDA_ERROR_STUB_LIBRARY, "CUDA driver is a stub library"),
    GPUSLICE_ERROR(CUDA_ERROR_CALL_REQUIRES_NEWER_DRIVER, "the call requires a newer driver"),
    GPUSLICE_ERROR(CUDA_ERROR_DEVICE_UNAVAILABLE,
                   "CUDA-capable device(s) is/are busy or unavailable"),
    GPUSLICE_ERROR(CUDA_ERROR_NO_DEVICE, "no CUDA-capable device is detected"),
    GPUSLICE_ERROR(CUDA_ERROR_INVALID_DEVICE, "invalid device ordinal"),
    GPUSLICE_ERROR(CUDA_ERROR_DEVICE_NOT_LICENSED, "device doesn't have valid Grid license"),
    GPUSLICE_ERROR(CUDA_ERROR_INVALID_IMAGE, "device kernel image is invalid"),
    GPUSLICE_ERROR(CUDA_ERROR_INVALID_CONTEXT, "invalid device context"),
    GPUSLICE_ERROR(CUDA_ERROR_CONTEXT_ALREADY_CURRENT, "context already current"),
    GPUSLICE_ERROR(CUDA_ERROR_MAP_FAILED, "mapping of buffer object failed"),
    GPUSLICE_ERROR(CUDA_ERROR_UNMAP_FAILED, "unmapping of buffer object failed"),
    GPUSLICE_ERROR(CUDA_ERROR_ARRAY_IS_MAPPED, "array is mapped"),
    GPUSLICE_ERROR(CUDA_ERROR_ALREADY_MAPPED, "resource already mapped"),
    GPUSLICE_ERROR(CUDA_ERROR_NO_BINARY_FOR_GPU,
                   "no kernel image is available for execution on the device"),
    GPUSLICE_ERROR(CUDA_ERROR_ALREADY_ACQUIRED, "resource already acquired"),
    GPUSLICE_ERROR(CUDA_ERROR_NOT_MAPPED, "resource not mapped"),
    GPUSLICE_ERROR(CUDA_ERROR_NOT_MAPPED_AS_ARRAY, "resource not mapped as array"),
    GPUSLICE_ERROR(CUDA_ERROR_NOT_MAPPED_AS_POINTER, "resource not mapped as pointer"),
    GPUSLICE_ERROR(CUDA_ERROR_ECC_UNCORRECTABLE, "uncorrectable ECC error encountered"),
    GPUSLICE_ERROR(CUDA_ERROR_UNSUPPORTED_LIMIT, "limit is not supported on this architecture"),
    GPUSLICE_ERROR(CUDA_ERROR_CONTEXT_ALREADY_IN_USE,
                   "exclusive-thread device already in use by a different thread"),
    GPUSLICE_ERROR(CUDA_ERROR_PEER_ACCESS_UNSUPPORTED,
                   "peer access is not supported between these two devices"),
    GPUSLICE_ERROR(CUDA_ERROR_INVALID_PTX, "a PTX JIT compilation failed"),
    GPUSLICE_ERROR(CUDA_ERROR_INVALID_GRAPHICS_CONTEXT, "invalid OpenGL or DirectX context"),
    GPUSLICE_ERROR(CUDA_ERROR_NVLINK_UNCORRECTABLE,
                   "uncorrectable NVLink error detected during the execution"),
    GPUSLICE_ERROR(CUDA_ERROR_JIT_COMPILER_NOT_FOUND, "PTX JIT compiler library not found"),
    GPUSLICE_ERROR(CUDA_ERROR_UNSUPPORTED_PTX_VERSION,
                   "the provided PTX was compiled with an unsupported toolchain"),
    GPUSLICE_ERROR(CUDA_ERROR_JIT_COMPILATION_DISABLED, "PTX JIT compilation was disabled"),
    GPUSLICE_ERROR(CUDA_ERROR_UNSUPPORTED_EXEC_AFFINITY,
                   "the provided execution affinity is not supported"),
    GPUSLICE_ERROR(CUDA_ERROR_UNSUPPORTED_DEVSIDE_SYNC,
                   "the provided PTX contains unsupported call to cudaDeviceSynchronize"),
    GPUSLICE_ERROR(CUDA_ERROR_CONTAINED,
                   "an exception occurred on the device while executing a kernel"),
    GPUSLICE_ERROR(CUDA_ERROR_INVALID_SOURCE, "device kernel image is invalid"),
    GPUSLICE_ERROR(CUDA_ERROR_FILE_NOT_FOUND, "file not found"),
    GPUSLICE_ERROR(CUDA_ERROR_SHARED_OBJECT_SYMBOL_NOT_FOUND, "shared object symbol not found"),
    GPUSLICE_ERROR(CUDA_ERROR_SHARED_OBJECT_INIT_FAILED, "shared object initialization failed"),
    GPUSLICE_ERROR(CUDA_ERROR_OPERATING_SYSTEM,
                   "OS call failed or operation not supported on this OS"),
    GPUSLICE_ERROR(CUDA_ERROR_INVALID_HANDLE, "invalid resource handle"),
    GPUSLICE_ERROR(CUDA_ERROR_ILLEGAL_STATE,
                   "the operation cannot be performed in the present state"),
    GPUSLICE_ERROR(CUDA_ERROR_LOSSY_QUERY, "attempted introspection would be semantically lossy"),
    GPUSLICE_ERROR(CUDA_ERROR_NOT_FOUND, "named symbol not found"),
    GPUSLICE_ERROR(CUDA_ERROR_NOT_READY, "device not ready"),
    GPUSLICE_ERROR(CUDA_ERROR_ILLEGAL_ADDRESS, "an illegal memory access was encountered"),
    GPUSLICE_ERROR(CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES, "too many resources requested for launch"),
    GPUSLICE_ERROR(CUDA_ERROR_LAUNCH_TIMEOUT, "the launch timed out and was terminated"),
    GPUSLICE_ERROR(CUDA_ERROR_LAUNCH_INCOMPATIBLE_TEXTURING,
                   "launch uses incompatible texturing mode"),
    GPUSLICE_ERROR(CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED, "peer access is already enabled"),
    GPUSLICE_ERROR(CUDA_ERROR_PEER_ACCESS_NOT_ENABLED, "peer access has not been enabled"),
    GPUSLICE_ERROR(CUDA_ERROR_PRIMARY_CONTEXT_ACTIVE,
                   "cannot set while device is active in this process"),
    GPUSLICE_ERROR(CUDA_ERROR_CONTEXT_IS_DESTROYED, "context is destroyed"),
    GPUSLICE_ERROR(CUDA_ERROR_ASSERT, "device-side assert triggered"),
    GPUSLICE_ERROR(CUDA_ERROR_TOO_MANY_PEERS, "peer mapping resources exhausted"),
    GPUSLICE_ERROR(CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED,
                   "part or all of the requested memory range is already mapped"),
    GPUSLICE_ERROR(CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED,
                   "pointer does not correspond to a registered memory region"),
    GPUSLICE_ERROR(CUDA_ERROR_HARDWARE_STACK_ERROR, "hardware stack error"),
    GPUSLICE_ERROR(CUDA_ERROR_ILLEGAL_INSTRUCTION, "an illegal instruction was encountered"),
    GPUSLICE_ERROR(CUDA_ERROR_MISALIGNED_ADDRESS, "misaligned address"),
    GPUSLICE_ERROR(CUDA_ERROR_INVALID_ADDRESS_SPACE,
                   "operation not supported on global/shared address space"),
    GPUSLICE_ERROR(CUDA_ERROR_INVALID_PC, "invalid program counter"),
    GPUSLICE_ERROR(CUDA_ERROR_LAUNCH_FAILED, "unspecified launch failure"),
    GPUSLICE_ERROR(CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE,
                   "too many blocks in cooperative launch"),
    GPUSLICE_ERROR(CUDA_ERROR_TENSOR_MEMORY_LEAK, "tensor memory not completely freed"),
    GPUSLICE_ERROR(CUDA_ERROR_NOT_PERMITTED, "operation not permitted"),
    GPUSLICE_ERROR(CUDA_ERROR_NOT_SUPPORTED, "operation not supported"),
    GPUSLICE_ERROR(CUDA_ERROR_SYSTEM_NOT_READY, "system not yet initialized"),
    GPUSLICE_ERROR(CUDA_ERROR_SYSTEM_DRIVER_MISMATCH,
                   "system has unsupported display driver / cuda driver combination"),
    GPUSLICE_ERROR(CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE,
                   "forward compatibility was attempted on non supported HW"),
    GPUSLICE_ERROR(CUDA_ERROR_MPS_CONNECTION_FAILED,
                   "MPS client failed to connect to the MPS control daemon or the MPS server"),
    GPUSLICE_ERROR(CUDA_ERROR_MPS_RPC_FAILURE,
                   "the remote procedural call between the MPS server and the MPS client failed"),
    GPUSLICE_ERROR(CUDA_ERROR_MPS_SERVER_NOT_READY,
                   "MPS server is not ready to accept new MPS client requests"),
    GPUSLICE_ERROR(CUDA_ERROR_MPS_MAX_CLIENTS_REACHED,
                   "the hardware resources required to create MPS client have been exhausted"),
    GPUSLICE_ERROR(
        CUDA_ERROR_MPS_MAX_CONNECTIONS_REACHED,
        "the hardware resources required to support device connections have been exhausted"),
    GPUSLICE_ERROR(CUDA_ERROR_MPS_CLIENT_TERMINATED,
                   "the MPS client has been terminated by the server"),
    GPUSLICE_ERROR(CUDA_ERROR_CDP_NOT_SUPPORTED,
                   "the module is using CUDA Dynamic Parallelism, but the current configuration "
                   "does not support it"),
    GPUSLICE_ERROR(CUDA_ERROR_CDP_VERSION_MISMATCH,
                   "the application is using CUDA Dynamic Parallelism from an unsupported version"),
    GPUSLICE_ERROR(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED,
                   "operation not permitted when stream is capturing"),
    GPUSLICE_ERROR(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED,
                   "operation failed due to a previous error during capture"),
    GPUSLICE_ERROR(CUDA_ERROR_STREAM_CAPTURE_MERGE,
                   "operation would result in a merge of separate capture sequences"),
    GPUSLICE_ERROR(CUDA_ERROR_STREAM_CAPTURE_UNMATCHED,
                   "capture was not ended in the same stream as it began"),
    GPUSLICE_ERROR(CUDA_ERROR_STREAM_CAPTURE_UNJOINED, "capturing stream has unjoined work"),
    GPUSLICE_ERROR(CUDA_ERROR_STREAM_CAPTURE_ISOLATION,
                   "dependency created on uncaptured work in another stream"),
    GPUSLICE_ERROR(CUDA_ERROR_STREAM_CAPTURE_IMPLICIT,
                   "operation would make the legacy stream depend on a capturing blocking stream"),
    GPUSLICE_ERROR(CUDA_ERROR_CAPTURED_EVENT,
                   "operation not permitted on an event last recorded in a capturing stream"),
    GPUSLICE_ERROR(CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD,
                   "attempt to terminate a thread-local capture sequence from another thread"),
    GPUSLICE_ERROR(CUDA_ERROR_TIMEOUT, "wait operation timed out"),
    GPUSLICE_ERROR(CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE,
                   "the graph update was not performed because it included changes which violated "
                   "constraints specific to instantiated graph update"),
    GPUSLICE_ERROR(CUDA_ERROR_EXTERNAL_DEVICE,
                   "an async error has occurred in an external entity outside of CUDA"),
    GPUSLICE_ERROR(CUDA_ERROR_INVALID_CLUSTER_SIZE,
                   "a kernel launch error has occurred due to cluster misconfiguration"),
    GPUSLICE_ERROR(CUDA_ERROR_FUNCTION_NOT_LOADED, "the function handle is not loaded"),
    GPUSLICE_ERROR(CUDA_ERROR_INVALID_RESOURCE_TYPE, "invalid resource type"),
    GPUSLICE_ERROR(CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION, "invalid resource configuration"),
    GPUSLICE_ERROR(CUDA_ERROR_KEY_ROTATION, "an error occurred during key rotation"),
    GPUSLICE_ERROR(CUDA_ERROR_UNKNOWN, "unknown error"),
};
#undef GPUSLICE_ERROR

const ErrorText* Find(CUresult code) {
  for (const ErrorText& error : kErrors) {
    if (error.code == code) return &error;
  }
  return nullptr;
}

}  // namespace

const char* ErrorName(CUresult code) {
  const ErrorText* error = Find(code);
  return error == nullptr ? nullptr : error->name;
}

const char* ErrorDescription(CUresult code) {
  const ErrorText* error = Find(code);
  return error == nullptr ? nullptr : error->description;
}

}  // namespace gpuslice::sim::cuda
