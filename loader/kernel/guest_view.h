// What the guest is told about the machine it runs on — its uname, its memory, its CPUs, its
// process name — in one place, so that the syscalls (uname, sysinfo, sched_getaffinity,
// prctl) and the synthetic /proc (procfs.h) always agree.
#pragma once

#include <sys/utsname.h>

#include <cstdint>
#include <string>

#include "format/state/sandbox_state.h"

namespace cat {

// uname(2): the host's sysname, release, version and machine (the guest runs on that kernel's
// CPU anyway), but the sandbox's own node name and no domain name.
struct utsname GuestUname();

// The guest's memory as sysinfo(2) and /proc/meminfo report it: its --memory-limit (or the
// host's RAM if smaller), and what it has mapped.
struct GuestMemoryFigures {
  uint64_t total_bytes;
  uint64_t used_bytes;
  uint64_t free_bytes() const { return total_bytes > used_bytes ? total_bytes - used_bytes : 0; }
};
GuestMemoryFigures GuestMemoryTotals(const state::SandboxState& s);

// CPUs the guest is given: as many as catload's affinity mask held when catload started (not
// the one CPU an instance's thread is pinned to), numbered 0..N-1 as in a VM. What
// sched_getaffinity reports (a mask of the first N CPUs), nproc counts and /proc agrees with.
int GuestCpuCount();

// The process name (comm): the executable's base name, at most 15 bytes, as Linux sets it.
std::string GuestComm(const state::SandboxState& s);

}  // namespace cat
