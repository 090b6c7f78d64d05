// Tests of --mount parsing (ParseMountSpec in format/base/mount_spec.h): HOST:GUEST[:ro|rw].
#include <gtest/gtest.h>

#include "loader/boot/sandbox.h"

namespace cat {
namespace {

TEST(ParseMountSpec, HostAndGuestDefaultToReadOnly) {
  auto m = ParseMountSpec("/srv/data:/data");
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->host, "/srv/data");
  EXPECT_EQ(m->guest, "/data");
  EXPECT_FALSE(m->read_write);
}

TEST(ParseMountSpec, ExplicitReadOnly) {
  auto m = ParseMountSpec("/srv/data:/data:ro");
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->host, "/srv/data");
  EXPECT_EQ(m->guest, "/data");
  EXPECT_FALSE(m->read_write);
}

TEST(ParseMountSpec, ReadWrite) {
  auto m = ParseMountSpec("/srv/out:/out:rw");
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->host, "/srv/out");
  EXPECT_EQ(m->guest, "/out");
  EXPECT_TRUE(m->read_write);
}

TEST(ParseMountSpec, HostPathMayContainColons) {
  auto m = ParseMountSpec("/srv/a:b:/data");
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->host, "/srv/a:b");
  EXPECT_EQ(m->guest, "/data");
}

TEST(ParseMountSpec, NestedGuestPath) {
  auto m = ParseMountSpec("/h:/a/b/c");
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->guest, "/a/b/c");
}

TEST(ParseMountSpec, RejectsMissingGuest) {
  auto m = ParseMountSpec("/srv/data");
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code(), EINVAL);
  EXPECT_NE(m.error().message().find("HOST:GUEST"), std::string::npos);
}

TEST(ParseMountSpec, RejectsEmptyGuest) {
  EXPECT_FALSE(ParseMountSpec("/srv/data:"));
}

TEST(ParseMountSpec, RejectsEmptyGuestBeforeMode) {
  EXPECT_FALSE(ParseMountSpec("/srv/data::rw"));
}

TEST(ParseMountSpec, RejectsEmptyHost) {
  EXPECT_FALSE(ParseMountSpec(":/data"));
}

TEST(ParseMountSpec, RejectsRelativeGuest) {
  auto m = ParseMountSpec("/srv/data:data");
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code(), EINVAL);
}

TEST(ParseMountSpec, RejectsRootGuest) {
  EXPECT_FALSE(ParseMountSpec("/srv/data:/"));
}

TEST(ParseMountSpec, RejectsDotDotGuest) {
  EXPECT_FALSE(ParseMountSpec("/srv/data:/a/../b"));
}

TEST(ParseMountSpec, RejectsTrailingDotDotGuest) {
  EXPECT_FALSE(ParseMountSpec("/srv/data:/a/.."));
}

TEST(ParseMountSpec, RejectsBareDotDotGuest) {
  EXPECT_FALSE(ParseMountSpec("/srv/data:/.."));
}

TEST(ParseMountSpec, RejectsDotGuest) {
  EXPECT_FALSE(ParseMountSpec("/srv/data:/a/./b"));
}

TEST(ParseMountSpec, RejectsDoubleSlashGuest) {
  EXPECT_FALSE(ParseMountSpec("/srv/data://data"));
}

TEST(ParseMountSpec, RejectsTrailingSlashGuest) {
  EXPECT_FALSE(ParseMountSpec("/srv/data:/data/"));
}

}  // namespace
}  // namespace cat
