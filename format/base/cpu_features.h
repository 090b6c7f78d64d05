// The CPU features a guest could have observed: the CPUID leaves programs pick their code
// paths by (glibc chooses its string and memory routines — SSE2/AVX2/AVX-512, ERMS/FSRM — at
// start-up, i.e. before a snapshot) and the XSAVE state the CPU saves (its components, XCR0,
// and its size). Capture records them in the checkpoint and `catimg build` in the func-image;
// every boot path that maps an image refuses a host that lacks one of them, naming it
// (spec/func-image.md, "CPU features"; spec/checkpoint.md 3.8).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "format/base/error.h"

namespace cat {

// Raw register values, so that a later catload can name more bits of the same record.
struct CpuFeatures {
  std::string vendor;  // CPUID 0: "GenuineIntel", "AuthenticAMD", ...; "" = not recorded
  uint32_t leaf1_ecx = 0, leaf1_edx = 0;                 // CPUID 1
  uint32_t leaf7_ebx = 0, leaf7_ecx = 0, leaf7_edx = 0;  // CPUID 7.0
  uint32_t leaf7_1_eax = 0;                              // CPUID 7.1
  uint32_t leafd_1_eax = 0;                              // CPUID 0xd.1: XSAVEOPT, XSAVEC, ...
  uint32_t ext1_ecx = 0, ext1_edx = 0;                   // CPUID 0x80000001
  uint64_t xcr0 = 0;        // the XSAVE components the OS enabled (XGETBV 0)
  uint32_t xsave_size = 0;  // CPUID 0xd.0 EBX: bytes of the XSAVE area for xcr0
  bool recorded() const { return !vendor.empty(); }
  bool operator==(const CpuFeatures&) const = default;
};

// This machine's, read once per process (CPUID is a VM exit under a hypervisor).
const CpuFeatures& HostCpuFeatures();

// The named features set in `f` ("sse4_2", "avx2", "avx512f", "xsave.avx", ...), in the
// table's order: what inspect shows and what the boot check compares. Bits without a name
// (the hypervisor bit, APIC ids, ...) are not features a program depends on and are ignored.
std::vector<std::string> CpuFeatureNames(const CpuFeatures& f);

// A record whose registers hold exactly the bits that have a name above (vendor empty): the
// bits a CPU profile narrows (the kvm platform's vCPU CPUID, spec/kvm.md "CPUID").
CpuFeatures NamedCpuFeatureBits();

// The named features of `image` that `host` lacks, plus "xsave area of N bytes" when the
// host's XSAVE area is smaller. Empty when `image` is not recorded (an image from before
// format 1.2 or a checkpoint without the note boots anywhere, as it did).
std::vector<std::string> MissingCpuFeatures(const CpuFeatures& image, const CpuFeatures& host);

// The boot check: fails (ENOEXEC) with "image needs avx512f; this CPU lacks it: rebuild on
// this machine type or capture with a narrower CPU profile" when MissingCpuFeatures is not
// empty. `what` is "image" or "checkpoint".
Status CheckCpuFeatures(const CpuFeatures& recorded, const CpuFeatures& host,
                        const std::string& what = "image");

}  // namespace cat
