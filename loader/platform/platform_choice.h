// The one place that chooses the platform a sandbox runs on, by name (catload's --platform):
// every subcommand, catimg build and the server get their Platform from here, so adding the
// kvm platform means changing only this file.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "format/base/error.h"
#include "loader/platform/platform.h"

namespace cat {

// "ptrace" (always available) and "auto" (the best platform this host supports: ptrace until
// the kvm platform lands; then kvm if it passes a self-test, else ptrace).
constexpr std::string_view kDefaultPlatform = "auto";
std::vector<std::string> PlatformNames();

// The platform called `name`; EINVAL naming the choices for an unknown name.
Result<std::unique_ptr<Platform>> ChoosePlatform(std::string_view name);

}  // namespace cat
