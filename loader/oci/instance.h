// A container's guest inside its keeper process (spec/oci.md, "Runtime: verbs"): booted by
// `create` up to the point just before the guest's next instruction (a func-image cold-booted
// to its func-entry point; any other static program loaded as `catload exec` loads it), run by
// `start`. The keeper's fds 0, 1, 2 are the container's stdio.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "format/base/error.h"
#include "format/image/func_image.h"
#include "loader/boot/run_loop.h"
#include "loader/boot/sandbox.h"
#include "loader/oci/bundle_config.h"
#include "loader/oci/oci_log.h"
#include "loader/platform/platform.h"

namespace cat::oci {

class Instance {
 public:
  // Boots the container `config` describes; `root` holds the snapshot cache. Ignored features
  // and what was chosen (exec, func-image, cached snapshot) are logged to `log`.
  static Result<std::unique_ptr<Instance>> Boot(const BundleConfig& config, const std::string& root,
                                                const OciLog& log);
  ~Instance();
  // Runs the guest to its end. Returns the container's exit status (the guest's; 128+N for a
  // signal or a fault, 137 past the memory limit as an OOM kill reports, 124 past the
  // timeout) and sets `why` to a line for stderr when it did not simply exit.
  int Run(std::string& why);
  // "exec", "func-image" or "snapshot" (tests read it in the log).
  const std::string& kind() const { return kind_; }

 private:
  Instance() = default;
  Status BootExec(const BundleConfig& c, const std::string& exe_host);
  Status BootImage(const BundleConfig& c, const std::string& image_host, const OciLog& log);

  std::unique_ptr<Platform> platform_;
  std::optional<FuncImage> image_;
  std::unique_ptr<Sandbox> sandbox_;
  RunLimits limits_;
  uint64_t memory_limit_ = 0;
  std::string kind_;
};

}  // namespace cat::oci
