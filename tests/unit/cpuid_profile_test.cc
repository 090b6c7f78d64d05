// The kvm platform's CPUID profile (spec/kvm.md, "CPUID"): a vCPU's CPUID narrowed to an
// image's recorded CPU features, and the check that it offers every one of them.
#include "loader/platform/kvm/cpuid_profile.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

namespace cat::kvm_platform {
namespace {

kvm_cpuid_entry2 Entry(uint32_t function, uint32_t index, uint32_t a, uint32_t b, uint32_t c,
                       uint32_t d) {
  kvm_cpuid_entry2 e{};
  e.function = function, e.index = index, e.eax = a, e.ebx = b, e.ecx = c, e.edx = d;
  return e;
}

// A vCPU offering SSE4.2, AVX, AVX2, AVX-512F and x87|SSE|AVX|opmask|ZMM|PKRU state.
std::vector<kvm_cpuid_entry2> Supported() {
  const uint32_t leaf1_ecx = (1u << 20) | (1u << 26) | (1u << 28) | (1u << 31);  // + hypervisor
  return {Entry(0, 0, 0xd, 0x68747541, 0x444d4163, 0x69746e65),                  // AuthenticAMD
          Entry(1, 0, 0, 0, leaf1_ecx, 1u << 26),
          Entry(7, 0, 0, (1u << 5) | (1u << 16), 1u << 3, 0),
          Entry(0xd, 0, 0x2e7, 0, 2696, 0),
          Entry(0xd, 1, 1, 0, 0, 0),
          Entry(0xd, 2, 256, 576, 0, 0),
          Entry(0xd, 5, 64, 1088, 0, 0),
          Entry(0xd, 6, 512, 1152, 0, 0),
          Entry(0xd, 7, 1024, 1664, 0, 0),
          Entry(0xd, 9, 8, 2688, 0, 0)};
}

const kvm_cpuid_entry2* Find(const std::vector<kvm_cpuid_entry2>& c, uint32_t f, uint32_t i) {
  auto it = std::find_if(c.begin(), c.end(), [&](const kvm_cpuid_entry2& e) {
    return e.function == f && e.index == i;
  });
  return it == c.end() ? nullptr : &*it;
}

// What an image captured on an AVX2 machine without AVX-512 recorded.
CpuFeatures Avx2Image() {
  CpuFeatures r;
  r.vendor = "AuthenticAMD";
  r.leaf1_ecx = (1u << 20) | (1u << 26) | (1u << 27) | (1u << 28);
  r.leaf1_edx = 1u << 26;
  r.leaf7_ebx = 1u << 5;
  r.leafd_1_eax = 1;
  r.xcr0 = 0x7;
  r.xsave_size = 832;
  return r;
}

TEST(CpuidProfileTest, TheGuestSeesNoFeatureTheImageDidNotRecord) {
  const auto narrowed = NarrowCpuid(Supported(), Avx2Image());
  const CpuFeatures seen = FeaturesOfCpuid(narrowed, 0x7);
  EXPECT_TRUE(MissingCpuFeatures(seen, Avx2Image()).empty());  // nothing beyond the record
  EXPECT_EQ(Find(narrowed, 7, 0)->ebx, 1u << 5);               // avx512f gone, avx2 kept
  EXPECT_EQ(Find(narrowed, 7, 0)->ecx, 0u);                    // pku gone
  EXPECT_EQ(Find(narrowed, 0xd, 0)->eax, 0x7u);                // XCR0 may hold x87|SSE|AVX
  EXPECT_EQ(Find(narrowed, 0xd, 0)->ecx, 832u);                // and the area fits them
  EXPECT_EQ(Find(narrowed, 0xd, 5), nullptr);                  // no sub-leaf for opmask
  EXPECT_NE(Find(narrowed, 0xd, 2), nullptr);
  EXPECT_TRUE((Find(narrowed, 1, 0)->ecx >> 31) & 1);  // unnamed bits (hypervisor) pass through
}

TEST(CpuidProfileTest, ARecordedFeatureTheVcpuLacksRefusesTheBootNamingIt) {
  CpuFeatures image = Avx2Image();
  image.leaf7_ebx |= 1u << 8;  // bmi2, which the vCPU does not offer
  const CpuFeatures seen = FeaturesOfCpuid(NarrowCpuid(Supported(), image), 0x7);
  auto st = CheckVcpuFeatures(image, seen);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ENOEXEC);
  EXPECT_NE(st.error().message().find("bmi2"), std::string::npos) << st.error().message();
  EXPECT_NE(st.error().message().find("--platform ptrace"), std::string::npos);
}

TEST(CpuidProfileTest, ProtectionKeysAndUnusedXsaveComponentsAreNotRequired) {
  CpuFeatures image = Avx2Image();
  image.leaf7_ecx |= (1u << 3) | (1u << 4);  // pku, ospke
  image.xcr0 |= (1u << 9) | (3u << 3);       // PKRU and MPX state (FitXstate checks use)
  image.xsave_size = 2696;
  auto without_pkru = Supported();
  for (auto& e : without_pkru)
    if (e.function == 7) e.ecx = 0;
  const CpuFeatures seen = FeaturesOfCpuid(NarrowCpuid(without_pkru, image), 0x7);
  EXPECT_TRUE(CheckVcpuFeatures(image, seen)) << "pku, ospke, xsave.pkru";
}

TEST(CpuidProfileTest, AnImageWithoutARecordKeepsTheVcpusCpuid) {
  const auto all = Supported();
  const auto same = NarrowCpuid(all, CpuFeatures{});
  ASSERT_EQ(same.size(), all.size());
  EXPECT_EQ(std::memcmp(same.data(), all.data(), all.size() * sizeof(all[0])), 0);
}

}  // namespace
}  // namespace cat::kvm_platform
