// A fake cat::Shell for unit tests of the sandbox kernel: records every memory call, can be
// told to fail the next one, and runs nothing.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "loader/platform/platform.h"

namespace cat::testing {

class FakeShell final : public Shell {
 public:
  struct Call {
    std::string op;  // "map", "mapfile", "unmap", "protect", "remap", "discard", "write"
    uint64_t addr = 0;
    uint64_t len = 0;
    int prot = 0;
    uint64_t new_addr = 0;  // remap
    uint64_t new_len = 0;   // remap
  };
  std::vector<Call> calls;
  int fail_next = 0;                      // errno for the next memory call, 0 = succeed
  std::atomic<int64_t> cpu_ns{0};         // what CpuTimeNs() reports
  bool guest_time_on_run_thread = false;  // what GuestTimeOnRunThread() reports
  std::atomic<int> interrupts{0};         // Interrupt() calls
  int64_t cpu_soft_s = 0;                 // the last LimitCpuTime()
  int64_t cpu_hard_s = 0;
  bool alive = true;  // what Alive() reports (false: the shell "died")

  Status MapAnonymous(uint64_t addr, uint64_t len, int prot) override {
    return Record({"map", addr, len, prot});
  }
  Status MapFile(uint64_t addr, uint64_t len, int prot, int, uint64_t) override {
    return Record({"mapfile", addr, len, prot});
  }
  Status Unmap(uint64_t addr, uint64_t len) override { return Record({"unmap", addr, len}); }
  Status Protect(uint64_t addr, uint64_t len, int prot) override {
    return Record({"protect", addr, len, prot});
  }
  Status Remap(uint64_t old_addr, uint64_t old_len, uint64_t new_addr, uint64_t new_len) override {
    return Record({"remap", old_addr, old_len, 0, new_addr, new_len});
  }
  Status Discard(uint64_t addr, uint64_t len) override { return Record({"discard", addr, len}); }
  Status Read(uint64_t, void*, size_t) override { return Fail(EFAULT, "fake shell: no memory"); }
  Status Write(uint64_t addr, const void*, size_t len) override {
    return Record({"write", addr, len});
  }
  const GuestRegs& regs() override { return regs_; }
  void SetRegs(const GuestRegs& regs) override { regs_ = regs; }
  void SetSyscallResult(int64_t value) override { regs_.rax = static_cast<uint64_t>(value); }
  Result<FpuState> GetFpu() override { return DefaultFpuState(); }
  Status SetFpu(const FpuState&) override { return {}; }
  Result<std::vector<uint8_t>> GetXstate() override { return std::vector<uint8_t>{}; }
  Status SetXstate(const std::vector<uint8_t>&) override { return {}; }
  int64_t CpuTimeNs() override { return cpu_ns.load(); }
  bool GuestTimeOnRunThread() const override { return guest_time_on_run_thread; }
  Status LimitCpuTime(int64_t soft_s, int64_t hard_s) override {
    cpu_soft_s = soft_s;
    cpu_hard_s = hard_s;
    return {};
  }
  bool Alive() const override { return alive; }
  Result<Stop> Run() override { return Stop{StopReason::kExited}; }
  void Interrupt() override { ++interrupts; }

 private:
  Status Record(Call c) {
    calls.push_back(c);
    if (fail_next) {
      const int err = fail_next;
      fail_next = 0;
      return Fail(err, "fake shell: failing " + c.op + " on request");
    }
    return {};
  }
  GuestRegs regs_{};
};

}  // namespace cat::testing
