// The ring-3 guest machine: set-up in the documented order, guest mappings over one memory
// slot, and the run loop that decodes the trampoline's exits (see guest_machine.h).
#include "kvmcore/guest_machine.h"

#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "kvmcore/trampoline.h"

namespace cat::kvm {
namespace {

constexpr uint64_t kGuestVaLimit = 1ull << 47;
constexpr uint64_t kTrampolineVa = kSystemVa + kTrampolineGpa;

// The guest's registers as the CPU left them at a syscall's entry: the return RIP in rcx, the
// RFLAGS in r11 (the values a Linux guest sees there after its syscall, too).
kvm_regs AfterSyscall(kvm_regs r) {
  r.rip = r.rcx;
  r.rflags = r.r11;
  return r;
}

int HostProt(int prot) {
  // Host mappings are never executable: KVM needs only read (and write) access to them, and
  // guest code must not be runnable in catload.
  if (prot & PROT_WRITE) return PROT_READ | PROT_WRITE;
  if (prot & (PROT_READ | PROT_EXEC)) return PROT_READ;
  return PROT_NONE;
}

bool CheckedRange(uint64_t va, uint64_t len) {
  return va % 4096 == 0 && len % 4096 == 0 && len > 0 && va < kGuestVaLimit &&
         len <= kGuestVaLimit - va;
}

}  // namespace

bool SameCpuid(const std::vector<kvm_cpuid_entry2>& a, const std::vector<kvm_cpuid_entry2>& b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](const auto& x, const auto& y) {
           return std::memcmp(&x, &y, sizeof(x)) == 0;
         });
}

uint64_t HostXcr0() {
  uint32_t eax, edx;
  asm volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (uint64_t{edx} << 32) | eax;
}

Result<std::unique_ptr<GuestMachine>> GuestMachine::Create(const KvmSystem& system,
                                                           const MachineOptions& options) {
  TRY(Vm vm, Vm::Create(system));
  TRY(MemorySlot sys, MemorySlot::Create(vm, 0, 0, kSystemSize));
  TRY(MemorySlot mem, MemorySlot::Create(vm, 1, kGuestMemoryGpa, options.guest_memory_size));
  TRY(Vcpu vcpu, Vcpu::Create(system, vm, 0));
  std::vector<kvm_cpuid_entry2> cpuid = options.cpuid;
  if (cpuid.empty()) {
    // Some backends (kvm_pvm) do not answer KVM_GET_SUPPORTED_CPUID: the host's own leaves
    // then, which KVM_SET_CPUID2 filters itself.
    auto supported = system.SupportedCpuid();
    cpuid = supported ? std::move(*supported) : HostCpuid();
  }
  bool xsave = false;
  for (const kvm_cpuid_entry2& e : cpuid)
    if (e.function == 1) xsave = (e.ecx >> 26) & 1;
  std::unique_ptr<GuestMachine> m(new GuestMachine(std::move(vm), std::move(vcpu), std::move(sys),
                                                   std::move(mem), options.guest_memory_size,
                                                   xsave));
  m->cpuid_ = std::move(cpuid);
  m->system_kvm_ = &system;
  TRY_STATUS(m->Setup(options.set_cpuid));
  return m;
}

// The restore order of vcpu.h: CPUID, special registers, XCR0, MSRs; the XSAVE area and the
// general registers come later (SetXsave, the first Run's direct entry).
Status GuestMachine::Setup(bool set_cpuid) {
  TRY_STATUS(system_.MapAnonymous(0, kSystemSize, PROT_READ | PROT_WRITE, true));
  WriteSystemArea(system_.host());
  tables_.Init();
  const PageFlags code{false, false, true}, data{false, true, false};
  TRY_STATUS(tables_.Map(kSystemVa + kTrampolineGpa, kTrampolineGpa, 4096, code));
  TRY_STATUS(tables_.Map(kSystemVa + kGdtGpa, kGdtGpa, (kMappedSystemPages - 1) * 4096, data));

  TRY(kvm_sregs sregs, cur_->vcpu.GetSregs());
  cur_->base_sregs = sregs;
  TRY_STATUS(ApplyCpuid(set_cpuid));
  TRY_STATUS(cur_->vcpu.SetMsrs(SyscallMsrs()));
  cur_->regs.gpr.rflags = kRflagsFixed;
  return {};
}

// CPUID, then the special registers and XCR0 that depend on it (vcpu.h's order), on every
// vCPU.
Status GuestMachine::ApplyCpuid(bool set_cpuid) {
  xsave_ = false;
  for (const kvm_cpuid_entry2& e : cpuid_)
    if (e.function == 1) xsave_ = (e.ecx >> 26) & 1;
  set_cpuid_ = set_cpuid;
  VcpuContext* const was = cur_;
  for (auto& v : vcpus_) {
    cur_ = v.get();
    Status st = ApplyCpuidToVcpu(set_cpuid);
    if (!st) {
      cur_ = was;
      return st;
    }
  }
  cur_ = was;
  return {};
}

Status GuestMachine::ApplyCpuidToVcpu(bool set_cpuid) {
  if (set_cpuid) TRY_STATUS(cur_->vcpu.SetCpuid(cpuid_));
  TRY_STATUS(cur_->vcpu.LoadSregs(Ring3Sregs(cur_->base_sregs, tables_.root_gpa(), 0, 0, xsave_)));
  xcr0_ = 1;
  if (xsave_ && set_cpuid) {
    uint64_t supported = 0;
    for (const kvm_cpuid_entry2& e : cpuid_)
      if (e.function == 0xd && e.index == 0) supported = (uint64_t{e.edx} << 32) | e.eax;
    // The host's enabled components that the guest's CPUID offers (x87 always).
    xcr0_ = (HostXcr0() & supported) | 1;
    TRY_STATUS(cur_->vcpu.SetXcr0(xcr0_));
  } else if (xsave_) {
    xcr0_ = HostXcr0();
  }
  return {};
}

Status GuestMachine::SetCpuid(std::vector<kvm_cpuid_entry2> cpuid) {
  // KVM refuses a CPUID change once the vCPU has run (EBUSY), and a guest must not see its
  // CPU change under it.
  if (exits_ != 0) return Fail(EBUSY, "set the vCPU's CPUID: the vCPU has already run");
  cpuid_ = std::move(cpuid);
  return ApplyCpuid(true);
}

void GuestMachine::SplitAt(uint64_t at) {
  auto it = vmas_.upper_bound(at);
  if (it == vmas_.begin()) return;
  --it;
  const uint64_t start = it->first;
  Vma& v = it->second;
  if (at <= start || at >= start + v.len) return;
  const Vma tail{start + v.len - at, v.gpa_offset + (at - start), v.prot, v.file};
  v.len = at - start;
  vmas_.emplace(at, tail);
}

Status GuestMachine::WriteTables(uint64_t va, const Vma& vma) {
  if (HostProt(vma.prot) == PROT_NONE) {
    tables_.Unmap(va, vma.len);
    return {};
  }
  return tables_.Map(va, kGuestMemoryGpa + vma.gpa_offset, vma.len,
                     {true, (vma.prot & PROT_WRITE) != 0, (vma.prot & PROT_EXEC) != 0});
}

Status GuestMachine::MapNew(uint64_t va, uint64_t len, int prot, int fd, uint64_t offset) {
  if (!CheckedRange(va, len)) return Fail(EINVAL, "map guest memory: bad guest range");
  base_.reset();
  TRY_STATUS(Unmap(va, len));
  TRY(uint64_t gpa_offset, allocator_.Allocate(len));
  Status mapped = fd < 0 ? memory_.MapAnonymous(gpa_offset, len, HostProt(prot))
                         : memory_.MapFile(gpa_offset, len, HostProt(prot), fd, offset);
  if (!mapped) {
    allocator_.Free(gpa_offset, len);
    return mapped;
  }
  const Vma vma{len, gpa_offset, prot, fd >= 0};
  vmas_[va] = vma;
  return WriteTables(va, vma);
}

Status GuestMachine::MapAnonymous(uint64_t va, uint64_t len, int prot) {
  return MapNew(va, len, prot, -1, 0);
}

Status GuestMachine::MapFile(uint64_t va, uint64_t len, int prot, int fd, uint64_t offset) {
  if (fd < 0) return Fail(EBADF, "map file into guest memory: no file");
  return MapNew(va, len, prot, fd, offset);
}

Status GuestMachine::Unmap(uint64_t va, uint64_t len) {
  if (!CheckedRange(va, len)) return Fail(EINVAL, "unmap guest memory: bad guest range");
  base_.reset();
  SplitAt(va);
  SplitAt(va + len);
  for (auto it = vmas_.lower_bound(va); it != vmas_.end() && it->first < va + len;) {
    const Vma& v = it->second;
    TRY_STATUS(memory_.Release(v.gpa_offset, v.len));
    allocator_.Free(v.gpa_offset, v.len);
    if (HostProt(v.prot) != PROT_NONE) {
      tables_.Unmap(it->first, v.len);
      ++tlb_generation_;
    }
    it = vmas_.erase(it);
  }
  return {};
}

Status GuestMachine::Protect(uint64_t va, uint64_t len, int prot) {
  if (!CheckedRange(va, len)) return Fail(EINVAL, "protect guest memory: bad guest range");
  base_.reset();
  // As mprotect: every page of the range must be mapped.
  TRY_STATUS(WithContext(Pieces(va, len, 0, ENOMEM), "protect guest memory"));
  SplitAt(va);
  SplitAt(va + len);
  for (auto it = vmas_.lower_bound(va); it != vmas_.end() && it->first < va + len; ++it) {
    Vma& v = it->second;
    TRY_STATUS(memory_.Protect(v.gpa_offset, v.len, HostProt(prot)));
    if ((v.prot & ~prot) != 0) ++tlb_generation_;  // a permission taken away
    v.prot = prot;
    TRY_STATUS(WriteTables(it->first, v));
  }
  return {};
}

Status GuestMachine::Remap(uint64_t old_va, uint64_t old_len, uint64_t new_va, uint64_t new_len) {
  if (!CheckedRange(old_va, old_len) || !CheckedRange(new_va, new_len))
    return Fail(EINVAL, "remap guest memory: bad guest range");
  base_.reset();
  if (old_va < new_va + new_len && new_va < old_va + old_len)
    return Fail(EINVAL, "remap guest memory: old and new ranges overlap");
  auto it = vmas_.upper_bound(old_va);
  if (it == vmas_.begin() || std::prev(it)->first + std::prev(it)->second.len < old_va + old_len)
    return Fail(EFAULT, "remap guest memory: the old range is not one mapping");
  SplitAt(old_va);
  SplitAt(old_va + old_len);
  TRY_STATUS(Unmap(new_va, new_len));
  it = vmas_.find(old_va);
  const Vma old = it->second;
  TRY(uint64_t gpa_offset, allocator_.Allocate(new_len));
  Status moved = memory_.Move(old.gpa_offset, old.len, gpa_offset, new_len);
  if (!moved) {
    allocator_.Free(gpa_offset, new_len);
    return moved;
  }
  allocator_.Free(old.gpa_offset, old.len);
  tables_.Unmap(old_va, old.len);
  ++tlb_generation_;
  vmas_.erase(it);
  const Vma vma{new_len, gpa_offset, old.prot, old.file};
  vmas_[new_va] = vma;
  return WriteTables(new_va, vma);
}

Status GuestMachine::Advise(uint64_t va, uint64_t len, int advice) {
  if (!CheckedRange(va, len)) return Fail(EINVAL, "advise guest memory: bad guest range");
  base_.reset();
  TRY(auto pieces, WithContext(Pieces(va, len, 0, ENOMEM), "advise guest memory"));
  for (const HostPiece& p : pieces)
    if (madvise(p.host, p.len, advice) != 0) return FailErrno("advise guest memory: madvise");
  return {};
}

Status GuestMachine::Discard(uint64_t va, uint64_t len) {
  // KVM drops its own mappings of the pages through its MMU notifier.
  return Advise(va, len, MADV_DONTNEED);
}

Result<std::vector<GuestMachine::HostPiece>> GuestMachine::Translate(uint64_t va, uint64_t len,
                                                                     bool write) const {
  if (len == 0) return std::vector<HostPiece>{};
  return Pieces(va, len, write ? PROT_WRITE : PROT_READ | PROT_EXEC, EFAULT);
}

Result<std::vector<GuestMachine::HostPiece>> GuestMachine::Pieces(uint64_t va, uint64_t len,
                                                                  int need, int err) const {
  std::vector<HostPiece> pieces;
  if (va >= kGuestVaLimit || len > kGuestVaLimit - va)
    return Fail(err, "guest address out of range");
  for (uint64_t at = va; at < va + len;) {
    auto it = vmas_.upper_bound(at);
    if (it == vmas_.begin()) return Fail(err, "bad guest address");
    --it;
    const Vma& v = it->second;
    if (it->first + v.len <= at) return Fail(err, "bad guest address");
    if (need != 0 && !(v.prot & need)) return Fail(err, "bad guest address");
    const uint64_t end = std::min(va + len, it->first + v.len);
    uint8_t* host = memory_.HostAt(kGuestMemoryGpa + v.gpa_offset + (at - it->first));
    if (!pieces.empty() && pieces.back().host + pieces.back().len == host)
      pieces.back().len += end - at;
    else
      pieces.push_back({host, end - at});
    at = end;
  }
  return pieces;
}

std::vector<GuestMachine::MappedPiece> GuestMachine::MappedPieces(uint64_t va, uint64_t len) const {
  std::vector<MappedPiece> out;
  auto it = vmas_.upper_bound(va);
  if (it != vmas_.begin()) --it;
  for (; it != vmas_.end() && it->first < va + len; ++it) {
    const uint64_t start = std::max(va, it->first);
    const uint64_t end = std::min(va + len, it->first + it->second.len);
    if (start >= end) continue;
    out.push_back({start,
                   memory_.HostAt(kGuestMemoryGpa + it->second.gpa_offset + (start - it->first)),
                   end - start});
  }
  return out;
}

namespace {

Status CopyPieces(const std::vector<GuestMachine::HostPiece>& pieces, void* buf, size_t len,
                  bool write) {
  // process_vm_readv/writev on our own pid: a page that cannot be faulted in (a file page
  // past EOF) is EFAULT here, where memcpy would be SIGBUS in catload.
  std::vector<iovec> remote;
  remote.reserve(pieces.size());
  for (const auto& p : pieces) remote.push_back({p.host, p.len});
  iovec local{buf, len};
  size_t done = 0;
  for (size_t first = 0; first < remote.size(); first += IOV_MAX) {
    const size_t n = std::min<size_t>(IOV_MAX, remote.size() - first);
    size_t want = 0;
    for (size_t i = first; i < first + n; ++i) want += remote[i].iov_len;
    local = {static_cast<uint8_t*>(buf) + done, want};
    const ssize_t got = write ? process_vm_writev(getpid(), &local, 1, &remote[first], n, 0)
                              : process_vm_readv(getpid(), &local, 1, &remote[first], n, 0);
    if (got != static_cast<ssize_t>(want)) return Fail(EFAULT, "bad guest address");
    done += want;
  }
  return {};
}

}  // namespace

Status GuestMachine::Read(uint64_t va, void* buf, size_t len) const {
  TRY(auto pieces, Translate(va, len, false));
  return CopyPieces(pieces, buf, len, false);
}

Status GuestMachine::Write(uint64_t va, const void* buf, size_t len) {
  base_.reset();
  TRY(auto pieces, Translate(va, len, true));
  return CopyPieces(pieces, const_cast<void*>(buf), len, true);
}

void GuestMachine::SetRegs(const UserRegs& regs) {
  cur_->regs = regs;
  cur_->dirty = Dirty::kAll;
}

void GuestMachine::SetRax(uint64_t rax) {
  cur_->regs.gpr.rax = rax;
  if (cur_->dirty == Dirty::kClean) cur_->dirty = Dirty::kRax;
}

Result<int> GuestMachine::AddVcpu(const UserRegs& regs) {
  TRY(auto xsave, WithContext(cur_->vcpu.GetXsave(), "add a vCPU"));
  VcpuContext* ctx = nullptr;
  for (auto& v : vcpus_)
    if (v->ended) ctx = v.get();
  if (!ctx) {
    if (vcpus_.size() >= kMaxVcpus)
      return Fail(EAGAIN, "add a vCPU: this VM has " + std::to_string(kMaxVcpus) + " already");
    TRY(Vcpu vcpu,
        WithContext(Vcpu::Create(*system_kvm_, vm_, static_cast<uint32_t>(vcpus_.size())),
                    "add a vCPU"));
    auto fresh = std::make_unique<VcpuContext>(std::move(vcpu));
    VcpuContext* const was = cur_;
    cur_ = fresh.get();
    auto sregs = cur_->vcpu.GetSregs();
    Status st = sregs ? Status{} : Status(std::unexpected(sregs.error()));
    if (st) {
      cur_->base_sregs = *sregs;
      st = ApplyCpuidToVcpu(set_cpuid_);
    }
    if (st) st = cur_->vcpu.SetMsrs(SyscallMsrs());
    cur_ = was;
    TRY_STATUS(WithContext(std::move(st), "add a vCPU"));
    // Its TLB is empty. A reused vCPU keeps the generation it last flushed at: entries it
    // cached before its thread ended may be stale now.
    fresh->tlb_generation = tlb_generation_;
    std::lock_guard lock(vcpus_mu_);
    vcpus_.push_back(std::move(fresh));
    ctx = vcpus_.back().get();
  }
  TRY_STATUS(WithContext(ctx->vcpu.SetXsave(xsave), "add a vCPU"));
  ctx->ended = false;
  ctx->regs = regs;
  ctx->state = State::kDirect;
  ctx->dirty = Dirty::kAll;
  ctx->resumed_syscall = false;
  for (size_t i = 0; i < vcpus_.size(); ++i)
    if (vcpus_[i].get() == ctx) return static_cast<int>(i);
  return Fail(EIO, "add a vCPU: lost it");
}

Status GuestMachine::RemoveVcpu(int index) {
  if (index <= 0 || index >= vcpu_count() || index == selected_ ||
      vcpus_[static_cast<size_t>(index)]->ended)
    return Fail(EINVAL, "remove a vCPU: not an ended-able vCPU (never the first or the selected)");
  vcpus_[static_cast<size_t>(index)]->ended = true;
  return {};
}

void GuestMachine::SelectVcpu(int index) {
  if (index < 0 || index >= vcpu_count()) return;
  selected_ = index;
  cur_ = vcpus_[static_cast<size_t>(index)].get();
}

void GuestMachine::Kick() {
  // The vCPU inside KVM_RUN, else (between two entries) every vCPU: the one that enters next
  // may be any of them (a caller running vCPUs in turn), and immediate_exit makes it exit at
  // once. An extra exit of another vCPU later is an interrupted exit its caller resumes.
  Vcpu* const running = running_.load();
  if (running) return running->Kick();
  std::lock_guard lock(vcpus_mu_);
  for (auto& v : vcpus_) v->vcpu.Kick();
}

Status GuestMachine::ForkInto(GuestMachine& child) {
  // A machine that ever ran or mapped memory (a pooled VM used before) may hold anything of
  // an earlier guest: registers of other vCPUs, TLB entries, pages. Only a fresh one is forked
  // into, never a reset one (spec/kvm.md, "Zygote VMs and fork boot").
  if (!child.vmas_.empty() || child.exits_ != 0 || child.vcpus_.size() != 1 ||
      child.memory_.size() != memory_.size())
    return Fail(EINVAL, "fork guest machine: the child is not a fresh machine of this size");
  if (!SameCpuid(child.cpuid_, cpuid_))
    return Fail(EINVAL, "fork guest machine: the child's CPUID differs");
  if (!base_) {
    std::vector<FreezeRange> ranges;
    uint64_t extent = 0;
    std::vector<const Vma*> hidden;  // PROT_NONE on the host: made readable while frozen
    for (const auto& [va, v] : vmas_) {
      ranges.push_back({memory_.host() + v.gpa_offset, v.gpa_offset, v.len, v.file});
      extent = std::max(extent, v.gpa_offset + v.len);
      if (HostProt(v.prot) == PROT_NONE) {
        TRY_STATUS(memory_.Protect(v.gpa_offset, v.len, PROT_READ));
        hidden.push_back(&v);
      }
    }
    auto frozen = ForkBase::Freeze(ranges, extent);
    for (const Vma* v : hidden) TRY_STATUS(memory_.Protect(v->gpa_offset, v->len, PROT_NONE));
    TRY(base_, WithContext(std::move(frozen), "fork guest machine"));
  }
  // The child's slot: the base MAP_PRIVATE at the same offsets, one mmap per run of mappings
  // that are adjacent in guest-physical space with the same host protection.
  std::vector<std::pair<uint64_t, Vma>> by_gpa;
  for (const auto& [va, v] : vmas_) by_gpa.push_back({va, v});
  std::sort(by_gpa.begin(), by_gpa.end(),
            [](const auto& a, const auto& b) { return a.second.gpa_offset < b.second.gpa_offset; });
  for (size_t i = 0; i < by_gpa.size();) {
    const Vma& first = by_gpa[i].second;
    uint64_t end = first.gpa_offset + first.len;
    size_t j = i + 1;
    while (j < by_gpa.size() && by_gpa[j].second.gpa_offset == end &&
           HostProt(by_gpa[j].second.prot) == HostProt(first.prot))
      end += by_gpa[j++].second.len;
    TRY_STATUS(
        WithContext(child.memory_.MapFile(first.gpa_offset, end - first.gpa_offset,
                                          HostProt(first.prot), base_->fd(), first.gpa_offset),
                    "fork guest machine"));
    i = j;
  }
  child.vmas_ = vmas_;
  for (auto& [va, v] : child.vmas_) v.file = true;  // the base's pages, not anonymous ones
  child.allocator_ = allocator_;
  child.tables_.CopyFrom(tables_);
  TRY(auto xsave, cur_->vcpu.GetXsave());
  TRY_STATUS(WithContext(child.cur_->vcpu.SetXsave(xsave), "fork guest machine"));
  child.cur_->regs = cur_->regs;
  child.cur_->state = State::kDirect;
  child.cur_->dirty = Dirty::kAll;
  return {};
}

// Direct entry: the guest's ring-3 state is loaded as it is, as if an iretq had just run
// (through the sync area, at the next KVM_RUN). A stale TLB is flushed here by loading CR3
// with its PWT bit toggled: KVM rebuilds the guest's MMU context on a CR3 change.
Status GuestMachine::EnterDirect() {
  kvm_regs r = cur_->regs.gpr;
  r.rflags = (r.rflags & kUserRflagsMask) | kRflagsFixed;
  TRY_STATUS(cur_->vcpu.SetRegs(r));
  if (tlb_stale()) {
    cur_->cr3_toggle = !cur_->cr3_toggle;
    cur_->tlb_generation = tlb_generation_;
  }
  const uint64_t cr3 = tables_.root_gpa() | (cur_->cr3_toggle ? 0x8 : 0);
  return cur_->vcpu.SetSregs(
      Ring3Sregs(cur_->base_sregs, cr3, cur_->regs.fs_base, cur_->regs.gs_base, xsave_));
}

Result<GuestExit> GuestMachine::Run() {
  base_.reset();
  const uint64_t rip = cur_->regs.gpr.rip;
  if (cur_->state == State::kAtSyscall && cur_->dirty != Dirty::kAll && !tlb_stale() &&
      cur_->regs.gpr.rcx < kGuestVaLimit) {
    // The hot path: sysretq in the trampoline returns with the result in rax.
    cur_->resumed_syscall = true;
    if (cur_->dirty == Dirty::kRax) {
      cur_->at_exit.rax = cur_->regs.gpr.rax;
      TRY_STATUS(cur_->vcpu.SetRegs(cur_->at_exit));
    }
  } else if (!(cur_->state == State::kRunning && cur_->dirty == Dirty::kClean && !tlb_stale())) {
    // A RIP outside the guest's half would enter the system area (a supervisor-only page:
    // #PF) or not be canonical (the entry would fail): the guest's own fault, as an iretq to
    // it would be on Linux.
    if (rip >= kGuestVaLimit) return GuestExit{GuestExitKind::kException, 13, 0, 0};
    cur_->resumed_syscall = false;
    TRY_STATUS(EnterDirect());
  }
  cur_->dirty = Dirty::kClean;
  cur_->state = State::kRunning;
  running_.store(&cur_->vcpu);
  auto ran = cur_->vcpu.Run();
  running_.store(nullptr);
  ++exits_;
  TRY(Exit exit, std::move(ran));
  if (exit.kind != ExitKind::kInterrupted) cur_->resumed_syscall = false;
  switch (exit.kind) {
    case ExitKind::kIo:
      return DecodeIo(exit);
    case ExitKind::kInterrupted:
      TRY_STATUS(RecoverAfterInterrupt());
      return GuestExit{GuestExitKind::kInterrupted};
    case ExitKind::kMemoryFault:
      TRY_STATUS(RecoverAfterInterrupt());
      return GuestExit{GuestExitKind::kMemoryFault};
    default:
      return Fail(EIO, "guest machine: " + exit.Describe());
  }
}

Result<GuestExit> GuestMachine::DecodeIo(const Exit& exit) {
  TRY(cur_->at_exit, cur_->vcpu.GetRegs());
  const kvm_regs& r = cur_->at_exit;
  const uint64_t at = r.rip - kTrampolineVa;
  const std::string where =
      " (port " + std::to_string(exit.port) + ", rip " + std::to_string(r.rip) + ")";
  if (!exit.out) return Fail(EIO, "guest machine: port input, never the trampoline's" + where);
  if (exit.port == kSyscallPort && IsExitAt(at, kSyscallOut)) {
    cur_->regs.gpr = AfterSyscall(r);
    cur_->state = State::kAtSyscall;
    return GuestExit{GuestExitKind::kSyscall};
  }
  if (exit.port == kCompatSyscallPort && IsExitAt(at, kCompatOut)) {
    cur_->regs.gpr = AfterSyscall(r);
    cur_->state = State::kDirect;
    return GuestExit{GuestExitKind::kCompatSyscall};
  }
  if (exit.port == kExceptionPort) {
    ExceptionFrame f;
    std::memcpy(&f, system_.host() + kStackTopGpa - sizeof(f), sizeof(f));
    if (f.vector >= kExceptionVectors ||
        !IsExitAt(at, ExceptionOutOffset(static_cast<int>(f.vector))))
      return Fail(EIO, "guest machine: exception exit from outside its stub" + where);
    if ((f.cs & 3) != 3)
      return Fail(EIO, "guest machine: the trampoline faulted in ring 0 (vector " +
                           std::to_string(f.vector) + " at rip " + std::to_string(f.rip) + ")");
    GuestExit out{GuestExitKind::kException, static_cast<int>(f.vector), f.error_code, 0};
    if (f.vector == 14) {
      TRY(kvm_sregs s, cur_->vcpu.GetSregs());
      out.cr2 = s.cr2;
    }
    cur_->regs.gpr = r;
    cur_->regs.gpr.rip = f.rip;
    cur_->regs.gpr.rsp = f.rsp;
    cur_->regs.gpr.rflags = f.rflags;
    cur_->state = State::kDirect;
    cur_->dirty = Dirty::kAll;
    return out;
  }
  return Fail(EIO, "guest machine: port I/O exit not from the trampoline" + where);
}

// After EINTR (or EFAULT) the vCPU may be anywhere: in ring 3 (resume it as it is) or at the
// start of a trampoline path (turn its state back into the guest's ring-3 state).
Status GuestMachine::RecoverAfterInterrupt() {
  TRY(kvm_regs r, cur_->vcpu.GetRegs());
  if (r.rip < kSystemVa) {
    cur_->regs.gpr = r;
    return {};  // cur_->state stays kRunning: nothing to load
  }
  const uint64_t at = r.rip - kTrampolineVa;
  cur_->regs.gpr = r;
  if ((at == kSyscallOut && cur_->resumed_syscall) || at == kSyscallOut + kOutSize) {
    // Stopped after the syscall's exit was reported (at its `out`, not yet skipped, or at
    // sysretq): the syscall is complete, rax holds its result.
    cur_->regs.gpr = AfterSyscall(r);
  } else if (at == kSyscallEntry || at == kCompatSyscallEntry) {
    // Stopped before the exit: the syscall is undone and will be executed again.
    cur_->regs.gpr.rip = r.rcx - 2;
    cur_->regs.gpr.rflags = r.r11;
  } else if (at >= kExceptionStubs &&
             at < kExceptionStubs + kExceptionVectors * kExceptionStubSize) {
    // The exception was delivered: resuming at its RIP raises it again.
    ExceptionFrame f;
    std::memcpy(&f, system_.host() + kStackTopGpa - sizeof(f), sizeof(f));
    cur_->regs.gpr.rip = f.rip;
    cur_->regs.gpr.rsp = f.rsp;
    cur_->regs.gpr.rflags = f.rflags;
  } else {
    return Fail(EIO, "guest machine: interrupted at an unexpected trampoline address " +
                         std::to_string(r.rip));
  }
  cur_->state = State::kDirect;
  cur_->dirty = Dirty::kAll;
  return {};
}

}  // namespace cat::kvm
