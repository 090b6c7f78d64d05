// execve and execveat: the guest replaces its program with a static executable (or a `#!`
// script's interpreter) found in its own filesystem view. The path is resolved by the sandbox's
// Vfs like every other guest path, so a host file outside the rootfs and its mounts cannot be
// named at all (ENOENT), and the file is read through the host fs policy like an open.
//
// Semantics follow Linux's: on success the address space is emptied and the new program
// loaded (program_loader.h), O_CLOEXEC fds are closed, caught signals return to SIG_DFL
// (ignored ones stay ignored), the alternate stack, clear_child_tid and the robust list are
// cleared, the signal mask, pending signals, timers, cwd, umask and rlimits are kept. Errors
// found before the old address space is gone return an errno; a failure after that point
// (the new image does not fit the memory limit, the shell died) ends the guest by SIGSEGV, as
// Linux does past its point of no return.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "format/base/unique_fd.h"
#include "loader/boot/elf_image.h"
#include "loader/kernel/file_data.h"
#include "loader/kernel/program_loader.h"
#include "loader/kernel/sandbox_kernel.h"

namespace cat {
namespace {

// Linux's limits: one argument or variable (MAX_ARG_STRLEN), and how many nested `#!`
// interpreters (BINPRM_MAX_RECURSION) before ELOOP.
constexpr size_t kMaxArgStrlen = 128 * 1024;
constexpr size_t kMaxArgTotal = kStackSize / 4;  // what LoadProgram's stack check allows
constexpr size_t kMaxArgCount = 1 << 16;
constexpr int kMaxInterpreterDepth = 4;
constexpr size_t kShebangMax = 256;  // BINPRM_BUF_SIZE

// Reads a NULL-terminated array of guest string pointers (argv or envp; a null array is
// empty, as Linux allows).
Result<std::vector<std::string>> ReadStringArray(SandboxKernel& k, uint64_t addr, size_t& total) {
  std::vector<std::string> out;
  if (addr == 0) return out;
  for (size_t i = 0;; ++i) {
    if (i >= kMaxArgCount) return Fail(E2BIG, "too many arguments");
    auto p = k.mem.ReadObject<uint64_t>(addr + i * 8);
    if (!p) return Fail(EFAULT, "unreadable argument array");
    if (*p == 0) break;
    TRY(std::string s, k.mem.ReadString(*p, kMaxArgStrlen));
    total += s.size() + 1 + 8;
    if (total > kMaxArgTotal) return Fail(E2BIG, "arguments and environment too large");
    out.push_back(std::move(s));
  }
  return out;
}

// An executable file opened for loading, host-backed or copied out of the overlay.
Result<UniqueFd> OpenExecutable(SandboxKernel& k, const Node& n) {
  if (!n.exists()) return Fail(ENOENT, "no such file: " + n.path);
  if (!S_ISREG(n.st.st_mode)) return Fail(EACCES, "not a regular file: " + n.path);
  if ((n.st.st_mode & 0111) == 0) return Fail(EACCES, "not executable: " + n.path);
  switch (n.layer) {
    case Node::Layer::kHost: {
      TRY(int raw, k.vfs.OpenHost(n, O_RDONLY | O_CLOEXEC, 0));
      UniqueFd fd(raw);
      struct stat st {};
      if (fstat(fd.get(), &st) != 0) return FailErrno("stat " + n.path);
      TRY_STATUS(k.vfs.CheckHostOpenable(fd.get(), st, n.path));
      return fd;
    }
    case Node::Layer::kOverlay: {
      // A file the guest wrote: libelf and the loader read a file, so give them a private
      // copy (transient, never in the state; its size is already within the memory budget).
      UniqueFd fd(memfd_create("catload-exec", MFD_CLOEXEC));
      if (!fd.valid()) return FailErrno("memfd_create");
      const state::Inode& inode = *n.inode;
      if (ftruncate(fd.get(), static_cast<off_t>(inode.size)) != 0) return FailErrno("ftruncate");
      bool ok = true;
      ForEachFileExtent(inode, 0, inode.size, [&](uint64_t off, const char* bytes, uint64_t len) {
        if (ok &&
            pwrite(fd.get(), bytes, len, static_cast<off_t>(off)) != static_cast<ssize_t>(len))
          ok = false;
      });
      if (!ok) return FailErrno("copy " + n.path);
      return fd;
    }
    default:
      return Fail(EACCES, "cannot execute " + n.path);
  }
}

// A `#!` line: the interpreter and its optional single argument (Linux passes the rest of the
// line, trimmed, as one argument).
struct Shebang {
  std::string interpreter;
  std::string arg;
};

Result<std::optional<Shebang>> ReadShebang(int fd) {
  char buf[kShebangMax];
  const ssize_t n = pread(fd, buf, sizeof(buf), 0);
  if (n < 0) return FailErrno("read");
  if (n < 2 || buf[0] != '#' || buf[1] != '!') return std::optional<Shebang>();
  std::string_view line(buf + 2, static_cast<size_t>(n) - 2);
  const size_t nl = line.find('\n');
  if (nl == std::string_view::npos && static_cast<size_t>(n) == sizeof(buf))
    return Fail(ENOEXEC, "#! line too long");
  if (nl != std::string_view::npos) line = line.substr(0, nl);
  auto trim = [](std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\r'))
      v.remove_suffix(1);
    return v;
  };
  line = trim(line);
  if (line.empty()) return Fail(ENOEXEC, "empty #! line");
  const size_t sp = line.find_first_of(" \t");
  Shebang sb;
  sb.interpreter = std::string(line.substr(0, sp));
  if (sp != std::string_view::npos) sb.arg = std::string(trim(line.substr(sp)));
  return std::optional<Shebang>(std::move(sb));
}

// Empties the address space and the per-program state, then loads `img`. Past this point the
// old program is gone: an error ends the guest.
Status ReplaceProgram(SandboxKernel& k, const ElfImage& img, const std::vector<std::string>& argv,
                      const std::vector<std::string>& envp) {
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const state::Vma& v : k.s.memory.vmas) ranges.emplace_back(v.start, v.end - v.start);
  for (const auto& [start, len] : ranges)
    TRY_STATUS(WithContext(k.mm.Unmap(start, len), "empty the address space"));
  state::MemoryMap& mm = k.s.memory;
  mm.brk_start = mm.brk_end = mm.brk_mapped = 0;
  for (state::PString& a : k.s.argv) a.Release();
  for (state::PString& e : k.s.envp) e.Release();
  k.s.argv.Resize(0);
  k.s.envp.Resize(0);
  k.s.auxv.Resize(0);

  // A fresh register file: the selectors stay (they are the platform's), everything else is
  // zero as at a Linux process start; LoadProgram sets rsp, rip and rdx.
  const GuestRegs old = k.shell.regs();
  GuestRegs r{};
  r.cs = old.cs;
  r.ss = old.ss;
  r.ds = old.ds;
  r.es = old.es;
  r.fs = old.fs;
  r.gs = old.gs;
  r.eflags = 0x202;  // IF, and the reserved bit 1
  r.orig_rax = old.orig_rax;
  k.shell.SetRegs(r);
  TRY_STATUS(WithContext(k.shell.SetFpu(DefaultFpuState()), "reset the FPU"));
  return LoadProgram(k, img, argv, envp);
}

// The per-process state a new program does not inherit.
void ResetForNewProgram(SandboxKernel& k) {
  for (uint32_t fd = 0; fd < k.s.fds.entries.size; ++fd) {
    const state::FdEntry& e = k.s.fds.entries[fd];
    if (e.file && e.cloexec) (void)k.files.Close(static_cast<int>(fd));
  }
  for (state::SignalAction& act : k.s.process.signal_actions) {
    if (act.handler == reinterpret_cast<uint64_t>(SIG_IGN)) continue;
    act = state::SignalAction{};  // SIG_DFL
  }
  state::Thread& t = k.thread();
  t.altstack_sp = t.altstack_size = 0;
  t.altstack_flags = SS_DISABLE;
  t.clear_child_tid = 0;
  t.robust_list = t.robust_list_len = 0;
}

SyscallResult DoExecve(SandboxKernel& k, int dirfd, uint64_t path_addr, uint64_t argv_addr,
                       uint64_t envp_addr, int flags) {
  if (flags & ~(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)) return -EINVAL;
  if (k.s.threads.size > 1) {
    // Linux ends the other threads first; until threads run here a guest has one.
    k.Log("execve: refused while the process has other threads (not supported yet)");
    return -EAGAIN;
  }
  size_t total = 0;
  auto argv = ReadStringArray(k, argv_addr, total);
  if (!argv) return Errno(argv.error());
  auto envp = ReadStringArray(k, envp_addr, total);
  if (!envp) return Errno(envp.error());
  auto path = k.mem.ReadString(path_addr);
  if (!path) return Errno(path.error());

  auto node =
      k.ResolveAt(dirfd, path_addr, !(flags & AT_SYMLINK_NOFOLLOW), (flags & AT_EMPTY_PATH) != 0);
  if (!node) return Errno(node.error());
  if (node->is_symlink()) return -ELOOP;  // AT_SYMLINK_NOFOLLOW on a symlink
  std::string shown = *path;              // what a script's interpreter is told to run
  std::vector<std::string> args = std::move(*argv);
  for (int depth = 0;; ++depth) {
    auto fd = OpenExecutable(k, *node);
    if (!fd) return Errno(fd.error());
    auto shebang = ReadShebang(fd->get());
    if (!shebang) return Errno(shebang.error());
    if (!*shebang) {
      auto img = ReadElfImage(std::move(*fd), node->path);
      if (!img) {
        if (img.error().code() == ENOEXEC) k.Log("execve: " + img.error().message());
        return Errno(img.error());
      }
      if (auto ok = ReplaceProgram(k, *img, args, *envp); !ok) {
        k.Log("execve: " + ok.error().message() + "; the guest is ended by SIGSEGV");
        k.Kill(SIGSEGV);
        return 0;
      }
      ResetForNewProgram(k);
      return 0;
    }
    if (depth >= kMaxInterpreterDepth) return -ELOOP;
    // argv becomes: interpreter [arg] script original-argv[1..]
    std::vector<std::string> next{(*shebang)->interpreter};
    if (!(*shebang)->arg.empty()) next.push_back((*shebang)->arg);
    next.push_back(shown);
    for (size_t i = 1; i < args.size(); ++i) next.push_back(std::move(args[i]));
    args = std::move(next);
    shown = (*shebang)->interpreter;
    auto interp = k.vfs.Resolve(k.s.process.cwd.view(), (*shebang)->interpreter, true);
    if (!interp) return Errno(interp.error());
    node = std::move(interp);
  }
}

SyscallResult SysExecve(SandboxKernel& k, const SyscallArgs& a) {
  return DoExecve(k, AT_FDCWD, a.a[0], a.a[1], a.a[2], 0);
}
SyscallResult SysExecveat(SandboxKernel& k, const SyscallArgs& a) {
  return DoExecve(k, static_cast<int>(a.a[0]), a.a[1], a.a[2], a.a[3], static_cast<int>(a.a[4]));
}

}  // namespace

void RegisterExecSyscalls(SyscallHandler* t) {
  t[SYS_execve] = SysExecve;
  t[SYS_execveat] = SysExecveat;
}

}  // namespace cat
