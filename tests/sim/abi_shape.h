// Describes a C function type structurally, so declarations made by two different headers can
// be compared without putting both in one translation unit (their extern "C" declarations of
// the same names would conflict). A shape records, for the result and every parameter, its
// kind, size and alignment, and for pointers the same of the pointee and its constness.
#pragma once

#include <string>
#include <type_traits>

namespace gpuslice::testing {

template <typename T, typename = void>
struct IsComplete : std::false_type {};
template <typename T>
struct IsComplete<T, std::void_t<decltype(sizeof(T))>> : std::true_type {};

template <typename T>
std::string ScalarShape() {
  using U = std::remove_cv_t<T>;
  if constexpr (std::is_void_v<U>) {
    return "void";
  } else if constexpr (std::is_function_v<U>) {
    return "fn";
  } else if constexpr (!IsComplete<U>::value) {
    return "opaque";  // a handle's struct, never defined by either header
  } else {
    std::string kind = "record";
    if constexpr (std::is_enum_v<U>) {
      kind = "enum";
    } else if constexpr (std::is_floating_point_v<U>) {
      kind = "float";
    } else if constexpr (std::is_integral_v<U>) {
      kind = std::is_signed_v<U> ? "int" : "uint";
    } else if constexpr (std::is_pointer_v<U>) {
      kind = "ptr";
    }
    return kind + std::to_string(sizeof(U)) + "/" + std::to_string(alignof(U));
  }
}

template <typename T>
std::string TypeShape() {
  if constexpr (std::is_pointer_v<T>) {
    using Pointee = std::remove_pointer_t<T>;
    std::string inner = std::is_const_v<Pointee> ? "const " : "";
    if constexpr (std::is_pointer_v<std::remove_cv_t<Pointee>>) {
      return "ptr(" + inner + TypeShape<std::remove_cv_t<Pointee>>() + ")";
    } else {
      return "ptr(" + inner + ScalarShape<Pointee>() + ")";
    }
  } else {
    return ScalarShape<T>();
  }
}

template <typename R, typename... Args>
std::string FunctionShape(R (*)(Args...)) {
  std::string shape = TypeShape<R>() + " (";
  ((shape += TypeShape<Args>() + ", "), ...);
  return shape + ")";
}

}  // namespace gpuslice::testing
