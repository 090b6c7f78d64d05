// Conventional restore from a checkpoint (see restore_boot.h). Stages are named in every error.
#include "loader/boot/restore_boot.h"

#include <sys/mman.h>
#include <unistd.h>

#include <vector>

#include "format/base/cpu_features.h"
#include "format/base/guest_layout.h"
#include "format/state/state_stream.h"
#include "loader/boot/boot_threads.h"

namespace cat {

Result<std::unique_ptr<Sandbox>> RestoreFromCheckpoint(Platform& platform, const Checkpoint& cp,
                                                       const MountChoice& mounts,
                                                       const RunLimits& limits,
                                                       SandboxKernel::Logger log,
                                                       BootStats& stats) {
  const CheckpointContents& c = cp.contents;
  // Before anything is restored (cold_boot.cc says why).
  TRY_STATUS(WithContext(CheckCpuFeatures(c.cpu, HostCpuFeatures(), "checkpoint"), "restore"));
  TRY(state::SandboxState * s,
      WithContext(state::DeserializeState(c.kernel_state.data(), c.kernel_state.size()),
                  "restore: deserialize kernel state"));
  stats.Stage("deserialize state");
  TRY(std::unique_ptr<Sandbox> sb,
      WithContext(Sandbox::Adopt(platform, s, std::move(log), nullptr, mounts,
                                 {c.meta.rootfs, c.meta.mounts}, limits.memory_ceiling,
                                 limits.max_fds_ceiling),
                  "restore: set up the sandbox"));
  stats.Stage("shell");
  TRY_STATUS(WithContext(WatchBoot(*sb, limits), "restore"));
  stats.Stage("watchdog");
  // Every VMA passes the checks the sandbox kernel applies to a guest mapping it makes
  // (guest_layout.h: guest range, no trampoline, known protections; the memory limit) before
  // anything is mapped. ReadCheckpoint checked the same already; this boot path does not rely
  // on how its Checkpoint was made.
  uint64_t total = 0;
  for (const CheckpointSegment& seg : cp.segments) {
    const CheckpointVma& v = seg.vma;
    const uint64_t len = v.end > v.start ? v.end - v.start : 0;
    if (const std::string bad = GuestMappingProblem(v.start, len, v.prot); !bad.empty())
      return Fail(EINVAL, "restore: checkpoint VMA: " + bad);
    if (seg.file_size != 0 && seg.file_size != len)
      return Fail(EINVAL, "restore: checkpoint VMA at " + std::to_string(v.start) +
                              ": stores part of its bytes");
    total += len;
  }
  if (total > s->memory.limit_bytes)
    return Fail(ENOMEM, "restore: the checkpoint maps " + std::to_string(total) +
                            " bytes, more than its memory limit of " +
                            std::to_string(s->memory.limit_bytes));
  stats.Stage("check memory");
  // Memory is read from the core into fresh anonymous mappings: every page is copied.
  Shell& shell = sb->shell();
  std::vector<uint8_t> buf;
  for (const CheckpointSegment& seg : cp.segments) {
    const CheckpointVma& v = seg.vma;
    const uint64_t len = v.end - v.start;
    const std::string where = "restore: segment at " + std::to_string(v.start);
    TRY_STATUS(WithContext(shell.MapAnonymous(v.start, len, PROT_READ | PROT_WRITE), where));
    constexpr uint64_t kChunk = 1 << 20;
    for (uint64_t done = 0; done < seg.file_size; done += kChunk) {
      const uint64_t n = std::min(kChunk, seg.file_size - done);
      buf.resize(n);
      if (pread(cp.fd.get(), buf.data(), n, static_cast<off_t>(seg.file_offset + done)) !=
          static_cast<ssize_t>(n))
        return FailErrno(where + ": read checkpoint");
      TRY_STATUS(WithContext(shell.Write(v.start + done, buf.data(), n), where));
    }
    if (v.prot != (PROT_READ | PROT_WRITE))
      TRY_STATUS(WithContext(shell.Protect(v.start, len, static_cast<int>(v.prot)), where));
  }
  stats.Stage("memory");
  TRY_STATUS(WithContext(AdoptSnapshotThreads(*sb, c.entry_tid, c.other_threads), "restore"));
  shell.SetRegs(c.regs);
  // XSAVE state first: it sets every component (the shell then skips its own reset); the FPU
  // registers, its legacy part, follow (the whole state when the snapshot has no XSAVE area).
  TRY_STATUS(WithContext(shell.UseCpuFeatures(c.cpu), "restore: registers"));
  TRY_STATUS(WithContext(shell.SetXstate(c.xstate), "restore: registers"));
  TRY_STATUS(WithContext(shell.SetFpu(c.fpu), "restore: registers"));
  stats.Stage("registers");
  return sb;
}

}  // namespace cat
