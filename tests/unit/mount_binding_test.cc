// Tests of BindMounts (loader/boot/mount_binding.h): the host directory of every mount of a
// snapshot comes from the operator (--rootfs, --mount, or --mounts-from-image for recorded
// read-only paths), the mode must match what was captured, and rw is only the operator's to
// grant. Each refusal is one line naming the mount.
#include "loader/boot/mount_binding.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "format/state/persistent.h"
#include "tests/unit/test_support.h"

namespace cat {
namespace {

using testing::TempDir;

class MountBindingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directory(dir_ / "root");
    std::filesystem::create_directory(dir_ / "data");
    std::filesystem::create_directory(dir_ / "out");
    s_ = state::New<state::SandboxState>();
  }
  void AddMount(const std::string& guest, state::MountAccess access) {
    state::Mount m{};
    m.guest_path.Assign(guest);
    m.access = access;
    m.host_dirfd = -1;
    s_->mounts.PushBack(m);
  }
  std::string ErrorOf(const MountChoice& choice, const RecordedMounts& recorded = {}) {
    auto dirs = BindMounts(*s_, choice, recorded);
    if (dirs) return "(bound)";
    EXPECT_EQ(dirs.error().message().find('\n'), std::string::npos) << "one line";
    return dirs.error().message();
  }
  static MountSpec Spec(const std::string& host, const std::string& guest, bool rw = false) {
    return MountSpec{host, guest, rw};
  }

  TempDir dir_;
  state::SandboxState* s_ = nullptr;  // the state heap is never freed in a test process
};

TEST_F(MountBindingTest, EmptyRootNeedsNoFlag) {
  AddMount("/", state::MountAccess::kNone);
  auto dirs = BindMounts(*s_, {}, {});
  ASSERT_TRUE(dirs) << dirs.error().message();
  EXPECT_EQ(*dirs, std::vector<std::string>{""});
}

TEST_F(MountBindingTest, RootfsForAnEmptyRootIsRefused) {
  AddMount("/", state::MountAccess::kNone);
  EXPECT_NE(ErrorOf({dir_ / "root", {}, false})
                .find("the function was captured with an empty root; drop --rootfs"),
            std::string::npos);
}

TEST_F(MountBindingTest, RootfsCapturedNeedsTheOperatorsRootfs) {
  AddMount("/", state::MountAccess::kReadOnly);
  const std::string e = ErrorOf({}, {"/srv/captured", {}});
  EXPECT_NE(e.find("captured with a rootfs (/srv/captured): pass --rootfs DIR"), std::string::npos)
      << e;
}

TEST_F(MountBindingTest, OperatorsRootfsIsUsedNotTheRecordedOne) {
  AddMount("/", state::MountAccess::kReadOnly);
  auto dirs = BindMounts(*s_, {dir_ / "root", {}, false}, {"/", {}});
  ASSERT_TRUE(dirs) << dirs.error().message();
  EXPECT_EQ((*dirs)[0], dir_ / "root");
}

TEST_F(MountBindingTest, MountsFromImageUsesTheRecordedRootfs) {
  AddMount("/", state::MountAccess::kReadOnly);
  auto dirs = BindMounts(*s_, {"", {}, true}, {dir_ / "root", {}});
  ASSERT_TRUE(dirs) << dirs.error().message();
  EXPECT_EQ((*dirs)[0], dir_ / "root");
}

TEST_F(MountBindingTest, UnboundMountIsRefusedWithTheFix) {
  AddMount("/", state::MountAccess::kNone);
  AddMount("/data", state::MountAccess::kReadOnly);
  const std::string e = ErrorOf({}, {"", {"/srv/data:/data:ro"}});
  EXPECT_NE(e.find("the function expects a host directory at /data (captured from /srv/data): "
                   "pass --mount HOST:/data:ro, or --mounts-from-image"),
            std::string::npos)
      << e;
}

TEST_F(MountBindingTest, OperatorsMountBindsIt) {
  AddMount("/", state::MountAccess::kNone);
  AddMount("/data", state::MountAccess::kReadOnly);
  auto dirs = BindMounts(*s_, {"", {Spec(dir_ / "data", "/data")}, false}, {"", {"/:/data:ro"}});
  ASSERT_TRUE(dirs) << dirs.error().message();
  EXPECT_EQ((*dirs)[1], dir_ / "data");
}

TEST_F(MountBindingTest, ReadWriteWhereCapturedReadOnlyIsRefused) {
  AddMount("/", state::MountAccess::kNone);
  AddMount("/data", state::MountAccess::kReadOnly);
  const std::string e = ErrorOf({"", {Spec(dir_ / "data", "/data", true)}, false});
  EXPECT_NE(e.find("the function was captured with /data ro; pass :ro"), std::string::npos) << e;
}

TEST_F(MountBindingTest, ReadOnlyWhereCapturedReadWriteIsRefused) {
  AddMount("/", state::MountAccess::kNone);
  AddMount("/out", state::MountAccess::kReadWrite);
  const std::string e = ErrorOf({"", {Spec(dir_ / "out", "/out")}, false});
  EXPECT_NE(e.find("the function was captured with /out rw; pass :rw"), std::string::npos) << e;
}

TEST_F(MountBindingTest, ReadWriteIsGrantedByTheOperatorsMount) {
  AddMount("/", state::MountAccess::kNone);
  AddMount("/out", state::MountAccess::kReadWrite);
  auto dirs = BindMounts(*s_, {"", {Spec(dir_ / "out", "/out", true)}, false}, {});
  ASSERT_TRUE(dirs) << dirs.error().message();
  EXPECT_EQ((*dirs)[1], dir_ / "out");
}

TEST_F(MountBindingTest, MountsFromImageNeverGrantsReadWrite) {
  AddMount("/", state::MountAccess::kNone);
  AddMount("/out", state::MountAccess::kReadWrite);
  const std::string e = ErrorOf({"", {}, true}, {"", {dir_ / "out" + ":/out:rw"}});
  EXPECT_NE(e.find("only --mount HOST:/out:rw grants that, --mounts-from-image does not"),
            std::string::npos)
      << e;
}

TEST_F(MountBindingTest, MountsFromImageUsesARecordedReadOnlyMount) {
  AddMount("/", state::MountAccess::kNone);
  AddMount("/data", state::MountAccess::kReadOnly);
  auto dirs = BindMounts(*s_, {"", {}, true}, {"", {dir_ / "data" + ":/data:ro"}});
  ASSERT_TRUE(dirs) << dirs.error().message();
  EXPECT_EQ((*dirs)[1], dir_ / "data");
}

TEST_F(MountBindingTest, MetadataSayingReadWriteForAReadOnlyMountIsRefused) {
  AddMount("/", state::MountAccess::kNone);
  AddMount("/data", state::MountAccess::kReadOnly);
  const std::string e = ErrorOf({"", {}, true}, {"", {"/:/data:rw"}});
  EXPECT_NE(e.find("metadata and state disagree on the mode of /data"), std::string::npos) << e;
}

TEST_F(MountBindingTest, MountTheSnapshotDoesNotHaveIsRefused) {
  AddMount("/", state::MountAccess::kNone);
  const std::string e = ErrorOf({"", {Spec(dir_ / "data", "/elsewhere")}, false});
  EXPECT_NE(e.find(":/elsewhere:ro: the function has no mount at /elsewhere"), std::string::npos)
      << e;
}

TEST_F(MountBindingTest, SameGuestPathTwiceIsRefused) {
  AddMount("/", state::MountAccess::kNone);
  AddMount("/data", state::MountAccess::kReadOnly);
  const std::string e =
      ErrorOf({"", {Spec(dir_ / "data", "/data"), Spec(dir_ / "out", "/data")}, false});
  EXPECT_NE(e.find("--mount /data given twice"), std::string::npos) << e;
}

TEST_F(MountBindingTest, UnknownAccessInTheStateIsRefused) {
  AddMount("/", state::MountAccess::kNone);
  AddMount("/data", static_cast<state::MountAccess>(7));
  const std::string e = ErrorOf({"", {Spec(dir_ / "data", "/data")}, false});
  EXPECT_NE(e.find("mount /data: unknown access 7"), std::string::npos) << e;
}

TEST_F(MountBindingTest, ReadWriteRootIsRefused) {
  AddMount("/", state::MountAccess::kReadWrite);
  const std::string e = ErrorOf({dir_ / "root", {}, false});
  EXPECT_NE(e.find("the snapshot's / is read-write (a rootfs never is)"), std::string::npos) << e;
}

TEST_F(MountBindingTest, MissingHostDirectoryIsNamed) {
  AddMount("/", state::MountAccess::kNone);
  AddMount("/data", state::MountAccess::kReadOnly);
  const std::string e = ErrorOf({"", {Spec(dir_ / "nope", "/data")}, false});
  EXPECT_NE(e.find("mount /data: host directory " + dir_ / "nope"), std::string::npos) << e;
}

}  // namespace
}  // namespace cat
