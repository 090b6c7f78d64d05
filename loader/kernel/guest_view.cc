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
  // Used is the guest's mappings plus the overlay and pipe memory charged to the same limit
  // (memory_budget.h).
  return {std::min(host, s.memory.limit_bytes), s.memory.mapped_bytes + s.memory.file_bytes};
}

namespace {

// catload's CPUs as it started, before any instance pinned its thread (cpu_pin.h): a pin is
// how catload places its tracer next to the shell, not a limit on the guest. Taken at static
// initialization, which runs before main and so before any pin.
int StartCpuCount() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  return std::max(1, CPU_COUNT(&set));
}
const int kStartCpuCount = StartCpuCount();

}  // namespace

int GuestCpuCount() {
  return kStartCpuCount;
}

std::string GuestComm(const state::SandboxState& s) {
  std::string_view exe = s.process.exe.view();
  exe = exe.substr(exe.rfind('/') + 1);
  return std::string(exe.substr(0, 15));
}

}  // namespace cat
