// kvmcore's ForkBase (fork boot's shared base, spec/kvm.md): what a template's memory freezes
// into. Needs no KVM: it is host memory and a memfd.
#include "kvmcore/fork_base.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <vector>

namespace cat::kvm {
namespace {

constexpr uint64_t kPage = 4096;

struct Anon {
  explicit Anon(uint64_t len) : len(len) {
    p = static_cast<uint8_t*>(
        mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  }
  ~Anon() { munmap(p, len); }
  uint8_t* p;
  uint64_t len;
};

TEST(ForkBaseTest, HoldsTheRangesAtTheirOffsetsAndCopiesOnlyWrittenPages) {
  Anon a(16 * kPage);
  ASSERT_NE(a.p, MAP_FAILED);
  a.p[0] = 1;                           // page 0 written
  a.p[5 * kPage + 7] = 2;               // page 5 written
  volatile uint8_t r = a.p[9 * kPage];  // page 9 read only: the zero page, not copied
  (void)r;
  auto base = ForkBase::Freeze({{a.p, 4 * kPage, 16 * kPage, false}}, 24 * kPage);
  ASSERT_TRUE(base) << base.error().message();
  EXPECT_EQ((*base)->size(), 24 * kPage);
  EXPECT_EQ((*base)->copied(), 2 * kPage);
  uint8_t got = 0;
  ASSERT_EQ(pread((*base)->fd(), &got, 1, 4 * kPage), 1);
  EXPECT_EQ(got, 1);
  ASSERT_EQ(pread((*base)->fd(), &got, 1, 9 * kPage + 7), 1);
  EXPECT_EQ(got, 2);
}

TEST(ForkBaseTest, IsSealedAgainstWritesButMapsPrivatelyWritable) {
  Anon a(kPage);
  a.p[0] = 3;
  auto base = ForkBase::Freeze({{a.p, 0, kPage, false}}, kPage);
  ASSERT_TRUE(base) << base.error().message();
  const uint8_t v = 9;
  EXPECT_EQ(pwrite((*base)->fd(), &v, 1, 0), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_SHARED, (*base)->fd(), 0), MAP_FAILED);
  auto* priv = static_cast<uint8_t*>(
      mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE, (*base)->fd(), 0));
  ASSERT_NE(priv, MAP_FAILED);
  EXPECT_EQ(priv[0], 3);
  priv[0] = 4;  // copy on write
  uint8_t got = 0;
  ASSERT_EQ(pread((*base)->fd(), &got, 1, 0), 1);
  EXPECT_EQ(got, 3);
  munmap(priv, kPage);
}

TEST(ForkBaseTest, AFilePagePastItsEndStaysZeroInsteadOfKillingCatload) {
  char path[] = "/tmp/fork_base_test_XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  unlink(path);
  const uint8_t v = 5;
  ASSERT_EQ(pwrite(fd, &v, 1, 0), 1);  // one page of file, two mapped
  auto* m = static_cast<uint8_t*>(mmap(nullptr, 2 * kPage, PROT_READ, MAP_PRIVATE, fd, 0));
  ASSERT_NE(m, MAP_FAILED);
  auto base = ForkBase::Freeze({{m, 0, 2 * kPage, true}}, 2 * kPage);
  ASSERT_TRUE(base) << base.error().message();
  EXPECT_EQ((*base)->copied(), kPage);
  munmap(m, 2 * kPage);
  close(fd);
}

TEST(ForkBaseTest, ARangeOutsideTheBaseIsRefused) {
  Anon a(kPage);
  auto base = ForkBase::Freeze({{a.p, kPage, kPage, false}}, kPage);
  ASSERT_FALSE(base);
  EXPECT_EQ(base.error().code(), EINVAL);
}

}  // namespace
}  // namespace cat::kvm
