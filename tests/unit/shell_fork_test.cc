// Tests of the ptrace shell's sfork (PtraceShell::Fork), its hand-over between threads
// (ReleaseThread / AttachThread) and the zygote pool built on both (loader/boot/shell_pool.h).
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <condition_variable>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>

#include "loader/boot/shell_pool.h"
#include "loader/platform/ptrace/ptrace_platform.h"

namespace cat::ptrace_platform {
namespace {

constexpr uint64_t kAddr = 0x400000;

std::unique_ptr<PtraceShell> NewShell() {
  auto s = PtraceShell::Create();
  EXPECT_TRUE(s) << s.error().message();
  return s ? std::move(*s) : nullptr;
}

std::unique_ptr<Shell> ForkOf(Shell& parent) {
  auto c = parent.Fork();
  EXPECT_TRUE(c) << c.error().message();
  return c ? std::move(*c) : nullptr;
}

// Guest code at kAddr: `mov eax, 39 (getpid); syscall`.
void LoadGetpid(Shell& shell) {
  ASSERT_TRUE(shell.MapAnonymous(kAddr, 4096, PROT_READ | PROT_WRITE));
  const unsigned char code[] = {0xb8, 39, 0, 0, 0, 0x0f, 0x05};
  ASSERT_TRUE(shell.Write(kAddr, code, sizeof(code)));
  ASSERT_TRUE(shell.Protect(kAddr, 4096, PROT_READ | PROT_EXEC));
  GuestRegs regs = shell.regs();
  regs.rip = kAddr;
  shell.SetRegs(regs);
}

pid_t ParentOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // "pid (comm) state ppid ...": comm may hold spaces, so start after the last ')'.
  const size_t at = stat.rfind(')');
  return at == std::string::npos ? -1 : std::stoi(stat.substr(at + 4));
}

TEST(ShellFork, ChildMemoryIsACopyOnWriteOfTheParents) {
  auto parent = NewShell();
  ASSERT_TRUE(parent);
  ASSERT_TRUE(parent->MapAnonymous(kAddr, 4096, PROT_READ | PROT_WRITE));
  ASSERT_TRUE(parent->Write(kAddr, "A", 1));
  auto child = ForkOf(*parent);
  ASSERT_TRUE(child);
  char c = 0;
  ASSERT_TRUE(child->Read(kAddr, &c, 1));
  EXPECT_EQ(c, 'A');
  ASSERT_TRUE(child->Write(kAddr, "B", 1));
  ASSERT_TRUE(parent->Read(kAddr, &c, 1));
  EXPECT_EQ(c, 'A') << "a child's write is seen by its template";
  ASSERT_TRUE(parent->Write(kAddr, "C", 1));
  ASSERT_TRUE(child->Read(kAddr, &c, 1));
  EXPECT_EQ(c, 'B') << "a template's write is seen by its child";
}

TEST(ShellFork, TwoChildrenDoNotShareMemory) {
  auto parent = NewShell();
  ASSERT_TRUE(parent);
  ASSERT_TRUE(parent->MapAnonymous(kAddr, 4096, PROT_READ | PROT_WRITE));
  auto a = ForkOf(*parent);
  auto b = ForkOf(*parent);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->Write(kAddr, "a", 1));
  char c = 0;
  ASSERT_TRUE(b->Read(kAddr, &c, 1));
  EXPECT_EQ(c, 0);
}

TEST(ShellFork, ChildStartsWithTheParentsRegistersAndRunsAlone) {
  auto parent = NewShell();
  ASSERT_TRUE(parent);
  LoadGetpid(*parent);
  GuestRegs regs = parent->regs();
  regs.rbx = 0x1234;
  parent->SetRegs(regs);
  auto child = ForkOf(*parent);
  ASSERT_TRUE(child);
  EXPECT_EQ(child->regs().rip, kAddr);
  EXPECT_EQ(child->regs().rbx, 0x1234u);
  auto stop = child->Run();
  ASSERT_TRUE(stop) << stop.error().message();
  EXPECT_EQ(stop->reason, StopReason::kSyscall);
  EXPECT_EQ(child->regs().orig_rax, 39u);
  EXPECT_EQ(child->regs().rbx, 0x1234u);
  // The parent has not moved: it runs the same code from the start.
  auto again = parent->Run();
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again->reason, StopReason::kSyscall);
  EXPECT_EQ(parent->regs().rip, kAddr + 7);
}

TEST(ShellFork, ChildIsCatloadsChildNotTheTemplates) {
  auto parent = NewShell();
  ASSERT_TRUE(parent);
  auto child = ForkOf(*parent);
  ASSERT_TRUE(child);
  EXPECT_EQ(ParentOf(static_cast<PtraceShell&>(*child).pid()), getpid());
}

TEST(ShellFork, OnlyTheTracerThreadCanFork) {
  auto parent = NewShell();
  ASSERT_TRUE(parent);
  bool failed = false;
  std::thread([&] { failed = !parent->Fork(); }).join();
  EXPECT_TRUE(failed);
  EXPECT_TRUE(ForkOf(*parent));  // and the shell is still fine for its own thread
}

// Makes a shell on a thread of its own and releases it there; the thread lives until the
// object goes (a shell created by Create dies with the thread that made it).
class ShellOnAnotherThread {
 public:
  ShellOnAnotherThread() {
    thread_ = std::thread([this] {
      shell_ = NewShell();
      released_ = shell_ && shell_->ReleaseThread().has_value();
      std::unique_lock lock(mutex_);
      ready_ = true;
      cv_.notify_all();
      cv_.wait(lock, [this] { return done_; });
    });
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [this] { return ready_; });
  }
  ~ShellOnAnotherThread() {
    shell_.reset();
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  PtraceShell* shell() { return released_ ? shell_.get() : nullptr; }

 private:
  std::unique_ptr<PtraceShell> shell_;
  bool released_ = false;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool ready_ = false, done_ = false;
  std::thread thread_;
};

TEST(ShellHandOff, ShellMadeOnOneThreadRunsOnAnother) {
  ShellOnAnotherThread other;
  PtraceShell* shell = other.shell();
  ASSERT_TRUE(shell);
  ASSERT_TRUE(shell->AttachThread());
  LoadGetpid(*shell);
  auto stop = shell->Run();
  ASSERT_TRUE(stop) << stop.error().message();
  EXPECT_EQ(stop->reason, StopReason::kSyscall);
  EXPECT_EQ(shell->regs().orig_rax, 39u);
}

TEST(ShellHandOff, WithoutAttachTheShellCannotBeControlled) {
  ShellOnAnotherThread other;
  PtraceShell* shell = other.shell();
  ASSERT_TRUE(shell);
  EXPECT_FALSE(shell->MapAnonymous(kAddr, 4096, PROT_READ));
  ASSERT_TRUE(shell->AttachThread());
  EXPECT_TRUE(shell->MapAnonymous(kAddr, 4096, PROT_READ));
}

TEST(ShellPoolTest, TakenShellsWorkAndTheThreadRefillsThem) {
  PtracePlatform platform;
  auto pool = ShellPool::Start(platform, 2);
  ASSERT_TRUE(pool) << pool.error().message();
  (*pool)->WaitFull();
  EXPECT_EQ((*pool)->ready(), 2u);
  auto shell = (*pool)->Take();
  ASSERT_TRUE(shell) << shell.error().message();
  EXPECT_EQ((*pool)->misses(), 0u);
  LoadGetpid(**shell);
  auto stop = (*shell)->Run();
  ASSERT_TRUE(stop) << stop.error().message();
  EXPECT_EQ(stop->reason, StopReason::kSyscall);
  (*pool)->Replenish();
  (*pool)->WaitFull();
  EXPECT_EQ((*pool)->ready(), 2u);
}

TEST(ShellPoolTest, AnEmptyPoolMakesAShellAndCountsAMiss) {
  PtracePlatform platform;
  auto pool = ShellPool::Start(platform, 1);
  ASSERT_TRUE(pool) << pool.error().message();
  (*pool)->WaitFull();
  auto first = (*pool)->Take();  // no Replenish: the pool stays empty
  auto second = (*pool)->Take();
  ASSERT_TRUE(first && second);
  EXPECT_EQ((*pool)->misses(), 1u);
  LoadGetpid(**second);
  auto stop = (*second)->Run();
  ASSERT_TRUE(stop) << stop.error().message();
  EXPECT_EQ(stop->reason, StopReason::kSyscall);
}

}  // namespace
}  // namespace cat::ptrace_platform
