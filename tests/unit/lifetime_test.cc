// Tests of what a long-running process needs from the loader (spec/sandbox.md, "Lifetimes"):
// any number of arenas registered with the state heap at once, from several threads; a
// sandbox's teardown gives its state back to malloc and leaves arena objects alone; a scoped
// CPU pin restores the thread's affinity; the platform is chosen by name; a logger carries
// its invocation id; the outcome of a run maps to a verdict per limit.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "format/state/arena.h"
#include "format/state/state_heap.h"
#include "format/state/state_release.h"
#include "loader/boot/invocation.h"
#include "loader/boot/sandbox.h"
#include "loader/kernel/logger.h"
#include "loader/platform/cpu_pin.h"
#include "loader/platform/platform_choice.h"
#include "loader/platform/ptrace/ptrace_platform.h"

namespace cat {
namespace {

TEST(StateHeapTest, ThousandsOfArenasAreRegisteredAtOnce) {
  // The old fixed table aborted past 64.
  constexpr int kArenas = 5000;
  std::vector<std::vector<uint8_t>> blocks(kArenas, std::vector<uint8_t>(64));
  const size_t before = state::RegisteredArenaCount();
  for (auto& b : blocks) state::RegisterArena(b.data(), b.size());
  EXPECT_EQ(state::RegisteredArenaCount(), before + kArenas);
  for (auto& b : blocks) {
    EXPECT_TRUE(state::InArena(b.data()));
    EXPECT_TRUE(state::InArena(b.data() + 63));
  }
  for (auto& b : blocks) state::UnregisterArena(b.data());
  EXPECT_EQ(state::RegisteredArenaCount(), before);
  for (auto& b : blocks) EXPECT_FALSE(state::InArena(b.data()));
}

TEST(StateHeapTest, ArenasRegisteredFromSeveralThreadsAreAllFound) {
  constexpr int kThreads = 4, kPerThread = 500;
  std::vector<std::vector<uint8_t>> blocks(kThreads * kPerThread, std::vector<uint8_t>(32));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto& b = blocks[t * kPerThread + i];
        state::RegisterArena(b.data(), b.size());
        // Frees of malloc'd memory go on meanwhile, on every thread.
        state::StateFree(state::StateAlloc(16));
      }
    });
  for (std::thread& t : threads) t.join();
  for (auto& b : blocks) EXPECT_TRUE(state::InArena(b.data() + 31));
  for (auto& b : blocks) state::UnregisterArena(b.data());
  for (auto& b : blocks) EXPECT_FALSE(state::InArena(b.data()));
}

TEST(StateHeapTest, AnAddressJustPastAnArenaIsNotInIt) {
  std::vector<uint8_t> b(128);
  state::RegisterArena(b.data(), 64);
  EXPECT_TRUE(state::InArena(b.data() + 63));
  EXPECT_FALSE(state::InArena(b.data() + 64));
  EXPECT_FALSE(state::InArena(b.data() - 1));
  state::UnregisterArena(b.data());
}

class TeardownTest : public ::testing::Test {
 protected:
  // A sandbox whose state holds heap objects: overlay files with contents, open files.
  std::unique_ptr<Sandbox> MakeBusySandbox() {
    auto sb = Sandbox::Create(platform_, SandboxOptions{}, [](const std::string&) {});
    EXPECT_TRUE(sb) << sb.error().message();
    if (!sb) return nullptr;
    SandboxKernel& k = (*sb)->kernel();
    const std::string bytes(1000, 'x');
    for (int i = 0; i < 40; ++i) {
      auto node = k.vfs.Resolve("/", "/tmp/f" + std::to_string(i), true);
      EXPECT_TRUE(node);
      auto file = k.files.Open(*node, O_CREAT | O_RDWR, 0644);
      EXPECT_TRUE(file);
      if (!file) continue;
      EXPECT_TRUE(k.files.Write(**file, bytes.data(), bytes.size(), std::nullopt));
      if (i % 2)
        EXPECT_TRUE(k.files.Install(*file, 0, false));  // half stay open
      else
        k.files.Unref(*file);
    }
    return std::move(*sb);
  }
  static size_t HeapInUse() { return mallinfo2().uordblks; }

  ptrace_platform::PtracePlatform platform_;
};

TEST_F(TeardownTest, DestroyingSandboxesGivesTheirStateBack) {
  MakeBusySandbox().reset();  // warm-up: first-use allocations of malloc and the kernel
  const size_t before = HeapInUse();
  for (int i = 0; i < 20; ++i) MakeBusySandbox().reset();
  // Each sandbox holds ~50 KiB of state; a teardown that left it behind grows the heap by 1 MiB.
  EXPECT_LT(HeapInUse(), before + 64 * 1024);
}

TEST_F(TeardownTest, ReleasingARestoredStateLeavesTheArenaAlone) {
  auto sb = MakeBusySandbox();
  ASSERT_TRUE(sb);
  state::ArenaImage image = state::BuildArena(sb->state());
  void* p =
      mmap(nullptr, image.bytes.size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  std::memcpy(p, image.bytes.data(), image.bytes.size());
  auto restored = state::RelocateArena(static_cast<uint8_t*>(p), image.bytes.size(),
                                       image.relocations.data(), image.relocations.size());
  ASSERT_TRUE(restored) << restored.error().message();
  // A heap object on top of the arena (what a guest's run adds): freed; the arena's: not
  // handed to free (which would abort on a pointer malloc never gave).
  (*restored)->process.cwd.Assign("/somewhere/else");
  state::ReleaseState(*restored);
  state::UnregisterArena(p);
  munmap(p, image.bytes.size());
}

TEST(CpuPinTest, PinsToOneCpuAndRestoresTheMaskAfter) {
  cpu_set_t before;
  ASSERT_EQ(sched_getaffinity(0, sizeof(before), &before), 0);
  int chosen = -1;
  for (int c = CPU_SETSIZE - 1; c >= 0 && chosen < 0; --c)
    if (CPU_ISSET(c, &before)) chosen = c;
  ASSERT_GE(chosen, 0);
  {
    CpuPin pin(chosen);
    ASSERT_TRUE(pin.pinned());
    EXPECT_EQ(pin.cpu(), chosen);
    cpu_set_t now;
    ASSERT_EQ(sched_getaffinity(0, sizeof(now), &now), 0);
    EXPECT_EQ(CPU_COUNT(&now), 1);
    EXPECT_TRUE(CPU_ISSET(chosen, &now));
  }
  cpu_set_t after;
  ASSERT_EQ(sched_getaffinity(0, sizeof(after), &after), 0);
  EXPECT_TRUE(CPU_EQUAL(&before, &after));
}

TEST(CpuPinTest, ACpuThatCannotBeUsedLeavesTheThreadAlone) {
  cpu_set_t before;
  ASSERT_EQ(sched_getaffinity(0, sizeof(before), &before), 0);
  CpuPin pin(CPU_SETSIZE + 5);
  EXPECT_FALSE(pin.pinned());
  cpu_set_t now;
  ASSERT_EQ(sched_getaffinity(0, sizeof(now), &now), 0);
  EXPECT_TRUE(CPU_EQUAL(&before, &now));
}

TEST(CpuPinTest, AShellInheritsThePinOfItsCreator) {
  ptrace_platform::PtracePlatform platform;
  const CpuPin pin;
  ASSERT_TRUE(pin.pinned());
  auto shell = ptrace_platform::PtraceShell::Create();
  ASSERT_TRUE(shell) << shell.error().message();
  cpu_set_t mask;
  ASSERT_EQ(sched_getaffinity((*shell)->pid(), sizeof(mask), &mask), 0);
  EXPECT_EQ(CPU_COUNT(&mask), 1);
  EXPECT_TRUE(CPU_ISSET(pin.cpu(), &mask));
}

TEST(ShellCreationTest, ShellsAreCreatedFromSeveralThreadsAtOnce) {
  ptrace_platform::PtracePlatform platform;
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        auto shell = platform.CreateShell();
        if (!shell || !(*shell)->MapAnonymous(0x400000, 4096, PROT_READ | PROT_WRITE)) ++failed;
      }
    });
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
}

TEST(PlatformChoiceTest, PtraceGivesThePtracePlatform) {
  auto p = ChoosePlatform("ptrace");
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ((*p)->name(), "ptrace");
}

// auto is kvm exactly when kvm can be chosen (its self-test passes), and says why not.
TEST(PlatformChoiceTest, AutoIsKvmWhenKvmWorksElsePtrace) {
  std::string why;
  auto p = ChoosePlatform("auto", &why);
  ASSERT_TRUE(p) << p.error().message();
  auto kvm = ChoosePlatform("kvm");
  EXPECT_EQ((*p)->name(), kvm ? "kvm" : "ptrace");
  if ((*p)->name() == "kvm") {
    EXPECT_EQ(why, "");
  }
  if (!kvm && access("/dev/kvm", F_OK) == 0) {
    EXPECT_NE(why, "") << "no reason given";
  }
}

TEST(PlatformChoiceTest, KvmWhereItCannotRunSaysToUsePtrace) {
  auto p = ChoosePlatform("kvm");
  if (p) GTEST_SKIP() << "this host's KVM passes the self-test";
  EXPECT_NE(p.error().message().find("--platform ptrace"), std::string::npos)
      << p.error().message();
}

// A self-test failure reads "kvm self-test: WHY", the stage named once (it was said twice).
TEST(PlatformChoiceTest, AFailedSelfTestNamesItselfOnce) {
  auto p = ChoosePlatform("kvm");
  if (p) GTEST_SKIP() << "this host's KVM passes the self-test";
  const std::string& m = p.error().message();
  if (m.find("kvm self-test") == std::string::npos) GTEST_SKIP() << "no self-test ran: " << m;
  EXPECT_EQ(m.find("kvm self-test"), m.rfind("kvm self-test")) << m;
}

TEST(PlatformChoiceTest, AnUnknownNameIsRefusedNamingTheChoices) {
  auto p = ChoosePlatform("kvm-someday");
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code(), EINVAL);
  EXPECT_NE(p.error().message().find("ptrace"), std::string::npos);
}

TEST(LoggerTest, EveryLineCarriesTheInvocationId) {
  std::vector<std::pair<std::string, std::string>> lines;
  Logger log("inv-7", [&](std::string_view id, const std::string& line) {
    lines.emplace_back(std::string(id), line);
  });
  log("one");
  Logger other = log.WithId("inv-8");
  other("two");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], std::make_pair(std::string("inv-7"), std::string("one")));
  EXPECT_EQ(lines[1], std::make_pair(std::string("inv-8"), std::string("two")));
}

TEST(LoggerTest, APlainLineSinkIsALoggerWithoutId) {
  std::string got;
  Logger log([&](const std::string& line) { got = line; });
  log("x");
  EXPECT_EQ(got, "x");
  EXPECT_EQ(log.invocation_id(), "");
  Logger none;
  none("dropped");  // no sink: nothing happens
}

TEST(VerdictTest, EachLimitHasItsOwnVerdict) {
  using K = GuestOutcome::Kind;
  EXPECT_EQ(Classify({K::kTimeout}), Verdict::kTimeout);
  EXPECT_EQ(Classify({K::kCpuLimit, SIGXCPU}), Verdict::kCpuLimit);
  EXPECT_EQ(Classify({K::kOutputLimit, SIGXFSZ}), Verdict::kOutputLimit);
  EXPECT_EQ(Classify({K::kFault, SIGSEGV}), Verdict::kFault);
  EXPECT_EQ(Classify({K::kSignaled, SIGABRT}), Verdict::kSignaled);
  EXPECT_EQ(Classify({K::kShellDied, SIGKILL}), Verdict::kShellDied);
  EXPECT_EQ(Classify({K::kExited, 3}), Verdict::kExited);
}

TEST(VerdictTest, AFailureAfterTheMemoryLimitRefusedIsAMemoryLimitVerdict) {
  using K = GuestOutcome::Kind;
  GuestOutcome exited1{K::kExited, 1};
  exited1.memory_limit_hit = true;
  EXPECT_EQ(Classify(exited1), Verdict::kMemoryLimit);
  GuestOutcome crashed{K::kFault, SIGSEGV};
  crashed.memory_limit_hit = true;
  EXPECT_EQ(Classify(crashed), Verdict::kMemoryLimit);
  // A guest that coped with the refusal and succeeded is just that.
  GuestOutcome coped{K::kExited, 0};
  coped.memory_limit_hit = true;
  EXPECT_EQ(Classify(coped), Verdict::kExited);
  // A timeout stays a timeout.
  GuestOutcome late{K::kTimeout};
  late.memory_limit_hit = true;
  EXPECT_EQ(Classify(late), Verdict::kTimeout);
}

TEST(VerdictTest, NamesAreStableAndDistinct) {
  std::set<std::string_view> names;
  for (Verdict v :
       {Verdict::kExited, Verdict::kSignaled, Verdict::kFault, Verdict::kTimeout,
        Verdict::kCpuLimit, Verdict::kOutputLimit, Verdict::kMemoryLimit, Verdict::kShellDied})
    names.insert(VerdictName(v));
  EXPECT_EQ(names.size(), 8u);
  EXPECT_EQ(VerdictName(Verdict::kMemoryLimit), "memory_limit");
}

}  // namespace
}  // namespace cat
