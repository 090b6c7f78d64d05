// The guest's view of its machine (see guest_view.h).
#include "loader/kernel/guest_view.h"

#include <sched.h>
#include <sys/sysinfo.h>

#include <algorithm>
#include <cstring>

namespace cat {

struct utsname GuestUname() {
  struct utsname u {};
  uname(&u);
  std::memset(u.nodename, 0, sizeof(u.nodename));
  std::strncpy(u.nodename, "catalyzer", sizeof(u.nodename) - 1);
  std::memset(u.domainname, 0, sizeof(u.domainname));
  std::strncpy(u.domainname, "(none)", sizeof(u.domainname) - 1);
  return u;
}

GuestMemoryFigures GuestMemoryTotals(const state::SandboxState& s) {
  struct sysinfo info {};
  sysinfo(&info);
  const uint64_t host = static_cast<uint64_t>(info.totalram) * info.mem_unit;
  return {std::min(host, s.memory.limit_bytes), s.memory.mapped_bytes};
}

int GuestCpuCount() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  return std::max(1, CPU_COUNT(&set));
}

std::string GuestComm(const state::SandboxState& s) {
  std::string_view exe = s.process.exe.view();
  exe = exe.substr(exe.rfind('/') + 1);
  return std::string(exe.substr(0, 15));
}

}  // namespace cat
