// Stats output and the final run of restore and run (see boot_report.h).
#include "loader/cli/boot_report.h"

#include <unistd.h>

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

std::string JsonString(const std::string& text) {
  std::string out = "\"";
  for (const unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\u%04x", c);
      out += esc;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

const char* OutcomeKey(GuestOutcome::Kind kind) {
  switch (kind) {
    case GuestOutcome::Kind::kExited:
    case GuestOutcome::Kind::kFuncEntry:
      return "exited";
    case GuestOutcome::Kind::kSignaled:
      return "signaled";
    case GuestOutcome::Kind::kFault:
      return "fault";
    case GuestOutcome::Kind::kTimeout:
      return "timeout";
    case GuestOutcome::Kind::kCpuLimit:
      return "cpu_limit";
    case GuestOutcome::Kind::kOutputLimit:
      return "output_limit";
    case GuestOutcome::Kind::kShellDied:
      return "shell_died";
  }
  return "shell_died";
}

// One JSON line on --report-fd (spec/serve.md, "catload run --report-fd"): written once, at
// the end, whatever happened; `fields` are already JSON members.
void WriteReport(const RunReport& report, const std::string& fields) {
  if (report.report_fd < 0) return;
  const std::string line = "{" + fields + "}\n";
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = write(report.report_fd, line.data() + done, line.size() - done);
    if (n <= 0) return;  // nobody reads it: nothing else to tell
    done += static_cast<size_t>(n);
  }
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
  cmd.add_option("--report-fd", report.report_fd,
                 "Write one JSON line describing the run to this open fd at the end: outcome, "
                 "status, exit code, message, boot and run times, memory-limit refusals. For "
                 "supervisors such as `catload serve` (spec/serve.md); the guest cannot write "
                 "to it.")
      ->check(CLI::Range(3, 1 << 20));
}

RunLimits BootLimits(const RunReport& report, const BootStats& stats) {
  RunLimits limits = ToRunLimits(report.limits);
  limits.start_ns = stats.start_ns();
  limits.memory_ceiling = ParseSize(report.memory_limit).value_or(0);  // checked by the CLI
  limits.max_fds_ceiling = report.max_fds;
  return limits;
}

int BootFailed(const Error& error, const RunReport& report) {
  PrintError(error.message());
  const bool timed_out = error.code() == ETIMEDOUT;
  WriteReport(report, std::string("\"outcome\":\"") + (timed_out ? "timeout" : "boot_failed") +
                          "\",\"message\":" + JsonString(error.message()));
  return timed_out ? 124 : kExitCatloadError;
}

int RunBooted(const std::string& name, Sandbox& sandbox, BootStats& stats,
              const RunReport& report) {
  const int64_t minflt_before = sandbox.shell().MinorFaults();
  const int64_t exits_before = sandbox.shell().VmExits();
  const int64_t run_start = MonotonicNowNs();
  const RunLimits limits = BootLimits(report, stats);
  auto outcome = RunGuest(sandbox, limits);
  const int64_t run_ns = MonotonicNowNs() - run_start;
  // The shell is still there (stopped at its exit): the page faults of the run, where the
  // copy-on-write tax shows (a boot's pre-copy is counted before it, not here).
  const int64_t minflt_after = sandbox.shell().MinorFaults();
  if (minflt_before >= 0 && minflt_after >= 0)
    stats.Note("run_minflt", minflt_after - minflt_before);
  // The kvm platform's VM exits (syscalls, faults, interrupts) of the whole boot and run.
  if (exits_before >= 0) stats.Note("vm_exits", sandbox.shell().VmExits());
  if (!report.stats.empty()) PrintStats(name, stats, report.stats, run_ns);
  const std::string times =
      ",\"boot_ns\":" + std::to_string(stats.ElapsedNs()) +
      ",\"boot_end_ns\":" + std::to_string(run_start) + ",\"run_ns\":" + std::to_string(run_ns) +
      ",\"memory_limit_hit\":" + (sandbox.kernel().memory_limit_refusals() > 0 ? "true" : "false");
  if (!outcome) {
    PrintError(name + ": run: " + outcome.error().message());
    WriteReport(report, "\"outcome\":\"run_error\",\"message\":" +
                            JsonString(name + ": run: " + outcome.error().message()) + times);
    return kExitCatloadError;
  }
  const std::string why = outcome->Describe(limits);
  if (!why.empty()) PrintError(why);
  WriteReport(report, std::string("\"outcome\":\"") + OutcomeKey(outcome->kind) +
                          "\",\"status\":" + std::to_string(outcome->status) +
                          ",\"exit_code\":" + std::to_string(outcome->ExitCode()) +
                          ",\"message\":" + JsonString(why) + times);
  return outcome->ExitCode();
}

int ReportInvocation(const std::string& name, const InvocationResult& r, const RunReport& report,
                     const RunLimits& limits) {
  if (!report.stats.empty()) PrintStats(name, r.stats, report.stats, r.run_ns);
  const std::string times = ",\"boot_ns\":" + std::to_string(r.boot_ns) +
                            ",\"boot_end_ns\":" + std::to_string(r.stats.start_ns() + r.boot_ns) +
                            ",\"run_ns\":" + std::to_string(r.run_ns) + ",\"memory_limit_hit\":" +
                            (r.outcome.memory_limit_hit ? "true" : "false");
  if (!r.failure.empty()) {
    PrintError(name + ": run: " + r.failure);
    WriteReport(report, "\"outcome\":\"run_error\",\"message\":" +
                            JsonString(name + ": run: " + r.failure) + times);
    return kExitCatloadError;
  }
  const std::string why = r.outcome.Describe(limits);
  if (!why.empty()) PrintError(why);
  WriteReport(report, std::string("\"outcome\":\"") + OutcomeKey(r.outcome.kind) +
                          "\",\"status\":" + std::to_string(r.outcome.status) +
                          ",\"exit_code\":" + std::to_string(r.outcome.ExitCode()) +
                          ",\"message\":" + JsonString(why) + times);
  return r.outcome.ExitCode();
}

}  // namespace cat::cli
