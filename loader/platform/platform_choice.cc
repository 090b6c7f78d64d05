// Choosing the platform by name (see platform_choice.h).
#include "loader/platform/platform_choice.h"

#include <unistd.h>

#include "kvmcore/self_test.h"
#include "loader/platform/kvm/kvm_platform.h"
#include "loader/platform/ptrace/ptrace_platform.h"

namespace cat {
namespace {

constexpr const char* kKvmDevice = "/dev/kvm";

std::unique_ptr<Platform> Ptrace() {
  return std::make_unique<ptrace_platform::PtracePlatform>();
}

}  // namespace

std::vector<std::string> PlatformNames() {
  return {"auto", "kvm", "ptrace"};
}

Result<std::unique_ptr<Platform>> ChoosePlatform(std::string_view name, std::string* why) {
  if (why) why->clear();
  if (name == "ptrace") return Ptrace();
  if (name == "kvm") {
    TRY(auto kvm, WithContext(kvm_platform::KvmPlatform::Open(kKvmDevice),
                              "the kvm platform cannot run here (use --platform ptrace)"));
    return std::unique_ptr<Platform>(std::move(kvm));
  }
  if (name == "auto") {
    if (access(kKvmDevice, F_OK) != 0) return Ptrace();  // no KVM at all: nothing to explain
    // A known software backend is refused before any VM is made: its self-test would fail
    // anyway, and every catload start would pay for it.
    if (std::string backend = kvm::KnownUnusableBackend(); !backend.empty()) {
      if (why) *why = "platform auto: ptrace, not kvm: " + backend;
      return Ptrace();
    }
    auto kvm = kvm_platform::KvmPlatform::Open(kKvmDevice);
    if (kvm) return std::unique_ptr<Platform>(std::move(*kvm));
    if (why) *why = "platform auto: ptrace, not kvm: " + kvm.error().message();
    return Ptrace();
  }
  return Fail(EINVAL, "unknown platform '" + std::string(name) + "' (choose auto, kvm or ptrace)");
}

}  // namespace cat
