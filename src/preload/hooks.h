// How libgpuslice.so defines a hook: an exported C function with the driver's (or NVML's)
// own declaration from core/abi, which the compiler checks the definition against.
#pragma once

// The ABI headers declare the entry points as C does, without an exception specification,
// and C++ refuses to redeclare them noexcept; nothrow is the same promise in a form C
// declarations accept, and the library is built with -fno-exceptions besides. Everything
// else in the library is hidden (-fvisibility=hidden), so the hooks are its only exports.
#define GPUSLICE_HOOK extern "C" __attribute__((visibility("default"), nothrow))
