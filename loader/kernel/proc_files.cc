// The content of each /proc file (proc_files.h), generated from the sandbox state and the
// guest's view of the machine (guest_view.h), in the formats Linux uses.
#include "loader/kernel/proc_files.h"

#include <cpuid.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <vector>

#include "format/base/host_clock.h"
#include "loader/kernel/guest_view.h"
#include "loader/kernel/vfs.h"

namespace cat::proc_files {
namespace {

constexpr uint64_t kPageSize = 4096;

std::string Printf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string Printf(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  const int n = vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  return std::string(buf, static_cast<size_t>(std::clamp(n, 0, static_cast<int>(sizeof(buf)) - 1)));
}

std::string JoinNul(const state::PArray<state::PString>& strings) {
  std::string out;
  for (const state::PString& p : strings) {
    out.append(p.view());
    out.push_back('\0');
  }
  return out;
}

// A path in a mounts line: space, tab, newline and backslash as octal escapes, as Linux does.
std::string MountEscape(std::string_view path) {
  std::string out;
  for (char c : path) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\\')
      out += Printf("\\%03o", static_cast<unsigned>(static_cast<unsigned char>(c)));
    else
      out.push_back(c);
  }
  return out;
}

struct VmTotals {
  uint64_t size = 0, exe = 0, data = 0, stack = 0, file = 0;
};
VmTotals Totals(const state::SandboxState& s) {
  VmTotals t;
  for (const state::Vma& v : s.memory.vmas) {
    const uint64_t len = v.end - v.start;
    t.size += len;
    switch (v.kind) {
      case state::VmaKind::kElf:
        if (v.prot & PROT_EXEC)
          t.exe += len;
        else
          t.data += len;
        t.file += len;
        break;
      case state::VmaKind::kFile:
        t.file += len;
        break;
      case state::VmaKind::kStack:
        t.stack += len;
        break;
      default:
        t.data += len;
    }
  }
  return t;
}

// The blocked set shown is the leader's (Linux shows the thread's whose directory is read;
// /proc/self resolves to the process, whose leader is threads[0]).
uint64_t LeaderSignalMask(const state::SandboxState& s) {
  return s.threads.empty() ? 0 : s.threads[0].signal_mask;
}

// Signal sets of the status and stat files: bit n-1 for signal n.
uint64_t SignalSet(const state::SandboxState& s, bool ignored) {
  uint64_t set = 0;
  for (int i = 0; i < state::kNumSignals; ++i) {
    const uint64_t h = s.process.signal_actions[i].handler;
    if (ignored ? h == 1 : h > 1) set |= 1ull << i;
  }
  return set;
}

int64_t GuestUptimeNs(const state::SandboxState& s) {
  timespec ts{};
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return ts.tv_sec * 1000000000ll + ts.tv_nsec + s.clocks.monotonic_offset_ns;
}

}  // namespace

// What readlink shows for an open fd: the guest path of a file, "pipe:[N]" for a pipe or one
// of the stdio channels (N: 1000 + the lowest fd open on the same pipe or channel, so that
// both ends of a pipe, and dup-ed fds, show the same name). Never a host path or address.
std::string FdTarget(const state::SandboxState& s, uint32_t fd) {
  const state::OpenFile* f = s.fds.entries[fd].file;
  if (f->kind != state::FileKind::kPipe && f->kind != state::FileKind::kStdio)
    return std::string(f->guest_path.view());
  uint32_t lowest = fd;
  for (uint32_t i = 0; i < fd; ++i) {
    const state::OpenFile* o = s.fds.entries[i].file;
    if (!o) continue;
    if (o == f || (f->kind == state::FileKind::kPipe && o->kind == state::FileKind::kPipe &&
                   o->pipe == f->pipe)) {
      lowest = i;
      break;
    }
  }
  return "pipe:[" + std::to_string(1000 + lowest) + "]";
}

// The executable as /proc/self/exe and maps name it: always absolute, as in Linux (static
// glibc asserts it when it reads /proc/self/exe). The state holds the name the guest was
// started with (argv[0]); a relative one is taken relative to the guest's root, lexically.
std::string ExePath(const state::SandboxState& s) {
  std::vector<std::string_view> parts;
  for (std::string_view c : SplitGuestPath(s.process.exe.view())) {
    if (c == ".") continue;
    if (c == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(c);
  }
  std::string out;
  for (std::string_view c : parts) out += "/" + std::string(c);
  return out.empty() ? "/" : out;
}

std::string Cpuinfo() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  __get_cpuid(0, &a, &b, &c, &d);
  const unsigned max_leaf = a;
  char vendor[13] = {};
  std::memcpy(vendor, &b, 4);
  std::memcpy(vendor + 4, &d, 4);
  std::memcpy(vendor + 8, &c, 4);
  unsigned eax1 = 0, ebx1 = 0, ecx1 = 0, edx1 = 0;
  __get_cpuid(1, &eax1, &ebx1, &ecx1, &edx1);
  unsigned family = (eax1 >> 8) & 0xf, model = (eax1 >> 4) & 0xf;
  if (family == 0xf) family += (eax1 >> 20) & 0xff;
  if (family >= 6) model += ((eax1 >> 16) & 0xf) << 4;
  char brand[49] = {};
  unsigned ext_max = 0;
  __get_cpuid(0x80000000, &ext_max, &b, &c, &d);
  if (ext_max >= 0x80000004)
    for (unsigned leaf = 0; leaf < 3; ++leaf) {
      unsigned r[4];
      __get_cpuid(0x80000002 + leaf, &r[0], &r[1], &r[2], &r[3]);
      std::memcpy(brand + leaf * 16, r, 16);
    }
  unsigned ebx7 = 0, ecx7 = 0, edx7 = 0, eax7 = 0;
  if (max_leaf >= 7) __get_cpuid_count(7, 0, &eax7, &ebx7, &ecx7, &edx7);
  unsigned ecx81 = 0, edx81 = 0;
  if (ext_max >= 0x80000001) __get_cpuid(0x80000001, &a, &b, &ecx81, &edx81);
  // The flags programs look for to pick code paths (the guest could run cpuid itself).
  struct Flag {
    const unsigned* reg;
    int bit;
    const char* name;
  };
  const Flag flags[] = {
      {&edx1, 0, "fpu"},       {&edx1, 4, "tsc"},        {&edx1, 8, "cx8"},
      {&edx1, 15, "cmov"},     {&edx1, 19, "clflush"},   {&edx1, 23, "mmx"},
      {&edx1, 24, "fxsr"},     {&edx1, 25, "sse"},       {&edx1, 26, "sse2"},
      {&edx1, 28, "ht"},       {&edx81, 11, "syscall"},  {&edx81, 20, "nx"},
      {&edx81, 27, "rdtscp"},  {&edx81, 29, "lm"},       {&ecx1, 0, "pni"},
      {&ecx1, 1, "pclmulqdq"}, {&ecx1, 9, "ssse3"},      {&ecx1, 12, "fma"},
      {&ecx1, 13, "cx16"},     {&ecx1, 19, "sse4_1"},    {&ecx1, 20, "sse4_2"},
      {&ecx1, 22, "movbe"},    {&ecx1, 23, "popcnt"},    {&ecx1, 25, "aes"},
      {&ecx1, 26, "xsave"},    {&ecx1, 28, "avx"},       {&ecx1, 29, "f16c"},
      {&ecx1, 30, "rdrand"},   {&ecx81, 0, "lahf_lm"},   {&ecx81, 5, "abm"},
      {&ebx7, 0, "fsgsbase"},  {&ebx7, 3, "bmi1"},       {&ebx7, 5, "avx2"},
      {&ebx7, 8, "bmi2"},      {&ebx7, 9, "erms"},       {&ebx7, 16, "avx512f"},
      {&ebx7, 17, "avx512dq"}, {&ebx7, 18, "rdseed"},    {&ebx7, 19, "adx"},
      {&ebx7, 28, "avx512cd"}, {&ebx7, 29, "sha_ni"},    {&ebx7, 30, "avx512bw"},
      {&ebx7, 31, "avx512vl"}, {&ecx7, 1, "avx512vbmi"}, {&ecx7, 14, "avx512_vpopcntdq"},
  };
  std::string flag_text;
  for (const Flag& f : flags)
    if (*f.reg & (1u << f.bit)) flag_text += (flag_text.empty() ? "" : " ") + std::string(f.name);
  const int cpus = GuestCpuCount();
  std::string out;
  for (int i = 0; i < cpus; ++i) {
    out += Printf("processor\t: %d\nvendor_id\t: %s\ncpu family\t: %u\nmodel\t\t: %u\n", i, vendor,
                  family, model);
    out += Printf("model name\t: %s\nstepping\t: %u\n", brand, eax1 & 0xf);
    out += Printf("physical id\t: 0\nsiblings\t: %d\ncore id\t\t: %d\ncpu cores\t: %d\n", cpus, i,
                  cpus);
    out += Printf("apicid\t\t: %d\nfpu\t\t: yes\nfpu_exception\t: yes\ncpuid level\t: %u\n", i,
                  max_leaf);
    out += "wp\t\t: yes\nflags\t\t: " + flag_text + "\n";
    out += "clflush size\t: 64\ncache_alignment\t: 64\n\n";
  }
  return out;
}

std::string SysKernel(std::string_view name) {
  const struct utsname u = GuestUname();
  if (name == "ostype") return std::string(u.sysname) + "\n";
  if (name == "osrelease") return std::string(u.release) + "\n";
  if (name == "version") return std::string(u.version) + "\n";
  if (name == "hostname") return std::string(u.nodename) + "\n";
  if (name == "domainname") return std::string(u.domainname) + "\n";
  if (name == "pid_max") return "32768\n";
  if (name == "ngroups_max") return "65536\n";
  return "";
}

std::string Maps(const state::SandboxState& s) {
  std::string out;
  const std::string exe = ExePath(s);
  for (const state::Vma& v : s.memory.vmas) {
    std::string line =
        Printf("%08" PRIx64 "-%08" PRIx64 " %c%c%c%c %08" PRIx64 " 00:00 0 ", v.start, v.end,
               (v.prot & PROT_READ) ? 'r' : '-', (v.prot & PROT_WRITE) ? 'w' : '-',
               (v.prot & PROT_EXEC) ? 'x' : '-', (v.flags & MAP_SHARED) ? 's' : 'p',
               v.kind == state::VmaKind::kFile ? v.file_offset : uint64_t{0});
    std::string_view name;
    switch (v.kind) {
      case state::VmaKind::kElf:
        name = exe;
        break;
      case state::VmaKind::kBrk:
        name = "[heap]";
        break;
      case state::VmaKind::kStack:
        name = "[stack]";
        break;
      default:
        break;
    }
    if (!name.empty()) {
      // Linux pads the name to column 74 on 64-bit.
      if (line.size() < 73) line.append(73 - line.size(), ' ');
      line.append(name);
    }
    out += line + "\n";
  }
  return out;
}

std::string Meminfo(const state::SandboxState& s) {
  const GuestMemoryFigures m = GuestMemoryTotals(s);
  const VmTotals t = Totals(s);
  std::string out;
  auto kb = [&](const char* name, uint64_t bytes) {
    out += Printf("%-16s%8" PRIu64 " kB\n", name, bytes / 1024);
  };
  kb("MemTotal:", m.total_bytes);
  kb("MemFree:", m.free_bytes());
  kb("MemAvailable:", m.free_bytes());
  kb("Buffers:", 0);
  kb("Cached:", 0);
  kb("SwapCached:", 0);
  kb("Active:", m.used_bytes);
  kb("Inactive:", 0);
  kb("SwapTotal:", 0);
  kb("SwapFree:", 0);
  kb("Dirty:", 0);
  kb("AnonPages:", m.used_bytes - std::min(m.used_bytes, t.file));
  kb("Mapped:", t.file);
  kb("Shmem:", 0);
  kb("CommitLimit:", m.total_bytes);
  kb("Committed_AS:", m.used_bytes);
  return out;
}

std::string Mounts(const state::SandboxState& s) {
  // Guest paths only: the source is "none" and the type says what the guest gets, never
  // which host directory is behind a mount.
  std::string out;
  auto line = [&](std::string_view source, std::string_view where, std::string_view type,
                  std::string_view opts) {
    out += std::string(source) + " " + MountEscape(where) + " " + std::string(type) + " " +
           std::string(opts) + " 0 0\n";
  };
  for (uint32_t i = 0; i < s.mounts.size; ++i) {
    const state::Mount& m = s.mounts[i];
    const char* type = m.access == state::MountAccess::kNone        ? "tmpfs"
                       : m.access == state::MountAccess::kReadWrite ? "hostdir"
                                                                    : "overlay";
    line("none", m.guest_path.view(), type, "rw,relatime");
    if (i == 0) line("proc", "/proc", "proc", "ro,nosuid,nodev,noexec,relatime");
  }
  return out;
}

std::string Status(const state::SandboxState& s) {
  const state::Process& p = s.process;
  const VmTotals t = Totals(s);
  std::string out;
  out += "Name:\t" + GuestComm(s) + "\n";
  out += Printf("Umask:\t%04o\nState:\tR (running)\n", p.umask);
  out += Printf("Tgid:\t%d\nNgid:\t0\nPid:\t%d\nPPid:\t%d\nTracerPid:\t0\n", p.pid, p.pid, p.ppid);
  out += Printf("Uid:\t%u\t%u\t%u\t%u\nGid:\t%u\t%u\t%u\t%u\n", p.uid, p.uid, p.uid, p.uid, p.gid,
                p.gid, p.gid, p.gid);
  const uint32_t fd_size = std::max<uint32_t>(64, (s.fds.entries.size + 63) / 64 * 64);
  out += Printf("FDSize:\t%u\nGroups:\t\n", fd_size);
  out += Printf("NStgid:\t%d\nNSpid:\t%d\nNSpgid:\t%d\nNSsid:\t%d\n", p.pid, p.pid, p.pid, p.pid);
  auto kb = [&](const char* name, uint64_t bytes) {
    out += Printf("%s\t%8" PRIu64 " kB\n", name, bytes / 1024);
  };
  kb("VmPeak:", t.size);
  kb("VmSize:", t.size);
  kb("VmLck:", 0);
  kb("VmPin:", 0);
  kb("VmHWM:", t.size);
  kb("VmRSS:", t.size);
  kb("VmData:", t.data);
  kb("VmStk:", t.stack);
  kb("VmExe:", t.exe);
  kb("VmLib:", 0);
  kb("VmSwap:", 0);
  out += Printf("Threads:\t%u\n", std::max<uint32_t>(s.threads.size, 1));
  out += Printf("SigQ:\t0/%" PRIu64 "\n", p.rlimits[RLIMIT_SIGPENDING].cur);
  out += "SigPnd:\t0000000000000000\nShdPnd:\t0000000000000000\n";
  out += Printf("SigBlk:\t%016" PRIx64 "\nSigIgn:\t%016" PRIx64 "\nSigCgt:\t%016" PRIx64 "\n",
                LeaderSignalMask(s), SignalSet(s, true), SignalSet(s, false));
  out += "CapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n";
  out += "CapBnd:\t0000000000000000\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t0\n";
  out += "voluntary_ctxt_switches:\t0\nnonvoluntary_ctxt_switches:\t0\n";
  return out;
}

std::string Cmdline(const state::SandboxState& s) {
  return JoinNul(s.argv);
}

std::string Environ(const state::SandboxState& s) {
  return JoinNul(s.envp);
}

std::string Comm(const state::SandboxState& s) {
  return GuestComm(s) + "\n";
}

std::string Loadavg(const state::SandboxState& s) {
  struct sysinfo info {};
  sysinfo(&info);  // the loads sysinfo(2) reports to the guest too
  return Printf("%.2f %.2f %.2f 1/1 %d\n", info.loads[0] / 65536.0, info.loads[1] / 65536.0,
                info.loads[2] / 65536.0, s.process.pid);
}

std::string SystemStat(const state::SandboxState& s) {
  const int64_t up = GuestUptimeNs(s);
  std::string out = "cpu  0 0 0 0 0 0 0 0 0 0\n";
  for (int i = 0; i < GuestCpuCount(); ++i) out += Printf("cpu%d 0 0 0 0 0 0 0 0 0 0\n", i);
  out += Printf("intr 0\nctxt 0\nbtime %" PRId64 "\n", (RealtimeNowNs() - up) / 1000000000);
  out += "processes 1\nprocs_running 1\nprocs_blocked 0\nsoftirq 0\n";
  return out;
}

std::string Uptime(const state::SandboxState& s) {
  const int64_t up = GuestUptimeNs(s);
  return Printf("%" PRId64 ".%02" PRId64 " 0.00\n", up / 1000000000, up % 1000000000 / 10000000);
}

std::string Version() {
  const struct utsname u = GuestUname();
  return Printf("%s version %s (catalyzer) %s\n", u.sysname, u.release, u.version);
}

std::string Statm(const state::SandboxState& s) {
  const VmTotals t = Totals(s);
  return Printf("%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " 0 %" PRIu64 " 0\n",
                t.size / kPageSize, t.size / kPageSize, t.file / kPageSize, t.exe / kPageSize,
                (t.data + t.stack) / kPageSize);
}

std::string Stat(const state::SandboxState& s, int64_t cpu_time_ns) {
  const state::Process& p = s.process;
  const VmTotals t = Totals(s);
  const int64_t ticks = cpu_time_ns / (1000000000 / sysconf(_SC_CLK_TCK));
  std::string out = Printf("%d (%s) R %d %d %d 0 -1 4194304 0 0 0 0 %" PRId64 " 0 0 0 20 0 %u 0 0 ",
                           p.pid, GuestComm(s).c_str(), p.ppid, p.pid, p.pid, ticks,
                           std::max<uint32_t>(s.threads.size, 1));
  out += Printf("%" PRIu64 " %" PRIu64 " %" PRIu64 " 0 0 0 0 0 0 ", t.size, t.size / kPageSize,
                p.rlimits[RLIMIT_RSS].cur);
  out +=
      Printf("%" PRIu64 " %" PRIu64 " %" PRIu64 " 0 0 0 17 0 0 0 0 0 0 0 0 %" PRIu64 " 0 0 0 0 0\n",
             LeaderSignalMask(s), SignalSet(s, true), SignalSet(s, false), s.memory.brk_start);
  return out;
}

}  // namespace cat::proc_files
