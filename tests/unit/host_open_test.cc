// OpenHostBeneath (loader/kernel/host_open.h): the sandbox kernel's host opens never block and
// never open a device, FIFO or socket, whatever the path holds when it is opened; a regular
// file's fd is left blocking unless O_NONBLOCK was asked for.
#include "loader/kernel/host_open.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <string>

#include "loader/boot/call_deadline.h"
#include "tests/unit/test_support.h"

namespace cat {
namespace {

class HostOpenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    dirfd_.Reset(open(dir_.path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(dirfd_.valid());
  }
  // Opens NAME with FLAGS; a blocking open would hang the test: the guard turns that into an
  // EINTR failure after 20 s (no time is asserted).
  Result<UniqueFd> Open(const std::string& name, int flags) {
    CallDeadline guard(20);
    return OpenHostBeneath(dirfd_.get(), name, flags, 0644, "open /data/" + name);
  }
  std::string Path(const std::string& name) const { return dir_.path() + "/" + name; }
  testing::TempDir dir_;
  UniqueFd dirfd_;
};

TEST_F(HostOpenTest, AFifoIsRefusedWithoutBlocking) {
  ASSERT_EQ(mkfifo(Path("fifo").c_str(), 0644), 0);
  for (int flags : {O_RDONLY, O_WRONLY, O_RDWR}) {
    auto fd = Open("fifo", flags);
    ASSERT_FALSE(fd) << "a FIFO was opened (flags " << flags << ")";
    EXPECT_EQ(fd.error().code(), EACCES) << fd.error().message();
    EXPECT_NE(fd.error().message().find("FIFO"), std::string::npos) << fd.error().message();
  }
}

TEST_F(HostOpenTest, ASocketIsRefused) {
  const int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(s, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  const std::string p = Path("sock");
  ASSERT_LT(p.size(), sizeof(a.sun_path));
  std::memcpy(a.sun_path, p.c_str(), p.size() + 1);
  ASSERT_EQ(bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  auto fd = Open("sock", O_RDONLY);
  close(s);
  ASSERT_FALSE(fd);
  EXPECT_EQ(fd.error().code(), EACCES) << fd.error().message();
}

TEST_F(HostOpenTest, ADeviceIsRefused) {
  // A character device node (1:3, /dev/null's) needs CAP_MKNOD.
  if (mknod(Path("null").c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0)
    GTEST_SKIP() << "mknod: " << std::strerror(errno) << " (needs CAP_MKNOD)";
  auto fd = Open("null", O_RDONLY);
  ASSERT_FALSE(fd) << "a device node was opened";
  EXPECT_EQ(fd.error().code(), EACCES) << fd.error().message();
}

TEST_F(HostOpenTest, ARegularFileIsOpenedBlockingUnlessAskedOtherwise) {
  std::ofstream(Path("file")) << "bytes";
  auto fd = Open("file", O_RDONLY);
  ASSERT_TRUE(fd) << fd.error().message();
  EXPECT_EQ(fcntl(fd->get(), F_GETFL) & O_NONBLOCK, 0);
  EXPECT_NE(fcntl(fd->get(), F_GETFD) & FD_CLOEXEC, 0);
  auto nb = Open("file", O_RDONLY | O_NONBLOCK);
  ASSERT_TRUE(nb) << nb.error().message();
  EXPECT_NE(fcntl(nb->get(), F_GETFL) & O_NONBLOCK, 0);
}

TEST_F(HostOpenTest, ASymlinkOrAPathOutsideIsNotFollowed) {
  std::ofstream(Path("file")) << "bytes";
  ASSERT_EQ(symlink("file", Path("link").c_str()), 0);
  auto link = Open("link", O_RDONLY);
  ASSERT_FALSE(link);
  EXPECT_EQ(link.error().code(), ELOOP) << link.error().message();
  auto up = Open("../x", O_RDONLY);
  ASSERT_FALSE(up);
  EXPECT_EQ(up.error().code(), EXDEV) << up.error().message();
}

TEST_F(HostOpenTest, AnOPathOpenTakesTheFlagsOpenIgnores) {
  ASSERT_EQ(mkfifo(Path("fifo").c_str(), 0644), 0);
  // O_PATH reaches no driver and never blocks; open(2) ignores O_NONBLOCK with it.
  auto fd = Open("fifo", O_PATH | O_NONBLOCK);
  ASSERT_TRUE(fd) << fd.error().message();
}

}  // namespace
}  // namespace cat
