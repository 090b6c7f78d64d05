// Unit tests for the outcome -> HTTP status mapping of catload serve
// (loader/serve/status_mapping.h, spec/serve.md "Status codes").
#include <gtest/gtest.h>

#include <set>
#include <string_view>

#include "loader/boot/invocation.h"
#include "loader/serve/status_mapping.h"

namespace cat::serve {
namespace {

int StatusOf(OutcomeKind kind, int exit_code = 0) {
  InvokeResult r;
  r.kind = kind;
  r.exit_code = exit_code;
  r.message = kind == OutcomeKind::kExited ? "" : "why";
  return MapOutcome(r).status;
}

TEST(ServeStatus, AnyExitCodeIs200) {
  EXPECT_EQ(StatusOf(OutcomeKind::kExited, 0), 200);
  EXPECT_EQ(StatusOf(OutcomeKind::kExited, 3), 200);
  EXPECT_EQ(StatusOf(OutcomeKind::kExited, 255), 200);
}

TEST(ServeStatus, TimeAndCpuLimitsAre504) {
  EXPECT_EQ(StatusOf(OutcomeKind::kTimeout), 504);
  EXPECT_EQ(StatusOf(OutcomeKind::kCpuLimit), 504);
}

TEST(ServeStatus, MemoryAndOutputLimitsAre507) {
  EXPECT_EQ(StatusOf(OutcomeKind::kMemoryLimit), 507);
  EXPECT_EQ(StatusOf(OutcomeKind::kOutputLimit), 507);
}

TEST(ServeStatus, CrashesAre502) {
  EXPECT_EQ(StatusOf(OutcomeKind::kFault), 502);
  EXPECT_EQ(StatusOf(OutcomeKind::kSignaled), 502);
  EXPECT_EQ(StatusOf(OutcomeKind::kShellDied), 502);
}

TEST(ServeStatus, ServerSideFailures) {
  EXPECT_EQ(StatusOf(OutcomeKind::kUnavailable), 501);
  EXPECT_EQ(StatusOf(OutcomeKind::kBootFailed), 500);
  EXPECT_EQ(StatusOf(OutcomeKind::kInternalError), 500);
}

TEST(ServeStatus, TheMessageIsTheOutcomesOwnOrOneThatNamesTheLimit) {
  InvokeResult r;
  r.kind = OutcomeKind::kTimeout;
  r.message = "guest timed out after 1 s (--timeout) and was killed";
  EXPECT_EQ(MapOutcome(r).message, r.message);
  r.kind = OutcomeKind::kOutputLimit;
  r.message = "";
  EXPECT_NE(MapOutcome(r).message.find("--max-output"), std::string::npos);
  r.kind = OutcomeKind::kExited;
  EXPECT_EQ(MapOutcome(r).message, "");
}

TEST(ServeOutcomes, EveryOutcomeHasOneNameThatReadsBack) {
  std::set<std::string_view> names;
  for (const OutcomeInfo& o : AllOutcomes()) {
    EXPECT_TRUE(names.insert(o.name).second) << o.name;
    EXPECT_EQ(OutcomeFromName(o.name), o.kind) << o.name;
    EXPECT_EQ(OutcomeName(o.kind), o.name);
  }
  EXPECT_EQ(OutcomeFromName("no_such_outcome"), std::nullopt);
}

TEST(ServeOutcomes, EveryVerdictIsTheOutcomeOfTheSameName) {
  for (Verdict v :
       {Verdict::kExited, Verdict::kSignaled, Verdict::kFault, Verdict::kTimeout,
        Verdict::kCpuLimit, Verdict::kOutputLimit, Verdict::kMemoryLimit, Verdict::kShellDied})
    EXPECT_TRUE(OutcomeFromName(VerdictName(v)).has_value()) << VerdictName(v);
}

}  // namespace
}  // namespace cat::serve
