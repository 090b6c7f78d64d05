// A ring-3 guest machine: one VM with one or more vCPUs in 64-bit ring 3 (guest threads, run
// one at a time by the thread that calls Run: spec/kvm.md, "Threads"), the system area (trampoline,
// descriptor tables, page tables: long_mode.h), and one guest memory slot whose guest-physical
// space this class allocates to guest mappings. Guest-virtual addresses are the guest's own;
// each mapping is backed by a host mapping inside the slot (memory_slot.h). It knows nothing
// of functions or images: the loader's kvm platform adapts it to the Shell interface.
#pragma once

#include <linux/kvm.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "format/base/error.h"
#include "kvmcore/fork_base.h"
#include "kvmcore/kvm_system.h"
#include "kvmcore/long_mode.h"
#include "kvmcore/memory_slot.h"
#include "kvmcore/page_tables.h"
#include "kvmcore/vcpu.h"
#include "kvmcore/vm.h"

namespace cat::kvm {

// Guest-physical placement: the system slot at 0, guest memory at 4 GiB (above the legacy
// holes and Intel's real-mode TSS).
constexpr uint64_t kGuestMemoryGpa = 4ull << 30;
constexpr uint64_t kDefaultGuestMemorySize = 32ull << 30;
// vCPUs (guest threads alive at once) per machine: above the sandbox kernel's thread limit (256),
// below KVM's own (KVM_CAP_MAX_VCPUS, 1024 on Linux 6.1).
constexpr size_t kMaxVcpus = 512;

// XCR0 of the host (xgetbv): the extended-state components its kernel enabled.
uint64_t HostXcr0();
// Whether two CPUID tables are the same, entry by entry (a fork's VM must have its template's).
bool SameCpuid(const std::vector<kvm_cpuid_entry2>& a, const std::vector<kvm_cpuid_entry2>& b);

struct MachineOptions {
  // Guest-physical space for guest mappings (reserved, not committed).
  uint64_t guest_memory_size = kDefaultGuestMemorySize;
  // KVM_SET_CPUID2's table; empty: all that KVM supports (KVM_GET_SUPPORTED_CPUID).
  std::vector<kvm_cpuid_entry2> cpuid;
  // false: no KVM_SET_CPUID2 at all (the self-test's probe of backends that refuse it).
  bool set_cpuid = true;
};

// What the guest sees as its registers: ring-3 general registers, RIP, RFLAGS and the FS/GS
// bases (the only segment state a ring-3 guest has).
struct UserRegs {
  kvm_regs gpr{};
  uint64_t fs_base = 0;
  uint64_t gs_base = 0;
};

enum class GuestExitKind {
  kSyscall,        // `syscall` in ring 3: rax the number, rcx/r11 as the CPU left them
  kException,      // a CPU exception in ring 3: vector, error_code, cr2 (#PF)
  kCompatSyscall,  // `syscall` from a 32-bit code segment (none exists: a forged CS)
  kInterrupted,    // Kick(), or a signal to the thread
  kMemoryFault,    // host memory behind a guest page is gone (a file page past EOF)
};

struct GuestExit {
  GuestExitKind kind;
  int vector = 0;
  uint64_t error_code = 0;
  uint64_t cr2 = 0;
};

class GuestMachine {
 public:
  static Result<std::unique_ptr<GuestMachine>> Create(const KvmSystem& system,
                                                      const MachineOptions& options = {});

  // Guest mappings (page-aligned guest-virtual ranges below 2^47, MAP_FIXED semantics: what
  // was there is replaced). `prot` is PROT_READ/WRITE/EXEC.
  Status MapAnonymous(uint64_t va, uint64_t len, int prot);
  Status MapFile(uint64_t va, uint64_t len, int prot, int fd, uint64_t offset);
  Status Unmap(uint64_t va, uint64_t len);
  Status Protect(uint64_t va, uint64_t len, int prot);
  Status Remap(uint64_t old_va, uint64_t old_len, uint64_t new_va, uint64_t new_len);
  Status Discard(uint64_t va, uint64_t len);
  Status Advise(uint64_t va, uint64_t len, int advice);

  // One contiguous piece of a guest range in host memory.
  struct HostPiece {
    uint8_t* host;
    uint64_t len;
  };
  // The host memory behind [va, va+len), piece by piece; EFAULT if any page is unmapped or
  // lacks the access (`write`: PROT_WRITE, else PROT_READ or PROT_EXEC).
  Result<std::vector<HostPiece>> Translate(uint64_t va, uint64_t len, bool write) const;
  // The mapped parts of [va, va+len) (gaps skipped), each with its guest address.
  struct MappedPiece {
    uint64_t va;
    uint8_t* host;
    uint64_t len;
  };
  std::vector<MappedPiece> MappedPieces(uint64_t va, uint64_t len) const;
  // Copies through Translate. The copy itself is process_vm_readv/writev on catload's own
  // memory: a file page past the end of its file then fails with EFAULT instead of SIGBUS.
  Status Read(uint64_t va, void* buf, size_t len) const;
  Status Write(uint64_t va, const void* buf, size_t len);

  // Several vCPUs (guest threads) share the VM's memory, page tables and system area; each has
  // its own vCPU fd, kvm_run mapping and registers. Register calls, Run and the XSAVE calls act
  // on the selected one. Only one vCPU is ever inside KVM_RUN (the trampoline's exception stack
  // and TSS are shared): Run runs the selected vCPU on the calling thread.
  // A new vCPU, set up as the first one (CPUID, special registers, XCR0, MSRs) with the
  // selected vCPU's XSAVE area and `regs`; returns its index. An ended vCPU's KVM object is
  // reused (KVM frees vCPUs only with their VM, so a thread pool's churn would otherwise reach
  // KVM_CAP_MAX_VCPUS).
  Result<int> AddVcpu(const UserRegs& regs);
  // Ends vCPU `index` (not 0, not selected): its KVM vCPU waits for the next AddVcpu.
  Status RemoveVcpu(int index);
  void SelectVcpu(int index);
  int selected_vcpu() const { return selected_; }
  int vcpu_count() const { return static_cast<int>(vcpus_.size()); }

  const UserRegs& regs() const { return cur_->regs; }
  void SetRegs(const UserRegs& regs);
  // The hot path: only rax changes (a syscall's result).
  void SetRax(uint64_t rax);
  Result<std::vector<uint8_t>> GetXsave() { return cur_->vcpu.GetXsave(); }
  Status SetXsave(const std::vector<uint8_t>& area) { return cur_->vcpu.SetXsave(area); }
  Result<kvm_fpu> GetFpu() { return cur_->vcpu.GetFpu(); }
  Status SetFpu(const kvm_fpu& fpu) { return cur_->vcpu.SetFpu(fpu); }

  Result<GuestExit> Run();
  // Thread-safe: makes the vCPU inside KVM_RUN (or whichever enters it next) exit.
  void Kick();

  // Fork boot (spec/kvm.md, "Fork boot"): makes `child` — a machine fresh from Create, with no
  // mapping yet and the same CPUID — a copy of this one: the same guest mappings, each a
  // MAP_PRIVATE mapping of this machine's frozen memory (ForkBase, made at the first fork and
  // kept until this machine's memory or registers change), a copy of its page tables, its
  // registers and XSAVE area. Nothing is copied page by page after the first fork: the child
  // copies a page when it first writes it.
  Status ForkInto(GuestMachine& child);
  // The frozen base the last ForkInto used (null before the first, or after a change).
  const ForkBase* fork_base() const { return base_.get(); }
  const std::vector<kvm_cpuid_entry2>& cpuid() const { return cpuid_; }
  // Replaces the vCPU's CPUID (and with it CR4.OSXSAVE and XCR0) before it first runs;
  // EBUSY after.
  Status SetCpuid(std::vector<kvm_cpuid_entry2> cpuid);
  // The XSAVE components enabled for the guest (XCR0): what an XSAVE area set may hold.
  uint64_t xcr0() const { return xcr0_; }
  uint64_t exits() const { return exits_; }
  // Whether the guest has XSAVE (its CPUID says so; CR4.OSXSAVE is set).
  bool xsave() const { return xsave_; }
  const PageTables& page_tables() const { return tables_; }
  uint64_t mappings() const { return vmas_.size(); }
  uint8_t* system_host() const { return system_.host(); }

 private:
  struct Vma {
    uint64_t len;
    uint64_t gpa_offset;  // in the guest slot
    int prot;
    bool file;  // a file's pages (the image's, a fork base's) rather than anonymous memory
  };
  // Where a vCPU is: kDirect (must be loaded from regs before running), kAtSyscall (in the
  // trampoline after a syscall's exit: sysretq resumes it), kRunning (loaded, resume as is).
  enum class State { kDirect, kAtSyscall, kRunning };
  enum class Dirty { kClean, kRax, kAll };
  struct VcpuContext {
    explicit VcpuContext(Vcpu v) : vcpu(std::move(v)) {}
    Vcpu vcpu;
    kvm_sregs base_sregs{};  // as KVM created it (its APIC base)
    UserRegs regs;
    kvm_regs at_exit{};  // the vCPU's registers at the last exit (in the trampoline)
    State state = State::kDirect;
    Dirty dirty = Dirty::kAll;
    // The vCPU was last resumed through the syscall hot path and has not exited since: if it
    // is interrupted at the syscall's `out`, that syscall was already reported.
    bool resumed_syscall = false;
    bool cr3_toggle = false;
    uint64_t tlb_generation = 0;  // the machine's tlb_generation_ at its last CR3 load
    bool ended = false;           // its thread ended; the KVM vCPU awaits reuse
  };
  GuestMachine(Vm vm, Vcpu vcpu, MemorySlot system, MemorySlot memory, uint64_t memory_size,
               bool xsave)
      : vm_(std::move(vm)),
        system_(std::move(system)),
        memory_(std::move(memory)),
        allocator_(memory_size),
        tables_(system_.host(), kPageTablePoolGpa, (kSystemSize - kPageTablePoolGpa) / 4096),
        xsave_(xsave) {
    vcpus_.push_back(std::make_unique<VcpuContext>(std::move(vcpu)));
    cur_ = vcpus_.front().get();
  }
  Status Setup(bool set_cpuid);
  // CPUID, special registers, XCR0 of the selected vCPU (vcpu.h's order).
  Status ApplyCpuidToVcpu(bool set_cpuid);
  bool tlb_stale() const { return cur_->tlb_generation != tlb_generation_; }
  Status ApplyCpuid(bool set_cpuid);
  // Splits VMAs so that `at` is a boundary.
  void SplitAt(uint64_t at);
  Status MapNew(uint64_t va, uint64_t len, int prot, int fd, uint64_t offset);
  Status WriteTables(uint64_t va, const Vma& vma);
  // The host pieces of [va, va+len), every page mapped and (need != 0) with one of `need`'s
  // protections; `err` otherwise (EFAULT for guest access, ENOMEM as mprotect/madvise say).
  Result<std::vector<HostPiece>> Pieces(uint64_t va, uint64_t len, int need, int err) const;
  // Loads regs_ into the vCPU as a ring-3 state (no trampoline involved).
  Status EnterDirect();
  Result<GuestExit> DecodeIo(const Exit& exit);
  Status RecoverAfterInterrupt();

  Vm vm_;
  // Every vCPU ever made (never freed before the machine: Kick may read them from another
  // thread); the selected one is cur_. vcpus_mu_ guards the vector's growth against Kick.
  std::vector<std::unique_ptr<VcpuContext>> vcpus_;
  VcpuContext* cur_;
  int selected_ = 0;
  mutable std::mutex vcpus_mu_;
  std::atomic<Vcpu*> running_{nullptr};  // the vCPU inside KVM_RUN
  uint64_t exits_ = 0;                   // KVM_RUN returns of all vCPUs
  bool set_cpuid_ = true;
  const KvmSystem* system_kvm_ = nullptr;  // outlives the machine (its owner holds it)
  MemorySlot system_;
  MemorySlot memory_;
  GuestPhysAllocator allocator_;
  PageTables tables_;
  bool xsave_;
  uint64_t xcr0_ = 1;
  std::vector<kvm_cpuid_entry2> cpuid_;
  std::map<uint64_t, Vma> vmas_;  // guest-virtual start -> mapping, disjoint
  // Bumped when a present page-table entry is removed or weakened: a vCPU whose TLB predates
  // it is flushed before it runs again (by a CR3 load, which only a direct entry does).
  uint64_t tlb_generation_ = 0;
  // This machine's memory frozen for forks; reset by anything that may change the memory or
  // the state a fork starts from (a mapping change, a Write, a Run).
  std::shared_ptr<const ForkBase> base_;
};

}  // namespace cat::kvm
