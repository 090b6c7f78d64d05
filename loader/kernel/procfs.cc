// The synthetic /proc tree (see procfs.h): a table per directory, plus /proc/<pid>/fd/<n> for
// the open fds; what each file contains is proc_files.cc. Everything shown comes from the
// sandbox state or from guest_view.h; nothing is read from the host's procfs.
#include "loader/kernel/procfs.h"

#include <dirent.h>

#include <functional>

#include "format/base/host_clock.h"
#include "loader/kernel/proc_files.h"
#include "loader/kernel/vfs.h"

namespace cat {
namespace {

constexpr std::string_view kRoot = "/proc";

enum class Id {
  kRoot,
  kSelf,
  kMountsLink,
  kCpuinfo,
  kLoadavg,
  kMeminfo,
  kStat,
  kUptime,
  kVersion,
  kSys,
  kSysKernel,
  kSysKernelFile,
  kSysKernelRandom,
  kBootId,
  kCatalyzer,
  kGeneration,
  kPidDir,
  kCmdline,
  kComm,
  kCwd,
  kEnviron,
  kExe,
  kFdDir,
  kFdLink,
  kMaps,
  kPidMounts,
  kPidStat,
  kStatm,
  kStatus,
};

constexpr mode_t kDir = S_IFDIR | 0555;
constexpr mode_t kFile = S_IFREG | 0444;
constexpr mode_t kLink = S_IFLNK | 0777;

struct Child {
  const char* name;
  Id id;
  mode_t mode;
};

// Sorted by name, as a listing shows them.
constexpr Child kRootChildren[] = {
    {"catalyzer", Id::kCatalyzer, kDir}, {"cpuinfo", Id::kCpuinfo, kFile},
    {"loadavg", Id::kLoadavg, kFile},    {"meminfo", Id::kMeminfo, kFile},
    {"mounts", Id::kMountsLink, kLink},  {"self", Id::kSelf, kLink},
    {"stat", Id::kStat, kFile},          {"sys", Id::kSys, kDir},
    {"uptime", Id::kUptime, kFile},      {"version", Id::kVersion, kFile},
};
constexpr Child kPidChildren[] = {
    {"cmdline", Id::kCmdline, kFile}, {"comm", Id::kComm, kFile},
    {"cwd", Id::kCwd, kLink},         {"environ", Id::kEnviron, S_IFREG | 0400},
    {"exe", Id::kExe, kLink},         {"fd", Id::kFdDir, S_IFDIR | 0500},
    {"maps", Id::kMaps, kFile},       {"mounts", Id::kPidMounts, kFile},
    {"stat", Id::kPidStat, kFile},    {"statm", Id::kStatm, kFile},
    {"status", Id::kStatus, kFile},
};
constexpr Child kSysChildren[] = {{"kernel", Id::kSysKernel, kDir}};
constexpr const char* kSysKernelNames[] = {"domainname", "hostname", "ngroups_max", "osrelease",
                                           "ostype",     "pid_max",  "version"};
// /proc/sys/kernel/random: only boot_id, the instance's identity (instance_id.h).
constexpr std::string_view kSysKernelRandom = "random";
// /proc/catalyzer: what the sandbox tells a guest about itself (spec/abi.md, "Uniqueness after
// restore"). generation: the instance's identity.
constexpr Child kCatalyzerChildren[] = {{"generation", Id::kGeneration, kFile}};

uint8_t DirentType(mode_t mode) {
  if (S_ISDIR(mode)) return DT_DIR;
  if (S_ISLNK(mode)) return DT_LNK;
  return DT_REG;
}

uint64_t InoOf(std::string_view path) {
  if (path == kRoot) return 1;
  return (std::hash<std::string_view>{}(path) | 2) & 0x7fffffffffffull;
}

// A decimal number without sign or leading zeros, as /proc names fds.
std::optional<uint32_t> ParseIndex(std::string_view s) {
  if (s.empty() || s.size() > 9 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  return v;
}

}  // namespace

struct Procfs::Where {
  Id id;
  mode_t mode;
  uint32_t fd = 0;             // kFdLink
  std::string_view name = {};  // kSysKernelFile
};

bool Procfs::Covers(std::string_view path) {
  return path == kRoot ||
         (path.starts_with(kRoot) && path.size() > kRoot.size() && path[kRoot.size()] == '/');
}

std::optional<Procfs::Where> Procfs::Find(std::string_view path) const {
  if (!Covers(path)) return std::nullopt;
  const std::vector<std::string_view> p = SplitGuestPath(path.substr(kRoot.size()));
  if (p.empty()) return Where{Id::kRoot, kDir};
  if (p[0] == std::to_string(s_.process.pid)) {
    if (p.size() == 1) return Where{Id::kPidDir, kDir};
    for (const Child& c : kPidChildren) {
      if (p[1] != c.name) continue;
      if (p.size() == 2) return Where{c.id, c.mode};
      if (c.id != Id::kFdDir || p.size() != 3) return std::nullopt;
      const auto fd = ParseIndex(p[2]);
      if (!fd || *fd >= s_.fds.entries.size || !s_.fds.entries[*fd].file) return std::nullopt;
      return Where{Id::kFdLink, S_IFLNK | 0700, *fd};
    }
    return std::nullopt;
  }
  for (const Child& c : kRootChildren) {
    if (p[0] != c.name) continue;
    if (p.size() == 1) return Where{c.id, c.mode};
    if (c.id == Id::kCatalyzer) {
      for (const Child& g : kCatalyzerChildren)
        if (p.size() == 2 && p[1] == g.name) return Where{g.id, g.mode};
      return std::nullopt;
    }
    if (c.id != Id::kSys) return std::nullopt;
    if (p[1] != kSysChildren[0].name) return std::nullopt;
    if (p.size() == 2) return Where{Id::kSysKernel, kDir};
    if (p[2] == kSysKernelRandom) {
      if (p.size() == 3) return Where{Id::kSysKernelRandom, kDir};
      if (p.size() == 4 && p[3] == "boot_id") return Where{Id::kBootId, kFile};
      return std::nullopt;
    }
    if (p.size() != 3) return std::nullopt;
    for (const char* n : kSysKernelNames)
      if (p[2] == n) return Where{Id::kSysKernelFile, kFile, 0, p[2]};
    return std::nullopt;
  }
  return std::nullopt;
}

std::optional<struct stat> Procfs::Lookup(std::string_view path) const {
  const auto w = Find(path);
  if (!w) return std::nullopt;
  struct stat st {};
  st.st_dev = kSyntheticDev;
  st.st_ino = InoOf(path);
  st.st_mode = w->mode;
  st.st_nlink = S_ISDIR(w->mode) ? 2 : 1;
  st.st_uid = s_.process.uid;
  st.st_gid = s_.process.gid;
  st.st_blksize = 1024;
  const int64_t now = RealtimeNowNs();
  st.st_atim = st.st_mtim = st.st_ctim = {now / 1000000000, now % 1000000000};
  return st;
}

Result<std::string> Procfs::ReadLink(std::string_view path) const {
  const auto w = Find(path);
  if (!w) return Fail(ENOENT, "no such file: " + std::string(path));
  switch (w->id) {
    case Id::kSelf:
      return std::to_string(s_.process.pid);
    case Id::kMountsLink:
      return std::string("self/mounts");
    case Id::kCwd:
      return std::string(s_.process.cwd.view());
    case Id::kExe:
      return proc_files::ExePath(s_);
    case Id::kFdLink:
      return proc_files::FdTarget(s_, w->fd);
    default:
      return Fail(EINVAL, "not a symlink: " + std::string(path));
  }
}

Result<std::vector<Procfs::Entry>> Procfs::List(std::string_view path) const {
  const auto w = Find(path);
  if (!w) return Fail(ENOENT, "no such directory: " + std::string(path));
  std::vector<Entry> out;
  auto add = [&](std::string name, mode_t mode) {
    const std::string child = std::string(path) + "/" + name;
    out.push_back({std::move(name), InoOf(child), DirentType(mode)});
  };
  switch (w->id) {
    case Id::kRoot:
      for (const Child& c : kRootChildren) add(c.name, c.mode);
      add(std::to_string(s_.process.pid), kDir);
      break;
    case Id::kSys:
      for (const Child& c : kSysChildren) add(c.name, c.mode);
      break;
    case Id::kSysKernel:
      for (const char* n : kSysKernelNames) {
        if (std::string_view(n) == "version") add(std::string(kSysKernelRandom), kDir);  // in order
        add(n, kFile);
      }
      break;
    case Id::kSysKernelRandom:
      add("boot_id", kFile);
      break;
    case Id::kCatalyzer:
      for (const Child& c : kCatalyzerChildren) add(c.name, c.mode);
      break;
    case Id::kPidDir:
      for (const Child& c : kPidChildren) add(c.name, c.mode);
      break;
    case Id::kFdDir:
      for (uint32_t fd = 0; fd < s_.fds.entries.size; ++fd)
        if (s_.fds.entries[fd].file) add(std::to_string(fd), kLink);
      break;
    default:
      return Fail(ENOTDIR, "not a directory: " + std::string(path));
  }
  return out;
}

Result<std::string> Procfs::Generate(std::string_view path) const {
  const auto w = Find(path);
  if (!w) return Fail(ENOENT, "no such file: " + std::string(path));
  namespace f = proc_files;
  switch (w->id) {
    case Id::kCpuinfo:
      return f::Cpuinfo();
    case Id::kLoadavg:
      return f::Loadavg(s_);
    case Id::kMeminfo:
      return f::Meminfo(s_);
    case Id::kStat:
      return f::SystemStat(s_);
    case Id::kUptime:
      return f::Uptime(s_);
    case Id::kVersion:
      return f::Version();
    case Id::kSysKernelFile:
      return f::SysKernel(w->name);
    case Id::kBootId:
    case Id::kGeneration:
      if (!instance_) instance_ = InstanceId::Fresh();
      return instance_->Uuid() + "\n";
    case Id::kCmdline:
      return f::Cmdline(s_);
    case Id::kEnviron:
      return f::Environ(s_);
    case Id::kComm:
      return f::Comm(s_);
    case Id::kMaps:
      return f::Maps(s_);
    case Id::kPidMounts:
      return f::Mounts(s_);
    case Id::kStatus:
      return f::Status(s_);
    case Id::kStatm:
      return f::Statm(s_);
    case Id::kPidStat:
      return f::Stat(s_, cpu_time_ns_ ? cpu_time_ns_() : 0);
    default:
      return Fail(EISDIR, "not a regular file: " + std::string(path));
  }
}

}  // namespace cat
