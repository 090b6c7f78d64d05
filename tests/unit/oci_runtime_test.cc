// catload-oci's pure parts: config.json into the sandbox's options, confined rootfs paths, the
// snapshot cache key (spec/oci.md, "Runtime").
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "loader/oci/bundle_config.h"
#include "loader/oci/rootfs_path.h"
#include "loader/oci/snapshot_cache.h"

namespace cat::oci {
namespace {

constexpr const char* kMinimal =
    R"({"root":{"path":"rootfs"},"process":{"args":["/bin/x"],"cwd":"/"}})";

TEST(OciBundleConfig, RefusesHooks) {
  auto c = ParseBundleConfig(
      "/b",
      R"({"root":{"path":"rootfs"},"process":{"args":["/x"]},"hooks":{"prestart":[{"path":"/h"}]}})");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("hooks are not supported"), std::string::npos);
}

TEST(OciBundleConfig, RefusesATerminal) {
  auto c = ParseBundleConfig(
      "/b", R"({"root":{"path":"rootfs"},"process":{"terminal":true,"args":["/x"]}})");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("terminal"), std::string::npos);
}

TEST(OciBundleConfig, MemoryLimitAndRootfsAndIgnoredNamespaces) {
  auto c = ParseBundleConfig("/b", R"({"root":{"path":"rootfs"},"process":{"args":["/x"]},
      "linux":{"namespaces":[{"type":"pid"}],"resources":{"memory":{"limit":134217728}}}})");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->rootfs, "/b/rootfs");
  EXPECT_EQ(c->memory_limit, 134217728u);
  ASSERT_EQ(c->ignored.size(), 1u);
  EXPECT_NE(c->ignored[0].find("linux.namespaces ignored"), std::string::npos);
}

TEST(OciBundleConfig, WrongFieldTypeIsAnErrorNotAnException) {
  auto c = ParseBundleConfig("/b", R"({"root":{"path":"rootfs"},"process":{"args":[1]}})");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("wrong type"), std::string::npos);
}

TEST(OciBundleConfig, TimeoutThatWouldOverflowTheDeadlineIsRefused) {
  for (const char* bad : {"nan", "inf", "1e300", "-1", "2s"}) {
    auto c =
        ParseBundleConfig("/b", std::string(R"({"root":{"path":"rootfs"},"process":{"args":["/x"]},
        "annotations":{"dev.catalyzer.timeout":")") +
                                    bad + R"("}})");
    EXPECT_FALSE(c) << bad;
  }
  auto ok = ParseBundleConfig("/b", R"({"root":{"path":"rootfs"},"process":{"args":["/x"]},
      "annotations":{"dev.catalyzer.timeout":"2.5"}})");
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(ok->timeout_s, 2.5);
}

TEST(OciRootfsPath, AbsoluteSymlinkStaysInsideTheRootfs) {
  char tmpl[] = "/tmp/oci-rootfs-test.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string root = tmpl;
  ASSERT_EQ(mkdir((root + "/etc").c_str(), 0755), 0);
  ASSERT_EQ(symlink("/etc", (root + "/up").c_str()), 0);
  ASSERT_EQ(symlink("../../../../etc", (root + "/dots").c_str()), 0);
  auto a = ResolveInRootfs(root, "/up");
  auto b = ResolveInRootfs(root, "/dots");
  ASSERT_TRUE(a) << a.error().message();
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(*a, root + "/etc");  // not the host's /etc
  EXPECT_EQ(*b, root + "/etc");
  unlink((root + "/up").c_str());
  unlink((root + "/dots").c_str());
  rmdir((root + "/etc").c_str());
  rmdir(root.c_str());
}

TEST(OciSnapshotKey, EnvIsPartOfTheKey) {
  auto a = ParseBundleConfig("/b", kMinimal);
  ASSERT_TRUE(a);
  BundleConfig b = *a;
  b.env.push_back("EXTRA=1");
  EXPECT_EQ(SnapshotKey(*a, "d"), SnapshotKey(*a, "d"));
  EXPECT_NE(SnapshotKey(*a, "d"), SnapshotKey(b, "d"));
  EXPECT_NE(SnapshotKey(*a, "d"), SnapshotKey(*a, "e"));
}

}  // namespace
}  // namespace cat::oci
