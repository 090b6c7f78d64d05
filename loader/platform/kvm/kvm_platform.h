// The kvm platform (spec/kvm.md): each shell is a kvmcore GuestMachine, a small VM whose vCPUs
// (one per guest thread, run in turn by the controlling thread) run the guest in ring 3; the ring-0
// trampoline turns its syscalls and faults into exits that Run() reports exactly as the ptrace
// platform's stops, so the sandbox kernel does not know which platform runs it. Guest memory is
// catload's own memory (host mappings inside the VM's memory slot), so Read/Write copy directly
// instead of through another process.
#pragma once

#include <time.h>

#include <atomic>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "kvmcore/guest_machine.h"
#include "kvmcore/kvm_system.h"
#include "kvmcore/machine_pool.h"
#include "loader/platform/platform.h"

namespace cat::kvm_platform {

class KvmShell final : public Shell {
 public:
  // `pool`: where Fork takes its VMs (the platform's; shared by every shell it made).
  static Result<std::unique_ptr<KvmShell>> Create(std::shared_ptr<const kvm::KvmSystem> system,
                                                  std::shared_ptr<kvm::MachinePool> pool);
  ~KvmShell() override;

  Status MapAnonymous(uint64_t addr, uint64_t len, int prot) override;
  Status MapFile(uint64_t addr, uint64_t len, int prot, int host_fd, uint64_t offset) override;
  Status AdviseMany(const std::vector<AdviseRequest>& requests) override;
  Status Unmap(uint64_t addr, uint64_t len) override;
  Status Protect(uint64_t addr, uint64_t len, int prot) override;
  Status Remap(uint64_t old_addr, uint64_t old_len, uint64_t new_addr, uint64_t new_len) override;
  Status Discard(uint64_t addr, uint64_t len) override;
  // From catload's own pagemap over the guest slot: KVM's faults copy guest-written pages on
  // write in catload's mappings (written_pages.h).
  Result<std::vector<GuestRange>> WrittenPages(uint64_t addr, uint64_t len) override;
  Status Read(uint64_t addr, void* buf, size_t len) override;
  Status Write(uint64_t addr, const void* buf, size_t len) override;
  const GuestRegs& regs() override { return regs_; }
  void SetRegs(const GuestRegs& regs) override;
  void SetSyscallResult(int64_t value) override;
  Result<FpuState> GetFpu() override;
  Status SetFpu(const FpuState& fpu) override;
  Result<std::vector<uint8_t>> GetXstate() override;
  Status SetXstate(const std::vector<uint8_t>& xstate) override;
  int64_t CpuTimeNs() override { return cpu_ns_.load(); }
  bool GuestTimeOnRunThread() const override { return true; }
  Status LimitCpuTime(int64_t soft_s, int64_t hard_s) override;
  Result<Stop> Run() override;
  void Interrupt() override;
  // Guest threads (spec/kvm.md, "Threads"): a KVM vCPU each, run one at a time on the
  // controlling thread; WaitAny runs the started ones in turn, each for a time slice when
  // more than one is started.
  int vcpu_count() const override { return static_cast<int>(vcpus_.size()); }
  int selected_vcpu() const override { return selected_; }
  void SelectVcpu(int vcpu) override;
  Result<int> SpawnVcpu(const GuestRegs& regs) override;
  Status EndVcpu(int vcpu) override;
  Status Start() override;
  Result<AnyStop> WaitAny(std::span<Shell* const> shells) override;
  bool TakeInterrupt() override { return interrupt_requested_.exchange(false); }
  void SetInterruptNotify(void (*notify)(void*), void* arg) override;
  // The controlling thread's minor faults (getrusage RUSAGE_THREAD): KVM takes the guest's
  // page faults on the thread inside KVM_RUN (GUP faults count in its min_flt), along with
  // the sandbox kernel's own on that thread. Read when a boot's stats ask (twice a run),
  // never around each KVM_RUN.
  int64_t MinorFaults() override;
  int64_t VmExits() override { return static_cast<int64_t>(machine_->exits()); }
  int64_t VmPooled() const override { return pooled_ ? 1 : 0; }
  bool Alive() const override { return alive_; }
  CpuFeatures GuestCpuFeatures() override;
  // The vCPU's CPUID narrowed to the image's record (cpuid_profile.h).
  Status UseCpuFeatures(const CpuFeatures& recorded) override;
  // Fork boot (spec/kvm.md): a VM from the pool of pre-created ones (made now if none is
  // ready) whose memory becomes this one's frozen base MAP_PRIVATE.
  Result<std::unique_ptr<Shell>> Fork() override;
  // A fork template: the pool starts making VMs with this shell's CPUID.
  void PrepareForks() override;

 private:
  KvmShell(std::shared_ptr<const kvm::KvmSystem> system, std::shared_ptr<kvm::MachinePool> pool,
           std::unique_ptr<kvm::GuestMachine> machine)
      : system_(std::move(system)), pool_(std::move(pool)), machine_(std::move(machine)) {}
  // regs_ from the machine's ring-3 registers, as the ptrace platform shows them.
  void LoadRegs(bool at_syscall);
  // One entry of the selected vCPU: its stop, or nothing when it was interrupted for no
  // reason of the guest's (a time slice's end, the CPU timer, a stale kick).
  Result<std::optional<Stop>> RunOnce();
  // kInterrupted with SIGXCPU, kExited (killed at the hard limit), or nothing.
  std::optional<Stop> CheckCpuLimit();
  Status ArmCpuTimer();

  std::shared_ptr<const kvm::KvmSystem> system_;
  std::shared_ptr<kvm::MachinePool> pool_;
  std::unique_ptr<kvm::GuestMachine> machine_;
  bool pooled_ = false;         // machine_ came ready from the pool (VmPooled)
  bool replenish_due_ = false;  // taken from the pool, which is refilled at the first Run
  // One guest thread's vCPU; the selected one's registers live in regs_.
  struct VcpuSlot {
    int machine_index;  // the GuestMachine's vCPU (reused after an EndVcpu)
    GuestRegs regs{};
    bool started = false;  // Start()ed and its stop not yet taken (WaitAny)
    bool ended = false;
  };
  std::vector<VcpuSlot> vcpus_{VcpuSlot{0}};
  int selected_ = 0;
  std::atomic<void (*)(void*)> notify_{nullptr};
  void* notify_arg_ = nullptr;  // set before notify_
  GuestRegs regs_{};
  bool alive_ = true;
  std::atomic<bool> interrupt_requested_{false};
  std::atomic<int64_t> cpu_ns_{0};
  int64_t soft_ns_ = 0, hard_ns_ = 0;  // 0: no limit
  timer_t cpu_timer_{};
  pid_t cpu_timer_tid_ = 0;
};

class KvmPlatform final : public Platform {
 public:
  // Opens /dev/kvm and runs the self-test (kvmcore/self_test.h): an error says why this host
  // cannot run the kvm platform.
  static Result<std::unique_ptr<KvmPlatform>> Open(const std::string& device = "/dev/kvm");
  std::string_view name() const override { return "kvm"; }
  Result<std::unique_ptr<Shell>> CreateShell() override;
  // The fork pool full and its retired VMs torn down (MachinePool::WaitFull).
  void WaitForPools() override { pool_->WaitFull(); }
  // VMs kept ready for forks (spec/kvm.md, "Zygote VMs and fork boot"): enough for a few
  // forks in a row, or one each for a server's workers forking at once, without holding many
  // idle VMs (each a few pages of kernel and system-area memory and 33 GiB of reserved,
  // uncommitted address space).
  static constexpr size_t kForkPoolSize = 4;
  kvm::MachinePool& fork_pool() { return *pool_; }

 private:
  explicit KvmPlatform(std::shared_ptr<const kvm::KvmSystem> system)
      : system_(std::move(system)),
        pool_(std::make_shared<kvm::MachinePool>(system_, kForkPoolSize)) {}
  std::shared_ptr<const kvm::KvmSystem> system_;
  std::shared_ptr<kvm::MachinePool> pool_;
};

}  // namespace cat::kvm_platform
