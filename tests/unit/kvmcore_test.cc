// kvmcore: the pieces that need no KVM (allocator, page tables, trampoline bytes, errors), and
// the guest machine on a usable KVM (skipped elsewhere; the QEMU harness runs them).
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "kvmcore/guest_machine.h"
#include "kvmcore/memory_slot.h"
#include "kvmcore/page_tables.h"
#include "kvmcore/trampoline.h"
#include "tests/unit/kvm_test_support.h"

namespace cat::kvm {
namespace {

TEST(GuestPhysAllocatorTest, AllocatesFirstFitAndCoalescesOnFree) {
  GuestPhysAllocator a(16 * 4096);
  auto x = a.Allocate(4 * 4096), y = a.Allocate(4 * 4096), z = a.Allocate(4 * 4096);
  ASSERT_TRUE(x && y && z);
  EXPECT_EQ(*x, 0u);
  EXPECT_EQ(*y, 4 * 4096u);
  a.Free(*x, 4 * 4096);
  a.Free(*y, 4 * 4096);
  auto big = a.Allocate(8 * 4096);  // x and y coalesced into one free block
  ASSERT_TRUE(big);
  EXPECT_EQ(*big, 0u);
  EXPECT_EQ(a.free_bytes(), 4 * 4096u);
}

TEST(GuestPhysAllocatorTest, SaysWhenTheSlotIsFull) {
  GuestPhysAllocator a(4 * 4096);
  ASSERT_TRUE(a.Allocate(4 * 4096));
  auto more = a.Allocate(4096);
  ASSERT_FALSE(more);
  EXPECT_EQ(more.error().code(), ENOMEM);
}

TEST(PageTablesTest, LeavesCarryTheMappingsPermissions) {
  std::vector<uint8_t> mem(64 * 4096, 0);
  PageTables t(mem.data(), 0, 64);
  t.Init();
  ASSERT_TRUE(t.Map(0x400000, 0x100000000, 8192, {true, false, true}));
  ASSERT_TRUE(t.Map(0x600000, 0x100002000, 4096, {true, true, false}));
  const uint64_t code = t.Lookup(0x401000), data = t.Lookup(0x600000);
  EXPECT_EQ(code & 0x000ffffffffff000ull, 0x100001000u);
  EXPECT_EQ(code & 0x7, 0x5u);  // present, user, read-only
  EXPECT_EQ(code >> 63, 0u);    // executable
  EXPECT_EQ(data & 0x7, 0x7u);  // present, user, writable
  EXPECT_EQ(data >> 63, 1u);    // no-execute
  t.Unmap(0x400000, 8192);
  EXPECT_EQ(t.Lookup(0x400000), 0u);
}

TEST(PageTablesTest, TheUpperHalfIsSupervisorOnlyAtEveryLevel) {
  std::vector<uint8_t> mem(64 * 4096, 0);
  PageTables t(mem.data(), 0, 64);
  t.Init();
  ASSERT_TRUE(t.Map(kSystemVa, 0, 4096, {false, false, true}));
  const auto* root = reinterpret_cast<const uint64_t*>(mem.data());
  EXPECT_EQ(root[511] & 0x4, 0u);  // the PML4 entry has no user bit
  EXPECT_EQ(t.Lookup(kSystemVa) & 0x4, 0u);
}

TEST(TrampolineTest, EachExitIsAnOutToItsPort) {
  const std::vector<uint8_t> code = TrampolineCode();
  EXPECT_EQ(code[kSyscallOut], 0xe6);
  EXPECT_EQ(code[kSyscallOut + 1], kSyscallPort);
  EXPECT_EQ(code[kCompatOut + 1], kCompatSyscallPort);
  for (int v = 0; v < kExceptionVectors; ++v) {
    const uint64_t at = ExceptionOutOffset(v);
    EXPECT_EQ(code[at], 0xe6) << "vector " << v;
    EXPECT_EQ(code[at + 1], kExceptionPort) << "vector " << v;
  }
}

TEST(KvmSystemTest, AMissingDeviceSaysWhatToDo) {
  auto sys = KvmSystem::Open("/nonexistent/kvm");
  ASSERT_FALSE(sys);
  EXPECT_EQ(sys.error().code(), ENOENT);
  EXPECT_NE(sys.error().message().find("kvm-amd"), std::string::npos) << sys.error().message();
  EXPECT_NE(sys.error().message().find("--platform ptrace"), std::string::npos);
}

TEST(KvmSystemTest, ANonKvmDeviceIsRefusedNamingTheIoctl) {
  auto sys = KvmSystem::Open("/dev/null");
  ASSERT_FALSE(sys);
  EXPECT_NE(sys.error().message().find("KVM_GET_API_VERSION"), std::string::npos)
      << sys.error().message();
}

// Guest programs. Each ends in an exit the test expects; none is meant to run natively.
GUEST_CODE(g_syscall_twice, "mov $39, %eax; syscall; mov %rax, %rdi; mov $60, %eax; syscall; ud2")
GUEST_CODE(g_hlt, "hlt")
GUEST_CODE(g_out, "out %al, $0x10")
GUEST_CODE(g_in, "in $0x12, %al")
GUEST_CODE(g_wrmsr, "xor %eax, %eax; xor %edx, %edx; mov $0xc0000082, %ecx; wrmsr")
GUEST_CODE(g_mov_cr3, "xor %eax, %eax; mov %rax, %cr3")
GUEST_CODE(g_cli, "cli")
GUEST_CODE(g_int80, "int $0x80")
GUEST_CODE(g_int3, "int3")
GUEST_CODE(g_read_trampoline, "movabs $0xffffffff80000000, %rax; mov (%rax), %rax")
GUEST_CODE(g_write_gdt, "movabs $0xffffffff80001000, %rax; movq $0, (%rax)")
GUEST_CODE(g_write_idt, "movabs $0xffffffff80002000, %rax; movq $0, (%rax)")
GUEST_CODE(g_read_page_tables_gpa, "mov 0x10000, %rax")
GUEST_CODE(g_jump_trampoline, "movabs $0xffffffff80000000, %rax; jmp *%rax")
GUEST_CODE(g_iret_to_ring0,
           "mov %rsp, %rbx; push $0x18; push %rbx; pushf; push $0x10; lea 1f(%rip), %rax; "
           "push %rax; iretq; 1: ud2")
GUEST_CODE(g_lret_compat, "push $0x23; lea 1f(%rip), %rax; push %rax; lretq; 1: syscall")
GUEST_CODE(g_lret_kernel_cs, "push $0x13; lea 1f(%rip), %rax; push %rax; lretq; 1: syscall")
GUEST_CODE(g_sysenter, "sysenter")
GUEST_CODE(g_div0, "xor %ecx, %ecx; mov $1, %eax; cltd; div %ecx")
GUEST_CODE(g_ud2, "ud2")
GUEST_CODE(g_bad_address, "movabs $0x7ff000000000, %rax; mov (%rax), %rax")
GUEST_CODE(g_fs_read, "mov %fs:0, %rax; mov %gs:8, %rdx; syscall")
GUEST_CODE(g_xmm0, "movq %xmm0, %rax; syscall")
GUEST_CODE(g_store, "movq $7, 0x600000")
GUEST_CODE(g_load_twice, "mov 0x600000, %rax; syscall; mov 0x600000, %rax; ud2")
GUEST_CODE(g_file_rw, "mov 0x600000, %rax; movq $7, 0x600000; syscall")
GUEST_CODE(g_spin, "1: jmp 1b")
GUEST_CODE(g_read_write_twice,
           "mov 0x600000, %rax; movq $7, 0x600000; syscall; mov 0x600000, %rax; syscall")
GUEST_CODE(g_store_then_syscall, "movq $7, 0x600000; syscall; mov 0x600000, %rax; syscall")
GUEST_CODE(g_load_then_syscall, "mov 0x600000, %rax; syscall")
GUEST_CODE(g_popf_iopl, "push $0x3202; popf; out %al, $0x10")

constexpr uint64_t kCode = 0x400000, kData = 0x600000, kStack = 0x800000;

class GuestMachineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SKIP_WITHOUT_KVM();
    auto sys = KvmSystem::Open();
    ASSERT_TRUE(sys) << sys.error().message();
    system_.emplace(std::move(*sys));
    auto m = GuestMachine::Create(*system_);
    ASSERT_TRUE(m) << m.error().message();
    m_ = std::move(*m);
    ASSERT_TRUE(m_->MapAnonymous(kCode, 4096, PROT_READ | PROT_WRITE | PROT_EXEC));
    ASSERT_TRUE(m_->MapAnonymous(kStack - 65536, 65536, PROT_READ | PROT_WRITE));
  }
  void Load(const std::vector<uint8_t>& code) {
    ASSERT_TRUE(m_->Write(kCode, code.data(), code.size()));
    UserRegs r = m_->regs();
    r.gpr.rip = kCode;
    r.gpr.rsp = kStack;
    m_->SetRegs(r);
  }
  GuestExit RunOk() {
    auto e = m_->Run();
    EXPECT_TRUE(e) << e.error().message();
    return e ? *e : GuestExit{GuestExitKind::kInterrupted};
  }
  // The program ends in exception `vector` (or one of `alternatives`) and nothing else.
  void ExpectException(const std::vector<uint8_t>& code, std::initializer_list<int> vectors) {
    Load(code);
    const GuestExit e = RunOk();
    ASSERT_EQ(e.kind, GuestExitKind::kException);
    EXPECT_NE(std::find(vectors.begin(), vectors.end(), e.vector), vectors.end())
        << "vector " << e.vector;
  }
  std::optional<KvmSystem> system_;
  std::unique_ptr<GuestMachine> m_;
};

TEST_F(GuestMachineTest, ASyscallExitsAndItsResultComesBackInRax) {
  Load(g_syscall_twice());
  GuestExit e = RunOk();
  ASSERT_EQ(e.kind, GuestExitKind::kSyscall);
  EXPECT_EQ(m_->regs().gpr.rax, 39u);
  EXPECT_EQ(m_->regs().gpr.rip, kCode + 7);
  m_->SetRax(4242);
  e = RunOk();
  ASSERT_EQ(e.kind, GuestExitKind::kSyscall);
  EXPECT_EQ(m_->regs().gpr.rdi, 4242u);
}

TEST_F(GuestMachineTest, PrivilegedInstructionsAreGeneralProtectionFaults) {
  for (const auto& code : {g_hlt(), g_out(), g_in(), g_wrmsr(), g_mov_cr3(), g_cli()})
    ExpectException(code, {13});
}

TEST_F(GuestMachineTest, IntNIsAFaultButInt3IsABreakpoint) {
  ExpectException(g_int80(), {13});
  ExpectException(g_int3(), {3});
}

TEST_F(GuestMachineTest, TheSystemAreaIsNotTheGuests) {
  for (const auto& code : {g_read_trampoline(), g_write_gdt(), g_write_idt(), g_jump_trampoline(),
                           g_read_page_tables_gpa()})
    ExpectException(code, {14});
}

TEST_F(GuestMachineTest, NoWayIntoRingZeroOrCompatibilityMode) {
  ExpectException(g_iret_to_ring0(), {13});
  ExpectException(g_lret_compat(), {11, 13});
  ExpectException(g_lret_kernel_cs(), {13});
  ExpectException(g_sysenter(), {6, 13});
  ExpectException(g_popf_iopl(), {13});  // popf cannot raise IOPL in ring 3
}

TEST_F(GuestMachineTest, FaultsCarryVectorErrorCodeAndAddress) {
  ExpectException(g_div0(), {0});
  ExpectException(g_ud2(), {6});
  Load(g_bad_address());
  GuestExit e = RunOk();
  ASSERT_EQ(e.kind, GuestExitKind::kException);
  EXPECT_EQ(e.vector, 14);
  EXPECT_EQ(e.cr2, 0x7ff000000000u);
  EXPECT_EQ(e.error_code & 0x4, 0x4u);        // from user mode
  EXPECT_EQ(m_->regs().gpr.rip, kCode + 10);  // the load after the 10-byte movabs
}

TEST_F(GuestMachineTest, AWriteToAReadOnlyMappingIsAWriteFault) {
  ASSERT_TRUE(m_->MapAnonymous(kData, 4096, PROT_READ));
  Load(g_store());
  GuestExit e = RunOk();
  ASSERT_EQ(e.kind, GuestExitKind::kException);
  EXPECT_EQ(e.vector, 14);
  EXPECT_EQ(e.cr2, kData);
  EXPECT_EQ(e.error_code & 0x7, 0x7u);  // present, write, user
}

TEST_F(GuestMachineTest, FsAndGsBasesAreTheGuests) {
  ASSERT_TRUE(m_->MapAnonymous(kData, 4096, PROT_READ | PROT_WRITE));
  const uint64_t a = 0x1122334455667788, b = 0x99aabbccddeeff00;
  ASSERT_TRUE(m_->Write(kData, &a, 8));
  ASSERT_TRUE(m_->Write(kData + 16, &b, 8));
  Load(g_fs_read());
  UserRegs r = m_->regs();
  r.fs_base = kData;
  r.gs_base = kData + 8;
  m_->SetRegs(r);
  ASSERT_EQ(RunOk().kind, GuestExitKind::kSyscall);
  EXPECT_EQ(m_->regs().gpr.rax, a);
  EXPECT_EQ(m_->regs().gpr.rdx, b);
}

TEST_F(GuestMachineTest, TheXsaveAreaIsTheGuests) {
  Load(g_xmm0());
  auto area = m_->GetXsave();
  ASSERT_TRUE(area) << area.error().message();
  const uint64_t v = 0x0123456789abcdef;
  std::memcpy(area->data() + 160, &v, 8);  // XMM0 in the legacy area
  (*area)[512] |= 2;                       // XSTATE_BV: SSE state is in the area
  ASSERT_TRUE(m_->SetXsave(*area));
  ASSERT_EQ(RunOk().kind, GuestExitKind::kSyscall);
  EXPECT_EQ(m_->regs().gpr.rax, v);
}

TEST_F(GuestMachineTest, AnUnmappedPageFaultsAtOnceEvenIfItWasJustUsed) {
  ASSERT_TRUE(m_->MapAnonymous(kData, 4096, PROT_READ | PROT_WRITE));
  Load(g_load_twice());
  ASSERT_EQ(RunOk().kind, GuestExitKind::kSyscall);  // the page is in the guest's TLB now
  ASSERT_TRUE(m_->Unmap(kData, 4096));
  GuestExit e = RunOk();
  ASSERT_EQ(e.kind, GuestExitKind::kException);
  EXPECT_EQ(e.vector, 14);
  EXPECT_EQ(e.cr2, kData);
}

TEST_F(GuestMachineTest, ProtectTakesWriteAwayAtOnce) {
  ASSERT_TRUE(m_->MapAnonymous(kData, 4096, PROT_READ | PROT_WRITE));
  Load(g_store());
  // Written once through a writable entry...
  ASSERT_TRUE(m_->Write(kCode + g_store().size(), g_syscall_twice().data(), 7));
  ASSERT_EQ(RunOk().kind, GuestExitKind::kSyscall);
  ASSERT_TRUE(m_->Protect(kData, 4096, PROT_READ));
  UserRegs r = m_->regs();
  r.gpr.rip = kCode;  // ...and again after the protection changed
  m_->SetRegs(r);
  GuestExit e = RunOk();
  ASSERT_EQ(e.kind, GuestExitKind::kException);
  EXPECT_EQ(e.vector, 14);
}

TEST_F(GuestMachineTest, FileMappingsArePrivateAndLazilyPopulated) {
  char path[] = "/tmp/kvmcore_test_XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  unlink(path);
  std::vector<uint8_t> content(8192, 0);
  const uint64_t first = 0x5a5a5a5a12345678;
  std::memcpy(content.data(), &first, 8);
  ASSERT_EQ(pwrite(fd, content.data(), content.size(), 0), 8192);
  ASSERT_TRUE(m_->MapFile(kData, 8192, PROT_READ | PROT_WRITE, fd, 0));
  Load(g_file_rw());
  ASSERT_EQ(RunOk().kind, GuestExitKind::kSyscall);
  EXPECT_EQ(m_->regs().gpr.rax, first);  // read from the file
  uint64_t now = 0, on_disk = 0;
  ASSERT_TRUE(m_->Read(kData, &now, 8));
  EXPECT_EQ(now, 7u);  // the guest's write...
  ASSERT_EQ(pread(fd, &on_disk, 8, 0), 8);
  EXPECT_EQ(on_disk, first);  // ...stayed private
  close(fd);
}

TEST_F(GuestMachineTest, RemapMovesTheContents) {
  ASSERT_TRUE(m_->MapAnonymous(0x700000, 4096, PROT_READ | PROT_WRITE));
  const uint64_t v = 77;
  ASSERT_TRUE(m_->Write(0x700000, &v, 8));
  ASSERT_TRUE(m_->Remap(0x700000, 4096, kData, 8192));
  uint64_t got = 0;
  ASSERT_TRUE(m_->Read(kData, &got, 8));
  EXPECT_EQ(got, v);
  EXPECT_FALSE(m_->Read(0x700000, &got, 8));
  Load(g_load_twice());
  ASSERT_EQ(RunOk().kind, GuestExitKind::kSyscall);
  EXPECT_EQ(m_->regs().gpr.rax, v);
}

TEST_F(GuestMachineTest, ReadAndWriteFollowTheGuestsProtections) {
  ASSERT_TRUE(m_->MapAnonymous(kData, 4096, PROT_READ));
  uint64_t v = 1;
  EXPECT_TRUE(m_->Read(kData, &v, 8));
  auto w = m_->Write(kData, &v, 8);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code(), EFAULT);
  EXPECT_FALSE(m_->Read(kData + 4096, &v, 8));
}

TEST_F(GuestMachineTest, KickEndsAGuestThatNeverExits) {
  Load(g_spin());
  std::thread kicker([this] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    m_->Kick();
  });
  const GuestExit e = RunOk();
  kicker.join();
  EXPECT_EQ(e.kind, GuestExitKind::kInterrupted);
  EXPECT_GE(m_->regs().gpr.rip, kCode);
  EXPECT_LT(m_->regs().gpr.rip, kCode + 4096);
}

// Guest threads (spec/kvm.md, "Threads"): each vCPU has its own registers over the one
// address space; an unmap reaches every vCPU's TLB; an ended vCPU's KVM object is reused.
TEST_F(GuestMachineTest, VcpusHaveTheirOwnRegistersAndShareMemory) {
  ASSERT_TRUE(m_->MapAnonymous(kData, 4096, PROT_READ | PROT_WRITE));
  Load(g_load_then_syscall());
  const std::vector<uint8_t> second = g_store_then_syscall();
  ASSERT_TRUE(m_->Write(kCode + 0x100, second.data(), second.size()));
  UserRegs r = m_->regs();
  r.gpr.rip = kCode + 0x100;
  r.gpr.rsp = kStack - 4096;
  auto v1 = m_->AddVcpu(r);
  ASSERT_TRUE(v1) << v1.error().message();
  EXPECT_EQ(*v1, 1);
  EXPECT_EQ(m_->vcpu_count(), 2);
  m_->SelectVcpu(1);
  ASSERT_EQ(RunOk().kind, GuestExitKind::kSyscall);  // stored 7, then its syscall
  EXPECT_EQ(m_->regs().gpr.rsp, kStack - 4096);
  m_->SelectVcpu(0);
  ASSERT_EQ(RunOk().kind, GuestExitKind::kSyscall);
  EXPECT_EQ(m_->regs().gpr.rax, 7u);  // vCPU 0 sees vCPU 1's store
  EXPECT_EQ(m_->regs().gpr.rsp, kStack);
  ASSERT_TRUE(m_->Unmap(kData, 4096));
  m_->SelectVcpu(1);  // its TLB held the page: the unmap reaches it too
  GuestExit e = RunOk();
  ASSERT_EQ(e.kind, GuestExitKind::kException);
  EXPECT_EQ(e.vector, 14);
  EXPECT_EQ(e.cr2, kData);
  m_->SelectVcpu(0);
  EXPECT_FALSE(m_->RemoveVcpu(0));  // the first vCPU is never ended
  ASSERT_TRUE(m_->RemoveVcpu(1));
  auto again = m_->AddVcpu(r);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(*again, 1);  // the ended vCPU, reused
  EXPECT_EQ(m_->vcpu_count(), 2);
  // A reused vCPU's TLB from its last thread is flushed if the memory changed since.
  ASSERT_TRUE(m_->MapAnonymous(kData, 4096, PROT_READ | PROT_WRITE));
  m_->SelectVcpu(1);
  ASSERT_EQ(RunOk().kind, GuestExitKind::kSyscall);  // kData is in its TLB now
  m_->SelectVcpu(0);
  ASSERT_TRUE(m_->RemoveVcpu(1));
  ASSERT_TRUE(m_->Unmap(kData, 4096));
  ASSERT_TRUE(m_->AddVcpu(r));
  m_->SelectVcpu(1);
  e = RunOk();
  ASSERT_EQ(e.kind, GuestExitKind::kException);
  EXPECT_EQ(e.vector, 14);
  EXPECT_EQ(e.cr2, kData);
}

// Fork boot (spec/kvm.md): each fork starts from the template's memory and registers, its
// writes are its own, and the template's later changes reach only forks made after them.
TEST_F(GuestMachineTest, ForksStartFromTheTemplateAndWritePrivately) {
  ASSERT_TRUE(m_->MapAnonymous(kData, 8192, PROT_READ | PROT_WRITE));
  const uint64_t five = 5;
  ASSERT_TRUE(m_->Write(kData, &five, 8));
  Load(g_read_write_twice());
  std::vector<std::unique_ptr<GuestMachine>> forks;
  for (int i = 0; i < 2; ++i) {
    auto child = GuestMachine::Create(*system_);
    ASSERT_TRUE(child) << child.error().message();
    ASSERT_TRUE(m_->ForkInto(**child)) << "fork " << i;
    forks.push_back(std::move(*child));
  }
  ASSERT_NE(m_->fork_base(), nullptr);
  for (auto& f : forks) {
    auto e = f->Run();
    ASSERT_TRUE(e) << e.error().message();
    ASSERT_EQ(e->kind, GuestExitKind::kSyscall);
    EXPECT_EQ(f->regs().gpr.rax, 5u);  // the template's value, not the other fork's 7
    e = f->Run();
    ASSERT_TRUE(e && e->kind == GuestExitKind::kSyscall);
    EXPECT_EQ(f->regs().gpr.rax, 7u);  // its own write
  }
  uint64_t got = 0;
  ASSERT_TRUE(m_->Read(kData, &got, 8));
  EXPECT_EQ(got, 5u);
  const uint64_t nine = 9;
  ASSERT_TRUE(m_->Write(kData, &nine, 8));
  EXPECT_EQ(m_->fork_base(), nullptr);  // the template changed: the next fork freezes it anew
  auto late = GuestMachine::Create(*system_);
  ASSERT_TRUE(late);
  ASSERT_TRUE(m_->ForkInto(**late));
  auto e = (*late)->Run();
  ASSERT_TRUE(e && e->kind == GuestExitKind::kSyscall);
  EXPECT_EQ((*late)->regs().gpr.rax, 9u);
}

TEST_F(GuestMachineTest, AForkKeepsTheTemplatesFileMappingsProtectionsAndXsave) {
  char path[] = "/tmp/kvmcore_test_XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  unlink(path);
  const uint64_t first = 0x5a5a5a5a12345678;
  std::vector<uint8_t> content(8192, 0);
  std::memcpy(content.data(), &first, 8);
  ASSERT_EQ(pwrite(fd, content.data(), content.size(), 0), 8192);
  ASSERT_TRUE(m_->MapFile(kData, 8192, PROT_READ, fd, 0));  // read-only: the store faults
  close(fd);
  ASSERT_TRUE(m_->MapAnonymous(0x700000, 4096, PROT_NONE));
  auto area = m_->GetXsave();
  ASSERT_TRUE(area);
  const uint64_t xmm0 = 0x1122334455667788;
  std::memcpy(area->data() + 160, &xmm0, 8);  // XMM0 in the legacy area
  (*area)[512] |= 2;                          // XSTATE_BV: SSE state is in the area
  ASSERT_TRUE(m_->SetXsave(*area));
  Load(g_read_write_twice());
  auto child = GuestMachine::Create(*system_);
  ASSERT_TRUE(child);
  ASSERT_TRUE(m_->ForkInto(**child));
  GuestMachine& f = **child;
  auto e = f.Run();
  ASSERT_TRUE(e) << e.error().message();
  ASSERT_EQ(e->kind, GuestExitKind::kException);
  EXPECT_EQ(e->vector, 14);            // a write to the read-only file page
  EXPECT_EQ(f.regs().gpr.rax, first);  // read from the file, through the base
  uint64_t got = 0;
  EXPECT_FALSE(f.Read(0x700000, &got, 8));  // PROT_NONE stays so
  auto child_area = f.GetXsave();
  ASSERT_TRUE(child_area);
  std::memcpy(&got, child_area->data() + 160, 8);
  EXPECT_EQ(got, xmm0);
}

TEST_F(GuestMachineTest, AForkNeedsAFreshMachine) {
  auto child = GuestMachine::Create(*system_);
  ASSERT_TRUE(child);
  ASSERT_TRUE((*child)->MapAnonymous(kData, 4096, PROT_READ));
  auto forked = m_->ForkInto(**child);
  ASSERT_FALSE(forked);
  EXPECT_EQ(forked.error().code(), EINVAL);
}

}  // namespace
}  // namespace cat::kvm
