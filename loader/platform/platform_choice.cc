// Choosing the platform by name (see platform_choice.h).
#include "loader/platform/platform_choice.h"

#include "loader/platform/ptrace/ptrace_platform.h"

namespace cat {

std::vector<std::string> PlatformNames() {
  return {"auto", "ptrace"};
}

Result<std::unique_ptr<Platform>> ChoosePlatform(std::string_view name) {
  // kvm is not implemented yet (kvmcore/): "auto" has only one candidate.
  if (name == "ptrace" || name == "auto")
    return std::unique_ptr<Platform>(std::make_unique<ptrace_platform::PtracePlatform>());
  return Fail(EINVAL, "unknown platform '" + std::string(name) + "' (choose auto or ptrace)");
}

}  // namespace cat
