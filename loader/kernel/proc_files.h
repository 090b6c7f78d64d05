// The content of each /proc file (procfs.h is the tree): one function per file, from the
// sandbox state alone (and guest_view.h for machine-wide figures), in Linux's formats.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "format/state/sandbox_state.h"

namespace cat::proc_files {

std::string Cmdline(const state::SandboxState& s);  // argv, each NUL-terminated
std::string Environ(const state::SandboxState& s);  // envp, each NUL-terminated
std::string Comm(const state::SandboxState& s);
std::string Maps(const state::SandboxState& s);    // the VMAs, as /proc/PID/maps
std::string Mounts(const state::SandboxState& s);  // guest paths only
std::string Status(const state::SandboxState& s);
std::string Stat(const state::SandboxState& s, int64_t cpu_time_ns);  // /proc/PID/stat
std::string Statm(const state::SandboxState& s);
std::string Meminfo(const state::SandboxState& s);  // MemTotal: the memory limit
std::string Cpuinfo();
std::string SystemStat(const state::SandboxState& s);  // /proc/stat
std::string Uptime(const state::SandboxState& s);
std::string Loadavg(const state::SandboxState& s);
std::string Version();
std::string SysKernel(std::string_view name);  // /proc/sys/kernel/NAME
// What readlink of /proc/PID/fd/FD shows (fd must be open).
std::string FdTarget(const state::SandboxState& s, uint32_t fd);
// The executable as /proc/PID/exe names it: absolute.
std::string ExePath(const state::SandboxState& s);

}  // namespace cat::proc_files
