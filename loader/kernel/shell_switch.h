// The shell the sandbox kernel talks to: a Shell that forwards every call to the current
// guest process's shell (process_table.h). Handlers keep writing `k.shell.regs()` and
// `k.mem.Read(...)`; when the kernel switches to another process it re-points this switch, so
// nothing that holds the kernel's shell (GuestMemory, MemoryManager, the timer thread) needs
// to know there is more than one. One indirect call per platform call: noise next to a ptrace
// stop. Interrupt() and CpuTimeNs() may come from other threads, hence the atomic target.
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "loader/platform/platform.h"

namespace cat {

class ShellSwitch final : public Shell {
 public:
  explicit ShellSwitch(Shell& target) : target_(&target) {}
  Shell& target() const { return *target_.load(std::memory_order_relaxed); }
  void set_target(Shell& s) { target_.store(&s, std::memory_order_release); }

  Status MapAnonymous(uint64_t addr, uint64_t len, int prot) override {
    return t().MapAnonymous(addr, len, prot);
  }
  Status MapFile(uint64_t addr, uint64_t len, int prot, int host_fd, uint64_t offset) override {
    return t().MapFile(addr, len, prot, host_fd, offset);
  }
  Status MapFileShared(uint64_t addr, uint64_t len, int prot, int host_fd,
                       uint64_t offset) override {
    return t().MapFileShared(addr, len, prot, host_fd, offset);
  }
  Status MapMany(const std::vector<MapRequest>& requests) override { return t().MapMany(requests); }
  Status Unmap(uint64_t addr, uint64_t len) override { return t().Unmap(addr, len); }
  Status Protect(uint64_t addr, uint64_t len, int prot) override {
    return t().Protect(addr, len, prot);
  }
  Status Remap(uint64_t old_addr, uint64_t old_len, uint64_t new_addr, uint64_t new_len) override {
    return t().Remap(old_addr, old_len, new_addr, new_len);
  }
  Status Discard(uint64_t addr, uint64_t len) override { return t().Discard(addr, len); }
  Status AdviseMany(const std::vector<AdviseRequest>& requests) override {
    return t().AdviseMany(requests);
  }
  Result<std::vector<GuestRange>> WrittenPages(uint64_t addr, uint64_t len) override {
    return t().WrittenPages(addr, len);
  }
  int64_t MinorFaults() override { return t().MinorFaults(); }
  int64_t VmExits() override { return t().VmExits(); }
  int64_t VmPooled() const override { return t().VmPooled(); }
  Status Read(uint64_t addr, void* buf, size_t len) override { return t().Read(addr, buf, len); }
  Status Write(uint64_t addr, const void* buf, size_t len) override {
    return t().Write(addr, buf, len);
  }
  const GuestRegs& regs() override { return t().regs(); }
  void SetRegs(const GuestRegs& regs) override { t().SetRegs(regs); }
  void SetSyscallResult(int64_t value) override { t().SetSyscallResult(value); }
  Result<FpuState> GetFpu() override { return t().GetFpu(); }
  Status SetFpu(const FpuState& fpu) override { return t().SetFpu(fpu); }
  Result<std::vector<uint8_t>> GetXstate() override { return t().GetXstate(); }
  Status SetXstate(const std::vector<uint8_t>& xstate) override { return t().SetXstate(xstate); }
  int64_t CpuTimeNs() override { return t().CpuTimeNs(); }
  bool GuestTimeOnRunThread() const override { return t().GuestTimeOnRunThread(); }
  CpuFeatures GuestCpuFeatures() override { return t().GuestCpuFeatures(); }
  Status UseCpuFeatures(const CpuFeatures& recorded) override {
    return t().UseCpuFeatures(recorded);
  }
  Status LimitCpuTime(int64_t soft_s, int64_t hard_s) override {
    return t().LimitCpuTime(soft_s, hard_s);
  }
  bool Alive() const override { return t().Alive(); }
  Result<Stop> Run() override { return t().Run(); }
  void Interrupt() override { t().Interrupt(); }
  void InterruptForLimit() override { t().InterruptForLimit(); }
  int vcpu_count() const override { return t().vcpu_count(); }
  int selected_vcpu() const override { return t().selected_vcpu(); }
  void SelectVcpu(int vcpu) override { t().SelectVcpu(vcpu); }
  Result<int> SpawnVcpu(const GuestRegs& regs) override { return t().SpawnVcpu(regs); }
  Status EndVcpu(int vcpu) override { return t().EndVcpu(vcpu); }
  Status Start() override { return t().Start(); }
  Result<AnyStop> WaitAny(std::span<Shell* const> shells) override { return t().WaitAny(shells); }
  bool TakeInterrupt() override { return t().TakeInterrupt(); }
  void SetInterruptNotify(void (*notify)(void*), void* arg) override {
    t().SetInterruptNotify(notify, arg);
  }
  Status ReleaseThread() override { return t().ReleaseThread(); }
  Status AttachThread() override { return t().AttachThread(); }
  Result<std::unique_ptr<Shell>> Fork() override { return t().Fork(); }
  void PrepareForks() override { t().PrepareForks(); }
  Status MoveToCpu(int cpu) override { return t().MoveToCpu(cpu); }
  Status SetIdlePriority(bool idle) override { return t().SetIdlePriority(idle); }

 private:
  Shell& t() const { return *target_.load(std::memory_order_acquire); }
  std::atomic<Shell*> target_;
};

}  // namespace cat
