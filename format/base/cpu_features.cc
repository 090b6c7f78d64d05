// CPUID and XGETBV on this machine, the feature-name table, and the boot check
// (cpu_features.h). Names are Linux's /proc/cpuinfo names; XSAVE components are "xsave.NAME".
#include "format/base/cpu_features.h"

#include <cpuid.h>

#include <cstring>

namespace cat {
namespace {

enum class Reg { kL1Ecx, kL1Edx, kL7Ebx, kL7Ecx, kL7Edx, kL71Eax, kLd1Eax, kE1Ecx, kE1Edx, kXcr0 };

struct Feature {
  Reg reg;
  int bit;
  const char* name;
};

// What user-space code branches on. Leaf 1 ECX bit 31 (running under a hypervisor) and the
// other non-feature bits are left out on purpose: a snapshot taken in a VM runs as well on
// bare metal.
constexpr Feature kFeatures[] = {
    {Reg::kL1Edx, 0, "fpu"},
    {Reg::kL1Edx, 4, "tsc"},
    {Reg::kL1Edx, 8, "cx8"},
    {Reg::kL1Edx, 15, "cmov"},
    {Reg::kL1Edx, 19, "clflush"},
    {Reg::kL1Edx, 23, "mmx"},
    {Reg::kL1Edx, 24, "fxsr"},
    {Reg::kL1Edx, 25, "sse"},
    {Reg::kL1Edx, 26, "sse2"},
    {Reg::kL1Ecx, 0, "pni"},
    {Reg::kL1Ecx, 1, "pclmulqdq"},
    {Reg::kL1Ecx, 9, "ssse3"},
    {Reg::kL1Ecx, 12, "fma"},
    {Reg::kL1Ecx, 13, "cx16"},
    {Reg::kL1Ecx, 19, "sse4_1"},
    {Reg::kL1Ecx, 20, "sse4_2"},
    {Reg::kL1Ecx, 22, "movbe"},
    {Reg::kL1Ecx, 23, "popcnt"},
    {Reg::kL1Ecx, 25, "aes"},
    {Reg::kL1Ecx, 26, "xsave"},
    {Reg::kL1Ecx, 27, "osxsave"},
    {Reg::kL1Ecx, 28, "avx"},
    {Reg::kL1Ecx, 29, "f16c"},
    {Reg::kL1Ecx, 30, "rdrand"},
    {Reg::kL7Ebx, 0, "fsgsbase"},
    {Reg::kL7Ebx, 3, "bmi1"},
    {Reg::kL7Ebx, 4, "hle"},
    {Reg::kL7Ebx, 5, "avx2"},
    {Reg::kL7Ebx, 8, "bmi2"},
    {Reg::kL7Ebx, 9, "erms"},
    {Reg::kL7Ebx, 11, "rtm"},
    {Reg::kL7Ebx, 16, "avx512f"},
    {Reg::kL7Ebx, 17, "avx512dq"},
    {Reg::kL7Ebx, 18, "rdseed"},
    {Reg::kL7Ebx, 19, "adx"},
    {Reg::kL7Ebx, 21, "avx512ifma"},
    {Reg::kL7Ebx, 23, "clflushopt"},
    {Reg::kL7Ebx, 24, "clwb"},
    {Reg::kL7Ebx, 28, "avx512cd"},
    {Reg::kL7Ebx, 29, "sha_ni"},
    {Reg::kL7Ebx, 30, "avx512bw"},
    {Reg::kL7Ebx, 31, "avx512vl"},
    {Reg::kL7Ecx, 1, "avx512vbmi"},
    {Reg::kL7Ecx, 3, "pku"},
    {Reg::kL7Ecx, 4, "ospke"},
    {Reg::kL7Ecx, 5, "waitpkg"},
    {Reg::kL7Ecx, 6, "avx512_vbmi2"},
    {Reg::kL7Ecx, 8, "gfni"},
    {Reg::kL7Ecx, 9, "vaes"},
    {Reg::kL7Ecx, 10, "vpclmulqdq"},
    {Reg::kL7Ecx, 11, "avx512_vnni"},
    {Reg::kL7Ecx, 12, "avx512_bitalg"},
    {Reg::kL7Ecx, 14, "avx512_vpopcntdq"},
    {Reg::kL7Ecx, 22, "rdpid"},
    {Reg::kL7Ecx, 27, "movdiri"},
    {Reg::kL7Ecx, 28, "movdir64b"},
    {Reg::kL7Edx, 4, "fsrm"},
    {Reg::kL7Edx, 8, "avx512_vp2intersect"},
    {Reg::kL7Edx, 14, "serialize"},
    {Reg::kL7Edx, 22, "amx_bf16"},
    {Reg::kL7Edx, 23, "avx512_fp16"},
    {Reg::kL7Edx, 24, "amx_tile"},
    {Reg::kL7Edx, 25, "amx_int8"},
    {Reg::kL71Eax, 4, "avx_vnni"},
    {Reg::kL71Eax, 5, "avx512_bf16"},
    {Reg::kL71Eax, 10, "fzrm"},
    {Reg::kL71Eax, 11, "fsrs"},
    {Reg::kL71Eax, 12, "fsrc"},
    {Reg::kLd1Eax, 0, "xsaveopt"},
    {Reg::kLd1Eax, 1, "xsavec"},
    {Reg::kLd1Eax, 2, "xgetbv1"},
    {Reg::kLd1Eax, 3, "xsaves"},
    {Reg::kE1Ecx, 0, "lahf_lm"},
    {Reg::kE1Ecx, 5, "abm"},
    {Reg::kE1Ecx, 6, "sse4a"},
    {Reg::kE1Ecx, 8, "3dnowprefetch"},
    {Reg::kE1Ecx, 11, "xop"},
    {Reg::kE1Ecx, 16, "fma4"},
    {Reg::kE1Ecx, 21, "tbm"},
    {Reg::kE1Edx, 11, "syscall"},
    {Reg::kE1Edx, 20, "nx"},
    {Reg::kE1Edx, 26, "pdpe1gb"},
    {Reg::kE1Edx, 27, "rdtscp"},
    {Reg::kE1Edx, 29, "lm"},
    {Reg::kXcr0, 0, "xsave.x87"},
    {Reg::kXcr0, 1, "xsave.sse"},
    {Reg::kXcr0, 2, "xsave.avx"},
    {Reg::kXcr0, 3, "xsave.bndregs"},
    {Reg::kXcr0, 4, "xsave.bndcsr"},
    {Reg::kXcr0, 5, "xsave.opmask"},
    {Reg::kXcr0, 6, "xsave.zmm_hi256"},
    {Reg::kXcr0, 7, "xsave.hi16_zmm"},
    {Reg::kXcr0, 9, "xsave.pkru"},
    {Reg::kXcr0, 17, "xsave.xtilecfg"},
    {Reg::kXcr0, 18, "xsave.xtiledata"},
};

uint64_t Value(const CpuFeatures& f, Reg r) {
  switch (r) {
    case Reg::kL1Ecx:
      return f.leaf1_ecx;
    case Reg::kL1Edx:
      return f.leaf1_edx;
    case Reg::kL7Ebx:
      return f.leaf7_ebx;
    case Reg::kL7Ecx:
      return f.leaf7_ecx;
    case Reg::kL7Edx:
      return f.leaf7_edx;
    case Reg::kL71Eax:
      return f.leaf7_1_eax;
    case Reg::kLd1Eax:
      return f.leafd_1_eax;
    case Reg::kE1Ecx:
      return f.ext1_ecx;
    case Reg::kE1Edx:
      return f.ext1_edx;
    case Reg::kXcr0:
      return f.xcr0;
  }
  return 0;
}

void SetBit(CpuFeatures& f, Reg r, int bit) {
  const uint32_t b = 1u << bit;
  switch (r) {
    case Reg::kL1Ecx:
      f.leaf1_ecx |= b;
      break;
    case Reg::kL1Edx:
      f.leaf1_edx |= b;
      break;
    case Reg::kL7Ebx:
      f.leaf7_ebx |= b;
      break;
    case Reg::kL7Ecx:
      f.leaf7_ecx |= b;
      break;
    case Reg::kL7Edx:
      f.leaf7_edx |= b;
      break;
    case Reg::kL71Eax:
      f.leaf7_1_eax |= b;
      break;
    case Reg::kLd1Eax:
      f.leafd_1_eax |= b;
      break;
    case Reg::kE1Ecx:
      f.ext1_ecx |= b;
      break;
    case Reg::kE1Edx:
      f.ext1_edx |= b;
      break;
    case Reg::kXcr0:
      f.xcr0 |= uint64_t{1} << bit;
      break;
  }
}

bool Has(const CpuFeatures& f, const Feature& feature) {
  return (Value(f, feature.reg) >> feature.bit) & 1;
}

CpuFeatures ReadHost() {
  CpuFeatures f;
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return f;
  const unsigned max_leaf = a;
  char vendor[13] = {};
  std::memcpy(vendor, &b, 4);
  std::memcpy(vendor + 4, &d, 4);
  std::memcpy(vendor + 8, &c, 4);
  f.vendor = vendor;
  if (f.vendor.empty()) f.vendor = "unknown";
  __get_cpuid(1, &a, &b, &f.leaf1_ecx, &f.leaf1_edx);
  if (max_leaf >= 7) {
    __get_cpuid_count(7, 0, &a, &f.leaf7_ebx, &f.leaf7_ecx, &f.leaf7_edx);
    const unsigned max_sub = a;
    if (max_sub >= 1) __get_cpuid_count(7, 1, &f.leaf7_1_eax, &b, &c, &d);
  }
  // XGETBV only where the OS enabled XSAVE (OSXSAVE), else it faults.
  if ((f.leaf1_ecx >> 27) & 1) {
    uint32_t lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    f.xcr0 = (uint64_t{hi} << 32) | lo;
    if (max_leaf >= 0xd) {
      __get_cpuid_count(0xd, 0, &a, &b, &c, &d);
      f.xsave_size = b;
      __get_cpuid_count(0xd, 1, &f.leafd_1_eax, &b, &c, &d);
    }
  }
  unsigned ext_max = 0;
  __get_cpuid(0x80000000, &ext_max, &b, &c, &d);
  if (ext_max >= 0x80000001) __get_cpuid(0x80000001, &a, &b, &f.ext1_ecx, &f.ext1_edx);
  return f;
}

}  // namespace

const CpuFeatures& HostCpuFeatures() {
  static const CpuFeatures host = ReadHost();
  return host;
}

CpuFeatures NamedCpuFeatureBits() {
  CpuFeatures all;
  for (const Feature& feature : kFeatures) SetBit(all, feature.reg, feature.bit);
  return all;
}

std::vector<std::string> CpuFeatureNames(const CpuFeatures& f) {
  std::vector<std::string> out;
  for (const Feature& feature : kFeatures)
    if (Has(f, feature)) out.emplace_back(feature.name);
  return out;
}

std::vector<std::string> MissingCpuFeatures(const CpuFeatures& image, const CpuFeatures& host) {
  std::vector<std::string> out;
  if (!image.recorded()) return out;
  for (const Feature& feature : kFeatures)
    if (Has(image, feature) && !Has(host, feature)) out.emplace_back(feature.name);
  // The guest's XSAVE area (its registers in the image) must fit the host's.
  if (image.xsave_size > host.xsave_size)
    out.push_back("an xsave area of " + std::to_string(image.xsave_size) +
                  " bytes (this CPU's: " + std::to_string(host.xsave_size) + ")");
  return out;
}

Status CheckCpuFeatures(const CpuFeatures& recorded, const CpuFeatures& host,
                        const std::string& what) {
  const std::vector<std::string> missing = MissingCpuFeatures(recorded, host);
  if (missing.empty()) return {};
  std::string names;
  for (const std::string& m : missing) names += (names.empty() ? "" : ", ") + m;
  return Fail(ENOEXEC, what + " needs " + names + "; this CPU lacks " +
                           (missing.size() == 1 ? "it" : "them") +
                           ": rebuild on this machine type or capture with a narrower CPU "
                           "profile");
}

}  // namespace cat
