// Reading a static x86-64 executable with libelf: its loadable segments, entry point and
// program headers, all bounds-checked against the file. Dynamically linked executables are
// refused: the sandbox has no dynamic loader to give them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "format/base/error.h"
#include "format/base/unique_fd.h"

namespace cat {

struct ElfSegment {
  uint64_t vaddr;
  uint64_t memsz;
  uint64_t filesz;
  uint64_t offset;
  uint32_t flags;  // PF_R / PF_W / PF_X
};

struct ElfImage {
  std::string path;
  UniqueFd fd;
  uint64_t file_size = 0;
  bool position_independent = false;  // ET_DYN (static-pie): loaded at a base we choose
  uint64_t entry = 0;
  uint64_t phdr_vaddr = 0;  // where the program headers are in memory (before the bias)
  uint16_t phnum = 0;
  uint16_t phentsize = 0;
  std::vector<ElfSegment> segments;
};

Result<ElfImage> ReadElfImage(const std::string& path);
// The same from an open file (the guest's execve: a file the sandbox resolved itself);
// `path` names it in messages and in ElfImage::path.
Result<ElfImage> ReadElfImage(UniqueFd fd, const std::string& path);

}  // namespace cat
