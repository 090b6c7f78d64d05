// The kvm self-test (see self_test.h).
#include "kvmcore/self_test.h"

#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "kvmcore/guest_machine.h"

namespace cat::kvm {
namespace {

constexpr uint64_t kCodeVa = 0x400000;
// mov eax,39; syscall; mov rdi,rax; mov eax,60; syscall; ud2
constexpr uint8_t kProgram[] = {0xb8, 0x27, 0, 0, 0, 0x0f, 0x05, 0x48, 0x89, 0xc7,
                                0xb8, 0x3c, 0, 0, 0, 0x0f, 0x05, 0x0f, 0x0b};

std::string Hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "%#llx", static_cast<unsigned long long>(v));
  return buf;
}

// No "kvm self-test" prefix here: RunWithWatchdog adds it once to whatever RunProgram returns.
Status Check(bool ok, const std::string& what) {
  if (!ok) return Fail(ENOTSUP, what);
  return {};
}

Status RunProgram(GuestMachine& m) {
  TRY_STATUS(m.MapAnonymous(kCodeVa, 4096, PROT_READ | PROT_WRITE | PROT_EXEC));
  TRY_STATUS(m.Write(kCodeVa, kProgram, sizeof(kProgram)));
  UserRegs regs = m.regs();
  regs.gpr.rip = kCodeVa;
  m.SetRegs(regs);
  TRY(GuestExit first, m.Run());
  if (first.kind == GuestExitKind::kException && m.regs().gpr.rip >= kSystemVa)
    return Check(false, "a ring-3 syscall did not reach ring 0: ring 3 ran the trampoline at " +
                            Hex(m.regs().gpr.rip) + " and took exception " +
                            std::to_string(first.vector) +
                            " (a software backend such as kvm_pvm behaves so)");
  TRY_STATUS(Check(first.kind == GuestExitKind::kSyscall && m.regs().gpr.rax == 39 &&
                       m.regs().gpr.rip == kCodeVa + 7,
                   "a ring-3 syscall did not reach the ring-0 trampoline"));
  m.SetRax(1234);
  TRY(GuestExit second, m.Run());
  TRY_STATUS(Check(
      second.kind == GuestExitKind::kSyscall && m.regs().gpr.rax == 60 && m.regs().gpr.rdi == 1234,
      "sysretq did not return the syscall's result to ring 3"));
  m.SetRax(0);
  TRY(GuestExit third, m.Run());
  return Check(third.kind == GuestExitKind::kException && third.vector == 6 &&
                   m.regs().gpr.rip == kCodeVa + 17,
               "ud2 in ring 3 did not come back as an invalid-opcode exit");
}

Status RunWithWatchdog(GuestMachine& m, int timeout_ms);

}  // namespace

std::string KnownUnusableBackend() {
  if (access("/sys/module/kvm_pvm", F_OK) == 0)
    return "/dev/kvm is kvm_pvm, a software backend on which a ring-3 syscall does not reach "
           "the ring-0 trampoline";
  return "";
}

Status SelfTest(const KvmSystem& system, int timeout_ms) {
  auto machine = GuestMachine::Create(system);
  if (machine) return RunWithWatchdog(**machine, timeout_ms);
  // The machine could not be set up. Say so, but first probe the trampoline without CPUID
  // (which some backends refuse): its failure is the more telling reason.
  MachineOptions without_cpuid;
  without_cpuid.set_cpuid = false;
  auto bare = GuestMachine::Create(system, without_cpuid);
  if (bare) TRY_STATUS(RunWithWatchdog(**bare, timeout_ms));
  return Fail(machine.error().code(), "kvm self-test: " + machine.error().message());
}

namespace {

Status RunWithWatchdog(GuestMachine& m, int timeout_ms) {
  GuestMachine* machine = &m;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false, fired = false;
  std::thread watchdog([&] {
    std::unique_lock lock(mu);
    if (!cv.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return done; })) {
      fired = true;
      machine->Kick();
    }
  });
  Status result = RunProgram(*machine);
  {
    std::lock_guard lock(mu);
    done = true;
  }
  cv.notify_all();
  watchdog.join();
  if (fired)
    return Fail(ETIMEDOUT, "kvm self-test: the guest did not come back within " +
                               std::to_string(timeout_ms) + " ms");
  return WithContext(result, "kvm self-test");
}

}  // namespace
}  // namespace cat::kvm
