// The offline compiler: checkpoint -> func-image, as a list of named passes (compiler.cc).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "format/base/error.h"
#include "format/image/func_image.h"

namespace cat::catimg {

struct BuildOptions {
  std::string name;  // function name in the image; default: the executable's base name
  std::string catimg_version = "catimg 0.1.0";
  std::vector<PageRun> working_set;  // recorded by --sample-request (Manifest.working_set)
};

struct BuildReport {
  struct PassTime {
    std::string pass;
    double ms;
  };
  std::vector<PassTime> passes;
  uint64_t stored_bytes = 0;
  uint64_t zero_bytes = 0;
  uint64_t segments = 0;
  uint64_t arena_bytes = 0;
  uint64_t relocations = 0;
};

// Compiles the checkpoint at `core` into a func-image at `output`. Errors name the pass.
Result<BuildReport> CompileCheckpoint(const std::string& core, const std::string& output,
                                      const BuildOptions& options);

}  // namespace cat::catimg
