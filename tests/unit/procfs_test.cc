// Tests of the guest's synthetic /proc (loader/kernel/procfs.h) and of the host filesystem
// policy (loader/kernel/host_fs_policy.h): the generators on hand-made states (maps in Linux's
// format, meminfo against the memory limit, mounts without host paths), then through a real
// sandbox: /proc hides the rootfs's own, open /proc files are read-only snapshots, kernel
// filesystems of the host are empty directories, host special files are never opened.
#include "loader/kernel/procfs.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <thread>

#include "loader/boot/sandbox.h"
#include "loader/kernel/host_fs_policy.h"
#include "loader/kernel/proc_files.h"
#include "loader/platform/ptrace/ptrace_platform.h"
#include "tests/unit/test_support.h"

namespace cat {
namespace {

// A state as exec leaves it, without a sandbox: pid 1, one executable, a few VMAs.
state::SandboxState* MakeState() {
  state::SandboxState* s = state::New<state::SandboxState>();
  s->process.pid = 1;
  s->process.next_tid = 2;
  s->threads.PushBack(state::Thread{});
  s->threads[0].tid = 1;
  s->process.exe.Assign("/bin/fn");
  s->process.cwd.Assign("/");
  s->memory.limit_bytes = 256ull << 20;
  auto vma = [&](uint64_t start, uint64_t end, uint32_t prot, uint32_t flags, state::VmaKind kind,
                 uint64_t offset) {
    s->memory.vmas.PushBack({start, end, prot, flags, kind, 0, offset, 0});
    s->memory.mapped_bytes += end - start;
  };
  vma(0x400000, 0x401000, PROT_READ | PROT_EXEC, MAP_PRIVATE, state::VmaKind::kElf, 0);
  vma(0x401000, 0x403000, PROT_READ | PROT_WRITE, MAP_PRIVATE, state::VmaKind::kBrk, 0);
  vma(0x7f0000000000, 0x7f0000001000, PROT_READ, MAP_SHARED, state::VmaKind::kFile, 0x3000);
  vma(0x7fffff7de000, 0x7ffffffde000, PROT_READ | PROT_WRITE, MAP_PRIVATE, state::VmaKind::kStack,
      0);
  return s;
}

std::string Line(const std::string& text, std::string_view starting) {
  size_t at = 0;
  while (at < text.size()) {
    const size_t end = text.find('\n', at);
    std::string line = text.substr(at, end - at);
    if (line.starts_with(starting)) return line;
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return "<no line " + std::string(starting) + ">";
}

TEST(ProcfsGenerators, MapsListsEachVmaInLinuxFormat) {
  const std::string maps = proc_files::Maps(*MakeState());
  const std::string pad(73 - std::string("00400000-00401000 r-xp 00000000 00:00 0 ").size(), ' ');
  EXPECT_EQ(
      maps,
      "00400000-00401000 r-xp 00000000 00:00 0 " + pad + "/bin/fn\n" +
          "00401000-00403000 rw-p 00000000 00:00 0 " + pad + "[heap]\n" +
          "7f0000000000-7f0000001000 r--s 00003000 00:00 0 \n" +
          "7fffff7de000-7ffffffde000 rw-p 00000000 00:00 0 " +
          std::string(73 - std::string("7fffff7de000-7ffffffde000 rw-p 00000000 00:00 0 ").size(),
                      ' ') +
          "[stack]\n");
}

TEST(ProcfsGenerators, MapsNamesARelativeExecutableAbsolutely) {
  state::SandboxState* s = MakeState();
  s->process.exe.Assign("./build/../fn");
  EXPECT_NE(proc_files::Maps(*s).find(" /fn\n"), std::string::npos) << proc_files::Maps(*s);
}

TEST(ProcfsGenerators, MeminfoTotalIsTheMemoryLimitAndFreeWhatIsNotMapped) {
  state::SandboxState* s = MakeState();
  struct sysinfo info {};
  sysinfo(&info);
  const uint64_t total = std::min<uint64_t>(s->memory.limit_bytes,
                                            static_cast<uint64_t>(info.totalram) * info.mem_unit);
  const std::string m = proc_files::Meminfo(*s);
  auto kb = [](const char* name, uint64_t bytes) {
    char buf[64];
    snprintf(buf, sizeof buf, "%-16s%8llu kB", name, static_cast<unsigned long long>(bytes / 1024));
    return std::string(buf);
  };
  EXPECT_EQ(Line(m, "MemTotal:"), kb("MemTotal:", total));
  EXPECT_EQ(Line(m, "MemFree:"), kb("MemFree:", total - s->memory.mapped_bytes));
  EXPECT_EQ(Line(m, "MemAvailable:"), kb("MemAvailable:", total - s->memory.mapped_bytes));
  EXPECT_EQ(Line(m, "SwapTotal:"), kb("SwapTotal:", 0));
}

TEST(ProcfsGenerators, MeminfoFollowsALoweredLimit) {
  state::SandboxState* s = MakeState();
  s->memory.limit_bytes = 64ull << 20;
  EXPECT_EQ(Line(proc_files::Meminfo(*s), "MemTotal:"), "MemTotal:          65536 kB");
}

TEST(ProcfsGenerators, MountsShowGuestPathsAndWhatTheGuestGets) {
  state::SandboxState* s = MakeState();
  state::Mount root{}, data{}, out{};
  root.guest_path.Assign("/");
  root.access = state::MountAccess::kReadOnly;
  data.guest_path.Assign("/data dir");
  data.access = state::MountAccess::kReadOnly;
  out.guest_path.Assign("/out");
  out.access = state::MountAccess::kReadWrite;
  s->mounts.PushBack(root);
  s->mounts.PushBack(data);
  s->mounts.PushBack(out);
  EXPECT_EQ(proc_files::Mounts(*s),
            "none / overlay rw,relatime 0 0\n"
            "proc /proc proc ro,nosuid,nodev,noexec,relatime 0 0\n"
            "none /data\\040dir overlay rw,relatime 0 0\n"
            "none /out hostdir rw,relatime 0 0\n");
}

TEST(ProcfsGenerators, StatusDescribesTheGuestProcess) {
  state::SandboxState* s = MakeState();
  s->process.ppid = 0;
  s->threads[0].signal_mask = 1ull << (SIGUSR1 - 1);
  s->process.signal_actions[SIGPIPE - 1].handler = 1;  // SIG_IGN
  const std::string st = proc_files::Status(*s);
  EXPECT_EQ(Line(st, "Name:"), "Name:\tfn");
  EXPECT_EQ(Line(st, "Pid:"), "Pid:\t1");
  EXPECT_EQ(Line(st, "TracerPid:"), "TracerPid:\t0");
  EXPECT_EQ(Line(st, "SigBlk:"), "SigBlk:\t0000000000000200");
  EXPECT_EQ(Line(st, "SigIgn:"), "SigIgn:\t0000000000001000");
  EXPECT_EQ(Line(st, "Threads:"), "Threads:\t1");
}

TEST(ProcfsGenerators, CmdlineAndEnvironAreTheGuestsNulTerminated) {
  state::SandboxState* s = MakeState();
  for (const char* a : {"fn", "--flag", ""}) {
    s->argv.PushBack({});
    s->argv[s->argv.size - 1].Assign(a);
  }
  s->envp.PushBack({});
  s->envp[0].Assign("A=1");
  Procfs p(*s);
  EXPECT_EQ(p.Generate("/proc/1/cmdline").value_or("?"), std::string("fn\0--flag\0\0", 11));
  EXPECT_EQ(p.Generate("/proc/1/environ").value_or("?"), std::string("A=1\0", 4));
}

TEST(ProcfsTree, OnlyTheGuestsPidExists) {
  state::SandboxState* s = MakeState();
  Procfs p(*s);
  EXPECT_TRUE(p.Lookup("/proc/1"));
  EXPECT_FALSE(p.Lookup("/proc/2"));
  EXPECT_FALSE(p.Lookup("/proc/01"));
  EXPECT_EQ(p.ReadLink("/proc/self").value_or("?"), "1");
  auto root = p.List("/proc");
  ASSERT_TRUE(root) << root.error().message();
  int numeric = 0;
  for (const auto& e : *root)
    if (std::all_of(e.name.begin(), e.name.end(), ::isdigit)) {
      ++numeric;
      EXPECT_EQ(e.name, "1");
    }
  EXPECT_EQ(numeric, 1);
}

TEST(ProcfsTree, NoMemFileAndNoHostPathInAnyLink) {
  state::SandboxState* s = MakeState();
  Procfs p(*s);
  EXPECT_FALSE(p.Lookup("/proc/1/mem"));
  EXPECT_FALSE(p.Lookup("/proc/self/mem")) << "paths reach Procfs canonical, links resolved";
  EXPECT_EQ(p.ReadLink("/proc/1/exe").value_or("?"), "/bin/fn");
}

TEST(ProcfsTree, FdLinksExistForOpenFdsOnly) {
  state::SandboxState* s = MakeState();
  state::OpenFile* f = state::New<state::OpenFile>();
  f->kind = state::FileKind::kOverlay;
  f->guest_path.Assign("/tmp/x");
  state::Pipe* pipe = state::New<state::Pipe>();
  state::OpenFile* r = state::New<state::OpenFile>();
  state::OpenFile* w = state::New<state::OpenFile>();
  r->kind = w->kind = state::FileKind::kPipe;
  r->pipe = w->pipe = pipe;
  s->fds.entries.Resize(6);
  s->fds.entries[1].file = f;
  s->fds.entries[3].file = r;
  s->fds.entries[5].file = w;
  Procfs p(*s);
  EXPECT_EQ(p.ReadLink("/proc/1/fd/1").value_or("?"), "/tmp/x");
  EXPECT_FALSE(p.Lookup("/proc/1/fd/0"));
  EXPECT_FALSE(p.Lookup("/proc/1/fd/6"));
  EXPECT_EQ(p.ReadLink("/proc/1/fd/3").value_or("?"), p.ReadLink("/proc/1/fd/5").value_or("!"))
      << "both ends of a pipe have one name";
  EXPECT_EQ(p.ReadLink("/proc/1/fd/3").value_or("?").rfind("pipe:[", 0), 0u);
}

TEST(HostFsPolicyTable, KernelInterfacesAreDeniedDataFilesystemsAllowed) {
  for (int64_t t : std::initializer_list<int64_t>{
           PROC_SUPER_MAGIC, SYSFS_MAGIC, CGROUP_SUPER_MAGIC, CGROUP2_SUPER_MAGIC, DEBUGFS_MAGIC,
           TRACEFS_MAGIC, DEVPTS_SUPER_MAGIC, BPF_FS_MAGIC, SECURITYFS_MAGIC})
    EXPECT_NE(DeniedFsTypeName(t), nullptr) << std::hex << t;
  for (int64_t t : std::initializer_list<int64_t>{
           EXT4_SUPER_MAGIC, XFS_SUPER_MAGIC, BTRFS_SUPER_MAGIC, TMPFS_MAGIC, OVERLAYFS_SUPER_MAGIC,
           SQUASHFS_MAGIC, NFS_SUPER_MAGIC, FUSE_SUPER_MAGIC})
    EXPECT_EQ(DeniedFsTypeName(t), nullptr) << std::hex << t;
}

TEST(HostFsPolicyTable, OneStatfsPerDevice) {
  testing::TempDir dir;
  HostFsPolicy policy;
  struct stat st {};
  ASSERT_EQ(stat(dir.path().c_str(), &st), 0);
  int opens = 0;
  auto open_dir = [&]() -> Result<int> {
    ++opens;
    return open(dir.path().c_str(), O_PATH | O_CLOEXEC);
  };
  for (int i = 0; i < 5; ++i) {
    auto denied = policy.Denied(st.st_dev, open_dir);
    ASSERT_TRUE(denied) << denied.error().message();
    EXPECT_FALSE(*denied);
  }
  EXPECT_EQ(opens, 1);
  EXPECT_EQ(policy.devices_seen(), 1u);
}

// ---- through a real sandbox ----

class ProcfsSandboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(root_ + "/proc/host-only");
    testing::WriteFile(root_ + "/f.txt", "lower");
  }
  Result<std::unique_ptr<Sandbox>> Create(const std::string& rootfs,
                                          std::vector<MountSpec> mounts = {}) {
    SandboxOptions opts;
    opts.rootfs = rootfs;
    opts.mounts = std::move(mounts);
    return Sandbox::Create(platform_, opts, [](const std::string&) {});
  }
  SandboxKernel& Kernel(const std::string& rootfs) {
    if (!sandbox_) {
      auto sb = Create(rootfs);
      if (!sb) {
        ADD_FAILURE() << sb.error().message();
        std::abort();
      }
      sandbox_ = std::move(*sb);
      sandbox_->state().argv.PushBack({});
      sandbox_->state().argv[0].Assign("fn");
    }
    return sandbox_->kernel();
  }
  Node Get(SandboxKernel& k, std::string_view path, bool follow = true) {
    auto n = k.vfs.Resolve("/", path, follow);
    EXPECT_TRUE(n) << path << ": " << n.error().message();
    return n ? *n : Node{};
  }
  std::string ReadAll(SandboxKernel& k, state::OpenFile& f, uint64_t len = 65536) {
    std::string buf(len, '\0');
    auto n = k.files.Read(f, buf.data(), buf.size(), std::nullopt);
    EXPECT_TRUE(n) << n.error().message();
    buf.resize(n ? *n : 0);
    return buf;
  }
  static bool HostSysIsSysfs() {
    struct statfs sfs {};
    return statfs("/sys", &sfs) == 0 && sfs.f_type == SYSFS_MAGIC;
  }

  testing::TempDir dir_;
  std::string root_ = dir_ / "root";
  ptrace_platform::PtracePlatform platform_;
  std::unique_ptr<Sandbox> sandbox_;
};

TEST_F(ProcfsSandboxTest, ProcHidesTheRootfsOwnProcDirectory) {
  SandboxKernel& k = Kernel(root_);
  Node proc = Get(k, "/proc");
  EXPECT_EQ(proc.layer, Node::Layer::kSynthetic);
  auto host_only = k.vfs.Resolve("/", "/proc/host-only", true);
  ASSERT_TRUE(host_only);
  EXPECT_FALSE(host_only->exists());
  auto list = k.vfs.List(Get(k, "/"));
  ASSERT_TRUE(list);
  EXPECT_EQ(std::count_if(list->begin(), list->end(), [](auto& e) { return e.name == "proc"; }), 1);
}

TEST_F(ProcfsSandboxTest, SelfResolvesToTheGuestPid) {
  SandboxKernel& k = Kernel(root_);
  Node n = Get(k, "/proc/self/cmdline");
  EXPECT_EQ(n.path, "/proc/1/cmdline");
  auto f = k.files.Open(n, O_RDONLY, 0);
  ASSERT_TRUE(f) << f.error().message();
  EXPECT_EQ((*f)->kind, state::FileKind::kSynthetic);
  EXPECT_EQ(ReadAll(k, **f), std::string("fn\0", 3));
  k.files.Unref(*f);
}

TEST_F(ProcfsSandboxTest, AnOpenFileIsASnapshotUntilReadFromTheStart) {
  SandboxKernel& k = Kernel(root_);
  auto f = k.files.Open(Get(k, "/proc/self/status"), O_RDONLY, 0);
  ASSERT_TRUE(f) << f.error().message();
  EXPECT_EQ(ReadAll(k, **f, 6), "Name:\t");
  k.s.process.umask = 0077;  // changes the file's "Umask:" line
  EXPECT_NE(ReadAll(k, **f).find("Umask:\t0022"), std::string::npos) << "the rest: the snapshot";
  ASSERT_TRUE(k.files.Seek(**f, 0, SEEK_SET));
  EXPECT_NE(ReadAll(k, **f).find("Umask:\t0077"), std::string::npos) << "from 0: generated again";
  k.files.Unref(*f);
}

TEST_F(ProcfsSandboxTest, ProcIsReadOnly) {
  SandboxKernel& k = Kernel(root_);
  auto w = k.files.Open(Get(k, "/proc/self/status"), O_WRONLY, 0);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code(), EACCES);
  auto c = k.files.Open(Get(k, "/proc/new"), O_WRONLY | O_CREAT, 0644);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), EACCES);
  EXPECT_EQ(k.vfs.MakeDir(Get(k, "/proc/d"), 0755).error().code(), EACCES);
  EXPECT_EQ(k.vfs.Remove(Get(k, "/proc/uptime"), false).error().code(), EPERM);
}

TEST_F(ProcfsSandboxTest, AMountAtOrBelowProcIsRefused) {
  auto sb = Create(root_, {{dir_.path(), "/proc/x", false}});
  ASSERT_FALSE(sb);
  EXPECT_EQ(sb.error().code(), EINVAL);
}

TEST_F(ProcfsSandboxTest, AHostProcfsAsAMountIsRefused) {
  auto sb = Create(root_, {{"/proc", "/hostproc", false}});
  ASSERT_FALSE(sb);
  EXPECT_EQ(sb.error().code(), EACCES);
  EXPECT_NE(sb.error().message().find("proc filesystem"), std::string::npos)
      << sb.error().message();
}

TEST_F(ProcfsSandboxTest, TheHostsSysIsAnEmptySealedDirectory) {
  if (!HostSysIsSysfs()) GTEST_SKIP() << "/sys is not a sysfs on this host";
  SandboxKernel& k = Kernel("/");
  Node sys = Get(k, "/sys");
  EXPECT_EQ(sys.layer, Node::Layer::kSynthetic);
  EXPECT_TRUE(sys.is_dir());
  auto list = k.vfs.List(sys);
  ASSERT_TRUE(list);
  EXPECT_EQ(list->size(), 2u) << "only . and ..";
  EXPECT_EQ(k.vfs.Resolve("/", "/sys/kernel/notes", true).error().code(), ENOENT);
  EXPECT_EQ(k.vfs.MakeDir(Get(k, "/sys/new"), 0755).error().code(), EACCES);
  auto f = k.files.Open(sys, O_RDONLY | O_DIRECTORY, 0);
  ASSERT_TRUE(f) << f.error().message();
  EXPECT_EQ((*f)->kind, state::FileKind::kSynthetic) << "no host fd on a kernel filesystem";
  k.files.Unref(*f);
}

TEST_F(ProcfsSandboxTest, AHostFifoCanBeStatedButNotOpened) {
  ASSERT_EQ(mkfifo((root_ + "/fifo").c_str(), 0644), 0);
  SandboxKernel& k = Kernel(root_);
  Node n = Get(k, "/fifo");
  EXPECT_TRUE(S_ISFIFO(n.st.st_mode));
  auto f = k.files.Open(n, O_RDONLY | O_NONBLOCK, 0);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code(), EACCES);
}

// Refused before any host open: opening a FIFO for reading with no writer would block catload
// itself (no watchdog ends a host call), and the check on the opened fd would come too late.
TEST_F(ProcfsSandboxTest, AHostFifoIsRefusedWithoutWaitingForAPeer) {
  const std::string fifo = root_ + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0644), 0);
  SandboxKernel& k = Kernel(root_);
  Node n = Get(k, "/fifo");
  // Should the open wait for a writer, a guard becomes one after 5 s: the open then returns
  // and the test fails (it had to be released) instead of hanging.
  std::atomic<bool> done{false}, released{false};
  std::thread guard([&] {
    for (int i = 0; i < 100 && !done.load(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (done.load()) return;
    released.store(true);
    const int w = open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    while (!done.load()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    close(w);
  });
  auto f = k.files.Open(n, O_RDONLY, 0);
  done.store(true);
  guard.join();
  EXPECT_FALSE(released.load()) << "the open waited for a writer of the host FIFO";
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code(), EACCES);
}

// What was opened is checked, not only what was resolved: a host file replaced by a FIFO
// between the two (the host tree changing under the guest) is refused on the opened fd.
TEST_F(ProcfsSandboxTest, AHostFileReplacedByAFifoAfterResolutionIsRefused) {
  SandboxKernel& k = Kernel(root_);
  Node n = Get(k, "/f.txt");
  ASSERT_TRUE(S_ISREG(n.st.st_mode));
  const std::string fifo = root_ + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0644), 0);
  ASSERT_EQ(rename(fifo.c_str(), (root_ + "/f.txt").c_str()), 0);
  auto f = k.files.Open(n, O_RDONLY | O_NONBLOCK, 0);
  if (f) k.files.Unref(*f);
  ASSERT_FALSE(f) << "a host FIFO was opened as the regular file it replaced";
  EXPECT_EQ(f.error().code(), EACCES);
}

TEST_F(ProcfsSandboxTest, AHostDeviceNodeCannotBeOpened) {
  if (mknod((root_ + "/null").c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0)
    GTEST_SKIP() << "mknod not permitted here";
  SandboxKernel& k = Kernel(root_);
  auto f = k.files.Open(Get(k, "/null"), O_RDWR, 0);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code(), EACCES);
}

TEST_F(ProcfsSandboxTest, AReconnectedFileOnAKernelFilesystemIsRefused) {
  // A host file named by the state (as a restored image names it, identity included) that now
  // lies on the host's procfs: reconnection must not hand catload's own environment over.
  const std::string rel = "proc/" + std::to_string(getpid()) + "/environ";  // no symlink
  struct stat host {};
  ASSERT_EQ(stat(("/" + rel).c_str(), &host), 0);
  SandboxKernel& k = Kernel("/");
  state::OpenFile* f = k.files.NewFile(state::FileKind::kHost, O_RDONLY);
  f->mount_index = 0;
  f->guest_path.Assign("/data/env");
  f->host_path.Assign(rel);
  f->identity = {host.st_dev, host.st_ino, host.st_size,
                 host.st_mtim.tv_sec * 1000000000ll + host.st_mtim.tv_nsec};
  char buf[64];
  auto n = k.files.Read(*f, buf, sizeof buf, std::nullopt);
  ASSERT_FALSE(n) << "read " << (n ? *n : 0) << " bytes of catload's environment";
  EXPECT_EQ(n.error().code(), EIO);
  k.files.Unref(f);
}

}  // namespace
}  // namespace cat
