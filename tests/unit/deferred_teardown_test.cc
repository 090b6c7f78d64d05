// Tests of InvocationOptions::defer_teardown (loader/boot/invocation.h): a server answers at the
// guest's exit_group and tears the instance down after the answer. The invocation's result
// (exit status, output) must be complete while the ended instance still exists, and destroying
// the instance must still kill its shell.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "loader/boot/invocation.h"
#include "loader/platform/ptrace/ptrace_platform.h"
#include "tests/unit/exit_image.h"
#include "tests/unit/test_support.h"

namespace cat {
namespace {

using testing::TempDir;

// The ptrace platform, remembering the pid of the last shell it made.
class PidPlatform : public Platform {
 public:
  std::string_view name() const override { return "ptrace (pid recorded)"; }
  Result<std::unique_ptr<Shell>> CreateShell() override {
    TRY(std::unique_ptr<ptrace_platform::PtraceShell> s, ptrace_platform::PtraceShell::Create());
    pid = s->pid();
    return std::unique_ptr<Shell>(std::move(s));
  }
  std::atomic<pid_t> pid{0};
};

// The process's state letter in /proc/PID/stat ('Z' zombie, 't' traced and stopped), or 0
// when it is gone (reaped).
char ProcessState(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() ? 0 : stat[paren + 2];
}

class DeferredTeardownTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    path_ = dir_.path() + "/exit3.cfi";
    ASSERT_TRUE(cat::testing::WriteExit3Image(path_));
  }
  // One invocation of the exit-3 image, its teardown deferred or not.
  Result<InvocationResult> Invoke(bool defer_teardown) {
    auto image = FuncImage::Open(path_);
    if (!image) return std::unexpected(image.error());
    InvocationOptions o;
    o.cpu = InvocationOptions::kNoPin;
    o.defer_teardown = defer_teardown;
    return InvokeWithBytes(platform_, *image, o, "");
  }
  TempDir dir_;
  std::string path_;
  PidPlatform platform_;
};

TEST_F(DeferredTeardownTest, TheResultIsCompleteWhileTheEndedInstanceIsStillThere) {
  auto r = Invoke(true);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->verdict, Verdict::kExited) << r->failure;
  EXPECT_EQ(r->outcome.status, 3);
  EXPECT_EQ(r->stdout_bytes, "ok\n");
  // Answered, and the instance not torn down yet: its shell is alive, stopped at the guest's
  // exit_group (a traced stop, not a zombie).
  ASSERT_NE(r->instance, nullptr);
  const pid_t pid = platform_.pid.load();
  ASSERT_GT(pid, 0);
  const char state = ProcessState(pid);
  EXPECT_TRUE(state == 't' || state == 'T') << "shell state '" << state << "'";
  // The teardown, later, still kills it.
  r->instance.reset();
  char after = ProcessState(pid);
  for (int i = 0; i < 200 && after != 0 && after != 'Z'; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    after = ProcessState(pid);
  }
  EXPECT_TRUE(after == 0 || after == 'Z') << "shell state after the teardown '" << after << "'";
}

TEST_F(DeferredTeardownTest, WithoutItTheInstanceIsTornDownBeforeTheResult) {
  auto r = Invoke(false);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->outcome.status, 3);
  EXPECT_EQ(r->instance, nullptr);
}

}  // namespace
}  // namespace cat
