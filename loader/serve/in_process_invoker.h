// The invoker that boots instances inside the server process through the in-process
// invocation API (loader/boot/invocation.h): request in a sealed memfd, stdout and stderr in
// memfds, the instance torn down and freed at the end. No process start per request; the
// sandbox kernel's lines about the instance join its stderr (one log line per invocation).
#pragma once

#include <memory>

#include "loader/boot/mount_binding.h"
#include "loader/platform/platform.h"
#include "loader/serve/invoker.h"

namespace cat::serve {

class InProcessInvoker : public Invoker {
 public:
  InProcessInvoker(std::unique_ptr<Platform> platform, MountChoice mounts)
      : platform_(std::move(platform)), mounts_(std::move(mounts)) {}

  std::vector<BootMode> AvailableModes() const override { return {BootMode::kCold}; }
  InvokeResult Invoke(const InvokeRequest& request) override;

 private:
  std::unique_ptr<Platform> platform_;
  const MountChoice mounts_;
};

}  // namespace cat::serve
