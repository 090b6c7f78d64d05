// The ptrace platform: each shell is a host process that holds nothing but the trampoline page
// and guest mappings, traced with PTRACE_SYSEMU so that every guest syscall stops it and is
// emulated by the sandbox kernel instead of reaching the host (spec/sandbox.md).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "loader/platform/platform.h"
#include "loader/platform/ptrace/stub.h"

namespace cat::ptrace_platform {

class PtraceShell final : public Shell {
 public:
  static Result<std::unique_ptr<PtraceShell>> Create();
  ~PtraceShell() override;

  Status MapAnonymous(uint64_t addr, uint64_t len, int prot) override;
  Status MapFile(uint64_t addr, uint64_t len, int prot, int host_fd, uint64_t offset) override;
  Status MapFileShared(uint64_t addr, uint64_t len, int prot, int host_fd,
                       uint64_t offset) override;
  Status MapMany(const std::vector<MapRequest>& requests) override;
  Status AdviseMany(const std::vector<AdviseRequest>& requests) override;
  Result<std::vector<GuestRange>> WrittenPages(uint64_t addr, uint64_t len) override;
  int64_t MinorFaults() override;
  Status Unmap(uint64_t addr, uint64_t len) override;
  Status Protect(uint64_t addr, uint64_t len, int prot) override;
  Status Remap(uint64_t old_addr, uint64_t old_len, uint64_t new_addr, uint64_t new_len) override;
  Status Discard(uint64_t addr, uint64_t len) override;
  Status Read(uint64_t addr, void* buf, size_t len) override;
  Status Write(uint64_t addr, const void* buf, size_t len) override;
  const GuestRegs& regs() override { return regs_; }
  void SetRegs(const GuestRegs& regs) override;
  void SetSyscallResult(int64_t value) override;
  Result<FpuState> GetFpu() override;
  Status SetFpu(const FpuState& fpu) override;
  Result<std::vector<uint8_t>> GetXstate() override;
  Status SetXstate(const std::vector<uint8_t>& xstate) override;
  int64_t CpuTimeNs() override;
  Status LimitCpuTime(int64_t soft_s, int64_t hard_s) override;
  bool Alive() const override { return alive_; }
  Result<Stop> Run() override;
  void Interrupt() override;
  void InterruptForLimit() override;
  Status ReleaseThread() override;
  Status AttachThread() override;
  Result<std::unique_ptr<Shell>> Fork() override;
  Status MoveToCpu(int cpu) override;
  Status SetIdlePriority(bool idle) override;
  int vcpu_count() const override { return static_cast<int>(vcpus_.size()); }
  int selected_vcpu() const override { return selected_; }
  void SelectVcpu(int vcpu) override;
  Result<int> SpawnVcpu(const GuestRegs& regs) override;
  Status EndVcpu(int vcpu) override;
  Status Start() override;
  Result<AnyStop> WaitAny(std::span<Shell* const> shells) override;
  bool TakeInterrupt() override { return interrupt_requested_.exchange(false); }
  void SetInterruptNotify(void (*notify)(void*), void* arg) override;

  pid_t pid() const { return pid_; }

 private:
  explicit PtraceShell(pid_t pid) : pid_(pid), tid_(pid) { vcpus_.push_back({pid}); }
  // One vCPU: a host thread of the shell process. The selected one's registers live in
  // regs_/dirty_/xstate_reset_pending_ (the hot path touches no vector); the others' here.
  struct Vcpu {
    pid_t tid;
    GuestRegs regs{};
    int dirty = 0;  // a Dirty
    bool xstate_reset_pending = false;
    bool running = false;  // started and its stop not yet taken (guarded by vcpu_mu_)
    bool ended = false;
  };
  // What a wait status of the selected vCPU means: a stop to report, or nothing (resumed).
  // resume_suppressed: resume the vCPU after a signal that is nobody's business (WaitAny).
  Result<std::optional<Stop>> DecodeStop(int status, bool resume_suppressed);
  // Runs one real host syscall inside the shell, from the trampoline; returns its result.
  Result<int64_t> Inject(long nr, uint64_t a0 = 0, uint64_t a1 = 0, uint64_t a2 = 0,
                         uint64_t a3 = 0, uint64_t a4 = 0, uint64_t a5 = 0);
  Status InjectChecked(std::string_view what, long nr, uint64_t a0 = 0, uint64_t a1 = 0,
                       uint64_t a2 = 0, uint64_t a3 = 0, uint64_t a4 = 0, uint64_t a5 = 0);
  Status WaitForTrap(std::string_view what);
  Result<pid_t> WaitForCloneEvent(int event, std::string_view what);
  // Runs the batch table already written to the scratch page (stub.h).
  Status RunBatch(std::string_view what);
  // Runs `calls` (no terminator) as batches of kMaxBatch; the first failure is returned as
  // "WHAT at ARG0: errno".
  Status RunSyscalls(std::string_view what, const std::vector<BatchEntry>& calls);
  Status FlushRegs();
  // Resets the extended register state if nothing has set it since the shell was created.
  Status ResetXstateIfPending();
  bool IsCpuLimitSignal();
  void Kill();

  pid_t pid_;  // the process (its first thread, vCPU 0)
  pid_t tid_;  // the selected vCPU's host thread
  int selected_ = 0;
  std::vector<Vcpu> vcpus_;
  std::mutex vcpu_mu_;  // vcpus_[i].running and vcpus_'s growth, against Interrupt()
  std::atomic<int> vcpu_total_{1};
  std::atomic<void (*)(void*)> notify_{nullptr};
  void* notify_arg_ = nullptr;  // set before notify_
  bool trace_clone_ = false;    // PTRACE_O_TRACECLONE set (the first SpawnVcpu sets it)
  bool alive_ = true;
  GuestRegs regs_{};
  enum class Dirty { kClean, kRax, kAll } dirty_ = Dirty::kClean;
  bool xstate_reset_pending_ = false;
  std::atomic<bool> interrupt_requested_{false};
  std::atomic<bool> limit_reached_{false};  // InterruptForLimit was called: WaitForTrap kills
  bool cpu_limit_signalled_ = false;        // a SIGXCPU dropped while waiting for a trap
  bool released_ = false;                   // ReleaseThread'ed: detached, stopped, untraced
};

// Blocks until every shell killed so far is gone, its address space torn down (that teardown
// otherwise overlaps whatever the CPU does next). For `catload run --repeat`, which stands in
// for a server's idle time between requests.
void WaitForDyingShells();

class PtracePlatform final : public Platform {
 public:
  // Waits for the shells killed but not yet reaped (they die in the background, see Kill).
  ~PtracePlatform() override;
  std::string_view name() const override { return "ptrace"; }
  Result<std::unique_ptr<Shell>> CreateShell() override;
};

}  // namespace cat::ptrace_platform
