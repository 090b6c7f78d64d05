// CPU features recorded at capture against the host's (format/base/cpu_features.h): the names,
// what counts as missing, and the one-line refusal boot gives.
#include "format/base/cpu_features.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace cat {
namespace {

CpuFeatures Base() {
  CpuFeatures f;
  f.vendor = "GenuineIntel";
  f.leaf1_edx = 1u << 26;  // sse2
  f.leaf7_ebx = 1u << 5;   // avx2
  f.xcr0 = 0x7;            // x87, sse, avx
  f.xsave_size = 832;
  return f;
}

TEST(CpuFeatures, NamesTheSetBits) {
  const std::vector<std::string> names = CpuFeatureNames(Base());
  EXPECT_EQ(names,
            (std::vector<std::string>{"sse2", "avx2", "xsave.x87", "xsave.sse", "xsave.avx"}));
}

TEST(CpuFeatures, TheSameCpuLacksNothing) {
  EXPECT_TRUE(MissingCpuFeatures(Base(), Base()).empty());
  EXPECT_TRUE(CheckCpuFeatures(HostCpuFeatures(), HostCpuFeatures()));
}

TEST(CpuFeatures, AFeatureTheHostLacksIsNamed) {
  CpuFeatures image = Base();
  image.leaf7_ebx |= 1u << 16;  // avx512f
  image.xcr0 |= 0xe0;           // opmask, zmm_hi256, hi16_zmm
  const Status s = CheckCpuFeatures(image, Base());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message(),
            "image needs avx512f, xsave.opmask, xsave.zmm_hi256, xsave.hi16_zmm; this CPU lacks "
            "them: rebuild on this machine type or capture with a narrower CPU profile");
  image = Base();
  image.leaf7_ebx |= 1u << 16;
  EXPECT_EQ(CheckCpuFeatures(image, Base(), "checkpoint").error().message(),
            "checkpoint needs avx512f; this CPU lacks it: rebuild on this machine type or capture "
            "with a narrower CPU profile");
}

TEST(CpuFeatures, ALargerXsaveAreaIsMissing) {
  CpuFeatures image = Base();
  image.xsave_size = 2432;
  const std::vector<std::string> missing = MissingCpuFeatures(image, Base());
  ASSERT_EQ(missing.size(), 1u);
  EXPECT_NE(missing[0].find("xsave area of 2432 bytes"), std::string::npos) << missing[0];
}

TEST(CpuFeatures, ExtraHostFeaturesAndUnnamedBitsDoNotMatter) {
  CpuFeatures host = Base();
  host.leaf7_ebx |= 1u << 16;
  EXPECT_TRUE(MissingCpuFeatures(Base(), host).empty());
  CpuFeatures image = Base();
  image.leaf1_ecx |= 1u << 31;  // "running under a hypervisor": not a feature
  EXPECT_TRUE(MissingCpuFeatures(image, Base()).empty());
}

TEST(CpuFeatures, AnImageWithoutARecordBootsAnywhere) {
  CpuFeatures image = Base();
  image.leaf7_ebx = ~0u;
  image.vendor.clear();  // not recorded
  EXPECT_TRUE(CheckCpuFeatures(image, CpuFeatures{}));
}

TEST(CpuFeatures, TheHostRecordNamesWhatEveryX86_64Has) {
  const CpuFeatures& host = HostCpuFeatures();
  ASSERT_TRUE(host.recorded());
  const std::vector<std::string> names = CpuFeatureNames(host);
  for (const char* f : {"sse2", "lm", "cx8", "fxsr"})
    EXPECT_NE(std::find(names.begin(), names.end(), f), names.end()) << f;
}

}  // namespace
}  // namespace cat
