// A sandbox kernel on the minimal state (state_fixture.h) and a FakeShell, for tests that run
// syscalls through the kernel's dispatch with no guest: Syscall() puts one syscall's number and
// arguments in the registers, dispatches it and returns rax. The kernel's log lines collect in
// log_. Test fixtures derive from it (KernelTest, SignalDeliveryTest) and add their helpers.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "loader/kernel/sandbox_kernel.h"
#include "tests/unit/fake_shell.h"
#include "tests/unit/state_fixture.h"

namespace cat::testing {

class KernelFixture : public ::testing::Test {
 protected:
  KernelFixture()
      : state_(MinimalState()),
        kernel_(*state_, shell_, HostBindings{},
                Logger([this](const std::string& l) { log_ += l + "\n"; })) {}

  int64_t Syscall(uint64_t nr, uint64_t a0 = 0, uint64_t a1 = 0, uint64_t a2 = 0, uint64_t a3 = 0,
                  uint64_t a4 = 0, uint64_t a5 = 0) {
    GuestRegs r{};
    r.orig_rax = nr;
    r.rdi = a0;
    r.rsi = a1;
    r.rdx = a2;
    r.r10 = a3;
    r.r8 = a4;
    r.r9 = a5;
    r.rip = 0x401002;
    shell_.SetRegs(r);
    kernel_.HandleSyscall();
    return static_cast<int64_t>(shell_.regs().rax);
  }

  // Another thread `tid` (above every tid so far) with a task of its own on the next vCPU, as
  // clone would leave them.
  Task& AddThread(int32_t tid) {
    state::Thread t{};
    t.tid = tid;
    state_->threads.PushBack(t);
    state_->process.next_tid = tid + 1;
    return kernel_.tasks.Add(shell_, static_cast<int>(kernel_.tasks.size()), tid);
  }

  std::string log_;
  FakeShell shell_;
  state::SandboxState* state_;
  SandboxKernel kernel_;
};

}  // namespace cat::testing
