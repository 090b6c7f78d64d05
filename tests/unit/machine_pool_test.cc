// kvmcore's pool of pre-created VMs for fork boot (machine_pool.h) and the kvm shell's forks
// from it, on a usable KVM (skipped elsewhere; the QEMU harness runs them): a fork into a
// pooled VM starts from the template and writes privately, two forks are isolated, and a VM
// that was used is never handed out again.
#include "kvmcore/machine_pool.h"

#include <sys/mman.h>

#include <cstring>
#include <memory>

#include "kvmcore/guest_machine.h"
#include "loader/platform/kvm/kvm_platform.h"
#include "tests/unit/kvm_test_support.h"

namespace cat::kvm {
namespace {

// Reads the data word, writes 7 over it, and reports what it read; then reports it again.
GUEST_CODE(pool_read_write_twice,
           "mov 0x600000, %rax; movq $7, 0x600000; syscall; mov 0x600000, %rax; syscall")

constexpr uint64_t kCode = 0x400000, kData = 0x600000, kStack = 0x800000;

class GuestMachinePoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SKIP_WITHOUT_KVM();
    auto sys = KvmSystem::Open();
    ASSERT_TRUE(sys) << sys.error().message();
    system_ = std::make_shared<const KvmSystem>(std::move(*sys));
    auto m = GuestMachine::Create(*system_);
    ASSERT_TRUE(m) << m.error().message();
    tmpl_ = std::move(*m);
    ASSERT_TRUE(tmpl_->MapAnonymous(kCode, 4096, PROT_READ | PROT_WRITE | PROT_EXEC));
    ASSERT_TRUE(tmpl_->MapAnonymous(kStack - 65536, 65536, PROT_READ | PROT_WRITE));
    ASSERT_TRUE(tmpl_->MapAnonymous(kData, 4096, PROT_READ | PROT_WRITE));
    const std::vector<uint8_t> code = pool_read_write_twice();
    ASSERT_TRUE(tmpl_->Write(kCode, code.data(), code.size()));
    const uint64_t five = 5;
    ASSERT_TRUE(tmpl_->Write(kData, &five, 8));
    UserRegs r = tmpl_->regs();
    r.gpr.rip = kCode;
    r.gpr.rsp = kStack;
    tmpl_->SetRegs(r);
    pool_ = std::make_unique<MachinePool>(system_, 2);
    pool_->Start(tmpl_->cpuid());
    pool_->WaitFull();
    ASSERT_EQ(pool_->ready(), 2u);
  }
  // A fork of the template into a VM the pool had ready.
  std::unique_ptr<GuestMachine> PooledFork() {
    bool from_pool = false;
    auto child = pool_->Take(tmpl_->cpuid(), &from_pool);
    EXPECT_TRUE(child) << child.error().message();
    if (!child) return nullptr;
    EXPECT_TRUE(from_pool);
    Status forked = tmpl_->ForkInto(**child);
    EXPECT_TRUE(forked) << forked.error().message();
    return forked ? std::move(*child) : nullptr;
  }
  // Runs `m` to its next syscall and returns the rax it reported.
  static uint64_t RunToSyscall(GuestMachine& m) {
    auto e = m.Run();
    EXPECT_TRUE(e) << e.error().message();
    EXPECT_TRUE(e && e->kind == GuestExitKind::kSyscall);
    return m.regs().gpr.rax;
  }
  std::shared_ptr<const KvmSystem> system_;
  std::unique_ptr<GuestMachine> tmpl_;
  std::unique_ptr<MachinePool> pool_;
};

TEST_F(GuestMachinePoolTest, AForkIntoAPooledVmStartsFromTheTemplateAndWritesPrivately) {
  auto f = PooledFork();
  ASSERT_TRUE(f);
  EXPECT_EQ(pool_->hits(), 1u);
  EXPECT_EQ(pool_->misses(), 0u);
  EXPECT_EQ(RunToSyscall(*f), 5u);  // the template's memory and registers
  EXPECT_EQ(RunToSyscall(*f), 7u);  // its own write
  uint64_t got = 0;
  ASSERT_TRUE(tmpl_->Read(kData, &got, 8));
  EXPECT_EQ(got, 5u);  // the template never sees it
}

TEST_F(GuestMachinePoolTest, TwoForksFromThePoolAreIsolated) {
  auto a = PooledFork();
  auto b = PooledFork();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(RunToSyscall(*a), 5u);
  EXPECT_EQ(RunToSyscall(*a), 7u);
  const uint64_t nine = 9;
  ASSERT_TRUE(a->Write(kData, &nine, 8));
  EXPECT_EQ(RunToSyscall(*b), 5u);  // neither a's store nor its Write
  uint64_t got = 0;
  ASSERT_TRUE(a->Read(kData, &got, 8));
  EXPECT_EQ(got, 9u);  // and b's store is not in a
}

TEST_F(GuestMachinePoolTest, AUsedVmIsNeverHandedOutAgain) {
  auto used = PooledFork();
  ASSERT_TRUE(used);
  EXPECT_EQ(RunToSyscall(*used), 5u);
  pool_->Retire(std::move(used));
  pool_->Replenish();
  pool_->WaitFull();
  // Everything the pool holds now is fresh: never ran, no guest memory, nothing to read at
  // the used VM's addresses.
  ASSERT_GE(pool_->ready(), pool_->size());
  for (size_t i = 0; pool_->ready() > 0; ++i) {
    bool from_pool = false;
    auto m = pool_->Take(tmpl_->cpuid(), &from_pool);
    ASSERT_TRUE(m) << m.error().message();
    EXPECT_TRUE(from_pool);
    EXPECT_EQ((*m)->exits(), 0u) << "machine " << i;
    EXPECT_EQ((*m)->mappings(), 0u) << "machine " << i;
    uint64_t got = 0;
    EXPECT_FALSE((*m)->Read(kData, &got, 8)) << "machine " << i;
  }
  EXPECT_EQ(pool_->made(), 3u);  // the used one was replaced, not given back
}

TEST_F(GuestMachinePoolTest, APooledVmTakesTheCpuidItIsTakenWith) {
  std::vector<kvm_cpuid_entry2> other = tmpl_->cpuid();
  for (kvm_cpuid_entry2& e : other)
    if (e.function == 1) e.ecx &= ~(1u << 0);  // no SSE3: not what the pool made its VMs with
  bool from_pool = false;
  auto m = pool_->Take(other, &from_pool);
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_TRUE(from_pool);
  ASSERT_EQ((*m)->cpuid().size(), other.size());
  EXPECT_EQ(std::memcmp((*m)->cpuid().data(), other.data(), other.size() * sizeof(other[0])), 0);
}

TEST_F(GuestMachinePoolTest, AnEmptyPoolMakesTheVmOnTheCallersPath) {
  auto a = pool_->Take(tmpl_->cpuid());
  auto b = pool_->Take(tmpl_->cpuid());
  ASSERT_TRUE(a && b);
  bool from_pool = true;
  auto c = pool_->Take(tmpl_->cpuid(), &from_pool);
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_FALSE(from_pool);
  EXPECT_EQ(pool_->misses(), 1u);
  EXPECT_TRUE(tmpl_->ForkInto(**c));
}

// A machine that ran is not fresh even without a mapping left (its vCPU's state, its TLB):
// ForkInto refuses it.
TEST_F(GuestMachinePoolTest, AForkNeedsAVmThatNeverRan) {
  auto ran = pool_->Take(tmpl_->cpuid());
  ASSERT_TRUE(ran) << ran.error().message();
  auto e = (*ran)->Run();  // nothing mapped: a page fault at rip 0
  ASSERT_TRUE(e) << e.error().message();
  ASSERT_EQ(e->kind, GuestExitKind::kException);
  ASSERT_EQ((*ran)->mappings(), 0u);
  Status forked = tmpl_->ForkInto(**ran);
  ASSERT_FALSE(forked);
  EXPECT_EQ(forked.error().code(), EINVAL);
}

}  // namespace
}  // namespace cat::kvm

namespace cat::kvm_platform {
namespace {

// The kvm shell's Fork takes its VM from the platform's pool once a template asked for it
// (PrepareForks), and a fork's VM is never anything but the template's copy.
TEST(KvmForkPoolTest, AShellForkTakesAPooledVmAndStartsFromTheTemplate) {
  SKIP_WITHOUT_KVM();
  auto p = KvmPlatform::Open();
  ASSERT_TRUE(p) << p.error().message();
  auto tmpl = (*p)->CreateShell();
  ASSERT_TRUE(tmpl) << tmpl.error().message();
  Shell& t = **tmpl;
  ASSERT_TRUE(t.MapAnonymous(0x600000, 4096, PROT_READ | PROT_WRITE));
  const uint64_t five = 5;
  ASSERT_TRUE(t.Write(0x600000, &five, 8));
  EXPECT_EQ(t.VmPooled(), 0);  // made by CreateShell, on the caller's path
  t.PrepareForks();
  (*p)->WaitForPools();
  for (int i = 0; i < 2; ++i) {
    auto child = t.Fork();
    ASSERT_TRUE(child) << child.error().message();
    EXPECT_EQ((*child)->VmPooled(), 1) << "fork " << i;
    uint64_t got = 0;
    ASSERT_TRUE((*child)->Read(0x600000, &got, 8));
    EXPECT_EQ(got, 5u) << "fork " << i;  // not the previous fork's 9
    const uint64_t nine = 9;
    ASSERT_TRUE((*child)->Write(0x600000, &nine, 8));
  }
  uint64_t got = 0;
  ASSERT_TRUE(t.Read(0x600000, &got, 8));
  EXPECT_EQ(got, 5u);
  EXPECT_EQ((*p)->fork_pool().hits(), 2u);
  EXPECT_EQ((*p)->fork_pool().misses(), 0u);
  (*p)->WaitForPools();  // the forks' VMs torn down on the pool's thread, two new ones made
  EXPECT_EQ((*p)->fork_pool().ready(), KvmPlatform::kForkPoolSize);
}

}  // namespace
}  // namespace cat::kvm_platform
