// A KVM vCPU (KVM_CREATE_VCPU) and its shared kvm_run area: register access and KVM_RUN.
//
// Registers. General registers go through kvm_run's sync area where KVM_CAP_SYNC_REGS exists:
// KVM stores them there at every exit and loads them (when marked dirty) at the next entry, so
// a syscall's round trip costs one ioctl (KVM_RUN) instead of three (GET_REGS, SET_REGS, RUN).
// Special registers are written through the same area (marked dirty, loaded at entry) but
// never stored at exits: only the VMM changes them (the guest runs in ring 3 and cannot), so
// its cached copy is authoritative.
//
// Restore order (SetState in guest_machine.cc follows it): CPUID first (KVM validates XCR0,
// XSAVE components and some MSRs against the guest's CPUID), then special registers (long
// mode, CR4.OSXSAVE, which XSETBV-visible state depends on), then XCR0 (before the XSAVE area,
// whose components must be enabled in it), then MSRs, then the XSAVE area, then general
// registers last (nothing after them may change RIP or RFLAGS).
#pragma once

#include <linux/kvm.h>

#include <atomic>
#include <cstdint>
#include <vector>

#include "format/base/error.h"
#include "format/base/unique_fd.h"
#include "kvmcore/exit.h"
#include "kvmcore/kvm_system.h"
#include "kvmcore/vm.h"

namespace cat::kvm {

// The signal that kicks a thread out of KVM_RUN (its handler, installed on first use, does
// nothing: the point is KVM_RUN's EINTR). A CPU-time timer may send it too.
int KickSignal();

class Vcpu {
 public:
  static Result<Vcpu> Create(const KvmSystem& system, Vm& vm, uint32_t id);
  Vcpu(Vcpu&& o) noexcept;
  Vcpu& operator=(Vcpu&&) = delete;
  ~Vcpu();

  // General registers: after an exit, read from the sync area (or KVM_GET_REGS); a set is
  // loaded at the next entry.
  Result<kvm_regs> GetRegs();
  Status SetRegs(const kvm_regs& regs);
  Result<kvm_sregs> GetSregs();
  Status SetSregs(const kvm_sregs& sregs);
  // KVM_SET_SREGS now, not at the next entry: for set-up steps whose order matters.
  Status LoadSregs(const kvm_sregs& sregs);
  Status SetCpuid(const std::vector<kvm_cpuid_entry2>& entries);
  Status SetXcr0(uint64_t xcr0);
  Status SetMsrs(const std::vector<kvm_msr_entry>& msrs);
  Result<std::vector<kvm_msr_entry>> GetMsrs(std::vector<uint32_t> indices);
  Result<kvm_fpu> GetFpu();
  Status SetFpu(const kvm_fpu& fpu);
  // The XSAVE area, standard (non-compacted) layout, 4 KiB (kvm_xsave's region).
  Result<std::vector<uint8_t>> GetXsave();
  // Up to 4 KiB; the rest of kvm_xsave's region is zero.
  Status SetXsave(const std::vector<uint8_t>& area);

  // One KVM_RUN. EINTR (a Kick or any signal) is an exit of its own (kInterrupted).
  Result<Exit> Run();
  // Thread-safe: makes the current or the next Run() return kInterrupted. Signals the thread
  // inside KVM_RUN with kKickSignal (a no-op handler installed once per process).
  void Kick();
  uint64_t exits() const { return exits_; }

 private:
  Vcpu(UniqueFd fd, kvm_run* run, size_t run_size, bool sync)
      : fd_(std::move(fd)), run_(run), run_size_(run_size), sync_(sync) {}
  UniqueFd fd_;
  kvm_run* run_;
  size_t run_size_;
  bool sync_;
  bool regs_dirty_ = false;
  std::atomic<pid_t> running_tid_{0};
  uint64_t exits_ = 0;
};

}  // namespace cat::kvm
