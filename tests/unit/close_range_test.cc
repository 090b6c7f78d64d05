// close_range (sys_file_io.cc): closes or marks close-on-exec a range of fds; bad ranges and
// flags are EINVAL.
#include <fcntl.h>
#include <sys/syscall.h>

#include "tests/unit/kernel_fixture.h"

namespace cat::testing {
namespace {

class CloseRangeTest : public KernelFixture {
 protected:
  int64_t NewFd() { return Syscall(SYS_eventfd2, 0, 0); }
};

TEST_F(CloseRangeTest, ClosesEveryOpenFdInTheRangeOnly) {
  const int64_t a = NewFd(), b = NewFd(), c = NewFd();
  ASSERT_GE(a, 0);
  ASSERT_EQ(b, a + 1);
  ASSERT_EQ(c, a + 2);
  EXPECT_EQ(Syscall(SYS_close_range, a, b, 0), 0);
  EXPECT_EQ(Syscall(SYS_fcntl, a, F_GETFD), -EBADF);
  EXPECT_EQ(Syscall(SYS_fcntl, b, F_GETFD), -EBADF);
  EXPECT_EQ(Syscall(SYS_fcntl, c, F_GETFD), 0);
  EXPECT_EQ(Syscall(SYS_close_range, c, ~0u, 0), 0);  // to the end, as closefrom
  EXPECT_EQ(Syscall(SYS_fcntl, c, F_GETFD), -EBADF);
}

TEST_F(CloseRangeTest, CloexecMarksInsteadOfClosing) {
  const int64_t a = NewFd();
  ASSERT_GE(a, 0);
  EXPECT_EQ(Syscall(SYS_close_range, a, ~0u, 4 /* CLOSE_RANGE_CLOEXEC */), 0);
  EXPECT_EQ(Syscall(SYS_fcntl, a, F_GETFD), FD_CLOEXEC);
}

TEST_F(CloseRangeTest, BadRangeOrFlagsAreEinval) {
  EXPECT_EQ(Syscall(SYS_close_range, 5, 4, 0), -EINVAL);
  EXPECT_EQ(Syscall(SYS_close_range, 0, ~0u, 2 /* CLOSE_RANGE_UNSHARE */), -EINVAL);
}

}  // namespace
}  // namespace cat::testing
