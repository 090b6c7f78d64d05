// Stats output and the final run of restore and run (see boot_report.h).
#include "loader/cli/boot_report.h"

#include <cstdio>

#include "format/state/state_limits.h"
#include "loader/boot/run_loop.h"
#include "loader/cli/cli_common.h"

namespace cat::cli {
namespace {

void PrintStats(const std::string& name, const BootStats& stats, const std::string& format,
                int64_t run_ns) {
  if (format == "json") {
    std::string out = "{\"command\":\"" + name + "\",\"stages_ns\":{";
    bool first = true;
    for (const auto& s : stats.stages()) {
      out += std::string(first ? "" : ",") + "\"" + s.name + "\":" + std::to_string(s.value);
      first = false;
    }
    out += "},\"boot_ns\":" + std::to_string(stats.ElapsedNs());
    for (const auto& n : stats.notes()) out += ",\"" + n.name + "\":" + std::to_string(n.value);
    out += ",\"run_ns\":" + std::to_string(run_ns) + "}";
    std::fprintf(stderr, "%s\n", out.c_str());
    return;
  }
  std::fprintf(stderr, "catload %s: boot stages\n", name.c_str());
  for (const auto& s : stats.stages())
    std::fprintf(stderr, "  %-22s %10.3f ms\n", s.name.c_str(), s.value / 1e6);
  std::fprintf(stderr, "  %-22s %10.3f ms  (request accepted -> first guest instruction)\n",
               "boot total", stats.ElapsedNs() / 1e6);
  for (const auto& n : stats.notes())
    std::fprintf(stderr, "  %-22s %10lld\n", n.name.c_str(), static_cast<long long>(n.value));
  std::fprintf(stderr, "  %-22s %10.3f ms  (guest run to exit)\n", "run", run_ns / 1e6);
}

}  // namespace

void AddRunReportOptions(CLI::App& cmd, RunReport& report) {
  AddLimitOptions(cmd, report.limits);
  AddPlatformOption(cmd, report.platform);
  // The snapshot records the limits it was captured with, but an image or checkpoint is
  // untrusted input: the operator's values are ceilings it is lowered to, never raised past.
  cmd.add_option("--memory-limit", report.memory_limit,
                 "Ceiling for the guest's memory (mappings, overlay files and pipe buffers): "
                 "the limit the snapshot was captured with is lowered to it, never raised; a "
                 "snapshot already using more is refused. Bytes with optional K/M/G suffix, at "
                 "least 16M. Default: 2G. Example: --memory-limit 256M")
      ->check(CLI::Validator(
          [](const std::string& v) -> std::string {
            const auto n = ParseSize(v);
            return n && *n >= (uint64_t{16} << 20)
                       ? ""
                       : "give bytes with an optional K/M/G suffix, at least 16M";
          },
          "SIZE"));
  cmd.add_option("--max-fds", report.max_fds,
                 "Ceiling for the guest's fd limit (RLIMIT_NOFILE): the snapshot's is lowered "
                 "to it, never raised. Default: 1024")
      ->check(CLI::Range(3u, state::kMaxFds));
  cmd.add_option("--stats", report.stats,
                 "Print each boot stage's time on stderr: --stats (a table) or --stats=json")
      ->expected(0, 1)
      ->default_str("table")
      ->check(CLI::IsMember({"table", "json"}));
}

RunLimits BootLimits(const RunReport& report, const BootStats& stats) {
  RunLimits limits = ToRunLimits(report.limits);
  limits.start_ns = stats.start_ns();
  limits.memory_ceiling = ParseSize(report.memory_limit).value_or(0);  // checked by the CLI
  limits.max_fds_ceiling = report.max_fds;
  return limits;
}

int BootFailed(const Error& error) {
  PrintError(error.message());
  return error.code() == ETIMEDOUT ? 124 : kExitCatloadError;
}

int RunBooted(const std::string& name, Sandbox& sandbox, BootStats& stats,
              const RunReport& report) {
  const int64_t run_start = MonotonicNowNs();
  const RunLimits limits = BootLimits(report, stats);
  auto outcome = RunGuest(sandbox, limits);
  const int64_t run_ns = MonotonicNowNs() - run_start;
  if (!report.stats.empty()) PrintStats(name, stats, report.stats, run_ns);
  if (!outcome) {
    PrintError(name + ": run: " + outcome.error().message());
    return kExitCatloadError;
  }
  const std::string why = outcome->Describe(limits);
  if (!why.empty()) PrintError(why);
  return outcome->ExitCode();
}

int ReportInvocation(const std::string& name, const InvocationResult& r, const RunReport& report,
                     const RunLimits& limits) {
  if (!report.stats.empty()) PrintStats(name, r.stats, report.stats, r.run_ns);
  if (!r.failure.empty()) {
    PrintError(name + ": run: " + r.failure);
    return kExitCatloadError;
  }
  const std::string why = r.outcome.Describe(limits);
  if (!why.empty()) PrintError(why);
  return r.outcome.ExitCode();
}

}  // namespace cat::cli
