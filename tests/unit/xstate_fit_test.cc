// The kvm platform's FitXstate: a host XSAVE area (ptrace's) fitted to a vCPU's XCR0, so that
// KVM_SET_XSAVE takes it, without losing state the guest uses.
#include "loader/platform/kvm/xstate_fit.h"

#include <cpuid.h>
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace cat::kvm_platform {
namespace {

// A 4 KiB area with XSTATE_BV `bv` and XCOMP_BV set (as a compacted XSAVES would leave it).
std::vector<uint8_t> Area(uint64_t bv) {
  std::vector<uint8_t> a(4096, 0);
  std::memcpy(a.data() + 512, &bv, 8);
  const uint64_t comp = 1ull << 63;
  std::memcpy(a.data() + 520, &comp, 8);
  return a;
}

uint64_t Bv(const std::vector<uint8_t>& a) {
  uint64_t bv;
  std::memcpy(&bv, a.data() + 512, 8);
  return bv;
}

// AVX's YMM_Hi128 component (2): its offset in the standard layout.
uint32_t AvxOffset() {
  uint32_t size = 0, offset = 0, c = 0, d = 0;
  __cpuid_count(0xd, 2, size, offset, c, d);
  return size ? offset : 0;
}

TEST(XstateFitTest, DropsAComponentInItsInitialStateAndClearsXcompBv) {
  if (!AvxOffset()) GTEST_SKIP() << "this CPU has no AVX state component";
  auto fit = FitXstate(Area(0x7), 0x3, 4096);
  ASSERT_TRUE(fit) << fit.error().message();
  EXPECT_EQ(Bv(*fit), 0x3u);
  uint64_t comp = 1;
  std::memcpy(&comp, fit->data() + 520, 8);
  EXPECT_EQ(comp, 0u);
}

TEST(XstateFitTest, RefusesToDropAComponentTheGuestUses) {
  const uint32_t at = AvxOffset();
  if (!at) GTEST_SKIP() << "this CPU has no AVX state component";
  auto area = Area(0x7);
  area[at + 3] = 0x42;  // a YMM upper half in use
  auto fit = FitXstate(area, 0x3, 4096);
  ASSERT_FALSE(fit);
  EXPECT_EQ(fit.error().code(), ENOTSUP);
  EXPECT_NE(fit.error().message().find("XSAVE component 2"), std::string::npos);
  auto kept = FitXstate(area, 0x7, 4096);  // a vCPU with AVX keeps it
  ASSERT_TRUE(kept);
  EXPECT_EQ(Bv(*kept), 0x7u);
  EXPECT_EQ((*kept)[at + 3], 0x42);
}

TEST(XstateFitTest, ALargerAreaIsCutWhenNothingPastTheLimitIsUsed) {
  std::vector<uint8_t> big = Area(0x3);
  big.resize(8192, 0);
  auto fit = FitXstate(big, 0x3, 4096);
  ASSERT_TRUE(fit) << fit.error().message();
  EXPECT_EQ(fit->size(), 4096u);
}

}  // namespace
}  // namespace cat::kvm_platform
