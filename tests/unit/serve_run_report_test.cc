// Unit tests for how the subprocess invoker reads `catload run --report-fd` (loader/serve/
// subprocess_invoker.h): outcomes, the guest's exit status, boot latency against the
// admission time, a memory-limit refusal followed by a failure, and a child without a report.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include "loader/serve/subprocess_invoker.h"

namespace cat::serve {
namespace {

InvokeResult Apply(const std::string& line, int wait_status = 0, int64_t accepted_ns = 0) {
  InvokeResult r;
  ApplyRunReport(line, wait_status, r, accepted_ns);
  return r;
}

TEST(ServeRunReport, AnExitKeepsTheGuestsStatus) {
  const InvokeResult r =
      Apply(R"({"outcome":"exited","status":3,"exit_code":3,"message":""})", 3 << 8);
  EXPECT_EQ(r.kind, OutcomeKind::kExited);
  EXPECT_EQ(r.exit_code, 3);
}

TEST(ServeRunReport, LimitsAndFaultsAreNamed) {
  EXPECT_EQ(Apply(R"({"outcome":"timeout","status":0,"exit_code":124,"message":"t"})").kind,
            OutcomeKind::kTimeout);
  EXPECT_EQ(Apply(R"({"outcome":"cpu_limit","status":24,"exit_code":152,"message":"c"})").kind,
            OutcomeKind::kCpuLimit);
  EXPECT_EQ(Apply(R"({"outcome":"output_limit","status":25,"exit_code":153,"message":"o"})").kind,
            OutcomeKind::kOutputLimit);
  const InvokeResult fault = Apply(
      R"({"outcome":"fault","status":11,"exit_code":139,"message":"guest killed by SIGSEGV"})");
  EXPECT_EQ(fault.kind, OutcomeKind::kFault);
  EXPECT_EQ(fault.exit_code, 139);
  EXPECT_EQ(fault.message, "guest killed by SIGSEGV");
  EXPECT_EQ(Apply(R"({"outcome":"boot_failed","message":"cold boot: bad"})").kind,
            OutcomeKind::kBootFailed);
}

TEST(ServeRunReport, BootLatencyCountsFromAdmission) {
  const InvokeResult r = Apply(
      R"({"outcome":"exited","status":0,"exit_code":0,"message":"","boot_end_ns":5000})", 0, 1000);
  EXPECT_EQ(r.boot_ns, 4000);
}

TEST(ServeRunReport, RefusedMemoryThenAFailureIsTheMemoryLimit) {
  const InvokeResult r =
      Apply(R"({"outcome":"exited","status":1,"exit_code":1,"message":"","memory_limit_hit":true})");
  EXPECT_EQ(r.kind, OutcomeKind::kMemoryLimit);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.message.find("--memory-limit"), std::string::npos);
  EXPECT_EQ(Apply(R"({"outcome":"signaled","status":6,"exit_code":134,"message":"abort",)"
                  R"("memory_limit_hit":true})")
                .kind,
            OutcomeKind::kMemoryLimit);
}

TEST(ServeRunReport, RefusedMemoryThenExit0IsAnAnswer) {
  EXPECT_EQ(Apply(R"({"outcome":"exited","status":0,"exit_code":0,"message":"",)"
                  R"("memory_limit_hit":true})")
                .kind,
            OutcomeKind::kExited);
}

TEST(ServeRunReport, NoReportIsAnInternalError) {
  int status = 0;
  // A child killed by SIGKILL writes nothing.
  status = SIGKILL;
  const InvokeResult r = Apply("", status);
  EXPECT_EQ(r.kind, OutcomeKind::kInternalError);
  EXPECT_NE(r.message.find("without a report"), std::string::npos) << r.message;
  EXPECT_EQ(Apply("{not json").kind, OutcomeKind::kInternalError);
}

}  // namespace
}  // namespace cat::serve
