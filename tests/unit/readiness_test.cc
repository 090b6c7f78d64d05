// Tests of readiness and the in-sandbox IPC objects (loader/kernel/readiness.h, guest_wait.h,
// unix_socket.h) on a real sandbox's file layer: what each kind of open file answers to
// poll, how a blocked guest waits, what capture shows as fd 0 (live files across a snapshot:
// live_state_test.cc). The syscalls themselves are exercised by e2e.poll_io.
#include "loader/kernel/readiness.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "format/base/host_clock.h"
#include "format/state/state_invariants.h"
#include "loader/boot/sandbox.h"
#include "loader/kernel/guest_wait.h"
#include "loader/kernel/live_file.h"
#include "loader/kernel/unix_socket.h"
#include "loader/kernel/wait_queue.h"
#include "loader/platform/ptrace/ptrace_platform.h"
#include "tests/unit/test_support.h"

namespace cat {
namespace {

class ReadinessTest : public ::testing::Test {
 protected:
  Files& files() {
    if (!sandbox_) {
      SandboxOptions opts;
      opts.rootfs = dir_.path();
      auto sb = Sandbox::Create(platform_, opts, [](const std::string&) {});
      if (!sb) {
        ADD_FAILURE() << sb.error().message();
        std::abort();
      }
      sandbox_ = std::move(*sb);
    }
    return sandbox_->kernel().files;
  }
  // Both ends of an in-sandbox pipe, as pipe2 makes them.
  std::pair<state::OpenFile*, state::OpenFile*> Pipe() {
    auto* p = state::New<state::Pipe>();
    p->readers = p->writers = 1;
    state::OpenFile* r = files().NewFile(state::FileKind::kPipe, O_RDONLY);
    state::OpenFile* w = files().NewFile(state::FileKind::kPipe, O_WRONLY);
    r->pipe = w->pipe = p;
    return {r, w};
  }
  state::OpenFile* Socket(std::unique_ptr<UnixSocket> s) {
    return files().NewLiveFile(std::move(s), O_RDWR | O_NONBLOCK);
  }

  testing::TempDir dir_;
  ptrace_platform::PtracePlatform platform_;
  std::unique_ptr<Sandbox> sandbox_;
};

TEST_F(ReadinessTest, AnEmptyPipeIsWritableNotReadable) {
  auto [r, w] = Pipe();
  EXPECT_EQ(FileReadiness(files(), *r, nullptr) & (POLLIN | POLLHUP), 0);
  EXPECT_TRUE(FileReadiness(files(), *w, nullptr) & POLLOUT);
  files().Unref(r);
  files().Unref(w);
}

TEST_F(ReadinessTest, APipeWithDataIsReadable) {
  auto [r, w] = Pipe();
  ASSERT_TRUE(files().Write(*w, "x", 1, std::nullopt));
  EXPECT_TRUE(FileReadiness(files(), *r, nullptr) & POLLIN);
  files().Unref(r);
  files().Unref(w);
}

TEST_F(ReadinessTest, APipeWhoseWriterIsGoneHangsUp) {
  auto [r, w] = Pipe();
  files().Unref(w);
  EXPECT_TRUE(FileReadiness(files(), *r, nullptr) & POLLHUP);
  files().Unref(r);
}

TEST_F(ReadinessTest, APipeWhoseReaderIsGoneIsAnErrorToTheWriter) {
  auto [r, w] = Pipe();
  files().Unref(r);
  EXPECT_TRUE(FileReadiness(files(), *w, nullptr) & POLLERR);
  files().Unref(w);
}

TEST_F(ReadinessTest, AStdioChannelIsAskedOfItsHostFdAndWatchedWhileWaiting) {
  state::OpenFile* in = files().NewFile(state::FileKind::kStdio, O_RDONLY);
  in->channel = state::StdioChannel::kRequest;
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  const int saved = dup(0);
  dup2(p[0], 0);
  WaitSpec wait;
  const short before = FileReadiness(files(), *in, &wait);
  ASSERT_EQ(write(p[1], "x", 1), 1);
  const short after = FileReadiness(files(), *in, nullptr);
  dup2(saved, 0);
  close(saved);
  close(p[0]);
  close(p[1]);
  EXPECT_EQ(before & POLLIN, 0);
  ASSERT_EQ(wait.host.size(), 1u);
  EXPECT_EQ(wait.host[0].fd, 0);
  EXPECT_TRUE(after & POLLIN);
  files().Unref(in);
}

TEST_F(ReadinessTest, AtCaptureTheRequestChannelLooksLikeAnEmptyPipe) {
  state::OpenFile* in = files().NewFile(state::FileKind::kStdio, O_RDONLY);
  in->channel = state::StdioChannel::kRequest;
  files().set_request_as_pipe(true);
  auto st = files().Stat(*in);  // catload's own stdin may be anything here (/dev/null)
  auto seek = files().Seek(*in, 0, SEEK_CUR);
  const short ready = FileReadiness(files(), *in, nullptr);
  files().set_request_as_pipe(false);
  ASSERT_TRUE(st);
  EXPECT_TRUE(S_ISFIFO(st->st_mode));
  ASSERT_FALSE(seek);
  EXPECT_EQ(seek.error().code(), ESPIPE);
  EXPECT_EQ(ready, 0);
  files().Unref(in);
}

TEST_F(ReadinessTest, AStreamSocketPairCarriesBytesBothWays) {
  auto [a, b] = UnixSocket::Pair(SOCK_STREAM, files().budget());
  state::OpenFile* fa = Socket(std::move(a));
  state::OpenFile* fb = Socket(std::move(b));
  EXPECT_EQ(FileReadiness(files(), *fb, nullptr) & POLLIN, 0);
  ASSERT_TRUE(files().Write(*fa, "ping", 4, std::nullopt));
  EXPECT_TRUE(FileReadiness(files(), *fb, nullptr) & POLLIN);
  char buf[8] = {};
  auto n = files().Read(*fb, buf, sizeof buf, std::nullopt);
  ASSERT_TRUE(n);
  EXPECT_EQ(std::string(buf, *n), "ping");
  files().Unref(fa);
  files().Unref(fb);
}

TEST_F(ReadinessTest, ClosingOneEndOfASocketPairIsEndOfFileAndEpipeToThePeer) {
  auto [a, b] = UnixSocket::Pair(SOCK_STREAM, files().budget());
  state::OpenFile* fa = Socket(std::move(a));
  state::OpenFile* fb = Socket(std::move(b));
  files().Unref(fa);
  EXPECT_TRUE(FileReadiness(files(), *fb, nullptr) & POLLHUP);
  char c;
  auto n = files().Read(*fb, &c, 1, std::nullopt);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0u);
  auto w = files().Write(*fb, "x", 1, std::nullopt);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code(), EPIPE);
  files().Unref(fb);
}

TEST_F(ReadinessTest, SocketBuffersAreChargedToTheMemoryBudgetAndReleased) {
  const uint64_t before = files().budget().used();
  auto [a, b] = UnixSocket::Pair(SOCK_STREAM, files().budget());
  state::OpenFile* fa = Socket(std::move(a));
  state::OpenFile* fb = Socket(std::move(b));
  std::string data(1000, 'x');
  ASSERT_TRUE(files().Write(*fa, data.data(), data.size(), std::nullopt));
  EXPECT_EQ(files().budget().used(), before + data.size());
  files().Unref(fa);
  files().Unref(fb);  // unread bytes go with the connection
  EXPECT_EQ(files().budget().used(), before);
}

TEST_F(ReadinessTest, AStreamSocketBufferIsBounded) {
  auto [a, b] = UnixSocket::Pair(SOCK_STREAM, files().budget());
  state::OpenFile* fa = Socket(std::move(a));
  state::OpenFile* fb = Socket(std::move(b));
  std::string data(kUnixSocketBuffer + 100, 'x');
  auto n = files().Write(*fa, data.data(), data.size(), std::nullopt);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, kUnixSocketBuffer);
  auto again = files().Write(*fa, "x", 1, std::nullopt);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), EAGAIN);
  EXPECT_EQ(FileReadiness(files(), *fa, nullptr) & POLLOUT, 0);
  files().Unref(fa);
  files().Unref(fb);
}

TEST_F(ReadinessTest, ASocketWriteThatDoesNotFitTheMemoryBudgetIsRefused) {
  auto [a, b] = UnixSocket::Pair(SOCK_DGRAM, files().budget());
  state::OpenFile* fa = Socket(std::move(a));
  state::OpenFile* fb = Socket(std::move(b));
  // Leave 10 bytes of budget.
  MemoryBudget& budget = files().budget();
  const uint64_t fill = budget.available() - 10;
  budget.Charge(fill);
  auto n = files().Write(*fa, "more than ten bytes", 19, std::nullopt);
  budget.Uncharge(fill);
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error().code(), ENOBUFS);
  files().Unref(fa);
  files().Unref(fb);
}

TEST(GuestWait, AWaitEndsAtItsTime) {
  Wakeup wakeup;
  Deadline none;
  WaitSpec wait;
  wait.WakeAt(MonotonicNowNs() + 1000000);
  WaitEnd end = WaitEnd::kWoken;
  for (int i = 0; i < 100 && end == WaitEnd::kWoken; ++i) end = BlockGuest(wait, none, wakeup);
  EXPECT_EQ(end, WaitEnd::kTimedOut);
}

TEST(GuestWait, TheRunDeadlineEndsAWaitWithoutLimit) {
  Wakeup wakeup;
  Deadline deadline;
  deadline.Set(MonotonicNowNs() + 1000000);
  WaitSpec wait;  // nothing to wait for, no time limit: only the deadline ends it
  WaitEnd end = WaitEnd::kWoken;
  for (int i = 0; i < 100 && end == WaitEnd::kWoken; ++i) end = BlockGuest(wait, deadline, wakeup);
  EXPECT_EQ(end, WaitEnd::kDeadline);
}

TEST(GuestWait, AReadyHostFdWakesTheWait) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  ASSERT_EQ(write(p[1], "x", 1), 1);
  Wakeup wakeup;
  Deadline none;
  WaitSpec wait;
  wait.WatchHostFd(p[0], POLLIN);
  EXPECT_EQ(BlockGuest(wait, none, wakeup), WaitEnd::kWoken);
  close(p[0]);
  close(p[1]);
}

// Another host thread (a timer, the watchdog) ends a wait that has neither fds nor a limit:
// the wait is on the kernel's Wakeup, not a bare poll of the tracer thread.
TEST(GuestWait, AWakeFromAnotherThreadEndsTheWait) {
  Wakeup wakeup;
  Deadline deadline;
  deadline.Set(MonotonicNowNs() + 5'000'000'000);  // bounds the test if Wake() is not heard
  wakeup.Wake();
  WaitSpec wait;
  EXPECT_EQ(BlockGuest(wait, deadline, wakeup), WaitEnd::kWoken);
}

}  // namespace
}  // namespace cat
