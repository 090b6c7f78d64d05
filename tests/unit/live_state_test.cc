// Tests of eventfds, timerfds and epoll instances across a snapshot (format/state/file_table.h
// LiveState, loader/kernel/live_file.h): what the state verifier refuses in a restored
// LiveState, and what capture writes (Persist) and boot rebuilds (Restore*) on a real sandbox's
// file layer. The whole path through the binaries is e2e.live_fds.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/epoll.h>
#include <time.h>

#include <cstring>

#include "format/state/state_invariants.h"
#include "format/state/state_limits.h"
#include "loader/boot/sandbox.h"
#include "loader/kernel/live_file.h"
#include "loader/kernel/readiness.h"
#include "loader/platform/ptrace/ptrace_platform.h"
#include "tests/unit/test_support.h"

namespace cat {
namespace {

state::OpenFile LiveFile(state::LiveKind kind) {
  state::OpenFile f{};
  f.refs = 1;
  f.kind = state::FileKind::kLive;
  f.status_flags = O_RDWR;
  f.live.kind = kind;
  return f;
}

TEST(LiveStateInvariants, ALiveFileWithoutAPersistedObjectIsRefused) {
  auto ok = state::CheckOpenFile(LiveFile(state::LiveKind::kNone), 1);
  ASSERT_FALSE(ok);
  EXPECT_NE(ok.error().message().find("live-only"), std::string::npos) << ok.error().message();
}

TEST(LiveStateInvariants, AnEventFdAtItsLimitIsAcceptedPastItRefused) {
  state::OpenFile f = LiveFile(state::LiveKind::kEventFd);
  f.live.count = state::kMaxEventFdCount;
  EXPECT_TRUE(state::CheckOpenFile(f, 1));
  f.live.count = ~uint64_t{0};
  EXPECT_FALSE(state::CheckOpenFile(f, 1));
}

TEST(LiveStateInvariants, ATimerFdOnAClockItCannotReadIsRefused) {
  state::OpenFile f = LiveFile(state::LiveKind::kTimerFd);
  f.live.flags = CLOCK_MONOTONIC;
  EXPECT_TRUE(state::CheckOpenFile(f, 1));
  f.live.flags = CLOCK_PROCESS_CPUTIME_ID;
  EXPECT_FALSE(state::CheckOpenFile(f, 1));
}

TEST(LiveStateInvariants, ATimerFdWithTimesThatCouldOverflowIsRefused) {
  state::OpenFile f = LiveFile(state::LiveKind::kTimerFd);
  f.live.flags = CLOCK_REALTIME;
  f.live.next_ns = 1;
  f.live.interval_ns = state::kMaxTimerIntervalNs + 1;
  EXPECT_FALSE(state::CheckOpenFile(f, 1));
  f.live.interval_ns = 0;
  f.live.next_ns = -5;
  EXPECT_FALSE(state::CheckOpenFile(f, 1));
}

TEST(LiveStateInvariants, AFileThatIsNotLiveCarriesNoLiveObject) {
  state::OpenFile f = LiveFile(state::LiveKind::kEventFd);
  f.kind = state::FileKind::kStdio;
  auto ok = state::CheckOpenFile(f, 1);
  ASSERT_FALSE(ok);
  EXPECT_NE(ok.error().message().find("live object"), std::string::npos) << ok.error().message();
}

TEST(LiveStateInvariants, AnEpollItemOutsideTheFdRangeOrWithUnknownEventsIsRefused) {
  state::EpollItem item{3, EPOLLIN | EPOLLET, 42, 0, 0};
  EXPECT_TRUE(state::CheckEpollItem(item));
  item.fd = -1;
  EXPECT_FALSE(state::CheckEpollItem(item));
  item.fd = static_cast<int32_t>(state::kMaxFds);
  EXPECT_FALSE(state::CheckEpollItem(item));
  item.fd = 3;
  item.events = 1u << 20;
  EXPECT_FALSE(state::CheckEpollItem(item));
  item.events = EPOLLIN;
  item.disarmed = 2;
  EXPECT_FALSE(state::CheckEpollItem(item));
}

class LiveSnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SandboxOptions opts;
    opts.rootfs = dir_.path();
    auto sb = Sandbox::Create(platform_, opts, [](const std::string&) {});
    ASSERT_TRUE(sb) << sb.error().message();
    sandbox_ = std::move(*sb);
  }
  Files& files() { return sandbox_->kernel().files; }
  state::SandboxState& s() { return sandbox_->state(); }
  // The read end of an in-sandbox pipe holding one byte, installed at an fd; the write end is
  // installed too (the pipe is not hung up).
  int PipeWithData() {
    auto* p = state::New<state::Pipe>();
    p->readers = p->writers = 1;
    state::OpenFile* r = files().NewFile(state::FileKind::kPipe, O_RDONLY);
    state::OpenFile* w = files().NewFile(state::FileKind::kPipe, O_WRONLY);
    r->pipe = w->pipe = p;
    EXPECT_TRUE(files().Write(*w, "x", 1, std::nullopt));
    EXPECT_TRUE(files().Install(w, 0, false));
    auto fd = files().Install(r, 0, false);
    EXPECT_TRUE(fd);
    return *fd;
  }
  int InstallLive(std::unique_ptr<cat::LiveFile> live) {
    auto fd = files().Install(files().NewLiveFile(std::move(live), O_RDWR), 0, false);
    EXPECT_TRUE(fd);
    return *fd;
  }
  state::OpenFile& At(int fd) { return **files().Get(fd); }

  testing::TempDir dir_;
  ptrace_platform::PtracePlatform platform_;
  std::unique_ptr<Sandbox> sandbox_;
};

TEST_F(LiveSnapshotTest, AnEventFdIsWrittenWithItsCountAndMode) {
  state::LiveState l{};
  l.kind = state::LiveKind::kEventFd;
  l.flags = 1;
  l.count = 9;
  const int fd = InstallLive(RestoreEventFd(l));
  char buf[8];
  ASSERT_TRUE(files().Read(At(fd), buf, 8, std::nullopt));  // semaphore: takes 1
  ASSERT_TRUE(files().PersistLiveFiles());
  EXPECT_EQ(At(fd).live.kind, state::LiveKind::kEventFd);
  EXPECT_EQ(At(fd).live.flags, 1u);
  EXPECT_EQ(At(fd).live.count, 8u);
}

TEST_F(LiveSnapshotTest, AnExpiredUnreadTimerIsStillDueAfterTheRoundTrip) {
  state::LiveState l{};
  l.kind = state::LiveKind::kTimerFd;
  l.flags = CLOCK_MONOTONIC;
  l.next_ns = 1;  // long past
  const int fd = InstallLive(RestoreTimerFd(l, s().clocks));
  ASSERT_TRUE(files().PersistLiveFiles());
  const int again = InstallLive(RestoreTimerFd(At(fd).live, s().clocks));
  uint64_t ticks = 0;
  ASSERT_TRUE(files().Read(At(again), reinterpret_cast<char*>(&ticks), 8, std::nullopt));
  EXPECT_EQ(ticks, 1u);
}

TEST_F(LiveSnapshotTest, AnEpollInstanceKeepsItsItemsAndTheirEdgeAndOneShotState) {
  const int rfd = PipeWithData();
  state::LiveState l{};
  l.kind = state::LiveKind::kEpoll;
  l.items.PushBack({rfd, EPOLLIN | EPOLLONESHOT, 77, 0, 1});  // disarmed: reports nothing
  auto e = RestoreEpoll(l, files(), s());
  l.items.Release();
  ASSERT_TRUE(e) << e.error().message();
  const int efd = InstallLive(std::move(*e));
  EXPECT_EQ(FileReadiness(files(), At(efd), nullptr) & POLLIN, 0);
  ASSERT_TRUE(files().PersistLiveFiles());
  const state::LiveState& out = At(efd).live;
  ASSERT_EQ(out.items.size, 1u);
  EXPECT_EQ(out.items[0].fd, rfd);
  EXPECT_EQ(out.items[0].data, 77u);
  EXPECT_EQ(out.items[0].events, uint32_t{EPOLLIN | EPOLLONESHOT});
  EXPECT_EQ(out.items[0].disarmed, 1u);
}

TEST_F(LiveSnapshotTest, AnEpollItemWhoseFdWasClosedIsNotCaptured) {
  const int rfd = PipeWithData();
  state::LiveState l{};
  l.kind = state::LiveKind::kEpoll;
  l.items.PushBack({rfd, EPOLLIN, 1, 0, 0});
  auto e = RestoreEpoll(l, files(), s());
  l.items.Release();
  ASSERT_TRUE(e);
  InstallLive(std::move(*e));
  // A dup keeps the file alive (the item stays, as in Linux) but it is no longer at its fd.
  state::OpenFile* file = &At(rfd);
  Files::Ref(file);
  ASSERT_TRUE(files().Install(file, 0, false));
  ASSERT_TRUE(files().Close(rfd));
  auto ok = files().PersistLiveFiles();
  ASSERT_FALSE(ok);
  EXPECT_NE(ok.error().message().find("closed or reused"), std::string::npos)
      << ok.error().message();
}

TEST_F(LiveSnapshotTest, ARestoredEpollItemMustNameAnOpenPollableFileThatIsNoEpoll) {
  state::LiveState l{};
  l.kind = state::LiveKind::kEpoll;
  l.items.PushBack({50, EPOLLIN, 1, 0, 0});  // no file at fd 50
  auto closed = RestoreEpoll(l, files(), s());
  ASSERT_FALSE(closed);
  EXPECT_EQ(closed.error().code(), EBADMSG);
  state::LiveState inner{};
  inner.kind = state::LiveKind::kEpoll;
  auto e = RestoreEpoll(inner, files(), s());
  ASSERT_TRUE(e);
  const int efd = InstallLive(std::move(*e));
  At(efd).live.kind = state::LiveKind::kEpoll;  // as a restored state would say
  l.items[0].fd = efd;
  auto nested = RestoreEpoll(l, files(), s());
  l.items.Release();
  ASSERT_FALSE(nested);
  EXPECT_EQ(nested.error().code(), EBADMSG);
}

}  // namespace
}  // namespace cat
