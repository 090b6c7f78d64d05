// Error values for every library in the project: an errno-like code plus a chain of context,
// outermost first ("exec: load ELF /bin/x: open: ENOENT"). Libraries return
// std::expected<T, Error>; only the binaries' main functions print errors and exit.
#pragma once

#include <cerrno>
#include <cstring>
#include <expected>
#include <string>
#include <utility>

namespace cat {

class Error {
 public:
  Error(int code, std::string message) : code_(code), message_(std::move(message)) {}

  // An error from a failed host call: "what: strerror(errno)" with the current errno.
  static Error FromErrno(std::string_view what, int err = errno) {
    return Error(err, std::string(what) + ": " + ErrnoName(err) + " (" + std::strerror(err) + ")");
  }

  int code() const { return code_; }
  const std::string& message() const { return message_; }

  // Prepends one level of context: Error(..."mmap: ENOMEM").Context("map segment 3").
  Error Context(std::string_view context) && {
    message_ = std::string(context) + ": " + message_;
    return std::move(*this);
  }
  Error Context(std::string_view context) const& { return Error(*this).Context(context); }

  static std::string ErrnoName(int err);

 private:
  int code_;
  std::string message_;
};

template <class T>
using Result = std::expected<T, Error>;
using Status = std::expected<void, Error>;

inline std::unexpected<Error> Fail(int code, std::string message) {
  return std::unexpected(Error(code, std::move(message)));
}
inline std::unexpected<Error> FailErrno(std::string_view what, int err = errno) {
  return std::unexpected(Error::FromErrno(what, err));
}

// Adds context to the error of a failed expected, passes a value through.
template <class T>
std::expected<T, Error> WithContext(std::expected<T, Error> r, std::string_view context) {
  if (!r) return std::unexpected(std::move(r.error()).Context(context));
  return r;
}

}  // namespace cat

// TRY(var, expr): evaluates expr (an expected); on error returns it from the enclosing function.
#define CAT_CONCAT_INNER(a, b) a##b
#define CAT_CONCAT(a, b) CAT_CONCAT_INNER(a, b)
#define CAT_TRY_IMPL(tmp, var, expr)                        \
  auto tmp = (expr);                                        \
  if (!tmp) return std::unexpected(std::move(tmp.error())); \
  var = std::move(*tmp)
#define TRY(var, expr) CAT_TRY_IMPL(CAT_CONCAT(try_tmp_, __LINE__), var, expr)
#define TRY_STATUS(expr)                                                      \
  do {                                                                        \
    auto try_status_ = (expr);                                                \
    if (!try_status_) return std::unexpected(std::move(try_status_.error())); \
  } while (0)
