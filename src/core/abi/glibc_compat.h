// Pins the glibc functions code loaded into other people's processes (libgpuslice.so) calls to
// their oldest symbol versions. glibc 2.34 moved the pthread and dl functions into libc.so.6
// under new versions; linked as built on a new glibc, the library would refuse to load in any
// container image with an older one (Ubuntu 22.04 and before, RHEL 8 and 9). The old versions
// stay exported by every newer glibc, so the pinned library loads on both.
//
// Force-included (-include) into every translation unit of the library, because a .symver
// applies only to the object file it appears in. Declares nothing.
#pragma once

#if defined(__x86_64__)
#define GPUSLICE_GLIBC_BASE "GLIBC_2.2.5"
#define GPUSLICE_GLIBC_ROBUST "GLIBC_2.12"
#elif defined(__aarch64__)
#define GPUSLICE_GLIBC_BASE "GLIBC_2.17"
#define GPUSLICE_GLIBC_ROBUST "GLIBC_2.17"
#else
#error "glibc symbol versions are pinned for x86-64 and AArch64 only"
#endif

#define GPUSLICE_PIN_GLIBC(name, version) __asm__(".symver " #name "," #name "@" version)

GPUSLICE_PIN_GLIBC(dlopen, GPUSLICE_GLIBC_BASE);
GPUSLICE_PIN_GLIBC(dlvsym, GPUSLICE_GLIBC_BASE);
GPUSLICE_PIN_GLIBC(pthread_create, GPUSLICE_GLIBC_BASE);
GPUSLICE_PIN_GLIBC(pthread_once, GPUSLICE_GLIBC_BASE);
GPUSLICE_PIN_GLIBC(pthread_key_create, GPUSLICE_GLIBC_BASE);
GPUSLICE_PIN_GLIBC(pthread_mutexattr_init, GPUSLICE_GLIBC_BASE);
GPUSLICE_PIN_GLIBC(pthread_mutexattr_destroy, GPUSLICE_GLIBC_BASE);
GPUSLICE_PIN_GLIBC(pthread_mutexattr_setpshared, GPUSLICE_GLIBC_BASE);
GPUSLICE_PIN_GLIBC(pthread_mutexattr_settype, GPUSLICE_GLIBC_BASE);
GPUSLICE_PIN_GLIBC(pthread_mutexattr_setrobust, GPUSLICE_GLIBC_ROBUST);
GPUSLICE_PIN_GLIBC(pthread_mutex_consistent, GPUSLICE_GLIBC_ROBUST);
GPUSLICE_PIN_GLIBC(pthread_mutex_timedlock, GPUSLICE_GLIBC_BASE);

#undef GPUSLICE_PIN_GLIBC
