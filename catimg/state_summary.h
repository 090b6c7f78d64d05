// What the sandbox kernel's state inside a func-image says, for `catimg inspect`: the open
// fds, the mounts and the overlay's files. Decoded from a private copy of the arena after its
// checksum and relocations are checked, so a damaged image is reported, never followed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "format/base/error.h"
#include "format/image/func_image.h"

namespace cat::catimg {

struct StateSummary {
  struct Fd {
    int fd;
    std::string kind;  // stdio, host, overlay, pipe
    std::string path;
    std::string access;  // r, w, rw
  };
  struct Mount {
    std::string guest;
    std::string access;  // none (the empty root), ro, rw; the host side is bound at boot
  };
  struct OverlayFile {
    std::string path;
    std::string type;  // file, dir, symlink, device, whiteout
    uint64_t size;
  };
  std::string cwd;
  std::vector<Fd> fds;
  std::vector<Mount> mounts;
  std::vector<OverlayFile> overlay;  // sorted by path
};

Result<StateSummary> SummarizeState(const FuncImage& image);

}  // namespace cat::catimg
