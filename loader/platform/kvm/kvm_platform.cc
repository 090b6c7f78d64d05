// The kvm platform: /dev/kvm opened and self-tested once, shells made from it (see
// kvm_platform.h).
#include "loader/platform/kvm/kvm_platform.h"

#include "kvmcore/self_test.h"

namespace cat::kvm_platform {

Result<std::unique_ptr<KvmPlatform>> KvmPlatform::Open(const std::string& device) {
  TRY(kvm::KvmSystem system, kvm::KvmSystem::Open(device));
  TRY_STATUS(kvm::SelfTest(system));
  return std::unique_ptr<KvmPlatform>(
      new KvmPlatform(std::make_shared<const kvm::KvmSystem>(std::move(system))));
}

Result<std::unique_ptr<Shell>> KvmPlatform::CreateShell() {
  TRY(auto shell, KvmShell::Create(system_, pool_));
  return std::unique_ptr<Shell>(std::move(shell));
}

}  // namespace cat::kvm_platform
