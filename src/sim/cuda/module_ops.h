// Kernels as launches see them: a CUfunction (or a CUkernel passed as one) resolved in the
// launching context, and its occupancy.
#pragma once

#include "core/abi/cuda.h"
#include "sim/cuda/driver.h"

namespace gpuslice::sim::cuda {

// The function `handle` names in `ctx`: a CUfunction of a module loaded in ctx, or a
// CUkernel (whose library is then loaded into ctx). CUDA_ERROR_INVALID_HANDLE otherwise.
CUresult ResolveFunction(Driver& driver, CUfunction handle, CUctx_st* ctx, CUfunc_st** function);

// The module of `library` in `ctx`, loaded on first use.
CUresult LibraryModule(Driver& driver, CUlib_st* library, CUctx_st* ctx, CUmod_st** module);

}  // namespace gpuslice::sim::cuda
