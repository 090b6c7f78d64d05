// The kvm shell: the Shell interface over a kvmcore GuestMachine (see kvm_platform.h).
#include <cpuid.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include "kvmcore/vcpu.h"
#include "loader/platform/kvm/cpuid_profile.h"
#include "loader/platform/kvm/kvm_platform.h"
#include "loader/platform/kvm/xstate_fit.h"
#include "loader/platform/written_pages.h"

namespace cat::kvm_platform {
namespace {

constexpr int64_t kNsPerS = 1000000000;

int64_t ThreadCpuNs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * kNsPerS + ts.tv_nsec;
}

// The signal Linux would deliver for an exception in user mode (arch/x86/kernel/traps.c).
int SignalFor(int vector) {
  switch (vector) {
    case 0:   // #DE
    case 7:   // #NM
    case 16:  // #MF
    case 19:  // #XM
      return SIGFPE;
    case 1:  // #DB
    case 3:  // #BP
      return SIGTRAP;
    case 6:  // #UD
      return SIGILL;
    case 12:  // #SS
    case 17:  // #AC
      return SIGBUS;
    default:  // #GP, #PF, #OF, #BR, #NP, ...
      return SIGSEGV;
  }
}

kvm::UserRegs ToUser(const GuestRegs& g) {
  kvm::UserRegs u;
  kvm_regs& r = u.gpr;
  r.rax = g.rax, r.rbx = g.rbx, r.rcx = g.rcx, r.rdx = g.rdx, r.rsi = g.rsi, r.rdi = g.rdi;
  r.rsp = g.rsp, r.rbp = g.rbp, r.r8 = g.r8, r.r9 = g.r9, r.r10 = g.r10, r.r11 = g.r11;
  r.r12 = g.r12, r.r13 = g.r13, r.r14 = g.r14, r.r15 = g.r15, r.rip = g.rip, r.rflags = g.eflags;
  u.fs_base = g.fs_base;
  u.gs_base = g.gs_base;
  return u;
}

// The size of the XSAVE area for the host's enabled features (what ptrace's NT_X86_XSTATE
// has), so that checkpoints look the same from both platforms.
uint32_t HostXsaveSize() {
  uint32_t a, b, c, d;
  __cpuid_count(0xd, 0, a, b, c, d);
  return b;
}

}  // namespace

Result<std::unique_ptr<KvmShell>> KvmShell::Create(std::shared_ptr<const kvm::KvmSystem> system,
                                                   std::shared_ptr<kvm::MachinePool> pool) {
  // The vCPU's CPUID is what KVM supports on this host until a booting image narrows it to
  // its recorded features (UseCpuFeatures).
  TRY(auto machine, WithContext(kvm::GuestMachine::Create(*system), "create kvm shell"));
  std::unique_ptr<KvmShell> shell(
      new KvmShell(std::move(system), std::move(pool), std::move(machine)));
  shell->LoadRegs(false);
  return shell;
}

void KvmShell::LoadRegs(bool at_syscall) {
  const kvm::UserRegs& u = machine_->regs();
  const kvm_regs& r = u.gpr;
  GuestRegs g{};
  g.rax = r.rax, g.rbx = r.rbx, g.rcx = r.rcx, g.rdx = r.rdx, g.rsi = r.rsi, g.rdi = r.rdi;
  g.rsp = r.rsp, g.rbp = r.rbp, g.r8 = r.r8, g.r9 = r.r9, g.r10 = r.r10, g.r11 = r.r11;
  g.r12 = r.r12, g.r13 = r.r13, g.r14 = r.r14, g.r15 = r.r15, g.rip = r.rip, g.eflags = r.rflags;
  g.fs_base = u.fs_base;
  g.gs_base = u.gs_base;
  g.cs = kvm::kUserCs;
  g.ss = kvm::kUserSs;
  // As at a PTRACE_SYSEMU stop: the number in orig_rax, rax -ENOSYS until a result is set.
  g.orig_rax = at_syscall ? r.rax : ~0ull;
  if (at_syscall) g.rax = static_cast<uint64_t>(-ENOSYS);
  regs_ = g;
}

Status KvmShell::MapAnonymous(uint64_t addr, uint64_t len, int prot) {
  return machine_->MapAnonymous(addr, len, prot);
}

Status KvmShell::MapFile(uint64_t addr, uint64_t len, int prot, int host_fd, uint64_t offset) {
  return machine_->MapFile(addr, len, prot, host_fd, offset);
}

Status KvmShell::AdviseMany(const std::vector<AdviseRequest>& requests) {
  for (const AdviseRequest& r : requests) TRY_STATUS(machine_->Advise(r.addr, r.len, r.advice));
  return {};
}

Status KvmShell::Unmap(uint64_t addr, uint64_t len) {
  return machine_->Unmap(addr, len);
}

Status KvmShell::Protect(uint64_t addr, uint64_t len, int prot) {
  return machine_->Protect(addr, len, prot);
}

Status KvmShell::Remap(uint64_t old_addr, uint64_t old_len, uint64_t new_addr, uint64_t new_len) {
  return machine_->Remap(old_addr, old_len, new_addr, new_len);
}

Status KvmShell::Discard(uint64_t addr, uint64_t len) {
  return machine_->Discard(addr, len);
}

Result<std::vector<GuestRange>> KvmShell::WrittenPages(uint64_t addr, uint64_t len) {
  if (addr % 4096 || len % 4096 || addr >= kGuestAddressLimit || len > kGuestAddressLimit - addr)
    return Fail(EINVAL, "written pages: bad guest range");
  UniqueFd fd(open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return FailErrno("written pages: open /proc/self/pagemap");
  std::vector<GuestRange> out;
  for (const auto& p : machine_->MappedPieces(addr, len))
    TRY_STATUS(AppendWrittenPages(fd.get(), reinterpret_cast<uint64_t>(p.host), p.len, p.va, out));
  return out;
}

int64_t KvmShell::MinorFaults() {
  rusage usage{};
  if (getrusage(RUSAGE_THREAD, &usage) != 0) return -1;
  return usage.ru_minflt;
}

Status KvmShell::Read(uint64_t addr, void* buf, size_t len) {
  return machine_->Read(addr, buf, len);
}

Status KvmShell::Write(uint64_t addr, const void* buf, size_t len) {
  return machine_->Write(addr, buf, len);
}

void KvmShell::SetRegs(const GuestRegs& regs) {
  regs_ = regs;
  regs_.cs = kvm::kUserCs;  // a guest has no other segments to be in
  regs_.ss = kvm::kUserSs;
  machine_->SetRegs(ToUser(regs));
}

void KvmShell::SetSyscallResult(int64_t value) {
  regs_.rax = static_cast<uint64_t>(value);
  machine_->SetRax(static_cast<uint64_t>(value));
}

Result<FpuState> KvmShell::GetFpu() {
  TRY(auto area, machine_->GetXsave());
  FpuState fpu;
  std::memcpy(fpu.fxsave, area.data(), sizeof(fpu.fxsave));
  return fpu;
}

Status KvmShell::SetFpu(const FpuState& fpu) {
  TRY(auto area, machine_->GetXsave());
  std::memcpy(area.data(), fpu.fxsave, sizeof(fpu.fxsave));
  uint64_t xstate_bv;
  std::memcpy(&xstate_bv, area.data() + 512, 8);
  xstate_bv |= 3;  // x87 and SSE now come from the legacy area
  std::memcpy(area.data() + 512, &xstate_bv, 8);
  return machine_->SetXsave(area);
}

Result<std::vector<uint8_t>> KvmShell::GetXstate() {
  if (!machine_->xsave()) return std::vector<uint8_t>{};
  TRY(auto area, machine_->GetXsave());
  const uint32_t size = std::min<uint32_t>(HostXsaveSize(), static_cast<uint32_t>(area.size()));
  area.resize(size);
  // The software-reserved bytes of the legacy area, as Linux fills them for NT_X86_XSTATE.
  const uint32_t magic1 = 0x46505853, extended = size + 4;
  const uint64_t xfeatures = kvm::HostXcr0();
  std::memcpy(area.data() + 464, &magic1, 4);
  std::memcpy(area.data() + 468, &extended, 4);
  std::memcpy(area.data() + 472, &xfeatures, 8);
  std::memcpy(area.data() + 480, &size, 4);
  return area;
}

Status KvmShell::SetXstate(const std::vector<uint8_t>& xstate) {
  if (xstate.empty()) return {};
  // An area from ptrace (a capture on that platform) is the host's: fitted to the vCPU.
  TRY(auto area, FitXstate(xstate, machine_->xcr0(), sizeof(kvm_xsave)));
  return machine_->SetXsave(area);
}

CpuFeatures KvmShell::GuestCpuFeatures() {
  return FeaturesOfCpuid(machine_->cpuid(), machine_->xcr0());
}

Status KvmShell::UseCpuFeatures(const CpuFeatures& recorded) {
  if (!recorded.recorded()) return {};  // an image from before the record: KVM's CPUID
  TRY_STATUS(WithContext(machine_->SetCpuid(NarrowCpuid(machine_->cpuid(), recorded)),
                         "set the image's CPU features"));
  return CheckVcpuFeatures(recorded, GuestCpuFeatures());
}

Result<std::unique_ptr<Shell>> KvmShell::Fork() {
  if (!alive_) return Fail(ESRCH, "fork shell: shell is gone");
  // A fresh VM with this one's CPUID, pre-created by the pool's thread (or made now when none
  // is ready). ForkInto refuses one that ever ran or mapped memory.
  bool pooled = false;
  TRY(auto machine, WithContext(pool_->Take(machine_->cpuid(), &pooled), "fork shell"));
  std::unique_ptr<KvmShell> child(new KvmShell(system_, pool_, nullptr));
  child->pooled_ = pooled;
  child->replenish_due_ = true;
  Status forked = WithContext(machine_->ForkInto(*machine), "fork shell");
  child->machine_ = std::move(machine);  // retired by the child's destructor, even on failure
  TRY_STATUS(std::move(forked));
  child->SetRegs(regs_);
  return std::unique_ptr<Shell>(std::move(child));
}

void KvmShell::PrepareForks() {
  pool_->Start(machine_->cpuid());
}

Status KvmShell::LimitCpuTime(int64_t soft_s, int64_t hard_s) {
  if (soft_s < 1 || hard_s <= soft_s) return Fail(EINVAL, "bad CPU time limits");
  if (hard_ns_ != 0 && hard_s * kNsPerS > hard_ns_)
    return Fail(EPERM, "CPU time limit: the hard limit cannot be raised");
  soft_ns_ = soft_s * kNsPerS;
  hard_ns_ = hard_s * kNsPerS;
  return {};
}

std::optional<Stop> KvmShell::CheckCpuLimit() {
  const int64_t used = cpu_ns_.load();
  if (hard_ns_ != 0 && used >= hard_ns_) {
    alive_ = false;  // RLIMIT_CPU's SIGKILL
    return Stop{StopReason::kExited, SIGKILL};
  }
  if (soft_ns_ != 0 && used >= soft_ns_) {
    soft_ns_ += kNsPerS;  // and again every second after, as RLIMIT_CPU's SIGXCPU
    return Stop{StopReason::kInterrupted, SIGXCPU};
  }
  return std::nullopt;
}

// A CPU-time timer of the thread that runs the vCPU (guest time is that thread's time), which
// kicks it out of KVM_RUN when the next limit is due.
Status KvmShell::ArmCpuTimer() {
  const pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
  if (cpu_timer_tid_ != tid) {
    if (cpu_timer_tid_ != 0) timer_delete(cpu_timer_);
    cpu_timer_tid_ = 0;
    sigevent sev{};
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = kvm::KickSignal();
    sev._sigev_un._tid = tid;
    if (timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &cpu_timer_) != 0)
      return FailErrno("CPU time limit: timer_create");
    cpu_timer_tid_ = tid;
  }
  const int64_t due = std::min(soft_ns_, hard_ns_) - cpu_ns_.load();
  const int64_t ns = std::max<int64_t>(due, 1000000);
  itimerspec spec{};
  spec.it_value = {static_cast<time_t>(ns / kNsPerS), static_cast<long>(ns % kNsPerS)};
  if (timer_settime(cpu_timer_, 0, &spec, nullptr) != 0)
    return FailErrno("CPU time limit: timer_settime");
  return {};
}

Result<std::optional<Stop>> KvmShell::RunOnce() {
  if (replenish_due_) {
    // The fork's boot is done: the pool may make a VM in place of this one now, without
    // taking the booting thread's CPU on a small host (MachinePool::Replenish).
    replenish_due_ = false;
    pool_->Replenish();
  }
  if (auto limit = CheckCpuLimit()) return limit;
  if (soft_ns_ != 0) TRY_STATUS(ArmCpuTimer());
  const int64_t start = ThreadCpuNs();
  auto exit = machine_->Run();
  cpu_ns_.fetch_add(ThreadCpuNs() - start);
  if (!exit) {
    // The VMM, not the guest, is broken (an entry failure, the trampoline faulting): this
    // shell cannot run again.
    alive_ = false;
    return std::unexpected(std::move(exit.error()).Context("run guest (kvm)"));
  }
  switch (exit->kind) {
    case kvm::GuestExitKind::kSyscall:
      LoadRegs(true);
      return Stop{StopReason::kSyscall, 0, 0, 0, selected_};
    case kvm::GuestExitKind::kException: {
      LoadRegs(false);
      const int sig = SignalFor(exit->vector);
      // si_addr: the faulting address for #PF, the instruction for SIGILL/SIGFPE/SIGTRAP,
      // 0 for #GP (as Linux reports it).
      uint64_t addr = 0;
      if (exit->vector == 14)
        addr = exit->cr2;
      else if (sig != SIGSEGV && sig != SIGBUS)
        addr = regs_.rip;
      return Stop{StopReason::kFault, sig, addr, 0, selected_};
    }
    case kvm::GuestExitKind::kCompatSyscall:
      // A syscall from a 32-bit segment the GDT does not have: a forged CS.
      LoadRegs(false);
      return Stop{StopReason::kFault, SIGSEGV, 0, 0, selected_};
    case kvm::GuestExitKind::kMemoryFault:
      // A guest page whose host page cannot exist (a file page past the end of its file).
      LoadRegs(false);
      return Stop{StopReason::kFault, SIGBUS, 0, 0, selected_};
    case kvm::GuestExitKind::kInterrupted:
      LoadRegs(false);
      if (interrupt_requested_.exchange(false))
        return Stop{StopReason::kInterrupted, 0, 0, 0, selected_};
      return std::nullopt;  // a time slice, the CPU timer, or a stale kick
  }
  return std::nullopt;
}

Result<Stop> KvmShell::Run() {
  if (!alive_) return Stop{StopReason::kExited, 0, 0, 0, selected_};
  if (interrupt_requested_.exchange(false))
    return Stop{StopReason::kInterrupted, 0, 0, 0, selected_};
  for (;;) {
    TRY(std::optional<Stop> stop, RunOnce());
    if (stop) return *stop;
  }
}

void KvmShell::Interrupt() {
  interrupt_requested_.store(true);
  machine_->Kick();
  if (void (*notify)(void*) = notify_) notify(notify_arg_);
}

void KvmShell::SetInterruptNotify(void (*notify)(void*), void* arg) {
  // As on ptrace: the argument is published before the function and never cleared.
  if (!notify) {
    notify_.store(nullptr);
    return;
  }
  notify_arg_ = arg;
  notify_.store(notify);
}

void KvmShell::SelectVcpu(int vcpu) {
  if (vcpu == selected_ || vcpu < 0 || vcpu >= vcpu_count()) return;
  vcpus_[static_cast<size_t>(selected_)].regs = regs_;
  selected_ = vcpu;
  regs_ = vcpus_[static_cast<size_t>(vcpu)].regs;
  machine_->SelectVcpu(vcpus_[static_cast<size_t>(vcpu)].machine_index);
}

Result<int> KvmShell::SpawnVcpu(const GuestRegs& regs) {
  if (!alive_) return Fail(ESRCH, "spawn thread: shell is gone");
  TRY(int machine_index, WithContext(machine_->AddVcpu(ToUser(regs)), "spawn thread"));
  VcpuSlot slot{machine_index};
  slot.regs = regs;
  slot.regs.cs = kvm::kUserCs;
  slot.regs.ss = kvm::kUserSs;
  slot.regs.orig_rax = ~0ull;
  vcpus_.push_back(slot);
  return vcpu_count() - 1;
}

Status KvmShell::EndVcpu(int vcpu) {
  if (vcpu <= 0 || vcpu >= vcpu_count() || vcpus_[static_cast<size_t>(vcpu)].ended)
    return Fail(EINVAL, "end thread: no such vCPU (the first one is never ended)");
  if (vcpu == selected_) SelectVcpu(0);
  VcpuSlot& slot = vcpus_[static_cast<size_t>(vcpu)];
  TRY_STATUS(WithContext(machine_->RemoveVcpu(slot.machine_index), "end thread"));
  slot.ended = true;
  slot.started = false;
  return {};
}

Status KvmShell::Start() {
  if (!alive_) return Fail(ESRCH, "run guest: shell is gone");
  vcpus_[static_cast<size_t>(selected_)].started = true;
  return {};
}

namespace {

// The controlling thread's time-slice timer (CLOCK_MONOTONIC, KickSignal to this thread):
// with several vCPUs started, each KVM_RUN is bounded by it, so a guest thread that spins
// without a syscall (a spin lock, Go's scheduler) cannot keep the others from running.
class SliceTimer {
 public:
  ~SliceTimer() {
    if (made_) timer_delete(timer_);
  }
  Status Arm(int64_t ns) {
    if (!made_) {
      sigevent sev{};
      sev.sigev_notify = SIGEV_THREAD_ID;
      sev.sigev_signo = kvm::KickSignal();
      sev._sigev_un._tid = static_cast<pid_t>(syscall(SYS_gettid));
      if (timer_create(CLOCK_MONOTONIC, &sev, &timer_) != 0)
        return FailErrno("run guest threads: timer_create");
      made_ = true;
    }
    itimerspec spec{};
    spec.it_value = {static_cast<time_t>(ns / kNsPerS), static_cast<long>(ns % kNsPerS)};
    if (timer_settime(timer_, 0, &spec, nullptr) != 0)
      return FailErrno("run guest threads: timer_settime");
    return {};
  }
  // Disarmed after each entry: the kick signal interrupts (EINTR) whatever host call catload
  // would make next.
  void Disarm() {
    const itimerspec zero{};
    if (made_) timer_settime(timer_, 0, &zero, nullptr);
  }

 private:
  timer_t timer_{};
  bool made_ = false;
};

// A slice: long enough that switching costs nothing next to it, short enough that threads
// waiting on a spinning one are not noticed (Linux's scheduler slices are a few ms too).
constexpr int64_t kSliceNs = 4000000;

}  // namespace

// One controlling thread runs every started vCPU of `shells` in turn (spec/kvm.md, "Threads").
Result<Shell::AnyStop> KvmShell::WaitAny(std::span<Shell* const> shells) {
  thread_local SliceTimer slice;
  thread_local uint64_t turn = 0;
  std::vector<std::pair<KvmShell*, int>> started;
  for (;;) {
    started.clear();
    for (Shell* sh : shells) {
      auto* ks = static_cast<KvmShell*>(sh);  // one platform per run
      for (int i = 0; i < ks->vcpu_count(); ++i)
        if (ks->vcpus_[static_cast<size_t>(i)].started) started.push_back({ks, i});
    }
    if (started.empty()) return Fail(EDEADLK, "run guest: wait for vCPUs, but none is started");
    auto [ks, i] = started[turn++ % started.size()];
    ks->SelectVcpu(i);
    VcpuSlot& slot = ks->vcpus_[static_cast<size_t>(i)];
    std::optional<Stop> stop;
    if (!ks->alive_) {
      stop = Stop{StopReason::kExited, 0, 0, 0, i};
    } else if (ks->interrupt_requested_.exchange(false)) {
      stop = Stop{StopReason::kInterrupted, 0, 0, 0, i};
    } else {
      const bool sliced = started.size() > 1;
      if (sliced) TRY_STATUS(slice.Arm(kSliceNs));
      Result<std::optional<Stop>> ran = ks->RunOnce();
      if (sliced) slice.Disarm();
      if (!ran) return std::unexpected(std::move(ran.error()));
      stop = *ran;
    }
    if (stop) {
      slot.started = false;
      return AnyStop{ks, *stop};
    }
  }
}

KvmShell::~KvmShell() {
  if (cpu_timer_tid_ != 0) timer_delete(cpu_timer_);
  if (replenish_due_) pool_->Replenish();  // a fork that never ran (its boot failed)
  // Torn down on the pool's thread when it runs, off the path of the request that used it;
  // never made ready again (machine_pool.h).
  pool_->Retire(std::move(machine_));
}

}  // namespace cat::kvm_platform
