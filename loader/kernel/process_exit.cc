// Signals between guest processes and waiting for children (see process_ops.h).
#include <signal.h>

#include "loader/kernel/process_ops.h"
#include "loader/kernel/signal_delivery.h"

namespace cat {

int64_t SendSignalToProcess(SandboxKernel& k, GuestProcess& p, const state::PendingSignal& sig) {
  if (p.zombie) return 0;  // Linux: a zombie accepts (and ignores) signals
  GuestProcess& self = k.procs.current();
  if (&p == &self) return SendSignal(k, sig);
  // Queue it in p's own signal state: swap p in, queue, swap back. Delivery happens when one
  // of p's tasks next stops (the run loop wakes a parked one whose signal is pending).
  k.SwitchProcess(p);
  const int64_t r = SendSignal(k, sig);
  k.SwitchProcess(self);
  return r;
}

SyscallResult BlockInWait(SandboxKernel&, const SyscallArgs&) {
  // Without a second task there is nobody to exit: a live child always has a task of its own.
  return -ECHILD;
}

}  // namespace cat
