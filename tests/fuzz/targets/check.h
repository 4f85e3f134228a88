// What a fuzz target does when a parser breaks a promise: say which, and abort so libFuzzer
// keeps the input.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

namespace gpuslice::fuzz {

inline void Expect(bool holds, const std::string& promise) {
  if (holds) return;
  std::fprintf(stderr, "broken promise: %s\n", promise.c_str());
  std::abort();
}

}  // namespace gpuslice::fuzz
