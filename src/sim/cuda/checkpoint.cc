// Checkpoint and restore of another process of the simulated node (cuCheckpointProcess*), as
// tools such as cuda-checkpoint drive them: the state machine and the memory moves live in the
// node's state (SimState::LockProcess and the rest), so the GPU's used memory and NVML's
// figures follow. Not modelled: remapping onto other GPUs at restore (gpuPairs, answered
// CUDA_ERROR_NOT_SUPPORTED) and the restore thread (cuCheckpointProcessGetRestoreThreadId
// stays unsupported); the target's own calls are not blocked while it is locked.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "sim/cuda/driver.h"

namespace {

using gpuslice::Status;
using gpuslice::StatusCode;
using gpuslice::sim::cuda::Api;
using gpuslice::sim::cuda::Driver;

// The driver's answer to a failed transition: an unknown PID is an invalid value, a transition
// its state does not allow an illegal state, and no room for a restore out of memory.
CUresult ToCuResult(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk:
      return CUDA_SUCCESS;
    case StatusCode::kNotFound:
      return CUDA_ERROR_INVALID_VALUE;
    case StatusCode::kFailedPrecondition:
      return CUDA_ERROR_ILLEGAL_STATE;
    case StatusCode::kResourceExhausted:
      return CUDA_ERROR_OUT_OF_MEMORY;
    default:
      return CUDA_ERROR_UNKNOWN;
  }
}

// The arguments' reserved fields must be zero, as cuda.h asks.
template <typename Args>
bool ReservedZero(const Args* args, size_t offset) {
  if (args == nullptr) return true;
  const auto* bytes = reinterpret_cast<const unsigned char*>(args);
  return std::all_of(bytes + offset, bytes + sizeof(Args), [](unsigned char b) { return b == 0; });
}

}  // namespace

GPUSLICE_CUDA_EXPORT CUresult cuCheckpointProcessGetState(int pid, CUprocessState* state) {
  return Api([&](Driver& driver) {
    if (state == nullptr) return CUDA_ERROR_INVALID_VALUE;
    auto current = driver.state().ProcessCheckpointState(pid);
    if (!current.ok()) return ToCuResult(current.status());
    *state = static_cast<CUprocessState>(*current);
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuCheckpointProcessLock(int pid, CUcheckpointLockArgs* args) {
  return Api([&](Driver& driver) {
    if (!ReservedZero(args, offsetof(CUcheckpointLockArgs, reserved0))) {
      return CUDA_ERROR_INVALID_VALUE;
    }
    // Locking never waits here (no call of the target is ever in flight), so no timeout runs.
    return ToCuResult(driver.state().LockProcess(pid));
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuCheckpointProcessCheckpoint(int pid,
                                                            CUcheckpointCheckpointArgs* args) {
  return Api([&](Driver& driver) {
    if (!ReservedZero(args, 0)) return CUDA_ERROR_INVALID_VALUE;
    return ToCuResult(driver.state().CheckpointProcess(pid));
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuCheckpointProcessRestore(int pid, CUcheckpointRestoreArgs* args) {
  return Api([&](Driver& driver) {
    if (!ReservedZero(args, offsetof(CUcheckpointRestoreArgs, reserved))) {
      return CUDA_ERROR_INVALID_VALUE;
    }
    if (args != nullptr && (args->gpuPairs != nullptr || args->gpuPairsCount != 0)) {
      return CUDA_ERROR_NOT_SUPPORTED;
    }
    return ToCuResult(driver.state().RestoreProcess(pid));
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuCheckpointProcessUnlock(int pid, CUcheckpointUnlockArgs* args) {
  return Api([&](Driver& driver) {
    if (!ReservedZero(args, 0)) return CUDA_ERROR_INVALID_VALUE;
    return ToCuResult(driver.state().UnlockProcess(pid));
  });
}
