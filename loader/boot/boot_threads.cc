// Snapshot threads at boot (boot_threads.h).
#include "loader/boot/boot_threads.h"

#include "format/state/state_invariants.h"

namespace cat {

Status AdoptSnapshotThreads(Sandbox& sb, int32_t entry_tid,
                            const std::vector<ThreadContext>& others) {
  TRY_STATUS(WithContext(state::CheckThreadContexts(sb.state(), entry_tid, others), "threads"));
  if (!others.empty())
    return Fail(ENOTSUP, "threads: the snapshot has " + std::to_string(others.size() + 1) +
                             " threads; this catload boots single-threaded snapshots only "
                             "(re-creating the other threads is not implemented yet)");
  return sb.kernel().SelectThread(entry_tid);
}

}  // namespace cat
