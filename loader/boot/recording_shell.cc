// The write-recording shell (see recording_shell.h).
#include "loader/boot/recording_shell.h"

#include <algorithm>

namespace cat {
namespace {

class WriteRecordingShell final : public Shell {
 public:
  WriteRecordingShell(std::unique_ptr<Shell> inner, std::shared_ptr<DroppedWrites> writes)
      : inner_(std::move(inner)), writes_(std::move(writes)) {}

  Status MapAnonymous(uint64_t addr, uint64_t len, int prot) override {
    Keep(addr, len);  // MAP_FIXED replaces what was there
    return inner_->MapAnonymous(addr, len, prot);
  }
  Status MapFile(uint64_t addr, uint64_t len, int prot, int host_fd, uint64_t offset) override {
    Keep(addr, len);
    return inner_->MapFile(addr, len, prot, host_fd, offset);
  }
  Status MapMany(const std::vector<MapRequest>& requests) override {
    for (const MapRequest& r : requests) Keep(r.addr, r.len);
    return inner_->MapMany(requests);
  }
  Status Unmap(uint64_t addr, uint64_t len) override {
    Keep(addr, len);
    return inner_->Unmap(addr, len);
  }
  Status Protect(uint64_t addr, uint64_t len, int prot) override {
    return inner_->Protect(addr, len, prot);
  }
  Status Remap(uint64_t old_addr, uint64_t old_len, uint64_t new_addr, uint64_t new_len) override {
    Keep(old_addr, old_len);
    Keep(new_addr, new_len);
    return inner_->Remap(old_addr, old_len, new_addr, new_len);
  }
  Status Discard(uint64_t addr, uint64_t len) override {
    Keep(addr, len);
    return inner_->Discard(addr, len);
  }
  Status AdviseMany(const std::vector<AdviseRequest>& requests) override {
    return inner_->AdviseMany(requests);
  }
  Result<std::vector<GuestRange>> WrittenPages(uint64_t addr, uint64_t len) override {
    return inner_->WrittenPages(addr, len);
  }
  int64_t MinorFaults() override { return inner_->MinorFaults(); }
  int64_t VmExits() override { return inner_->VmExits(); }
  int64_t VmPooled() const override { return inner_->VmPooled(); }
  Status Read(uint64_t addr, void* buf, size_t len) override {
    return inner_->Read(addr, buf, len);
  }
  Status Write(uint64_t addr, const void* buf, size_t len) override {
    return inner_->Write(addr, buf, len);
  }
  const GuestRegs& regs() override { return inner_->regs(); }
  void SetRegs(const GuestRegs& regs) override { inner_->SetRegs(regs); }
  void SetSyscallResult(int64_t value) override { inner_->SetSyscallResult(value); }
  Result<FpuState> GetFpu() override { return inner_->GetFpu(); }
  Status SetFpu(const FpuState& fpu) override { return inner_->SetFpu(fpu); }
  Result<std::vector<uint8_t>> GetXstate() override { return inner_->GetXstate(); }
  Status SetXstate(const std::vector<uint8_t>& xstate) override {
    return inner_->SetXstate(xstate);
  }
  int64_t CpuTimeNs() override { return inner_->CpuTimeNs(); }
  bool GuestTimeOnRunThread() const override { return inner_->GuestTimeOnRunThread(); }
  Status LimitCpuTime(int64_t soft_s, int64_t hard_s) override {
    return inner_->LimitCpuTime(soft_s, hard_s);
  }
  bool Alive() const override { return inner_->Alive(); }
  CpuFeatures GuestCpuFeatures() override { return inner_->GuestCpuFeatures(); }
  Status UseCpuFeatures(const CpuFeatures& recorded) override {
    return inner_->UseCpuFeatures(recorded);
  }
  Result<Stop> Run() override { return inner_->Run(); }
  void Interrupt() override { inner_->Interrupt(); }
  void InterruptForLimit() override { inner_->InterruptForLimit(); }

 private:
  // A range the sandbox kernel is about to drop. A failure to read it only makes the working
  // set smaller (a hint, not a contract): the guest's call must go on exactly as without the
  // recording.
  void Keep(uint64_t addr, uint64_t len) {
    for (const GuestRange& w : writes_->watch) {
      const uint64_t begin = std::max(addr, w.addr);
      const uint64_t end = std::min(addr + len, w.addr + w.len);
      if (begin >= end) continue;
      auto written = inner_->WrittenPages(begin, end - begin);
      if (!written) continue;
      writes_->ranges.insert(writes_->ranges.end(), written->begin(), written->end());
    }
  }

  std::unique_ptr<Shell> inner_;
  std::shared_ptr<DroppedWrites> writes_;
};

}  // namespace

Result<std::unique_ptr<Shell>> WriteRecordingPlatform::CreateShell() {
  TRY(std::unique_ptr<Shell> shell, inner_.CreateShell());
  return std::unique_ptr<Shell>(new WriteRecordingShell(std::move(shell), writes_));
}

}  // namespace cat
