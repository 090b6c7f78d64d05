// Shared by the kvmcore and kvm-platform unit tests: whether this host has a KVM the kvm
// platform can use (the self-test, once per process), and guest code snippets assembled by
// the host compiler (position-independent bytes between two labels, copied into a guest).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "kvmcore/kvm_system.h"
#include "kvmcore/self_test.h"

namespace cat::kvm {

// "" if usable, else why not (for GTEST_SKIP).
inline const std::string& KvmUnusableReason() {
  static const std::string reason = [] {
    auto sys = KvmSystem::Open();
    if (!sys) return "no usable KVM: " + sys.error().message();
    auto st = SelfTest(*sys);
    if (!st) return "no usable KVM: " + st.error().message();
    return std::string();
  }();
  return reason;
}

#define SKIP_WITHOUT_KVM()                                                  \
  do {                                                                      \
    if (!::cat::kvm::KvmUnusableReason().empty())                           \
      GTEST_SKIP() << ::cat::kvm::KvmUnusableReason()                       \
                   << " (the QEMU harness runs these tests: ctest -L kvm)"; \
  } while (0)

// GUEST_CODE(name, "asm"): bytes name##_start .. name##_end in the test binary's text.
#define GUEST_CODE(name, text)                                                                \
  asm(".pushsection .text\n.globl " #name "_start\n" #name "_start:\n" text "\n.globl " #name \
      "_end\n" #name "_end:\n.popsection\n");                                                 \
  extern "C" const uint8_t name##_start[], name##_end[];                                      \
  inline std::vector<uint8_t> name() {                                                        \
    return std::vector<uint8_t>(name##_start, name##_end);                                    \
  }

}  // namespace cat::kvm
