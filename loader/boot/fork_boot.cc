// Fork boot (see fork_boot.h). Every error names its stage.
#include "loader/boot/fork_boot.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "loader/boot/boot_threads.h"
#include "loader/boot/call_deadline.h"

namespace cat {
namespace {

pid_t CurrentTid() {
  return static_cast<pid_t>(syscall(SYS_gettid));
}

// Writes up to `budget` bytes of the shell's writable memory back with its own contents, so
// that they become private, dirty pages of the template (benchmarks: TemplateOptions).
Result<uint64_t> DirtyWritableMemory(Sandbox& sb, uint64_t budget) {
  std::vector<uint8_t> page(1 << 20);
  uint64_t done = 0;
  for (const state::Vma& v : sb.state().memory.vmas) {
    if (!(v.prot & PROT_WRITE)) continue;
    for (uint64_t a = v.start; a < v.end && done < budget;) {
      const uint64_t n = std::min<uint64_t>({page.size(), v.end - a, budget - done});
      TRY_STATUS(sb.shell().Read(a, page.data(), n));
      TRY_STATUS(sb.shell().Write(a, page.data(), n));
      a += n;
      done += n;
    }
  }
  return done;
}

}  // namespace

Result<std::unique_ptr<Template>> Template::Create(Platform& platform, const WarmImage& image,
                                                   const MountChoice& mounts,
                                                   const RunLimits& ceilings,
                                                   SandboxKernel::Logger log,
                                                   const TemplateOptions& options) {
  // Nothing of the guest runs here, but host calls can block (a host file to connect that became
  // a FIFO, a stalled file system) and a shell may be slow to stop: bounded as a whole, so that a
  // server's worker always comes back (spec/serve.md, "Limits").
  std::optional<CallDeadline> deadline;
  if (options.timeout_s > 0) deadline.emplace(options.timeout_s);
  auto made = CreateUnbounded(platform, image, mounts, ceilings, std::move(log), options);
  if (deadline && deadline->fired())
    return Fail(ETIMEDOUT, "fork boot: template: not made within " +
                               SecondsText(options.timeout_s) +
                               " s (--boot-timeout); the last step was interrupted" +
                               (made ? std::string() : ": " + made.error().message()));
  return made;
}

Result<std::unique_ptr<Template>> Template::CreateUnbounded(
    Platform& platform, const WarmImage& image, const MountChoice& mounts,
    const RunLimits& ceilings, SandboxKernel::Logger log, const TemplateOptions& options) {
  std::unique_ptr<Template> t(new Template(image, mounts));
  t->tracer_tid_ = CurrentTid();
  BootStats unused;
  TRY(t->sandbox_, BootWarmInstance(
                       image, [&platform] { return platform.CreateShell(); }, mounts, ceilings,
                       std::move(log), unused, false, "fork boot: template", kProcessStdio));
  // Host files are connected once, in the template; every fork gets its own fds on them.
  Sandbox& sb = *t->sandbox_;
  for (state::FdEntry& e : sb.state().fds.entries)
    if (e.file && e.file->kind == state::FileKind::kHost) (void)sb.kernel().files.HostFd(*e.file);
  if (options.dirty_bytes) {
    TRY(t->dirty_bytes_, WithContext(DirtyWritableMemory(sb, options.dirty_bytes),
                                     "fork boot: template: dirty memory"));
  }
  // The template is forked from now on, as it is: the platform may prepare its forks' shells
  // off the request's path (kvm: its pool of pre-created VMs, with the template's CPUID).
  sb.shell().PrepareForks();
  // What every fork starts from: the template's state as it is now, frozen.
  TRY(t->state_,
      WithContext(ArenaMaster::Snapshot(reinterpret_cast<const uint8_t*>(&sb.state()),
                                        image.arena().size(), image.arena().relocations()),
                  "fork boot: template"));
  return t;
}

Result<std::unique_ptr<Sandbox>> ForkBoot(Template& tmpl, const RunLimits& limits,
                                          SandboxKernel::Logger log, BootStats& stats,
                                          const ChannelFds& channel_fds) {
  if (CurrentTid() != tmpl.tracer_tid())
    return Fail(EPERM, "fork boot: the template belongs to thread " +
                           std::to_string(tmpl.tracer_tid()) +
                           "; only that thread can fork it (one template per worker thread)");
  TRY(std::shared_ptr<ArenaCopy> arena,
      WithContext(ArenaCopy::Make(tmpl.state()), "fork boot: copy the state"));
  stats.Stage("copy state");
  const FuncImage& img = tmpl.image().image();
  Shell& parent = tmpl.sandbox().shell();
  TRY(std::unique_ptr<Sandbox> sb,
      WithContext(
          Sandbox::Adopt([&parent] { return parent.Fork(); }, arena->state(), std::move(log), arena,
                         tmpl.mounts(), {img.function().rootfs, img.function().mounts},
                         limits.memory_ceiling, limits.max_fds_ceiling, channel_fds),
          "fork boot"));
  stats.Stage("fork shell");
  // A host fork copies one thread: the template's vCPU 0, which runs the func-entry thread.
  // Every other guest thread is re-created in the child exactly as cold boot re-creates a
  // snapshot's threads, from the image's saved contexts: the template never runs, so its
  // threads are still at those contexts (a thread blocked at capture re-issues its futex or
  // poll wait in the child; its tid, mask, robust list and clear_child_tid are in the copied
  // state). spec/boot.md, "Threads across snapshots".
  TRY_STATUS(
      WithContext(AdoptSnapshotThreads(*sb, img.entry_tid(), img.other_threads()), "fork boot"));
  if (!img.other_threads().empty()) stats.Stage("spawn threads");
  // Each open file is the instance's own object (offset, flags) in its copy of the state; its
  // host fd is a new fd on the template's open host file. I/O on host files is positional
  // (pread/pwrite at the object's offset), so sharing the host's file description shares no
  // offset.
  const uint8_t* master = tmpl.state().base();
  for (state::FdEntry& e : sb->state().fds.entries) {
    state::OpenFile* f = e.file;
    if (!f || f->kind != state::FileKind::kHost || f->host_fd != -1) continue;
    const auto* original = reinterpret_cast<const state::OpenFile*>(
        master + (reinterpret_cast<uint8_t*>(f) - arena->base()));
    if (original->host_fd < 0)
      continue;  // its reconnection failed: it reconnects (or fails) on use
    const int fd = fcntl(original->host_fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
      return FailErrno("fork boot: connect host file " + std::string(f->guest_path.view()));
    f->host_fd = fd;
  }
  stats.Stage("connect host files");
  TRY_STATUS(WithContext(WatchBoot(*sb, limits), "fork boot"));
  stats.Stage("watchdog");
  stats.Note("template_dirty_bytes", static_cast<int64_t>(tmpl.dirty_bytes()));
  return sb;
}

}  // namespace cat
