// The platform interface: how the sandbox kernel runs a guest without knowing on what. A
// Platform makes sandbox shells; a Shell is one guest address space with one or more vCPUs
// (guest threads), each running until the guest makes a syscall, faults or dies. Implemented
// by the ptrace platform (ptrace/) and the kvm platform (kvm/).
//
// Thread affinity: every call except CpuTimeNs() and Interrupt() comes from the shell's
// controlling thread (ptrace: the tracer thread; ReleaseThread/AttachThread hand it over).
// Registers are per vCPU; calls that read or write registers (regs, SetRegs, SetSyscallResult,
// Get/SetFpu, Get/SetXstate, Run, Start) act on the *selected* vCPU (SelectVcpu). Memory calls
// act on the one address space all vCPUs share.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "format/base/cpu_features.h"
#include "format/base/error.h"
#include "format/base/guest_layout.h"  // kGuestAddressLimit and the reserved ranges
#include "format/state/cpu_state.h"

namespace cat {

enum class StopReason {
  kSyscall,      // guest executed `syscall`; number in regs().orig_rax, args in rdi..r9
  kFault,        // guest took a synchronous fault (signal, fault_address)
  kExited,       // the shell is gone (killed); nothing more can run
  kInterrupted,  // Interrupt() was called (signal 0), or LimitCpuTime's limit (SIGXCPU)
};

struct Stop {
  StopReason reason;
  int signal = 0;              // kFault: SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP; see above
  uint64_t fault_address = 0;  // kFault: si_addr
  int code = 0;                // kFault: si_code (SEGV_MAPERR, FPE_INTDIV, ...)
  int vcpu = 0;                // which vCPU stopped (WaitAny; Run reports the selected one)
};

// One mapping of a boot's many (Shell::MapMany): anonymous when host_fd < 0.
struct MapRequest {
  uint64_t addr;
  uint64_t len;
  int prot;
  int host_fd;
  uint64_t offset;
};

// One madvise of many (Shell::AdviseMany): MADV_POPULATE_WRITE, MADV_HUGEPAGE, ...
struct AdviseRequest {
  uint64_t addr;
  uint64_t len;
  int advice;
};

// A page-aligned guest range.
struct GuestRange {
  uint64_t addr;
  uint64_t len;
};

class Shell {
 public:
  virtual ~Shell() = default;

  // Memory. Addresses and lengths are page-aligned; mappings are always MAP_FIXED at `addr`
  // (the sandbox kernel decides the layout) and MAP_PRIVATE.
  virtual Status MapAnonymous(uint64_t addr, uint64_t len, int prot) = 0;
  virtual Status MapFile(uint64_t addr, uint64_t len, int prot, int host_fd, uint64_t offset) = 0;
  // The one exception to MAP_PRIVATE: a MAP_SHARED mapping of a host file the guest may write
  // (a rw mount, an fd open for writing), so that its stores reach the file as write(2)'s do.
  // A platform that cannot share host pages with its guest refuses (the guest sees ENODEV).
  virtual Status MapFileShared(uint64_t addr, uint64_t len, int prot, int host_fd,
                               uint64_t offset) {
    (void)addr, (void)len, (void)prot, (void)host_fd, (void)offset;
    return Fail(ENODEV, "this platform cannot share host file pages with its guest");
  }
  // Many mappings at once (a boot's segments); a platform may do them in one round trip.
  virtual Status MapMany(const std::vector<MapRequest>& requests) {
    for (const MapRequest& r : requests)
      TRY_STATUS(r.host_fd < 0 ? MapAnonymous(r.addr, r.len, r.prot)
                               : MapFile(r.addr, r.len, r.prot, r.host_fd, r.offset));
    return {};
  }
  virtual Status Unmap(uint64_t addr, uint64_t len) = 0;
  virtual Status Protect(uint64_t addr, uint64_t len, int prot) = 0;
  // Moves [old_addr, old_addr+old_len) to new_addr, resized to new_len (mremap semantics).
  virtual Status Remap(uint64_t old_addr, uint64_t old_len, uint64_t new_addr,
                       uint64_t new_len) = 0;

  // Drops the contents of private pages: the next touch sees zeros (or the file) again,
  // as madvise(MADV_DONTNEED).
  virtual Status Discard(uint64_t addr, uint64_t len) = 0;

  // Many madvise calls at once (a boot's pre-copy of the working set, loader/boot/
  // working_set.h); a platform may do them in one round trip. The first failure is returned.
  virtual Status AdviseMany(const std::vector<AdviseRequest>& requests) {
    (void)requests;
    return Fail(ENOSYS, "this platform cannot advise guest memory");
  }
  // The pages of [addr, addr+len) the guest holds a private written copy of now (a page of a
  // file mapping copied on write, an anonymous page written): how `catimg build
  // --sample-request` records the working set, read while the guest is stopped. Sorted,
  // disjoint, coalesced ranges.
  virtual Result<std::vector<GuestRange>> WrittenPages(uint64_t addr, uint64_t len) {
    (void)addr;
    (void)len;
    return Fail(ENOSYS, "this platform cannot tell written guest pages");
  }
  // Minor page faults the shell has taken so far (the copy-on-write tax shows here); -1 if
  // the platform cannot tell. On kvm they are the calling thread's (the guest's faults are
  // taken on the thread inside KVM_RUN), so only the difference of two reads made on the
  // controlling thread around a run means anything.
  virtual int64_t MinorFaults() { return -1; }
  // VM exits the shell has taken so far (every KVM_RUN that returned); -1 on a platform
  // without VMs. `--stats` reports a boot's.
  virtual int64_t VmExits() { return -1; }
  // 1 if this shell's VM was made ahead of its request (taken from the platform's pool of
  // pre-created VMs), 0 if it was made on the request's path; -1 on a platform without VMs.
  // `--stats` reports it as `vm_pooled`.
  virtual int64_t VmPooled() const { return -1; }

  // Guest memory access with the guest's own page protections: a range that is not mapped
  // (or not writable, for writes) fails with EFAULT.
  virtual Status Read(uint64_t addr, void* buf, size_t len) = 0;
  virtual Status Write(uint64_t addr, const void* buf, size_t len) = 0;

  // Registers. regs() is a cache valid while the guest is stopped; SetRegs marks it to be
  // written back before the guest runs again.
  virtual const GuestRegs& regs() = 0;
  virtual void SetRegs(const GuestRegs& regs) = 0;
  // Sets the return value of the syscall the guest stopped at (rax), the hot path.
  virtual void SetSyscallResult(int64_t value) = 0;
  virtual Result<FpuState> GetFpu() = 0;
  virtual Status SetFpu(const FpuState& fpu) = 0;
  // The whole extended state in XSAVE layout (NT_X86_XSTATE); empty without XSAVE. Setting a
  // non-empty area sets every component (those it leaves out of XSTATE_BV to their initial
  // state); setting an empty one changes nothing.
  virtual Result<std::vector<uint8_t>> GetXstate() = 0;
  virtual Status SetXstate(const std::vector<uint8_t>& xstate) = 0;

  // CPU time the guest has used so far (its clocks CLOCK_PROCESS_CPUTIME_ID and times()).
  // Thread-safe.
  virtual int64_t CpuTimeNs() = 0;
  // Whether that CPU time is spent on the thread that calls Run() (kvm: inside KVM_RUN), and
  // so is already in that thread's CPU clock; false where the guest runs in a process of its
  // own (ptrace). The watchdog must not charge it twice (watchdog.h).
  virtual bool GuestTimeOnRunThread() const { return false; }
  // A CPU limit enforced by the host (RLIMIT_CPU's semantics; the run loop's watchdog builds
  // on it): once CpuTimeNs() reaches `soft_s` seconds (>= 1), and again every second after,
  // Run() returns kInterrupted with signal SIGXCPU; at `hard_s` (> soft_s) the platform kills
  // the shell. The hard limit can be lowered later, never raised.
  virtual Status LimitCpuTime(int64_t soft_s, int64_t hard_s) = 0;

  // The CPU the guest observes (CPUID, XSAVE components), as capture records it: the host's
  // where the guest runs natively (ptrace).
  virtual CpuFeatures GuestCpuFeatures() { return HostCpuFeatures(); }
  // Before the guest first runs: a booting image's recorded CPU features. A platform that
  // sets the guest's CPUID narrows it to them and fails (ENOEXEC, naming them) when it cannot
  // offer one (kvm: spec/kvm.md, "CPUID"). Default: nothing (the boot already refused a host
  // that lacks one).
  virtual Status UseCpuFeatures(const CpuFeatures& recorded) {
    (void)recorded;
    return {};
  }

  // False once the shell is gone (killed, crashed): nothing more can run or be read. Lets the
  // kernel tell a dead sandbox from a guest error (syscall_result.h, kSandboxFault).
  virtual bool Alive() const { return true; }

  // Runs the selected vCPU until the next syscall, fault, death or interrupt: Start() and a
  // wait for that vCPU. The fast path of a guest with one thread.
  virtual Result<Stop> Run() = 0;
  // Thread-safe; makes a current or the next Run() (or WaitAny) return kInterrupted: with
  // several vCPUs, one running vCPU is stopped (per thread: tgkill on ptrace, never a
  // process-directed stop), and the notify hook is called for a controller waiting while no
  // vCPU runs (SetInterruptNotify).
  virtual void Interrupt() = 0;
  // Interrupt() for a limit (the watchdog: --timeout, --cpu-limit): the run must end. A
  // platform may then abandon host work in flight on the shell (ptrace: an injected call that
  // has not come back is ended by killing the shell), which a scheduling interrupt (a timer, a
  // signal for a running thread) must never cause.
  virtual void InterruptForLimit() { Interrupt(); }

  // --- Several vCPUs (guest threads; the multi-task run loop, loader/boot/run_loop.h) ---
  // vCPU indices are stable: 0 is the shell's first, SpawnVcpu hands out the next; an ended
  // vCPU's index is never reused.
  virtual int vcpu_count() const { return 1; }
  virtual int selected_vcpu() const { return 0; }
  // Makes `vcpu` the one register calls act on. Cheap (a cache swap).
  virtual void SelectVcpu(int vcpu) { (void)vcpu; }
  // A new vCPU in this address space, stopped, with registers `regs` and the selected vCPU's
  // FPU and extended state (Linux's clone copies them). ENOSYS where the platform has one vCPU.
  virtual Result<int> SpawnVcpu(const GuestRegs& regs) {
    (void)regs;
    return Fail(ENOSYS, "this platform runs one guest thread only");
  }
  // Ends a stopped vCPU other than 0 for good (a guest thread exited).
  virtual Status EndVcpu(int vcpu) {
    (void)vcpu;
    return Fail(ENOSYS, "this platform runs one guest thread only");
  }
  // Lets the selected vCPU run without waiting for it (its registers written back first).
  virtual Status Start() { return Fail(ENOSYS, "this platform cannot start a vCPU alone"); }
  // Waits for the next stop of any started vCPU of `shells` (this one among them; all
  // controlled by the calling thread, e.g. a guest's processes) and returns the shell with the
  // stop; that vCPU is then stopped and selected in its shell. A stop that is nobody's business
  // (a stale interrupt) resumes the vCPU and waits on.
  struct AnyStop {
    Shell* shell;
    Stop stop;
  };
  virtual Result<AnyStop> WaitAny(std::span<Shell* const> shells) {
    (void)shells;
    return Fail(ENOSYS, "this platform cannot wait for several vCPUs");
  }
  // Whether Interrupt() was called since the last stop reported kInterrupted; clears it. For
  // a controller that woke up while no vCPU ran.
  virtual bool TakeInterrupt() { return false; }
  // `notify(arg)` is called from Interrupt() (any thread; must be async-signal-safe, e.g.
  // Wakeup::Wake) so that a controller waiting with every vCPU parked wakes. nullptr: none
  // (a call already under way may still run with the previous arg: it must stay valid while
  // anything may call Interrupt(), as the kernel's Wakeup does).
  virtual void SetInterruptNotify(void (*notify)(void*), void* arg) {
    (void)notify;
    (void)arg;
  }

  // Hand-over between threads (the warm boot's zygote pool, spec/boot.md): a platform may bind
  // a shell to the thread that controls it (ptrace: only the tracer thread may). Between
  // ReleaseThread() on the thread that has it and AttachThread() on the one that takes it,
  // the shell stays stopped and nothing else may be called. Default: no binding.
  virtual Status ReleaseThread() { return {}; }
  virtual Status AttachThread() { return {}; }

  // sfork (spec/boot.md, "fork boot"): a new shell whose address space is a copy-on-write
  // copy of this one's, with this shell's registers (as last set) and FPU and extended state,
  // controlled by the calling thread (which must be the one controlling this shell). This
  // shell is left as it was.
  virtual Result<std::unique_ptr<Shell>> Fork() {
    return Fail(ENOSYS, "this platform cannot fork a shell");
  }
  // A hint that this shell is a fork template (fork boot): it will be forked many times, as
  // it is now. A platform may prepare what its forks need off the request's path (kvm: it
  // starts filling its pool of pre-created VMs with this shell's CPUID). Default: nothing.
  virtual void PrepareForks() {}

  // Moves the guest to run on host CPU `cpu` only (a shell made ahead of time, e.g. in a pool,
  // placed next to the thread that will serve it: cpu_pin.h). A platform without the notion
  // may ignore it.
  virtual Status MoveToCpu(int /*cpu*/) { return {}; }
  // Runs the guest only when its CPU has nothing else to do (true), or normally again (false):
  // a shell prepared ahead of its request (ready_instance.h) must not slow the instances that
  // serve requests meanwhile. A platform without the notion may ignore it.
  virtual Status SetIdlePriority(bool /*idle*/) { return {}; }
};

class Platform {
 public:
  virtual ~Platform() = default;
  virtual std::string_view name() const = 0;
  // A fresh sandbox shell: an empty guest address space, registers zero. Thread-safe. The
  // shell runs where the calling thread may run (its CPU affinity, see cpu_pin.h), and on the
  // ptrace platform only the calling thread can drive it (it is the shell's tracer).
  virtual Result<std::unique_ptr<Shell>> CreateShell() = 0;
  // Blocks until the work the platform does between boots (kvm: refilling its pool of
  // pre-created VMs, tearing down used ones) is done, so that the next boot finds what a
  // server idle between requests would have ready (`catload run --repeat`, tests). Default:
  // nothing to wait for.
  virtual void WaitForPools() {}
};

}  // namespace cat
