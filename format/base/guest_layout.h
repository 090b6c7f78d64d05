// The guest address space's fixed layout, in one place for the format library (FuncImage::Open
// and the checkpoint reader refuse snapshots that map memory where a guest may not) and the
// loader (the memory manager hands out no such range; the ptrace platform puts its trampoline
// there). A snapshot is untrusted input: these bounds are the loader's, never the image's.
#pragma once

#include <cstdint>
#include <string>

namespace cat {

constexpr uint64_t kGuestPageSize = 4096;
// A guest virtual address range is valid for the guest only below this (47-bit user space).
constexpr uint64_t kGuestAddressLimit = 0x7ffffffff000ull;
// The null-pointer guard: nothing is mapped below it. Fixed at Linux's default
// vm.mmap_min_addr (64 KiB) rather than read from the host, so that whether a snapshot is
// valid does not depend on the machine that checks it (a host with a higher floor refuses
// the mapping at boot with its own error).
constexpr uint64_t kGuestLowGuard = 0x10000;
// The ptrace platform's trampoline (loader/platform/ptrace/stub.h): a code page and a scratch
// page at the same address in catload and in every shell. Reserved on every platform so that
// snapshots stay portable between them.
constexpr uint64_t kTrampolineBase = 0x100000;
constexpr uint64_t kTrampolineSize = 0x2000;
// The protection bits a guest mapping may carry (PROT_READ | PROT_WRITE | PROT_EXEC).
constexpr uint32_t kGuestProtMask = 0x7;

// True if [addr, addr+len) reaches into a range no guest mapping may touch: below the low
// guard, the trampoline, or at or past kGuestAddressLimit (also when addr+len overflows).
constexpr bool IsReservedGuestRange(uint64_t addr, uint64_t len) {
  const uint64_t end = addr + len;
  if (end < addr || end > kGuestAddressLimit) return true;
  if (addr < kGuestLowGuard) return true;
  return addr < kTrampolineBase + kTrampolineSize && end > kTrampolineBase;
}

// Why a guest mapping of [start, start+len) with `prot` may not exist ("" if it may): the
// checks the sandbox kernel applies to every mapping it makes, applied the same way to an
// image's segments and a checkpoint's VMAs before any of their bytes is mapped.
std::string GuestMappingProblem(uint64_t start, uint64_t len, uint32_t prot);

}  // namespace cat
