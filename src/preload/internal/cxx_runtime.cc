// The few pieces of the C++ runtime libgpuslice.so needs, defined here so no part of
// libstdc++'s exception machinery is linked in. The library is built without exceptions (a
// hook cannot throw through its C caller), and libstdc++'s versions of these functions pull
// in the unwinder, std::string and std::random_device, which require the build machine's glibc
// (2.35, 2.36) in every container the library is preloaded into. The version script keeps
// all of them local to the library, so the application's own C++ runtime is untouched.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <new>

namespace {

[[noreturn]] void Die(const char* what) {
  fprintf(stderr, "libgpuslice: fatal: %s\n", what);
  abort();
}

// Function-local statics are guarded as the Itanium C++ ABI specifies: byte 0 of the guard
// says "initialized", byte 1 "being initialized". The mutex is held only to look at and mark
// a guard, never during an initialization, so one static's initializer may use another's.
pthread_mutex_t guard_mutex = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t guard_done = PTHREAD_COND_INITIALIZER;

uint8_t* GuardBytes(uint64_t* guard) { return reinterpret_cast<uint8_t*>(guard); }

}  // namespace

extern "C" int __cxa_guard_acquire(uint64_t* guard) {
  if (__atomic_load_n(GuardBytes(guard), __ATOMIC_ACQUIRE) != 0) return 0;
  pthread_mutex_lock(&guard_mutex);
  while (true) {
    if (__atomic_load_n(GuardBytes(guard), __ATOMIC_ACQUIRE) != 0) {
      pthread_mutex_unlock(&guard_mutex);
      return 0;
    }
    if (GuardBytes(guard)[1] == 0) {
      GuardBytes(guard)[1] = 1;
      pthread_mutex_unlock(&guard_mutex);
      return 1;
    }
    pthread_cond_wait(&guard_done, &guard_mutex);
  }
}

extern "C" void __cxa_guard_release(uint64_t* guard) {
  pthread_mutex_lock(&guard_mutex);
  __atomic_store_n(GuardBytes(guard), 1, __ATOMIC_RELEASE);
  GuardBytes(guard)[1] = 0;
  pthread_cond_broadcast(&guard_done);
  pthread_mutex_unlock(&guard_mutex);
}

extern "C" void __cxa_guard_abort(uint64_t* guard) {
  pthread_mutex_lock(&guard_mutex);
  GuardBytes(guard)[1] = 0;
  pthread_cond_broadcast(&guard_done);
  pthread_mutex_unlock(&guard_mutex);
}

void* operator new(std::size_t size) {
  void* memory = malloc(size == 0 ? 1 : size);
  if (memory == nullptr) Die("out of memory");
  return memory;
}

void operator delete(void* memory) noexcept { free(memory); }
void operator delete(void* memory, std::size_t) noexcept { free(memory); }

// Objects with cache-line-aligned members (per-thread-group counters) are allocated aligned.
void* operator new(std::size_t size, std::align_val_t alignment) {
  void* memory = nullptr;
  const std::size_t align = static_cast<std::size_t>(alignment) < sizeof(void*)
                                ? sizeof(void*)
                                : static_cast<std::size_t>(alignment);
  if (posix_memalign(&memory, align, size == 0 ? 1 : size) != 0) Die("out of memory");
  return memory;
}

void operator delete(void* memory, std::align_val_t) noexcept { free(memory); }
void operator delete(void* memory, std::size_t, std::align_val_t) noexcept { free(memory); }

// What the standard library's inline code calls where it would throw.
namespace std {
void __throw_bad_alloc() { Die("out of memory"); }
void __throw_bad_array_new_length() { Die("bad array new length"); }
void __throw_bad_function_call() { Die("call of an empty std::function"); }
void __throw_length_error(const char* what) { Die(what); }
void __throw_logic_error(const char* what) { Die(what); }
void __throw_out_of_range_fmt(const char* what, ...) { Die(what); }
void __throw_system_error(int) { Die("system error"); }
}  // namespace std
