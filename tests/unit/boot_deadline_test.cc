// catload serve's --boot-timeout bounds every boot as a whole: one on the request's path, the
// taking of its shell included (loader/boot/invocation.cc, BootBounded: the boot's watchdog only
// starts once there is a shell, and making or taking one can block), and a fork template's
// creation (Template::Create). A platform whose shell creation hangs stands for an empty zygote
// pool on a stalled host.
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <string>

#include "loader/boot/fork_boot.h"
#include "loader/boot/invocation.h"
#include "loader/boot/warm_boot.h"
#include "tests/unit/exit_image.h"
#include "tests/unit/test_support.h"

namespace cat {
namespace {

// CreateShell waits on a pipe nobody writes to: interrupted (EINTR) it fails with that; else,
// after a long grace time, it fails saying nothing interrupted it (the test then fails instead
// of hanging).
class HangingShellPlatform : public Platform {
 public:
  HangingShellPlatform() {
    int fds[2];
    if (pipe(fds) == 0) r_ = fds[0], w_ = fds[1];
  }
  ~HangingShellPlatform() override {
    close(r_);
    close(w_);
  }
  std::string_view name() const override { return "hanging shell"; }
  Result<std::unique_ptr<Shell>> CreateShell() override {
    pollfd p{r_, POLLIN, 0};
    if (poll(&p, 1, 60'000) < 0) return FailErrno("create a shell");
    return Fail(EIO, "create a shell: never interrupted");
  }

 private:
  int r_ = -1, w_ = -1;
};

// The exit-3 image (exit_image.h) and the hanging platform.
class BootDeadline : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    path_ = dir_.path() + "/exit3.cfi";
    ASSERT_TRUE(testing::WriteExit3Image(path_));
  }
  testing::TempDir dir_;
  std::string path_;
  HangingShellPlatform platform_;
};

TEST_F(BootDeadline, TakingTheShellIsBoundedByTheBootTimeout) {
  auto image = FuncImage::Open(path_);
  ASSERT_TRUE(image) << image.error().message();
  InvocationOptions o;
  o.mode = BootMode::kCold;
  o.cpu = InvocationOptions::kNoPin;
  o.limits.timeout_s = 0.2;     // the boot's bound (--boot-timeout)
  o.limits.run_timeout_s = 30;  // the run's (--timeout): the boot has a bound of its own
  auto r = InvokeWithBytes(platform_, *image, o, "");
  ASSERT_FALSE(r) << "a boot whose shell never comes succeeded";
  EXPECT_EQ(r.error().code(), ETIMEDOUT) << r.error().message();
  EXPECT_NE(r.error().message().find("not booted within 0.2 s"), std::string::npos)
      << r.error().message();
}

TEST_F(BootDeadline, AForkTemplateThatCannotGetAShellIsBoundedByTheBootTimeout) {
  auto warm = WarmImage::Open(path_);
  ASSERT_TRUE(warm) << warm.error().message();
  TemplateOptions options;
  options.timeout_s = 0.2;
  auto t = Template::Create(
      platform_, **warm, {}, {}, [](const std::string&) {}, options);
  ASSERT_FALSE(t) << "a template whose shell never comes was made";
  EXPECT_EQ(t.error().code(), ETIMEDOUT) << t.error().message();
  EXPECT_NE(t.error().message().find("--boot-timeout"), std::string::npos) << t.error().message();
}

}  // namespace
}  // namespace cat
