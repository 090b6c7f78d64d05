// Snapshot threads at boot (boot_threads.h).
#include "loader/boot/boot_threads.h"

#include "format/state/state_invariants.h"

namespace cat {

Status AdoptSnapshotThreads(Sandbox& sb, int32_t entry_tid,
                            const std::vector<ThreadContext>& others) {
  TRY_STATUS(WithContext(state::CheckThreadContexts(sb.state(), entry_tid, others), "threads"));
  SandboxKernel& k = sb.kernel();
  TRY_STATUS(k.SelectThread(entry_tid));  // vCPU 0 runs the func-entry thread
  Shell& shell = sb.shell();
  for (const ThreadContext& t : others) {
    // Each other thread gets a vCPU of its own at its saved registers: a thread blocked at
    // capture (futex, poll, pause) re-issues that syscall, its rip back on the `syscall`
    // instruction (spec/boot.md, "Threads across snapshots").
    auto vcpu = shell.SpawnVcpu(t.regs);
    if (!vcpu)
      return std::unexpected(
          std::move(vcpu.error()).Context("threads: re-create thread " + std::to_string(t.tid)));
    shell.SelectVcpu(*vcpu);
    Status st = shell.SetXstate(t.xstate);
    if (st) st = shell.SetFpu(t.fpu);
    shell.SelectVcpu(0);
    TRY_STATUS(WithContext(std::move(st), "threads: registers of thread " + std::to_string(t.tid)));
    k.tasks.Add(shell, *vcpu, t.tid);
  }
  return {};
}

}  // namespace cat
