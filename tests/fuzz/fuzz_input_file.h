// The parsers under fuzz read files by path (they open, fstat and pread like catload and catimg
// do), so each fuzz input is put in a memfd and named by its /proc/self/fd path: no disk, and
// the same code paths as the real tools.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "format/base/unique_fd.h"

namespace cat::fuzz {

class InputFile {
 public:
  // Holds a copy of data[0, size); ok() is false if the memfd could not be made or filled.
  InputFile(const uint8_t* data, size_t size);
  bool ok() const { return fd_.valid(); }
  const std::string& path() const { return path_; }

 private:
  UniqueFd fd_;
  std::string path_;
};

}  // namespace cat::fuzz
