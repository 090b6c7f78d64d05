// Names of boot modes and outcomes as they appear in URLs, headers, logs and metrics.
#include "loader/serve/invoker.h"

#include <iterator>

namespace cat::serve {

namespace {

// The one table of outcomes: the name (metrics label, X-Catalyzer-Outcome, the log, and the
// `outcome` field of `catload run --report-fd`, which the process invoker reads back), the
// HTTP status and the message when the invoker gave none (spec/serve.md, "Status codes"). The
// in-process invoker's verdicts (loader/boot/invocation.h) carry the same names.
constexpr OutcomeInfo kOutcomes[] = {
    {OutcomeKind::kExited, "exited", 200, ""},
    {OutcomeKind::kSignaled, "signaled", 502, "the guest crashed"},
    {OutcomeKind::kFault, "fault", 502, "the guest crashed"},
    {OutcomeKind::kTimeout, "timeout", 504, "the guest ran past its time limit"},
    {OutcomeKind::kCpuLimit, "cpu_limit", 504, "the guest ran past its time limit"},
    {OutcomeKind::kOutputLimit, "output_limit", 507,
     "the guest ran past its output limit (--max-output)"},
    {OutcomeKind::kMemoryLimit, "memory_limit", 507,
     "the guest ran past its memory limit (--memory-limit)"},
    {OutcomeKind::kShellDied, "shell_died", 502, "the guest crashed"},
    {OutcomeKind::kBootFailed, "boot_failed", 500, "the invocation failed in the server"},
    {OutcomeKind::kUnavailable, "unavailable", 501, "boot mode not available"},
    {OutcomeKind::kInternalError, "internal_error", 500, "the invocation failed in the server"},
};

}  // namespace

const OutcomeInfo& Outcome(OutcomeKind kind) {
  for (const OutcomeInfo& o : kOutcomes)
    if (o.kind == kind) return o;
  return kOutcomes[std::size(kOutcomes) - 1];  // internal_error
}

std::optional<OutcomeKind> OutcomeFromName(std::string_view name) {
  for (const OutcomeInfo& o : kOutcomes)
    if (o.name == name) return o.kind;
  return std::nullopt;
}

std::span<const OutcomeInfo> AllOutcomes() {
  return kOutcomes;
}

std::string_view OutcomeName(OutcomeKind kind) {
  return Outcome(kind).name;
}

std::string MemoryLimitMessage(const std::string& then) {
  return "memory limit reached (--memory-limit): the guest was refused memory, then " + then;
}

}  // namespace cat::serve
