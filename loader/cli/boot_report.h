// Running a booted function to its end and reporting it: shared by restore and run.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "loader/boot/boot_stats.h"
#include "loader/boot/invocation.h"
#include "loader/boot/sandbox.h"
#include "loader/cli/sandbox_args.h"

namespace cat::cli {

// "" (no stats), "table" or "json".
struct RunReport {
  std::string stats;
  LimitArgs limits;
  // Ceilings for the snapshot's own limits (RunLimits::memory_ceiling, max_fds_ceiling).
  std::string memory_limit = "2G";
  uint32_t max_fds = 1024;
  std::string platform{kDefaultPlatform};
  // --report-fd: where the machine-readable report of the run goes (-1: none). The guest's
  // stderr is catload's, so a supervisor (catload serve) cannot trust lines there.
  int report_fd = -1;
};

// --timeout, --cpu-limit, --max-output, --memory-limit, --max-fds, --stats[=json] and
// --report-fd, as restore and run take them.
void AddRunReportOptions(CLI::App& cmd, RunReport& report);

// The run's limits for a boot that started at stats.start_ns(): --timeout bounds the boot too.
RunLimits BootLimits(const RunReport& report, const BootStats& stats);

// Prints a failed boot's error and returns catload's exit code: 124 (as for a timeout) when
// the boot's watchdog ended it, else 125.
int BootFailed(const Error& error, const RunReport& report);

// Prints the boot stages (if asked) on stderr, runs the guest, prints why it ended if it did
// not exit normally, and returns catload's exit code.
int RunBooted(const std::string& name, Sandbox& sandbox, BootStats& stats, const RunReport& report);

// The same report for an invocation that has run (invocation.h): stages, why it ended, and
// catload's exit code. `limits` are the ones it ran with.
int ReportInvocation(const std::string& name, const InvocationResult& result,
                     const RunReport& report, const RunLimits& limits);

}  // namespace cat::cli
