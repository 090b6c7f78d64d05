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
#include "loader/kernel/memory_budget.h"
#include "loader/kernel/memory_manager.h"

namespace cat {
namespace {

// Placement of the address space, as Linux without randomization lays it out.
constexpr uint64_t kMmapTop = 0x7ffff7fff000ull;

bool IsCanonicalGuestPath(const std::string& p) {
  if (p.empty() || p[0] != '/') return false;
  if (p.size() > 1 && p.back() == '/') return false;
  return p.find("//") == std::string::npos && p.find("/./") == std::string::npos &&
         p.find("/../") == std::string::npos && !p.ends_with("/..") && !p.ends_with("/.");
}

Status CheckHostDir(const std::string& what, const std::string& dir) {
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0) return FailErrno(what + " " + dir);
  if (!S_ISDIR(st.st_mode)) return Fail(ENOTDIR, what + " " + dir + " is not a directory");
  return {};
}

}  // namespace

Result<MountSpec> ParseMountSpec(const std::string& spec) {
  MountSpec m;
  std::string rest = spec;
  if (rest.ends_with(":rw") || rest.ends_with(":ro")) {
    m.read_write = rest.ends_with(":rw");
    rest.resize(rest.size() - 3);
  }
  const size_t colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == rest.size())
    return Fail(EINVAL, "bad --mount '" + spec + "': expected HOST:GUEST[:ro|rw]");
  m.host = rest.substr(0, colon);
  m.guest = rest.substr(colon + 1);
  if (!IsCanonicalGuestPath(m.guest) || m.guest == "/")
    return Fail(EINVAL, "bad --mount '" + spec +
                            "': GUEST must be an absolute path without '.', '..' or '//', not /");
  return m;
}

Result<std::unique_ptr<Sandbox>> Sandbox::Create(Platform& platform, const SandboxOptions& o,
                                                 SandboxKernel::Logger log) {
  if (!o.rootfs.empty()) TRY_STATUS(CheckHostDir("rootfs", o.rootfs));
  for (const MountSpec& m : o.mounts) TRY_STATUS(CheckHostDir("mount", m.host));
  if (!IsCanonicalGuestPath(o.cwd)) return Fail(EINVAL, "--cwd must be an absolute guest path");

  std::unique_ptr<Sandbox> sb(new Sandbox());
  TRY(sb->shell_, platform.CreateShell());
  state::SandboxState* s = state::New<state::SandboxState>();
  sb->state_ = s;

  state::Process& p = s->process;
  p.pid = 1;
  p.ppid = 0;
  p.tid = 1;
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

  state::Mount root{};
  root.guest_path.Assign("/");
  root.host_path.Assign(o.rootfs);
  s->mounts.PushBack(root);
  for (const MountSpec& m : o.mounts) {
    state::Mount mount{};
    mount.guest_path.Assign(m.guest);
    mount.host_path.Assign(m.host);
    mount.read_write = m.read_write;
    s->mounts.PushBack(mount);
  }

  sb->kernel_ = std::make_unique<SandboxKernel>(*s, *sb->shell_, std::move(log));
  SandboxKernel& k = *sb->kernel_;
  TRY_STATUS(WithContext(k.vfs.Init(), "set up the guest filesystem"));
  TRY(Node cwd, k.vfs.Resolve("/", o.cwd, true));
  if (!cwd.is_dir()) return Fail(ENOTDIR, "--cwd " + o.cwd + " is not a directory in the guest");
  p.cwd.Assign(cwd.path);

  // fds 0, 1, 2 are catload's own stdin, stdout and stderr.
  for (int fd = 0; fd < 3; ++fd) {
    const uint32_t mode = fd == 0 ? O_RDONLY : O_WRONLY;
    state::OpenFile* f = k.files.NewFile(state::FileKind::kStdio, mode);
    f->stdio_fd = fd;
    TRY_STATUS(k.files.InstallAt(f, fd, false));
  }
  return sb;
}

Result<std::unique_ptr<Sandbox>> Sandbox::Adopt(Platform& platform, state::SandboxState* s,
                                                SandboxKernel::Logger log,
                                                std::shared_ptr<void> keepalive,
                                                const MountOverrides& overrides) {
  std::unique_ptr<Sandbox> sb(new Sandbox());
  sb->keepalive_ = std::move(keepalive);
  TRY(sb->shell_, platform.CreateShell());
  sb->state_ = s;
  state::ResetTransientState(*s);
  // The overlay and pipe memory the state holds is charged against the guest's limit from the
  // start; the figure is computed here, never taken from the image or checkpoint.
  s->memory.file_bytes = ComputeFileBytes(*s);
  // The guest's monotonic clock must not run backwards across the snapshot, even on a host
  // that booted more recently than the one that captured it.
  const int64_t guest_now = MonotonicNowNs() + s->clocks.monotonic_offset_ns;
  if (guest_now < s->clocks.snapshot_monotonic_ns)
    s->clocks.monotonic_offset_ns += s->clocks.snapshot_monotonic_ns - guest_now;
  if (!overrides.rootfs.empty()) {
    TRY_STATUS(CheckHostDir("rootfs", overrides.rootfs));
    s->mounts[0].host_path.Assign(overrides.rootfs);
  }
  for (const MountSpec& m : overrides.mounts) {
    TRY_STATUS(CheckHostDir("mount", m.host));
    bool found = false;
    for (state::Mount& mount : s->mounts)
      if (mount.guest_path.view() == m.guest) {
        mount.host_path.Assign(m.host);
        found = true;
      }
    if (!found) return Fail(EINVAL, "--mount " + m.guest + ": the snapshot has no mount there");
  }
  sb->kernel_ = std::make_unique<SandboxKernel>(*s, *sb->shell_, std::move(log));
  TRY_STATUS(WithContext(sb->kernel_->vfs.OpenMounts(), "reopen the guest's mounts"));
  return sb;
}

Sandbox::~Sandbox() {
  if (kernel_) kernel_->files.CloseAll();
  if (state_)
    for (state::Mount& m : state_->mounts)
      if (m.host_dirfd >= 0) close(m.host_dirfd);
  // The overlay's and memory map's objects are not freed one by one: a sandbox lives as long
  // as its catload process. The shell is killed by its own destructor.
}

}  // namespace cat
