// Tests of GuestMemory::ReadString (loader/kernel/guest_memory.h) on a real ptrace shell:
// strings next to unmapped pages, and the length limit.
#include "loader/kernel/guest_memory.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <string>

#include "loader/platform/ptrace/ptrace_platform.h"

namespace cat {
namespace {

constexpr uint64_t kBase = 0x400000;  // three pages mapped; the page after them is not
constexpr uint64_t kEnd = kBase + 3 * 4096;

class GuestMemoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = ptrace_platform::PtraceShell::Create();
    ASSERT_TRUE(s) << s.error().message();
    shell_ = std::move(*s);
    ASSERT_TRUE(shell_->MapAnonymous(kBase, kEnd - kBase, PROT_READ | PROT_WRITE));
  }
  void Put(uint64_t addr, const std::string& bytes) {
    ASSERT_TRUE(shell_->Write(addr, bytes.data(), bytes.size()));
  }
  std::unique_ptr<ptrace_platform::PtraceShell> shell_;
};

TEST_F(GuestMemoryTest, ReadsAShortString) {
  Put(kBase + 100, std::string("hello") + '\0');
  GuestMemory mem(*shell_);
  auto s = mem.ReadString(kBase + 100);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(*s, "hello");
}

TEST_F(GuestMemoryTest, ReadsAnEmptyString) {
  Put(kBase, std::string(1, '\0'));
  GuestMemory mem(*shell_);
  auto s = mem.ReadString(kBase);
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, "");
}

TEST_F(GuestMemoryTest, StringEndingRightBeforeAnUnmappedPageReadsFine) {
  const std::string str = "/etc/passwd";
  Put(kEnd - str.size() - 1, str + '\0');
  GuestMemory mem(*shell_);
  auto s = mem.ReadString(kEnd - str.size() - 1);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(*s, str);
}

TEST_F(GuestMemoryTest, StringRunningIntoAnUnmappedPageIsEfault) {
  const std::string str = "no terminator";
  Put(kEnd - str.size(), str);
  GuestMemory mem(*shell_);
  auto s = mem.ReadString(kEnd - str.size());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), EFAULT);
}

TEST_F(GuestMemoryTest, StringSpanningTwoMappedPagesReadsFine) {
  const std::string str(300, 'p');
  Put(kBase + 4096 - 100, str + '\0');
  GuestMemory mem(*shell_);
  auto s = mem.ReadString(kBase + 4096 - 100);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(*s, str);
}

TEST_F(GuestMemoryTest, UnmappedAddressIsEfault) {
  GuestMemory mem(*shell_);
  auto s = mem.ReadString(kEnd + 16);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), EFAULT);
}

TEST_F(GuestMemoryTest, NullPointerIsEfault) {
  GuestMemory mem(*shell_);
  auto s = mem.ReadString(0);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), EFAULT);
}

TEST_F(GuestMemoryTest, TooLongIsEnametoolong) {
  Put(kBase, std::string(5000, 'a') + '\0');
  GuestMemory mem(*shell_);
  auto s = mem.ReadString(kBase, 4096);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ENAMETOOLONG);
}

TEST_F(GuestMemoryTest, UnterminatedBeyondTheLimitIsEnametoolongNotEfault) {
  Put(kBase, std::string(3 * 4096, 'a'));  // no NUL anywhere in the mapping
  GuestMemory mem(*shell_);
  auto s = mem.ReadString(kBase, 100);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ENAMETOOLONG);
}

TEST_F(GuestMemoryTest, StringOfExactlyTheLimitIsAccepted) {
  Put(kBase + 10, std::string(100, 'b') + '\0');
  GuestMemory mem(*shell_);
  auto s = mem.ReadString(kBase + 10, 100);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->size(), 100u);
}

TEST_F(GuestMemoryTest, StringOneOverTheLimitIsEnametoolong) {
  Put(kBase + 10, std::string(101, 'b') + '\0');
  GuestMemory mem(*shell_);
  auto s = mem.ReadString(kBase + 10, 100);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ENAMETOOLONG);
}

TEST_F(GuestMemoryTest, ReadObjectAndWriteObjectRoundTrip) {
  GuestMemory mem(*shell_);
  ASSERT_TRUE(mem.WriteObject<uint64_t>(kBase + 8, 0x1122334455667788ull));
  auto v = mem.ReadObject<uint64_t>(kBase + 8);
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, 0x1122334455667788ull);
}

// Paths: PATH_MAX (4096) counts the NUL, so Linux takes 4095 characters and refuses 4096.
TEST_F(GuestMemoryTest, DefaultLimitTakesA4095CharacterPath) {
  Put(kBase + 10, std::string(4095, 'p') + '\0');
  GuestMemory mem(*shell_);
  auto s = mem.ReadString(kBase + 10);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->size(), 4095u);
}

TEST_F(GuestMemoryTest, DefaultLimitRefusesA4096CharacterPath) {
  Put(kBase + 10, std::string(4096, 'p') + '\0');
  GuestMemory mem(*shell_);
  auto s = mem.ReadString(kBase + 10);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ENAMETOOLONG);
}

}  // namespace
}  // namespace cat
