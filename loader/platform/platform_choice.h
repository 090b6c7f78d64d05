// The one place that chooses the platform a sandbox runs on, by name (catload's --platform):
// every subcommand, catimg build and the server get their Platform from here.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "format/base/error.h"
#include "loader/platform/platform.h"

namespace cat {

// "auto" (kvm if this host's KVM passes the self-test, else ptrace), "kvm" (an error if KVM is
// missing or fails the self-test) and "ptrace" (always available). spec/kvm.md, "Choosing".
constexpr std::string_view kDefaultPlatform = "auto";
std::vector<std::string> PlatformNames();

// The platform called `name`; EINVAL naming the choices for an unknown name. For "auto",
// `why` (if given) receives one line saying why ptrace was chosen over kvm ("" when kvm was
// chosen, or when the host has no /dev/kvm at all: ptrace is then the only platform there is).
Result<std::unique_ptr<Platform>> ChoosePlatform(std::string_view name, std::string* why = nullptr);

}  // namespace cat
