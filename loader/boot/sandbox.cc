// Creating a sandbox: a fresh shell and the initial kernel state (process identity, limits,
// mounts, stdio, overlay with /dev and /tmp).
#include "loader/boot/sandbox.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "format/base/host_clock.h"
#include "format/state/arena.h"
#include "format/state/state_release.h"
#include "loader/boot/watchdog.h"
#include "loader/kernel/memory_budget.h"
#include "loader/kernel/memory_manager.h"

namespace cat {
namespace {

// Placement of the address space, as Linux without randomization lays it out.
constexpr uint64_t kMmapTop = 0x7ffff7fff000ull;

// Lowers a restored state's limits to the operator's ceilings (0: none). The overlay and pipe
// memory the state holds is charged from the start; that figure is computed here, never taken
// from the image or checkpoint.
Status ApplyCeilings(state::SandboxState& s, uint64_t memory_ceiling, uint32_t max_fds_ceiling) {
  s.memory.file_bytes = ComputeFileBytes(s);
  auto lower = [](uint64_t& v, uint64_t ceiling) {
    if (ceiling != 0 && v > ceiling) v = ceiling;
  };
  lower(s.memory.limit_bytes, memory_ceiling);
  lower(s.process.rlimits[RLIMIT_AS].cur, s.memory.limit_bytes);
  lower(s.process.rlimits[RLIMIT_AS].max, s.memory.limit_bytes);
  if (max_fds_ceiling != 0 && s.fds.max_fds > max_fds_ceiling) s.fds.max_fds = max_fds_ceiling;
  lower(s.process.rlimits[RLIMIT_NOFILE].cur, s.fds.max_fds);
  lower(s.process.rlimits[RLIMIT_NOFILE].max, s.fds.max_fds);
  const uint64_t used = s.memory.mapped_bytes + s.memory.file_bytes;
  if (used > s.memory.limit_bytes)
    return Fail(ENOMEM, "the snapshot's guest uses " + std::to_string(used) +
                            " bytes of memory, more than its limit of " +
                            std::to_string(s.memory.limit_bytes) +
                            " (raise --memory-limit, up to what it was captured with)");
  return {};
}

}  // namespace

Result<std::unique_ptr<Sandbox>> Sandbox::Create(Platform& platform, const SandboxOptions& o,
                                                 SandboxKernel::Logger log) {
  if (!o.rootfs.empty()) TRY_STATUS(CheckHostDirectory("rootfs", o.rootfs));
  for (const MountSpec& m : o.mounts) TRY_STATUS(CheckHostDirectory("mount", m.host));
  if (!IsCanonicalAbsolutePath(o.cwd)) return Fail(EINVAL, "--cwd must be an absolute guest path");

  std::unique_ptr<Sandbox> sb(new Sandbox());
  TRY(sb->shell_, platform.CreateShell());
  state::SandboxState* s = state::New<state::SandboxState>();
  sb->state_ = s;

  state::Process& p = s->process;
  p.pid = 1;
  p.ppid = 0;
  p.next_tid = 2;
  s->threads.PushBack(state::Thread{});  // the leader: tid == pid
  s->threads[0].tid = p.pid;
  p.umask = 022;
  p.uid = getuid();
  p.gid = getgid();
  for (int i = 0; i < state::kNumRlimits; ++i) {
    rlimit host{};
    getrlimit(i, &host);
    p.rlimits[i] = {host.rlim_cur, host.rlim_max};
  }
  p.rlimits[RLIMIT_NOFILE] = {o.max_fds, o.max_fds};
  p.rlimits[RLIMIT_AS] = {o.memory_limit, o.memory_limit};
  p.rlimits[RLIMIT_STACK] = {8ull << 20, RLIM_INFINITY};
  p.rlimits[RLIMIT_CORE] = {0, 0};

  s->memory.limit_bytes = o.memory_limit;
  s->memory.mmap_top = kMmapTop;
  s->fds.max_fds = o.max_fds;

  // The state records guest paths and access; the host directories are bindings.
  HostBindings bindings;
  bindings.channel_fds = o.channel_fds;
  state::Mount root{};
  root.guest_path.Assign("/");
  root.access = o.rootfs.empty() ? state::MountAccess::kNone : state::MountAccess::kReadOnly;
  s->mounts.PushBack(root);
  bindings.mount_dirs.push_back(o.rootfs);
  for (const MountSpec& m : o.mounts) {
    state::Mount mount{};
    mount.guest_path.Assign(m.guest);
    mount.access = m.read_write ? state::MountAccess::kReadWrite : state::MountAccess::kReadOnly;
    s->mounts.PushBack(mount);
    bindings.mount_dirs.push_back(m.host);
  }

  sb->kernel_ =
      std::make_unique<SandboxKernel>(*s, *sb->shell_, std::move(bindings), std::move(log));
  SandboxKernel& k = *sb->kernel_;
  TRY_STATUS(WithContext(k.vfs.Init(k.bindings.mount_dirs), "set up the guest filesystem"));
  TRY(Node cwd, k.vfs.Resolve("/", o.cwd, true));
  if (!cwd.is_dir()) return Fail(ENOTDIR, "--cwd " + o.cwd + " is not a directory in the guest");
  p.cwd.Assign(cwd.path);

  // fds 0, 1, 2 are the request, response and log channels (bound to o.channel_fds: by
  // default catload's own stdin, stdout and stderr).
  for (int fd = 0; fd < 3; ++fd) {
    const uint32_t mode = fd == 0 ? O_RDONLY : O_WRONLY;
    state::OpenFile* f = k.files.NewFile(state::FileKind::kStdio, mode);
    f->channel = static_cast<state::StdioChannel>(fd);
    TRY_STATUS(k.files.InstallAt(f, fd, false));
  }
  return sb;
}

Result<std::unique_ptr<Sandbox>> Sandbox::Adopt(
    Platform& platform, state::SandboxState* s, SandboxKernel::Logger log,
    std::shared_ptr<void> keepalive, const MountChoice& choice, const RecordedMounts& recorded,
    uint64_t memory_ceiling, uint32_t max_fds_ceiling, const ChannelFds& channel_fds) {
  return Adopt([&platform] { return platform.CreateShell(); }, s, std::move(log),
               std::move(keepalive), choice, recorded, memory_ceiling, max_fds_ceiling,
               channel_fds);
}

Result<std::unique_ptr<Sandbox>> Sandbox::Adopt(
    const ShellSource& take_shell, state::SandboxState* s, SandboxKernel::Logger log,
    std::shared_ptr<void> keepalive, const MountChoice& choice, const RecordedMounts& recorded,
    uint64_t memory_ceiling, uint32_t max_fds_ceiling, const ChannelFds& channel_fds) {
  // The sandbox owns the state (and the keepalive it lives in) from here, whatever happens:
  // a failed adoption frees it like any teardown. Host fds recorded in it are stale numbers
  // from another process: forgotten before anything could close them.
  state::ResetTransientState(*s);
  std::unique_ptr<Sandbox> sb(new Sandbox());
  sb->keepalive_ = std::move(keepalive);
  sb->state_ = s;
  // The mounts and limits are settled first: a mismatch with the operator's choice needs no
  // shell.
  HostBindings bindings;
  bindings.channel_fds = channel_fds;
  TRY(bindings.mount_dirs, BindMounts(*s, choice, recorded));
  TRY_STATUS(ApplyCeilings(*s, memory_ceiling, max_fds_ceiling));
  TRY(sb->shell_, take_shell());
  // The guest's monotonic clock must not run backwards across the snapshot, even on a host
  // that booted more recently than the one that captured it.
  const int64_t guest_now = MonotonicNowNs() + s->clocks.monotonic_offset_ns;
  if (guest_now < s->clocks.snapshot_monotonic_ns)
    s->clocks.monotonic_offset_ns += s->clocks.snapshot_monotonic_ns - guest_now;
  sb->kernel_ =
      std::make_unique<SandboxKernel>(*s, *sb->shell_, std::move(bindings), std::move(log));
  TRY_STATUS(WithContext(sb->kernel_->vfs.OpenMounts(sb->kernel_->bindings.mount_dirs),
                         "reopen the guest's mounts"));
  TRY_STATUS(WithContext(sb->kernel_->files.RestoreLiveFiles(),
                         "rebuild the guest's eventfd, timerfd and epoll files"));
  return sb;
}

void Sandbox::SetWatchdog(std::unique_ptr<Watchdog> watchdog) {
  watchdog_ = std::move(watchdog);
}

std::unique_ptr<Watchdog> Sandbox::TakeWatchdog() {
  return std::move(watchdog_);
}

Sandbox::~Sandbox() {
  // In dependency order, so that a long-running process gets everything back:
  watchdog_.reset();  // its thread may interrupt the shell: stop it first
  // The kernel's host resources: every guest fd (host files, pipes, overlay references) and the
  // mounts' host directories.
  if (kernel_) kernel_->files.CloseAll();
  if (state_)
    for (state::Mount& m : state_->mounts)
      if (m.host_dirfd >= 0) {
        close(m.host_dirfd);
        m.host_dirfd = -1;
      }
  kernel_.reset();
  // The persistent state: heap objects are freed, arena objects are left to the arena, which
  // must still be mapped and registered while the state is walked (keepalive_ holds it).
  state::ReleaseState(state_);
  state_ = nullptr;
  keepalive_.reset();
  // The shell last: killed now, reaped in the background (PtraceShell::Kill).
  shell_.reset();
}

}  // namespace cat
