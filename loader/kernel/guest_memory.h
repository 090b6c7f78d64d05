// Copying syscall arguments in and out of guest memory. Every pointer a guest passes is
// untrusted: each access goes through the platform, which fails with EFAULT on an address the
// guest cannot touch, and the error becomes the syscall's EFAULT, never a crash of catload.
#pragma once

#include <string>
#include <type_traits>

#include "format/base/error.h"
#include "loader/platform/platform.h"

namespace cat {

class GuestMemory {
 public:
  explicit GuestMemory(Shell& shell) : shell_(shell) {}

  Status CopyIn(uint64_t addr, void* buf, size_t len) { return shell_.Read(addr, buf, len); }
  Status CopyOut(uint64_t addr, const void* buf, size_t len) {
    return shell_.Write(addr, buf, len);
  }
  template <class T>
  Result<T> ReadObject(uint64_t addr) {
    static_assert(std::is_trivially_copyable_v<T>);
    T value;
    TRY_STATUS(CopyIn(addr, &value, sizeof(T)));
    return value;
  }
  template <class T>
  Status WriteObject(uint64_t addr, const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    return CopyOut(addr, &value, sizeof(T));
  }
  // A NUL-terminated string of at most max_len bytes (ENAMETOOLONG beyond). The default is
  // Linux's for paths and symlink targets: PATH_MAX (4096) counts the NUL, so 4095 characters.
  Result<std::string> ReadString(uint64_t addr, size_t max_len = 4095);

 private:
  Shell& shell_;
};

}  // namespace cat
