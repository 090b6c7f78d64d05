// Capture: run to the func-entry point, then snapshot (see capture_boot.h).
#include "loader/boot/capture_boot.h"

#include <algorithm>
#include <cstdio>

#include "format/base/cpu_features.h"
#include "format/base/host_clock.h"
#include "format/state/state_stream.h"
#include "loader/kernel/live_file.h"

namespace cat {
namespace {

std::string HexAddr(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

Result<GuestOutcome> CaptureCheckpoint(Sandbox& sb, const CaptureRequest& req) {
  SandboxKernel& k = sb.kernel();
  k.set_entry_mode(req.entry);
  k.files.set_request_as_pipe(true);  // fd 0 looks like the pipe it will be at boot (files.h)
  TRY(GuestOutcome outcome, RunGuest(sb, req.limits));
  if (outcome.kind != GuestOutcome::Kind::kFuncEntry) return outcome;

  // A snapshot carries one process (spec/boot.md, "Processes"): children alive or unreaped
  // at the func-entry point, or the point reached in a child, are refused in one line.
  if (k.procs.size() > 1)
    return Fail(ENOTSUP, "capture: the guest has " + std::to_string(k.procs.size()) +
                             " processes at the func-entry point (reached by pid " +
                             std::to_string(k.procs.current().pid) +
                             "); a snapshot carries one process: reach the func-entry point "
                             "before forking, or after every child has exited and been waited "
                             "for");
  state::SandboxState& s = sb.state();
  // eventfds, timerfds and epoll instances are written into the state (live_file.h); a socket
  // lives only in the running kernel, so capture says which fd holds one.
  if (Status st = k.files.PersistLiveFiles(); !st)
    return Fail(st.error().code(),
                "capture: " + st.error().message() +
                    "; it is open at the func-entry point (spec/abi.md, \"Live-only files\"): "
                    "close it before the func-entry point");
  // A shared mapping of an overlay file is carried as its file: the file's data is the state,
  // and the pages (their segment) equal it once pulled. A writable shared mapping of a host
  // file would have to be re-established on a host file the image cannot vouch for: refused.
  for (const state::Vma& v : s.memory.vmas)
    if (v.kind == state::VmaKind::kFile && v.shared_may_write)
      return Fail(ENOTSUP, "capture: [" + HexAddr(v.start) + ", " + HexAddr(v.end) +
                               ") is a writable MAP_SHARED mapping of a host file, open at the "
                               "func-entry point: it is not carried across a snapshot "
                               "(spec/sandbox.md); unmap it or map an overlay file instead");
  TRY_STATUS(WithContext(k.shared_maps.PullAll(), "capture: write shared mappings to their files"));
  s.clocks.snapshot_monotonic_ns = MonotonicNowNs() + s.clocks.monotonic_offset_ns;
  CheckpointContents c;
  c.meta = req.meta;
  c.meta.entry_kind = k.entry_was_explicit() ? "explicit" : "auto";
  c.meta.capture_realtime_ns = RealtimeNowNs();
  c.meta.capture_monotonic_ns = s.clocks.snapshot_monotonic_ns;
  // The thread that reached func-entry is the checkpoint's first; every other thread was
  // stopped by RunGuest (StopOtherTasks) and is saved at its own context, in tid order
  // (spec/boot.md, "Threads across snapshots").
  Task& entry_task = k.tasks.current();
  if (k.tasks.live() != s.threads.size)
    return Fail(ENOTSUP,
                "capture: the guest's main thread exited while other threads run; such a "
                "guest is not carried across a snapshot (spec/boot.md, threads)");
  c.entry_tid = k.thread().tid;
  for (auto& tp : k.tasks.all()) {
    if (tp.get() == &entry_task) continue;
    k.SwitchTo(*tp);
    ThreadContext t;
    t.tid = tp->tid;
    t.regs = k.shell.regs();
    TRY(t.fpu, WithContext(k.shell.GetFpu(), "capture: read FPU state of a thread"));
    TRY(t.xstate, WithContext(k.shell.GetXstate(), "capture: read XSAVE state of a thread"));
    c.other_threads.push_back(std::move(t));
  }
  std::sort(c.other_threads.begin(), c.other_threads.end(),
            [](const ThreadContext& a, const ThreadContext& b) { return a.tid < b.tid; });
  k.SwitchTo(entry_task);
  c.regs = k.entry_regs();
  TRY(c.fpu, WithContext(sb.shell().GetFpu(), "capture: read FPU state"));
  TRY(c.xstate, WithContext(sb.shell().GetXstate(), "capture: read XSAVE state"));
  for (const state::Auxv& a : s.auxv) {
    c.auxv.push_back(a.type);
    c.auxv.push_back(a.value);
  }
  c.auxv.push_back(0);  // AT_NULL
  c.auxv.push_back(0);
  for (const state::Vma& v : s.memory.vmas)
    c.vmas.push_back(
        {v.start, v.end, v.prot, v.flags, static_cast<uint32_t>(v.kind), v.file_offset});
  c.kernel_state = state::SerializeState(s);
  // What the guest's CPUID answered: the host's on ptrace, the vCPU's on kvm.
  Shell& shell = sb.shell();
  c.cpu = shell.GuestCpuFeatures();
  TRY_STATUS(WithContext(WriteCheckpoint(req.output, c,
                                         [&shell](uint64_t addr, void* buf, size_t len) {
                                           return shell.Read(addr, buf, len);
                                         }),
                         "capture: write checkpoint " + req.output));
  return outcome;
}

}  // namespace cat
