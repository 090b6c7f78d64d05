// The kvm shell's MinorFaults (spec/kvm.md, "Limits, time, stats"): the guest's page faults,
// taken by KVM on the thread inside KVM_RUN, show in the controlling thread's count, so
// `--stats`' run_minflt shows the copy-on-write tax on kvm too. Needs a usable KVM (skipped
// elsewhere; the QEMU harness runs it).
#include <sys/mman.h>
#include <unistd.h>

#include <vector>

#include "loader/platform/kvm/kvm_platform.h"
#include "tests/unit/kvm_test_support.h"

namespace cat::kvm_platform {
namespace {

// Stores to 16 consecutive pages from 0x600000, then makes a syscall.
GUEST_CODE(minflt_write_16_pages,
           "mov $0x600000, %rax; mov $16, %ecx; 1: movq $1, (%rax); add $4096, %rax; dec %ecx; "
           "jnz 1b; syscall")

TEST(KvmMinorFaultsTest, TheGuestsCopyOnWriteFaultsAreCounted) {
  SKIP_WITHOUT_KVM();
  auto p = KvmPlatform::Open();
  ASSERT_TRUE(p) << p.error().message();
  auto s = (*p)->CreateShell();
  ASSERT_TRUE(s) << s.error().message();
  Shell& shell = **s;
  constexpr uint64_t kCode = 0x400000, kData = 0x600000, kStack = 0x800000, kPages = 16;
  // A private file mapping whose pages are in the page cache: each guest store copies one.
  const int fd = memfd_create("kvm_minor_faults_test", MFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  const std::vector<uint8_t> content(kPages * 4096, 0x5a);
  ASSERT_EQ(pwrite(fd, content.data(), content.size(), 0), static_cast<ssize_t>(content.size()));
  ASSERT_TRUE(shell.MapFile(kData, kPages * 4096, PROT_READ | PROT_WRITE, fd, 0));
  close(fd);
  ASSERT_TRUE(shell.MapAnonymous(kCode, 4096, PROT_READ | PROT_EXEC));
  ASSERT_TRUE(shell.MapAnonymous(kStack - 65536, 65536, PROT_READ | PROT_WRITE));
  const std::vector<uint8_t> code = minflt_write_16_pages();
  ASSERT_TRUE(shell.Protect(kCode, 4096, PROT_READ | PROT_WRITE));
  ASSERT_TRUE(shell.Write(kCode, code.data(), code.size()));
  ASSERT_TRUE(shell.Protect(kCode, 4096, PROT_READ | PROT_EXEC));
  GuestRegs r = shell.regs();
  r.rip = kCode;
  r.rsp = kStack;
  shell.SetRegs(r);
  const int64_t before = shell.MinorFaults();
  ASSERT_GE(before, 0) << "the kvm shell cannot tell its minor faults";
  auto stop = shell.Run();
  ASSERT_TRUE(stop) << stop.error().message();
  ASSERT_EQ(stop->reason, StopReason::kSyscall);
  const int64_t after = shell.MinorFaults();
  EXPECT_GE(after - before, static_cast<int64_t>(kPages));  // one copy per page written
}

}  // namespace
}  // namespace cat::kvm_platform
