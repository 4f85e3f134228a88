// Status and Result<T>: how errors travel between gpuslice modules.
//
// No module throws across its boundary. Exceptions raised by third-party libraries (yaml-cpp,
// nlohmann::json, CLI11, gRPC) are caught in the function that wraps the library and turned
// into a Status there. These two types are the project's vocabulary, so they live in the
// top-level `gpuslice` namespace rather than `gpuslice::core`.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace gpuslice {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // the caller's input is wrong; retrying the same input fails again
  kNotFound,            // a named thing (file, device, GPU) does not exist
  kAlreadyExists,       // creating something that is already there
  kFailedPrecondition,  // the system is not in a state where the operation can run
  kResourceExhausted,   // out of slices, memory, or capacity
  kUnavailable,         // a peer (kubelet, NVML) is not answering; retrying may help
  kDeadlineExceeded,    // a wait ran out of time
  kInternal,            // a broken invariant or an unexpected library failure
};

// Returns the lower-case name of `code`, e.g. "invalid argument".
std::string_view StatusCodeName(StatusCode code);

// The outcome of an operation: OK, or a code with a message for a human.
// Messages name the offending thing (file, field, value, device ID) so the user can act.
// Copyable and cheap when OK. Thread-compatible.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) {
    return {StatusCode::kInvalidArgument, std::move(msg)};
  }
  static Status NotFound(std::string msg) { return {StatusCode::kNotFound, std::move(msg)}; }
  static Status AlreadyExists(std::string msg) {
    return {StatusCode::kAlreadyExists, std::move(msg)};
  }
  static Status FailedPrecondition(std::string msg) {
    return {StatusCode::kFailedPrecondition, std::move(msg)};
  }
  static Status ResourceExhausted(std::string msg) {
    return {StatusCode::kResourceExhausted, std::move(msg)};
  }
  static Status Unavailable(std::string msg) { return {StatusCode::kUnavailable, std::move(msg)}; }
  static Status DeadlineExceeded(std::string msg) {
    return {StatusCode::kDeadlineExceeded, std::move(msg)};
  }
  static Status Internal(std::string msg) { return {StatusCode::kInternal, std::move(msg)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is "<context>: <message>"; OK stays OK.
  Status WithContext(std::string_view context) const;

  // "OK" or "<code name>: <message>".
  std::string ToString() const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Either a value of type T or a non-OK Status.
// REQUIRES: a Result is never built from an OK Status (that would carry no value).
template <typename T>
class [[nodiscard]] Result {
  static_assert(!std::is_same_v<std::decay_t<T>, Status>, "Result<Status> is meaningless");

 public:
  Result(T value) : state_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : state_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(state_).ok() && "Result built from an OK Status");
  }

  bool ok() const { return std::holds_alternative<T>(state_); }

  // Returns the error; an OK Status when the Result holds a value.
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(state_); }

  // REQUIRES: ok().
  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // Returns the value, or `fallback` when this holds an error.
  T value_or(T fallback) const& { return ok() ? value() : std::move(fallback); }

 private:
  std::variant<T, Status> state_;
};

}  // namespace gpuslice

// Returns early from the enclosing function (which returns Status or Result<U>) when `expr`
// evaluates to a non-OK Status.
#define GPUSLICE_RETURN_IF_ERROR(expr)                   \
  do {                                                   \
    ::gpuslice::Status gpuslice_status_ = (expr);        \
    if (!gpuslice_status_.ok()) return gpuslice_status_; \
  } while (false)
