/* The table cuGetProcAddress answers from: every variant of every driver entry point, with
 * the CUDA version that introduced it and whether it is the per-thread default-stream
 * variant. Generated at build time (generate_entry_points.cmake); C, so the generated file
 * can refer to every exported symbol without their C++ declarations. */
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

struct GpusliceEntryPointVariant {
  const char* name; /* base name, e.g. "cuMemAlloc" */
  int version;      /* CUDA version that introduced this variant, e.g. 3020 */
  int per_thread;   /* 1: selected by CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM */
  void* symbol;     /* the exported function, e.g. cuMemAlloc_v2 */
};

extern const struct GpusliceEntryPointVariant kGpusliceEntryPointVariants[];
extern const int kGpusliceEntryPointVariantCount;

#ifdef __cplusplus
}
#endif
