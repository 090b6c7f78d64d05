// CallDeadline (loader/boot/call_deadline.h): a blocking call on the bounded thread ends with
// EINTR at the deadline, and nothing is interrupted once the bound is over.
#include "loader/boot/call_deadline.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

namespace cat {
namespace {

struct Pipe {
  int r = -1, w = -1;
  Pipe() {
    int fds[2];
    if (pipe(fds) == 0) r = fds[0], w = fds[1];
  }
  ~Pipe() {
    close(r);
    close(w);
  }
};

TEST(CallDeadline, InterruptsABlockedReadAtTheDeadline) {
  Pipe p;
  char c;
  CallDeadline deadline(0.05);
  const ssize_t n = read(p.r, &c, 1);  // no writer writes: blocks until interrupted
  EXPECT_EQ(n, -1);
  EXPECT_EQ(errno, EINTR);
  EXPECT_TRUE(deadline.fired());
}

TEST(CallDeadline, InterruptsNothingAfterItsEnd) {
  Pipe p;
  { CallDeadline deadline(0.02); }  // over before it fires
  {
    CallDeadline deadline(0.01);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // fired, nothing to interrupt
    EXPECT_TRUE(deadline.fired());
  }
  // Neither a late nor a pending signal reaches this read: it gets its byte.
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    (void)!write(p.w, "x", 1);
  });
  char c = 0;
  const ssize_t n = read(p.r, &c, 1);
  writer.join();
  EXPECT_EQ(n, 1);
  EXPECT_EQ(c, 'x');
}

}  // namespace
}  // namespace cat
