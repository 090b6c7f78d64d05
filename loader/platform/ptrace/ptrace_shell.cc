// The ptrace shell: creation (clone, seccomp, strip the address space down to the trampoline),
// syscall injection for memory management, and the SYSEMU run loop.
#include <elf.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "loader/platform/ptrace/ptrace_platform.h"
#include "loader/platform/ptrace/seccomp_filter.h"
#include "loader/platform/ptrace/stub.h"
#include "loader/platform/written_pages.h"

namespace cat::ptrace_platform {
namespace {

static_assert(sizeof(GuestRegs) == sizeof(user_regs_struct));
static_assert(offsetof(GuestRegs, rax) == offsetof(user_regs_struct, rax));
static_assert(offsetof(GuestRegs, fs_base) == offsetof(user_regs_struct, fs_base));
static_assert(sizeof(FpuState) == sizeof(user_fpregs_struct));

// Runs in the freshly cloned child, which shares catload's fd table (so that catload's host fds
// can back MAP_PRIVATE file mappings) but nothing else. Only raw syscalls from here on: the
// child is a copy of a possibly multi-threaded process.
// The child's first act after its filter is on: run the batch table catload prepared in the
// scratch page (unmap everything but the trampoline), then stop at the batch loop's int3.
[[noreturn]] void ShellChildMain(pid_t parent, const sock_fprog* filter) {
  syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (syscall(SYS_getppid) != parent) syscall(SYS_exit_group, 1);
  uint64_t empty_mask = 0;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &empty_mask, nullptr, sizeof(empty_mask));
  // glibc registered an rseq area for catload's thread, in TLS that is about to be unmapped;
  // the host kernel would then fault the shell on its next return to user mode.
  if (__rseq_size > 0) {
    void* area = static_cast<char*>(__builtin_thread_pointer()) + __rseq_offset;
    if (syscall(SYS_rseq, area, 32, RSEQ_FLAG_UNREGISTER, RSEQ_SIG) != 0)
      syscall(SYS_rseq, area, __rseq_size, RSEQ_FLAG_UNREGISTER, RSEQ_SIG);
  }
  if (syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0) != 0) syscall(SYS_exit_group, 2);
  if (syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) syscall(SYS_exit_group, 3);
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, filter) != 0) syscall(SYS_exit_group, 4);
  // From here no syscall is possible except from the trampoline.
  asm volatile("jmp *%1" : : "b"(kStubScratch), "r"(kStubBatch) : "memory");
  __builtin_unreachable();
}

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by signal ") + strsignal(WTERMSIG(status));
  if (WIFSTOPPED(status)) return std::string("stopped by signal ") + strsignal(WSTOPSIG(status));
  return "in an unknown state";
}

// Resets the whole extended register state (x87, SSE, AVX, AVX-512, ...) to its initial
// values: the shell was cloned from catload, whose vector registers may hold catload's data.
// PTRACE_SETFPREGS alone would leave the upper halves of YMM/ZMM registers as they were.
Status ResetExtendedState(pid_t pid) {
  std::vector<uint8_t> area(64 * 1024);
  iovec iov{area.data(), area.size()};
  if (ptrace(PTRACE_GETREGSET, pid, NT_X86_XSTATE, &iov) != 0) {
    // No XSAVE on this CPU: the FXSAVE area is all the state there is.
    const FpuState fpu = DefaultFpuState();
    if (ptrace(PTRACE_SETFPREGS, pid, 0, &fpu) != 0) return FailErrno("PTRACE_SETFPREGS");
    return {};
  }
  std::fill(area.begin(), area.begin() + static_cast<long>(iov.iov_len), 0);
  const FpuState fpu = DefaultFpuState();  // FCW and MXCSR defaults in the legacy area
  std::memcpy(area.data(), fpu.fxsave, sizeof(fpu.fxsave));
  const uint64_t xstate_bv = 0x3;  // x87 and SSE from the legacy area; the rest in init state
  std::memcpy(area.data() + 512, &xstate_bv, sizeof(xstate_bv));
  if (ptrace(PTRACE_SETREGSET, pid, NT_X86_XSTATE, &iov) != 0)
    return FailErrno("PTRACE_SETREGSET NT_X86_XSTATE");
  return {};
}

// Killed shells not yet reaped. Each Create() and each Kill() reaps those that have finished
// dying (a server whose shells are all forks of templates or of the zygote's master never
// calls Create: without the reap in Kill its zombies would pile up), so a long-running process
// holds at most the few that died since; ~PtracePlatform waits for the rest
// (WaitForDyingShells).
std::mutex dying_mutex;
std::vector<pid_t> dying;

void ReapLater(pid_t pid) {
  std::lock_guard lock(dying_mutex);
  std::erase_if(dying, [](pid_t p) { return waitpid(p, nullptr, WNOHANG | __WALL) != 0; });
  dying.push_back(pid);
}

void ReapDeadShells() {
  std::lock_guard lock(dying_mutex);
  std::erase_if(dying, [](pid_t pid) { return waitpid(pid, nullptr, WNOHANG | __WALL) != 0; });
}

}  // namespace

void WaitForDyingShells() {
  std::vector<pid_t> pids;
  {
    std::lock_guard lock(dying_mutex);
    pids.swap(dying);
  }
  for (pid_t pid : pids) waitpid(pid, nullptr, __WALL);
}

namespace {

bool IsFaultSignal(int sig) {
  return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGTRAP;
}

}  // namespace

Result<std::unique_ptr<PtraceShell>> PtraceShell::Create() {
  TRY_STATUS(EnsureStubMapped());
  const SeccompProgram program = ShellSeccompProgram();
  const sock_fprog filter{program.length, const_cast<sock_filter*>(program.filter)};
  const pid_t parent = getpid();
  // The child's copy of the scratch page carries the table that strips its address space. It
  // is the same for every shell, so EnsureStubMapped wrote it once and nothing in catload
  // writes the page again: concurrent creates on several threads only read it (the child's
  // results land in the child's own copy). The shell inherits the calling thread's CPU
  // affinity: a caller that wants tracer and shell on one CPU holds a CpuPin (cpu_pin.h).
  ReapDeadShells();
  const long pid = syscall(SYS_clone, CLONE_FILES | SIGCHLD, 0, 0, 0, 0);
  if (pid < 0) return FailErrno("create ptrace shell: clone");
  if (pid == 0) ShellChildMain(parent, &filter);

  std::unique_ptr<PtraceShell> shell(new PtraceShell(static_cast<pid_t>(pid)));
  TRY_STATUS(WithContext(shell->WaitForTrap("start"), "create ptrace shell"));
  if (ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD) != 0)
    return FailErrno("create ptrace shell: PTRACE_SETOPTIONS");
  if (ptrace(PTRACE_GETREGS, pid, 0, &shell->regs_) != 0)
    return FailErrno("create ptrace shell: PTRACE_GETREGS");
  // The child stripped everything inherited from catload but the trampoline's two pages, in
  // one batch before it stopped: check that both unmaps succeeded.
  BatchEntry stripped[2];
  TRY_STATUS(
      WithContext(shell->Read(kStubScratch, stripped, sizeof(stripped)), "create ptrace shell"));
  for (const BatchEntry& e : stripped)
    if (e.result != 0)
      return FailErrno("create ptrace shell: strip the address space", static_cast<int>(-e.result));
  // A new guest starts from zeroed registers and a reset FPU.
  GuestRegs fresh{};
  fresh.cs = shell->regs_.cs;
  fresh.ss = shell->regs_.ss;
  fresh.ds = shell->regs_.ds;
  fresh.es = shell->regs_.es;
  fresh.eflags = 0x202;  // IF, reserved bit 1
  fresh.orig_rax = ~0ull;
  shell->SetRegs(fresh);
  // The extended state (catload's own vector registers, inherited by the clone) is reset on
  // first use rather than here: a boot that sets the whole XSAVE state itself (cold boot,
  // restore) makes the reset unnecessary, and it is two ptrace calls and a 64 KiB buffer.
  shell->xstate_reset_pending_ = true;
  return shell;
}

PtraceShell::~PtraceShell() {
  Kill();
}

void PtraceShell::Kill() {
  if (!alive_) return;
  kill(pid_, SIGKILL);
  alive_ = false;
  // Each traced thread is reaped by its tracer (this thread) before the process can be:
  // threads first, so that waiting for them in order never blocks on the leader.
  for (size_t i = 1; i < vcpus_.size(); ++i)
    if (!vcpus_[i].ended) ReapLater(vcpus_[i].tid);
  // Tearing down the shell's address space takes the kernel a while (0.3-0.5 ms for a 30 MiB
  // guest); nothing waits on it, so the pid is reaped later, never on a request's path.
  ReapLater(pid_);
}

Status PtraceShell::WaitForTrap(std::string_view what) {
  bool interrupted = false;  // a scheduling interrupt stopped the call: stop it again after
  for (;;) {
    int status = 0;
    if (waitpid(tid_, &status, __WALL) != tid_) return FailErrno(std::string(what) + ": waitpid");
    if (WIFSTOPPED(status) && WSTOPSIG(status) == SIGTRAP) {
      // The interrupt is for the thread's next run: the same stop again, waiting for it.
      if (interrupted) syscall(SYS_tgkill, pid_, tid_, SIGSTOP);
      return {};
    }
    if (WIFSTOPPED(status) && IsFaultSignal(WSTOPSIG(status))) {
      // The trampoline itself faulted: the shell is broken, never retry.
      Kill();
      return Fail(EIO, std::string(what) + ": shell faulted (" + strsignal(WSTOPSIG(status)) + ")");
    }
    if (WIFSTOPPED(status) && WSTOPSIG(status) == SIGSTOP && interrupt_requested_.load() &&
        !limit_reached_.load()) {
      // A scheduling interrupt (a timer, a signal for a running thread: Interrupt) landed on
      // the call catload injected: the call is catload's and ends at the trampoline's int3.
      // It goes on; the thread is stopped again once it has trapped, where the run loop looks.
      // (Killing here, as for a limit, ended multi-threaded guests at random: a thread's stack
      // madvise at its exit met a timer's interrupt.)
      interrupted = true;
      if (ptrace(PTRACE_CONT, tid_, 0, 0) != 0)
        return FailErrno(std::string(what) + ": PTRACE_CONT");
      continue;
    }
    if (WIFSTOPPED(status) && WSTOPSIG(status) == SIGSTOP && interrupt_requested_.load()) {
      // The watchdog fired (--timeout or --cpu-limit) while the shell ran the trampoline.
      // Normally that takes microseconds, so the run would end at its next stop anyway; but
      // trampoline code that never traps (a boot that loops) must not hold catload: the shell
      // is killed, and the run ends as the watchdog decided (the next Run() reports kExited).
      Kill();
      return Fail(ETIMEDOUT, std::string(what) +
                                 ": interrupted by the watchdog (--timeout or "
                                 "--cpu-limit reached)");
    }
    if (WIFSTOPPED(status)) {
      // Not our trap: a stale SIGSTOP or a terminal signal. Drop it; the host's RLIMIT_CPU
      // signal is recorded and reported by the next Run().
      if (WSTOPSIG(status) == SIGXCPU && IsCpuLimitSignal()) cpu_limit_signalled_ = true;
      if (ptrace(PTRACE_CONT, tid_, 0, 0) != 0)
        return FailErrno(std::string(what) + ": PTRACE_CONT");
      continue;
    }
    alive_ = false;
    return Fail(EIO, std::string(what) + ": shell process " + DescribeWaitStatus(status));
  }
}

Result<int64_t> PtraceShell::Inject(long nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3,
                                    uint64_t a4, uint64_t a5) {
  if (!alive_) return Fail(ESRCH, "shell is gone");
  GuestRegs call = regs_;
  call.rip = kStubSyscall;
  call.rax = static_cast<uint64_t>(nr);
  call.orig_rax = ~0ull;
  call.rdi = a0;
  call.rsi = a1;
  call.rdx = a2;
  call.r10 = a3;
  call.r8 = a4;
  call.r9 = a5;
  if (ptrace(PTRACE_SETREGS, tid_, 0, &call) != 0) return FailErrno("PTRACE_SETREGS");
  if (ptrace(PTRACE_CONT, tid_, 0, 0) != 0) return FailErrno("PTRACE_CONT");
  TRY_STATUS(WaitForTrap("injected syscall"));
  GuestRegs after;
  if (ptrace(PTRACE_GETREGS, tid_, 0, &after) != 0) return FailErrno("PTRACE_GETREGS");
  // The guest's registers are written back before it runs again. orig_rax = -1 keeps the
  // kernel's syscall-restart logic away from them.
  regs_.orig_rax = ~0ull;
  dirty_ = Dirty::kAll;
  return static_cast<int64_t>(after.rax);
}

Status PtraceShell::InjectChecked(std::string_view what, long nr, uint64_t a0, uint64_t a1,
                                  uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5) {
  auto r = Inject(nr, a0, a1, a2, a3, a4, a5);
  if (!r) return std::unexpected(std::move(r.error()).Context(what));
  if (*r < 0 && *r > -4096) return FailErrno(what, static_cast<int>(-*r));
  return {};
}

Status PtraceShell::MapAnonymous(uint64_t addr, uint64_t len, int prot) {
  return InjectChecked("map anonymous guest memory", SYS_mmap, addr, len, prot,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, ~0ull, 0);
}

Status PtraceShell::MapFile(uint64_t addr, uint64_t len, int prot, int host_fd, uint64_t offset) {
  return InjectChecked("map file into guest memory", SYS_mmap, addr, len, prot,
                       MAP_PRIVATE | MAP_FIXED, static_cast<uint64_t>(host_fd), offset);
}

Status PtraceShell::MapFileShared(uint64_t addr, uint64_t len, int prot, int host_fd,
                                  uint64_t offset) {
  return InjectChecked("map shared file into guest memory", SYS_mmap, addr, len, prot,
                       MAP_SHARED | MAP_FIXED, static_cast<uint64_t>(host_fd), offset);
}

Status PtraceShell::RunBatch(std::string_view what) {
  if (!alive_) return Fail(ESRCH, "shell is gone");
  GuestRegs call = regs_;
  call.rip = kStubBatch;
  call.rbx = kStubScratch;
  call.orig_rax = ~0ull;
  if (ptrace(PTRACE_SETREGS, tid_, 0, &call) != 0)
    return FailErrno(std::string(what) + ": SETREGS");
  if (ptrace(PTRACE_CONT, tid_, 0, 0) != 0) return FailErrno(std::string(what) + ": PTRACE_CONT");
  TRY_STATUS(WaitForTrap(what));
  regs_.orig_rax = ~0ull;
  dirty_ = Dirty::kAll;  // the guest's registers go back before it runs again
  return {};
}

Status PtraceShell::RunSyscalls(std::string_view what, const std::vector<BatchEntry>& calls) {
  // One round trip per kMaxBatch calls instead of one per call.
  const std::string w(what);
  if (vcpus_.size() > 1) {
    // The batch table is in guest-writable memory: with other guest threads able to run,
    // one of them could rewrite it between catload's write and the batch loop's read. So the
    // calls go one by one, from registers, which no other thread can touch.
    for (const BatchEntry& e : calls) {
      TRY(int64_t r, WithContext(Inject(static_cast<long>(e.nr), e.args[0], e.args[1], e.args[2],
                                        e.args[3], e.args[4], e.args[5]),
                                 w));
      if (r < 0 && r > -4096)
        return FailErrno(w + " at " + std::to_string(e.args[0]), static_cast<int>(-r));
    }
    return {};
  }
  for (size_t first = 0; first < calls.size(); first += kMaxBatch) {
    const size_t n = std::min<size_t>(kMaxBatch, calls.size() - first);
    std::vector<BatchEntry> table(calls.begin() + static_cast<ptrdiff_t>(first),
                                  calls.begin() + static_cast<ptrdiff_t>(first + n));
    table.push_back({0, {}, 0});
    TRY_STATUS(WithContext(Write(kStubScratch, table.data(), table.size() * sizeof(BatchEntry)),
                           w + ": write the batch table"));
    TRY_STATUS(RunBatch(what));
    TRY_STATUS(WithContext(Read(kStubScratch, table.data(), n * sizeof(BatchEntry)),
                           w + ": read the batch results"));
    for (size_t i = 0; i < n; ++i)
      if (table[i].result < 0 && table[i].result > -4096)
        return FailErrno(w + " at " + std::to_string(table[i].args[0]),
                         static_cast<int>(-table[i].result));
  }
  return {};
}

Status PtraceShell::MapMany(const std::vector<MapRequest>& requests) {
  std::vector<BatchEntry> calls;
  calls.reserve(requests.size());
  for (const MapRequest& r : requests) {
    const uint64_t flags = MAP_PRIVATE | MAP_FIXED | (r.host_fd < 0 ? MAP_ANONYMOUS : 0);
    calls.push_back({SYS_mmap,
                     {r.addr, r.len, static_cast<uint64_t>(r.prot), flags,
                      static_cast<uint64_t>(static_cast<int64_t>(r.host_fd)), r.offset},
                     0});
  }
  return RunSyscalls("map guest memory", calls);
}

Status PtraceShell::AdviseMany(const std::vector<AdviseRequest>& requests) {
  // A MADV_POPULATE_WRITE of N pages is one call: the host kernel faults them in a loop,
  // without a trap per page.
  std::vector<BatchEntry> calls;
  calls.reserve(requests.size());
  for (const AdviseRequest& r : requests)
    calls.push_back({SYS_madvise, {r.addr, r.len, static_cast<uint64_t>(r.advice), 0, 0, 0}, 0});
  return RunSyscalls("advise guest memory", calls);
}

// From the host's /proc/PID/pagemap of the shell (catload may read it: it is the tracer).
// Soft-dirty tracking (clear_refs 4, bit 55) would be the textbook way, but hosts without
// CONFIG_MEM_SOFT_DIRTY (this project's CI VM among them) never set the bit. The page flags
// say it as well for a guest that never forks: a page written since it was mapped is
// present, anonymous (a copy-on-write copy of a file page is no longer a file page; bit 61
// clear) and mapped only here (bit 56: the shared zero page a read of untouched anonymous
// memory maps is not), or swapped out (bit 62: only anonymous pages with data are).
Result<std::vector<GuestRange>> PtraceShell::WrittenPages(uint64_t addr, uint64_t len) {
  if (!alive_) return Fail(ESRCH, "shell is gone");
  if (addr % 4096 || len % 4096 || addr >= kGuestAddressLimit || len > kGuestAddressLimit - addr)
    return Fail(EINVAL, "written pages: bad guest range");
  const std::string path = "/proc/" + std::to_string(pid_) + "/pagemap";
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return FailErrno("written pages: open " + path);
  std::vector<GuestRange> out;
  Status st = AppendWrittenPages(fd, addr, len, addr, out);
  close(fd);
  TRY_STATUS(WithContext(std::move(st), path));
  return out;
}

int64_t PtraceShell::MinorFaults() {
  const std::string path = "/proc/" + std::to_string(pid_) + "/stat";
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[1024];
  const ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  // Fields after the command name (which may hold spaces) in ")": state ppid pgrp session
  // tty_nr tpgid flags minflt: minflt is the 8th.
  const char* p = std::strrchr(buf, ')');
  if (!p) return -1;
  long long minflt = -1;
  if (std::sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %lld", &minflt) != 1) return -1;
  return minflt;
}

Status PtraceShell::Unmap(uint64_t addr, uint64_t len) {
  return InjectChecked("unmap guest memory", SYS_munmap, addr, len);
}

Status PtraceShell::Protect(uint64_t addr, uint64_t len, int prot) {
  return InjectChecked("protect guest memory", SYS_mprotect, addr, len, prot);
}

Status PtraceShell::Remap(uint64_t old_addr, uint64_t old_len, uint64_t new_addr,
                          uint64_t new_len) {
  return InjectChecked("remap guest memory", SYS_mremap, old_addr, old_len, new_len,
                       MREMAP_MAYMOVE | MREMAP_FIXED, new_addr);
}

Status PtraceShell::Discard(uint64_t addr, uint64_t len) {
  return InjectChecked("discard guest memory", SYS_madvise, addr, len, MADV_DONTNEED);
}

Status PtraceShell::Read(uint64_t addr, void* buf, size_t len) {
  if (len == 0) return {};
  if (addr >= kGuestAddressLimit || len > kGuestAddressLimit - addr)
    return Fail(EFAULT, "guest address out of range");
  iovec local{buf, len};
  iovec remote{reinterpret_cast<void*>(addr), len};
  ssize_t n = process_vm_readv(pid_, &local, 1, &remote, 1, 0);
  if (n != static_cast<ssize_t>(len)) return Fail(EFAULT, "bad guest address");
  return {};
}

Status PtraceShell::Write(uint64_t addr, const void* buf, size_t len) {
  if (len == 0) return {};
  if (addr >= kGuestAddressLimit || len > kGuestAddressLimit - addr)
    return Fail(EFAULT, "guest address out of range");
  iovec local{const_cast<void*>(buf), len};
  iovec remote{reinterpret_cast<void*>(addr), len};
  ssize_t n = process_vm_writev(pid_, &local, 1, &remote, 1, 0);
  if (n != static_cast<ssize_t>(len)) return Fail(EFAULT, "bad guest address");
  return {};
}

void PtraceShell::SetRegs(const GuestRegs& regs) {
  regs_ = regs;
  dirty_ = Dirty::kAll;
}

void PtraceShell::SetSyscallResult(int64_t value) {
  regs_.rax = static_cast<uint64_t>(value);
  if (dirty_ == Dirty::kClean) dirty_ = Dirty::kRax;
}

Status PtraceShell::ResetXstateIfPending() {
  if (!xstate_reset_pending_) return {};
  TRY_STATUS(ResetExtendedState(tid_));
  xstate_reset_pending_ = false;
  return {};
}

Result<FpuState> PtraceShell::GetFpu() {
  TRY_STATUS(ResetXstateIfPending());
  FpuState fpu;
  if (ptrace(PTRACE_GETFPREGS, tid_, 0, &fpu) != 0) return FailErrno("PTRACE_GETFPREGS");
  return fpu;
}

Status PtraceShell::SetFpu(const FpuState& fpu) {
  TRY_STATUS(ResetXstateIfPending());
  if (ptrace(PTRACE_SETFPREGS, tid_, 0, &fpu) != 0) return FailErrno("PTRACE_SETFPREGS");
  return {};
}

Result<std::vector<uint8_t>> PtraceShell::GetXstate() {
  TRY_STATUS(ResetXstateIfPending());
  std::vector<uint8_t> area(64 * 1024);
  iovec iov{area.data(), area.size()};
  if (ptrace(PTRACE_GETREGSET, tid_, NT_X86_XSTATE, &iov) != 0) return std::vector<uint8_t>{};
  area.resize(iov.iov_len);
  return area;
}

Status PtraceShell::SetXstate(const std::vector<uint8_t>& xstate) {
  if (xstate.empty()) return ResetXstateIfPending();
  std::vector<uint8_t> copy = xstate;
  iovec iov{copy.data(), copy.size()};
  if (ptrace(PTRACE_SETREGSET, tid_, NT_X86_XSTATE, &iov) != 0)
    return FailErrno("PTRACE_SETREGSET NT_X86_XSTATE");
  // Components the area leaves out of XSTATE_BV are set to their initial state by the host
  // kernel, so the whole extended state is now the area's.
  xstate_reset_pending_ = false;
  return {};
}

Status PtraceShell::FlushRegs() {
  if (dirty_ == Dirty::kRax) {
    if (ptrace(PTRACE_POKEUSER, tid_, offsetof(user_regs_struct, rax), regs_.rax) != 0)
      return FailErrno("PTRACE_POKEUSER rax");
  } else if (dirty_ == Dirty::kAll) {
    if (ptrace(PTRACE_SETREGS, tid_, 0, &regs_) != 0) return FailErrno("PTRACE_SETREGS");
  }
  dirty_ = Dirty::kClean;
  return {};
}

// RLIMIT_CPU on the shell: the host kernel sends SIGXCPU at the soft limit and every second
// after (a signal-delivery stop that Run() reports as kInterrupted; it is never delivered),
// and SIGKILL at the hard limit (raising it again would take CAP_SYS_RESOURCE).
Status PtraceShell::LimitCpuTime(int64_t soft_s, int64_t hard_s) {
  if (soft_s < 1 || hard_s <= soft_s) return Fail(EINVAL, "bad CPU time limits");
  const rlimit lim{static_cast<rlim_t>(soft_s), static_cast<rlim_t>(hard_s)};
  if (prlimit(pid_, RLIMIT_CPU, &lim, nullptr) != 0) return FailErrno("prlimit RLIMIT_CPU");
  return {};
}

int64_t PtraceShell::CpuTimeNs() {
  clockid_t clock;
  timespec ts{};
  if (clock_getcpuclockid(pid_, &clock) != 0 || clock_gettime(clock, &ts) != 0) return 0;
  return ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

// Whether the SIGXCPU the shell is stopped with comes from the host kernel (RLIMIT_CPU sends
// it with SI_KERNEL), not from kill(2) by some process.
bool PtraceShell::IsCpuLimitSignal() {
  siginfo_t info{};
  return ptrace(PTRACE_GETSIGINFO, tid_, 0, &info) == 0 && info.si_code == SI_KERNEL;
}

Result<Stop> PtraceShell::Run() {
  if (!alive_) return Stop{StopReason::kExited};
  if (std::exchange(cpu_limit_signalled_, false)) return Stop{StopReason::kInterrupted, SIGXCPU};
  if (interrupt_requested_.exchange(false)) return Stop{StopReason::kInterrupted};
  TRY_STATUS(WithContext(ResetXstateIfPending(), "run guest: reset the extended state"));
  TRY_STATUS(WithContext(FlushRegs(), "run guest"));
  // With several vCPUs, Interrupt() stops a running one: this one counts as running.
  const bool several = vcpus_.size() > 1;
  if (several) {
    std::lock_guard lock(vcpu_mu_);
    vcpus_[static_cast<size_t>(selected_)].running = true;
  }
  for (;;) {
    if (ptrace(PTRACE_SYSEMU, tid_, 0, 0) != 0) return FailErrno("run guest: PTRACE_SYSEMU");
    int status = 0;
    if (waitpid(tid_, &status, __WALL) != tid_) return FailErrno("run guest: waitpid");
    TRY(std::optional<Stop> stop, DecodeStop(status, false));
    if (stop) {
      if (several) {
        std::lock_guard lock(vcpu_mu_);
        vcpus_[static_cast<size_t>(selected_)].running = false;
      }
      return *stop;
    }
  }
}

Result<std::optional<Stop>> PtraceShell::DecodeStop(int status, bool resume_suppressed) {
  if (WIFEXITED(status) || WIFSIGNALED(status)) {
    // A thread of the shell gone means the whole shell was killed (guest threads end by
    // EndVcpu, which takes its own exit).
    alive_ = false;
    Stop stop{StopReason::kExited};
    if (WIFSIGNALED(status)) stop.signal = WTERMSIG(status);
    stop.vcpu = selected_;
    return stop;
  }
  const int sig = WSTOPSIG(status);
  if (sig == (SIGTRAP | 0x80)) {
    if (ptrace(PTRACE_GETREGS, tid_, 0, &regs_) != 0) return FailErrno("run guest: GETREGS");
    return Stop{StopReason::kSyscall, 0, 0, 0, selected_};
  }
  if (sig == SIGSTOP && interrupt_requested_.exchange(false)) {
    // The guest stopped anywhere: the kernel may deliver a signal here (a timer's).
    if (ptrace(PTRACE_GETREGS, tid_, 0, &regs_) != 0) return FailErrno("run guest: GETREGS");
    return Stop{StopReason::kInterrupted, 0, 0, 0, selected_};
  }
  // RLIMIT_CPU (LimitCpuTime) was reached; a SIGXCPU from anyone else is suppressed below.
  if (sig == SIGXCPU && IsCpuLimitSignal()) {
    if (ptrace(PTRACE_GETREGS, tid_, 0, &regs_) != 0) return FailErrno("run guest: GETREGS");
    return Stop{StopReason::kInterrupted, SIGXCPU, 0, 0, selected_};
  }
  if (IsFaultSignal(sig)) {
    siginfo_t info{};
    ptrace(PTRACE_GETSIGINFO, tid_, 0, &info);
    if (ptrace(PTRACE_GETREGS, tid_, 0, &regs_) != 0) return FailErrno("run guest: GETREGS");
    return Stop{StopReason::kFault, sig, reinterpret_cast<uint64_t>(info.si_addr), info.si_code,
                selected_};
  }
  // Any other signal (a stale interrupt, a terminal's SIGINT to the process group) is not
  // the guest's business: suppress it and go on (the caller resumes and waits again).
  if (resume_suppressed && ptrace(PTRACE_SYSEMU, tid_, 0, 0) != 0)
    return FailErrno("run guest: PTRACE_SYSEMU");
  return std::nullopt;
}

void PtraceShell::InterruptForLimit() {
  limit_reached_.store(true);
  Interrupt();
}

void PtraceShell::Interrupt() {
  interrupt_requested_.store(true);
  if (vcpu_total_.load() == 1) {
    kill(pid_, SIGSTOP);  // one thread ever: the process is that thread
  } else {
    // Several threads: a process-directed SIGSTOP would be a group stop. Stop one running
    // thread; its stop (any stop after the flag was set) makes the run loop look.
    std::lock_guard lock(vcpu_mu_);
    for (const Vcpu& v : vcpus_)
      if (v.running && !v.ended) {
        syscall(SYS_tgkill, pid_, v.tid, SIGSTOP);
        break;
      }
  }
  if (void (*notify)(void*) = notify_) notify(notify_arg_);
}

Status PtraceShell::ReleaseThread() {
  if (!alive_) return Fail(ESRCH, "release shell: shell is gone");
  if (vcpus_.size() > 1)
    return Fail(EBUSY, "release shell: it runs several guest threads (not handed over)");
  // Untraced, nothing would end it with catload (PTRACE_O_EXITKILL holds only while traced),
  // and a forked shell has no parent-death signal (fork clears it): a SIGKILLed server would
  // leave its zygote's stopped shells behind. With CLONE_PARENT the parent is the thread that
  // created the pool's master shell, which lives as long as the pool. Until this call the
  // shell is traced (EXITKILL), so there is no window in which catload's death spares it.
  TRY_STATUS(
      InjectChecked("release shell: PR_SET_PDEATHSIG", SYS_prctl, PR_SET_PDEATHSIG, SIGKILL));
  // The shell is in a ptrace stop (every call here leaves it in one). Detaching with SIGSTOP
  // turns that stop into a group stop: it stays stopped, untraced, until AttachThread.
  if (ptrace(PTRACE_DETACH, pid_, 0, SIGSTOP) != 0)
    return FailErrno("release shell: PTRACE_DETACH");
  released_ = true;
  return {};
}

Status PtraceShell::AttachThread() {
  if (!released_) return {};
  // Seizing a group-stopped process turns its stop into a ptrace stop of the calling thread
  // (reported as PTRACE_EVENT_STOP), without queueing another SIGSTOP as PTRACE_ATTACH would.
  if (ptrace(PTRACE_SEIZE, pid_, 0, PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD) != 0)
    return FailErrno("take over shell: PTRACE_SEIZE");
  int status = 0;
  if (waitpid(pid_, &status, __WALL) != pid_) return FailErrno("take over shell: waitpid");
  if (!WIFSTOPPED(status)) {
    alive_ = false;
    return Fail(EIO, "take over shell: shell process " + DescribeWaitStatus(status));
  }
  released_ = false;
  // The shell was made on another thread and inherited that thread's affinity: it takes the
  // calling thread's (one CPU when the caller holds a CpuPin, cpu_pin.h), to run beside it.
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) sched_setaffinity(pid_, sizeof(set), &set);
  return {};
}

// After a clone injected on the selected vCPU: waits for its PTRACE_EVENT_FORK/CLONE stop
// (`event`) and returns the new task's host id. No event: the clone failed (its errno) and
// the shell ran into the int3, or the shell died.
Result<pid_t> PtraceShell::WaitForCloneEvent(int event, std::string_view what) {
  const std::string w(what);
  int status = 0;
  for (;;) {
    if (waitpid(tid_, &status, __WALL) != tid_) return FailErrno(w + ": waitpid");
    // A SIGSTOP that reaches the clone before its event stop: an interrupt (a timer's,
    // Interrupt(): process-directed while one thread exists) or a stale one whose request was
    // already taken (WaitForTrap drops those too). The clone is one syscall, so let it finish;
    // a request stays set and the caller's syscall exit looks at timers anyway. (It made Go's
    // thread spawns fail when sysmon ran beside a parked read of stdin; the stale case was
    // seen under ASan in CI.)
    if (!WIFSTOPPED(status) || WSTOPSIG(status) != SIGSTOP) break;
    if (ptrace(PTRACE_CONT, tid_, 0, 0) != 0) return FailErrno(w + ": PTRACE_CONT");
  }
  if (!WIFSTOPPED(status) || (status >> 8) != (SIGTRAP | (event << 8))) {
    if (WIFSTOPPED(status) && WSTOPSIG(status) == SIGTRAP) {
      GuestRegs after;
      if (ptrace(PTRACE_GETREGS, tid_, 0, &after) == 0 && static_cast<int64_t>(after.rax) < 0)
        return FailErrno(w + ": clone", static_cast<int>(-static_cast<int64_t>(after.rax)));
    }
    if (!WIFSTOPPED(status)) alive_ = false;
    return Fail(EIO, w + ": shell " + DescribeWaitStatus(status));
  }
  unsigned long child = 0;
  if (ptrace(PTRACE_GETEVENTMSG, tid_, 0, &child) != 0)
    return FailErrno(w + ": PTRACE_GETEVENTMSG");
  return static_cast<pid_t>(child);
}

Result<std::unique_ptr<Shell>> PtraceShell::Fork() {
  if (!alive_) return Fail(ESRCH, "fork shell: shell is gone");
  // A host fork copies only the calling thread: the clone is injected on the selected vCPU
  // (the guest thread that called fork), so the child's one thread is a copy of it, as Linux's
  // fork in a multi-threaded process. Fork boot, which needs every thread, re-creates the
  // template's others in the child itself (SpawnVcpu, fork_boot.cc).
  // CLONE_PTRACE (in kShellForkFlags) attaches the child to this (the tracer) thread at its
  // creation, with this shell's ptrace options: no window in which it runs untraced. Unlike
  // PTRACE_O_TRACEFORK it adds no event stop of the parent inside the clone, which would cost
  // a round trip (stop, wake the tracer, PTRACE_CONT, wait) on every fork boot.
  GuestRegs call = regs_;
  call.rip = kStubSyscall;
  call.rax = SYS_clone;
  call.orig_rax = ~0ull;
  call.rdi = kShellForkFlags;  // the one clone the seccomp filter lets through
  call.rsi = 0;                // same stack pointer (the child never runs the trampoline's)
  call.rdx = call.r10 = call.r8 = 0;
  if (ptrace(PTRACE_SETREGS, tid_, 0, &call) != 0) return FailErrno("fork shell: SETREGS");
  if (ptrace(PTRACE_CONT, tid_, 0, 0) != 0) return FailErrno("fork shell: PTRACE_CONT");
  regs_.orig_rax = ~0ull;
  dirty_ = Dirty::kAll;  // this shell's guest registers go back before it runs again
  // The parent returns from the clone into the trampoline's int3.
  TRY_STATUS(WaitForTrap("fork shell: clone"));
  GuestRegs after;
  if (ptrace(PTRACE_GETREGS, tid_, 0, &after) != 0) return FailErrno("fork shell: GETREGS");
  const auto child_pid = static_cast<int64_t>(after.rax);
  if (child_pid < 0) return FailErrno("fork shell: clone", static_cast<int>(-child_pid));
  if (child_pid == 0) return Fail(EIO, "fork shell: clone returned 0 in the parent");
  std::unique_ptr<PtraceShell> child(new PtraceShell(static_cast<pid_t>(child_pid)));
  int status = 0;
  // The child starts in a stop of its own (SIGSTOP, or PTRACE_EVENT_STOP under PTRACE_SEIZE).
  if (waitpid(child->pid_, &status, __WALL) != child->pid_)
    return FailErrno("fork shell: waitpid for the child");
  if (!WIFSTOPPED(status)) {
    child->alive_ = false;
    return Fail(EIO, "fork shell: child " + DescribeWaitStatus(status));
  }
  // Its FPU and extended state are this shell's, copied by the host kernel; its general
  // registers are written from this shell's before it first runs.
  child->regs_ = regs_;
  child->dirty_ = Dirty::kAll;
  child->xstate_reset_pending_ = xstate_reset_pending_;
  // It runs beside the calling thread (one CPU when the caller holds a CpuPin, cpu_pin.h), not
  // wherever the template was placed.
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0)
    sched_setaffinity(child->pid_, sizeof(set), &set);
  return std::unique_ptr<Shell>(std::move(child));
}

Status PtraceShell::MoveToCpu(int cpu) {
  if (cpu < 0 || cpu >= CPU_SETSIZE)
    return Fail(EINVAL, "move shell: no CPU " + std::to_string(cpu));
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  for (const Vcpu& v : vcpus_)
    if (!v.ended && sched_setaffinity(v.tid, sizeof(set), &set) != 0)
      return FailErrno("move shell: sched_setaffinity");
  return {};
}

Status PtraceShell::SetIdlePriority(bool idle) {
  const sched_param param{};  // priority 0: the only one SCHED_IDLE and SCHED_OTHER take
  for (const Vcpu& v : vcpus_)
    if (!v.ended && sched_setscheduler(v.tid, idle ? SCHED_IDLE : SCHED_OTHER, &param) != 0)
      return FailErrno(idle ? "shell: sched_setscheduler SCHED_IDLE"
                            : "shell: sched_setscheduler SCHED_OTHER");
  return {};
}

void PtraceShell::SelectVcpu(int vcpu) {
  if (vcpu == selected_ || vcpu < 0 || vcpu >= static_cast<int>(vcpus_.size())) return;
  Vcpu& out = vcpus_[static_cast<size_t>(selected_)];
  out.regs = regs_;
  out.dirty = static_cast<int>(dirty_);
  out.xstate_reset_pending = xstate_reset_pending_;
  const Vcpu& in = vcpus_[static_cast<size_t>(vcpu)];
  regs_ = in.regs;
  dirty_ = static_cast<Dirty>(in.dirty);
  xstate_reset_pending_ = in.xstate_reset_pending;
  tid_ = in.tid;
  selected_ = vcpu;
}

// The guest thread's host thread is a clone of the selected vCPU's, made from the trampoline
// (kShellThreadFlags, which the seccomp filter allows) and auto-attached to this tracer thread
// by PTRACE_O_TRACECLONE before it runs an instruction: it never runs untraced, and its first
// instruction is the guest's, at `regs`.
Result<int> PtraceShell::SpawnVcpu(const GuestRegs& regs) {
  if (!alive_) return Fail(ESRCH, "spawn thread: shell is gone");
  if (!trace_clone_) {
    // Not PTRACE_O_TRACEFORK: a shell fork (Fork) is traced by CLONE_PTRACE, without an event
    // stop, and a fork-style clone (exit signal SIGCHLD) raises no PTRACE_EVENT_CLONE.
    const long opts = PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACECLONE;
    // Options are per tracee: every thread of the shell gets them.
    for (const Vcpu& v : vcpus_)
      if (!v.ended && ptrace(PTRACE_SETOPTIONS, v.tid, 0, opts) != 0)
        return FailErrno("spawn thread: PTRACE_SETOPTIONS");
    trace_clone_ = true;
  }
  TRY_STATUS(WithContext(ResetXstateIfPending(), "spawn thread"));
  GuestRegs call = regs_;
  call.rip = kStubSyscall;
  call.rax = SYS_clone;
  call.orig_rax = ~0ull;
  call.rdi = kShellThreadFlags;
  call.rsi = 0;  // the child never runs on this stack: its registers are set before it runs
  call.rdx = call.r10 = call.r8 = 0;
  if (ptrace(PTRACE_SETREGS, tid_, 0, &call) != 0) return FailErrno("spawn thread: SETREGS");
  if (ptrace(PTRACE_CONT, tid_, 0, 0) != 0) return FailErrno("spawn thread: PTRACE_CONT");
  regs_.orig_rax = ~0ull;
  dirty_ = Dirty::kAll;
  TRY(const pid_t child_tid, WaitForCloneEvent(PTRACE_EVENT_CLONE, "spawn thread"));
  int status = 0;
  {
    std::lock_guard lock(vcpu_mu_);
    vcpus_.push_back({child_tid});
    vcpus_.back().regs = regs;
    vcpus_.back().dirty = static_cast<int>(Dirty::kAll);
    vcpus_.back().xstate_reset_pending = false;  // a copy of this thread's, already reset
    vcpu_total_.store(static_cast<int>(vcpus_.size()));
  }
  // This thread finishes the clone and stops at the int3 after it.
  if (ptrace(PTRACE_CONT, tid_, 0, 0) != 0) return FailErrno("spawn thread: PTRACE_CONT");
  TRY_STATUS(WaitForTrap("spawn thread: finish clone"));
  // The new thread starts in a SIGSTOP stop of its own.
  if (waitpid(child_tid, &status, __WALL) != child_tid)
    return FailErrno("spawn thread: waitpid for the thread");
  if (!WIFSTOPPED(status)) {
    alive_ = false;
    return Fail(EIO, "spawn thread: new thread " + DescribeWaitStatus(status));
  }
  cpu_set_t set;
  if (sched_getaffinity(pid_, sizeof(set), &set) == 0)
    sched_setaffinity(child_tid, sizeof(set), &set);
  return static_cast<int>(vcpus_.size() - 1);
}

Status PtraceShell::EndVcpu(int vcpu) {
  if (vcpu <= 0 || vcpu >= static_cast<int>(vcpus_.size()) ||
      vcpus_[static_cast<size_t>(vcpu)].ended)
    return Fail(EINVAL, "end thread: no such vCPU (the first one is never ended)");
  if (!alive_) return Fail(ESRCH, "end thread: shell is gone");
  const int was = selected_;
  SelectVcpu(vcpu);
  GuestRegs call = regs_;
  call.rip = kStubSyscall;
  call.rax = SYS_exit;
  call.orig_rax = ~0ull;
  call.rdi = 0;
  Status st;
  int status = 0;
  if (ptrace(PTRACE_SETREGS, tid_, 0, &call) != 0 || ptrace(PTRACE_CONT, tid_, 0, 0) != 0)
    st = FailErrno("end thread: resume into exit");
  // Until it has exited: an interrupt's SIGSTOP (Interrupt stops a running vCPU, and this one
  // ran until its exit syscall) may stop it first. Taken for its exit, that stop would leave
  // the thread alive and marked ended: at the shell's end it becomes a zombie nobody reaps,
  // and the leader, which waits for it, is never reaped either (catload hung at exit).
  while (st) {
    if (waitpid(tid_, &status, __WALL) != tid_) {
      st = FailErrno("end thread: waitpid");
    } else if (WIFEXITED(status) || WIFSIGNALED(status)) {
      break;
    } else if (ptrace(PTRACE_CONT, tid_, 0, 0) != 0) {
      st = FailErrno("end thread: resume into exit");
    }
  }
  SelectVcpu(was == vcpu ? 0 : was);
  std::lock_guard lock(vcpu_mu_);
  vcpus_[static_cast<size_t>(vcpu)].ended = true;
  return st;
}

Status PtraceShell::Start() {
  if (!alive_) return Fail(ESRCH, "run guest: shell is gone");
  TRY_STATUS(WithContext(ResetXstateIfPending(), "run guest: reset the extended state"));
  TRY_STATUS(WithContext(FlushRegs(), "run guest"));
  {
    std::lock_guard lock(vcpu_mu_);
    vcpus_[static_cast<size_t>(selected_)].running = true;
  }
  if (ptrace(PTRACE_SYSEMU, tid_, 0, 0) != 0) return FailErrno("run guest: PTRACE_SYSEMU");
  return {};
}

// waitpid(-1) with __WNOTHREAD: stops of this tracer thread's tracees only (a server runs many
// tracer threads). A status for a pid none of `shells` knows (a shell of this thread that is
// not part of this run, e.g. a killed one) is dropped: that shell's next wait then fails
// rather than hangs.
Result<Shell::AnyStop> PtraceShell::WaitAny(std::span<Shell* const> shells) {
  for (;;) {
    int status = 0;
    const pid_t t = waitpid(-1, &status, __WALL | __WNOTHREAD);
    if (t < 0) {
      if (errno == EINTR) continue;
      return FailErrno("run guest: waitpid for any thread");
    }
    for (Shell* sh : shells) {
      auto* ps = static_cast<PtraceShell*>(sh);  // one platform per run
      for (size_t i = 0; i < ps->vcpus_.size(); ++i) {
        if (ps->vcpus_[i].tid != t || ps->vcpus_[i].ended) continue;
        {
          std::lock_guard lock(ps->vcpu_mu_);
          ps->vcpus_[i].running = false;
        }
        ps->SelectVcpu(static_cast<int>(i));
        TRY(std::optional<Stop> stop, ps->DecodeStop(status, true));
        if (stop) return AnyStop{ps, *stop};
        std::lock_guard lock(ps->vcpu_mu_);
        ps->vcpus_[i].running = true;  // resumed after a suppressed signal
        goto next;
      }
    }
  next:;
  }
}

void PtraceShell::SetInterruptNotify(void (*notify)(void*), void* arg) {
  // Interrupt() may read the pair concurrently: the argument is set before the function is
  // published and never cleared, so a call that saw the function always sees its argument.
  if (!notify) {
    notify_.store(nullptr);
    return;
  }
  notify_arg_ = arg;
  notify_.store(notify);
}

PtracePlatform::~PtracePlatform() {
  WaitForDyingShells();
}

Result<std::unique_ptr<Shell>> PtracePlatform::CreateShell() {
  TRY(auto shell, PtraceShell::Create());
  return std::unique_ptr<Shell>(std::move(shell));
}

}  // namespace cat::ptrace_platform
