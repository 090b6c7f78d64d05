// Readiness waits parked among several guest tasks (see poll_parking.h).
#include "loader/kernel/poll_parking.h"

#include <algorithm>

#include "format/base/host_clock.h"
#include "loader/kernel/sandbox_kernel.h"

namespace cat {

SyscallResult ParkAndPoll(SandboxKernel& k, int64_t end_ns, int ms_timeout_reg,
                          const TimeLeftWriter& write_left) {
  const int64_t now = MonotonicNowNs();
  const bool last = end_ns >= 0 && end_ns - now <= kPollQuantumNs;
  const int64_t wake = last ? std::max(end_ns, now + 1) : now + kPollQuantumNs;
  const bool reg = ms_timeout_reg >= 0 && ms_timeout_reg <= 5;
  const GuestRegs& cur = k.shell.regs();
  SyscallArgsCopy args{cur.orig_rax, {cur.rdi, cur.rsi, cur.rdx, cur.r10, cur.r8, cur.r9}};
  if (end_ns >= 0) {
    // What is left when the task wakes: 0 on the last quantum, so the re-issued call takes one
    // last look without waiting and answers as its timeout would (fd sets cleared, 0).
    const int64_t left_ns = std::max<int64_t>(end_ns - wake, 0);
    if (reg) {
      GuestRegs r = cur;
      const auto left_ms = static_cast<uint64_t>((left_ns + 999999) / 1000000);
      uint64_t* const regs[6] = {&r.rdi, &r.rsi, &r.rdx, &r.r10, &r.r8, &r.r9};
      *regs[ms_timeout_reg] = left_ms;
      args.a[ms_timeout_reg] = left_ms;
      k.shell.SetRegs(r);
    }
    if (write_left) write_left(left_ns);
  }
  const bool retry = !last || reg || write_left;
  k.tasks.Park(k.tasks.signal_waits, 0, ~0u, wake, retry ? kRetrySyscall : 0, args);
  return SyscallResult::Block();
}

}  // namespace cat
