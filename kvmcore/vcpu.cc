// vCPU creation, register transfer and KVM_RUN (see vcpu.h).
#include "kvmcore/vcpu.h"

#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <mutex>
#include <utility>

#include "kvmcore/kvm_ioctls.h"

namespace cat::kvm {
namespace {

template <class T>
Status Ioctl(int fd, unsigned long request, T* arg, const char* name) {
  if (ioctl(fd, request, arg) < 0) return IoctlError(name);
  return {};
}

}  // namespace

// A real-time signal nobody else in catload uses, installed without SA_RESTART.
int KickSignal() {
  static const int sig = [] {
    const int s = SIGRTMIN + 6;
    struct sigaction sa {};
    sa.sa_handler = [](int) {};
    sigemptyset(&sa.sa_mask);
    sigaction(s, &sa, nullptr);
    return s;
  }();
  return sig;
}

std::string Exit::Describe() const {
  switch (kind) {
    case ExitKind::kIo:
      return "port I/O " + std::string(out ? "out" : "in") + " on port " + std::to_string(port);
    case ExitKind::kMmio:
      return "access to unbacked guest-physical address " + std::to_string(address);
    case ExitKind::kHlt:
      return "hlt";
    case ExitKind::kShutdown:
      return "shutdown (triple fault)";
    case ExitKind::kInterrupted:
      return "interrupted";
    case ExitKind::kMemoryFault:
      return "guest memory could not be faulted in (KVM_RUN: EFAULT)";
    case ExitKind::kFailEntry:
      return "entry failed (hardware reason " + std::to_string(reason) + ")";
    case ExitKind::kInternalError:
      return "KVM internal error (suberror " + std::to_string(reason) + ")";
    case ExitKind::kOther:
      return "exit reason " + std::to_string(reason);
  }
  return "?";
}

Result<Vcpu> Vcpu::Create(const KvmSystem& system, Vm& vm, uint32_t id) {
  KickSignal();  // installed before any thread can be kicked
  const int fd = ioctl(vm.fd(), KVM_CREATE_VCPU, static_cast<unsigned long>(id));
  if (fd < 0) return IoctlError("KVM_CREATE_VCPU");
  UniqueFd owned(fd);
  void* run = mmap(nullptr, system.vcpu_mmap_size(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (run == MAP_FAILED) return FailErrno("mmap kvm_run");
  Vcpu vcpu(std::move(owned), static_cast<kvm_run*>(run), system.vcpu_mmap_size(),
            system.has_sync_regs());
  if (vcpu.sync_) vcpu.run_->kvm_valid_regs = KVM_SYNC_X86_REGS;
  return vcpu;
}

Vcpu::Vcpu(Vcpu&& o) noexcept
    : fd_(std::move(o.fd_)),
      run_(std::exchange(o.run_, nullptr)),
      run_size_(o.run_size_),
      sync_(o.sync_),
      regs_dirty_(o.regs_dirty_),
      exits_(o.exits_) {}

Vcpu::~Vcpu() {
  if (run_) munmap(run_, run_size_);
}

Result<kvm_regs> Vcpu::GetRegs() {
  if (sync_) return run_->s.regs.regs;
  kvm_regs regs;
  TRY_STATUS(Ioctl(fd_.get(), KVM_GET_REGS, &regs, "KVM_GET_REGS"));
  return regs;
}

Status Vcpu::SetRegs(const kvm_regs& regs) {
  if (sync_) {
    run_->s.regs.regs = regs;
    run_->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
    return {};
  }
  kvm_regs copy = regs;
  return Ioctl(fd_.get(), KVM_SET_REGS, &copy, "KVM_SET_REGS");
}

Result<kvm_sregs> Vcpu::GetSregs() {
  if (sync_ && (run_->kvm_dirty_regs & KVM_SYNC_X86_SREGS)) return run_->s.regs.sregs;
  kvm_sregs sregs;
  TRY_STATUS(Ioctl(fd_.get(), KVM_GET_SREGS, &sregs, "KVM_GET_SREGS"));
  return sregs;
}

Status Vcpu::SetSregs(const kvm_sregs& sregs) {
  if (sync_) {
    run_->s.regs.sregs = sregs;
    run_->kvm_dirty_regs |= KVM_SYNC_X86_SREGS;
    return {};
  }
  kvm_sregs copy = sregs;
  return Ioctl(fd_.get(), KVM_SET_SREGS, &copy, "KVM_SET_SREGS");
}

Status Vcpu::LoadSregs(const kvm_sregs& sregs) {
  kvm_sregs copy = sregs;
  return Ioctl(fd_.get(), KVM_SET_SREGS, &copy, "KVM_SET_SREGS");
}

Status Vcpu::SetCpuid(const std::vector<kvm_cpuid_entry2>& entries) {
  CountedArray<kvm_cpuid_entry2> cpuid(entries.size());
  std::memcpy(cpuid.entries(), entries.data(), entries.size() * sizeof(kvm_cpuid_entry2));
  return Ioctl(fd_.get(), kSetCpuid2, cpuid.data(), "KVM_SET_CPUID2");
}

Status Vcpu::SetXcr0(uint64_t xcr0) {
  kvm_xcrs xcrs{};
  xcrs.nr_xcrs = 1;
  xcrs.xcrs[0].xcr = 0;
  xcrs.xcrs[0].value = xcr0;
  return Ioctl(fd_.get(), KVM_SET_XCRS, &xcrs, "KVM_SET_XCRS");
}

Status Vcpu::SetMsrs(const std::vector<kvm_msr_entry>& msrs) {
  CountedArray<kvm_msr_entry> m(msrs.size());
  std::memcpy(m.entries(), msrs.data(), msrs.size() * sizeof(kvm_msr_entry));
  const int n = ioctl(fd_.get(), kSetMsrs, m.data());
  if (n < 0) return IoctlError("KVM_SET_MSRS");
  // KVM stops at the first MSR it refuses and returns how many it set.
  if (static_cast<size_t>(n) != msrs.size())
    return Fail(EINVAL, "KVM_SET_MSRS: MSR " + std::to_string(msrs[static_cast<size_t>(n)].index) +
                            " refused");
  return {};
}

Result<std::vector<kvm_msr_entry>> Vcpu::GetMsrs(std::vector<uint32_t> indices) {
  CountedArray<kvm_msr_entry> m(indices.size());
  for (size_t i = 0; i < indices.size(); ++i) m.entries()[i].index = indices[i];
  const int n = ioctl(fd_.get(), kGetMsrs, m.data());
  if (n < 0) return IoctlError("KVM_GET_MSRS");
  if (static_cast<size_t>(n) != indices.size())
    return Fail(EINVAL, "KVM_GET_MSRS: MSR " + std::to_string(indices[static_cast<size_t>(n)]) +
                            " refused");
  return std::vector<kvm_msr_entry>(m.entries(), m.entries() + n);
}

Result<kvm_fpu> Vcpu::GetFpu() {
  kvm_fpu fpu;
  TRY_STATUS(Ioctl(fd_.get(), KVM_GET_FPU, &fpu, "KVM_GET_FPU"));
  return fpu;
}

Status Vcpu::SetFpu(const kvm_fpu& fpu) {
  kvm_fpu copy = fpu;
  return Ioctl(fd_.get(), KVM_SET_FPU, &copy, "KVM_SET_FPU");
}

Result<std::vector<uint8_t>> Vcpu::GetXsave() {
  std::vector<uint8_t> area(sizeof(kvm_xsave));
  TRY_STATUS(Ioctl(fd_.get(), kGetXsave, area.data(), "KVM_GET_XSAVE"));
  return area;
}

Status Vcpu::SetXsave(const std::vector<uint8_t>& area) {
  std::vector<uint8_t> copy(sizeof(kvm_xsave), 0);
  if (area.size() > copy.size()) return Fail(EINVAL, "KVM_SET_XSAVE: area larger than 4 KiB");
  std::memcpy(copy.data(), area.data(), area.size());
  return Ioctl(fd_.get(), kSetXsave, copy.data(), "KVM_SET_XSAVE");
}

Result<Exit> Vcpu::Run() {
  running_tid_.store(static_cast<pid_t>(syscall(SYS_gettid)));
  const int r = ioctl(fd_.get(), KVM_RUN, 0);
  const int err = errno;
  running_tid_.store(0);
  ++exits_;
  run_->kvm_dirty_regs = 0;  // whatever was dirty was loaded at entry (or is lost with EINTR)
  if (r < 0) {
    if (err == EINTR || err == EAGAIN) {
      run_->immediate_exit = 0;
      return Exit{ExitKind::kInterrupted};
    }
    if (err == EFAULT) return Exit{ExitKind::kMemoryFault};
    return IoctlError("KVM_RUN", err);
  }
  Exit exit{ExitKind::kOther};
  switch (run_->exit_reason) {
    case KVM_EXIT_IO: {
      exit.kind = ExitKind::kIo;
      exit.port = run_->io.port;
      exit.out = run_->io.direction == KVM_EXIT_IO_OUT;
      const uint8_t* data = reinterpret_cast<const uint8_t*>(run_) + run_->io.data_offset;
      std::memcpy(&exit.value, data, std::min<size_t>(run_->io.size, sizeof(exit.value)));
      break;
    }
    case KVM_EXIT_MMIO:
      exit.kind = ExitKind::kMmio;
      exit.address = run_->mmio.phys_addr;
      break;
    case KVM_EXIT_HLT:
      exit.kind = ExitKind::kHlt;
      break;
    case KVM_EXIT_SHUTDOWN:
      exit.kind = ExitKind::kShutdown;
      break;
    case KVM_EXIT_INTR:
      exit.kind = ExitKind::kInterrupted;
      break;
    case KVM_EXIT_FAIL_ENTRY:
      exit.kind = ExitKind::kFailEntry;
      exit.reason = run_->fail_entry.hardware_entry_failure_reason;
      break;
    case KVM_EXIT_INTERNAL_ERROR:
      exit.kind = ExitKind::kInternalError;
      exit.reason = run_->internal.suberror;
      break;
    default:
      exit.reason = run_->exit_reason;
  }
  return exit;
}

void Vcpu::Kick() {
  // immediate_exit covers the window before the thread enters KVM_RUN; the signal the one
  // inside it.
  __atomic_store_n(&run_->immediate_exit, 1, __ATOMIC_SEQ_CST);
  const pid_t tid = running_tid_.load();
  if (tid != 0) syscall(SYS_tgkill, getpid(), tid, KickSignal());
}

}  // namespace cat::kvm
