// Tests of the cold boot (loader/boot/cold_boot.h) that need a real shell: --timeout bounds the
// whole boot, not only the run that follows it (issue 7: an image whose code loops while its
// segments are being mapped hung catload, since no watchdog ran during the boot).
#include "loader/boot/cold_boot.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "format/base/host_clock.h"
#include "format/state/layout_fingerprint.h"
#include "loader/platform/ptrace/ptrace_platform.h"
#include "loader/platform/ptrace/stub.h"
#include "tests/unit/state_fixture.h"
#include "tests/unit/test_support.h"

namespace cat {
namespace {

using testing::TempDir;

// Hands out ptrace shells whose trampoline batch loop (what maps memory segments) is `jmp .`:
// the boot's mapping step then never returns by itself, as with trampoline code that loops.
class SpinningMapPlatform : public Platform {
 public:
  std::string_view name() const override { return "ptrace (spinning map)"; }
  Result<std::unique_ptr<Shell>> CreateShell() override {
    TRY(std::unique_ptr<ptrace_platform::PtraceShell> s, ptrace_platform::PtraceShell::Create());
    TRY_STATUS(s->Protect(ptrace_platform::kStubBase, 4096, PROT_READ | PROT_WRITE | PROT_EXEC));
    const unsigned char spin[] = {0xeb, 0xfe};
    TRY_STATUS(s->Write(ptrace_platform::kStubBatch, spin, sizeof(spin)));
    pid = s->pid();
    return std::unique_ptr<Shell>(std::move(s));
  }
  std::atomic<pid_t> pid{0};
};

TEST(ColdBootTest, TimeoutEndsABootWhoseSegmentMappingNeverReturns) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  FuncImageSpec spec;
  spec.function = {"spin", "/bin/spin", {"spin"}, {}, "explicit", "", {}};
  spec.layout_fingerprint = state::StateLayoutFingerprint();
  spec.regs.rip = 0x400000;
  spec.segments = {{0x400000, 4096, PROT_READ | PROT_WRITE, 0, nullptr}};
  const state::ArenaImage arena = cat::testing::MinimalArena();
  spec.arena = arena.bytes;
  spec.relocations = arena.relocations;
  const std::string path = dir.path() + "/spin.cfi";
  ASSERT_TRUE(WriteFuncImage(path, spec));
  auto image = FuncImage::Open(path);
  ASSERT_TRUE(image) << image.error().message();

  SpinningMapPlatform platform;
  BootStats stats;
  RunLimits limits;
  limits.timeout_s = 0.3;
  limits.start_ns = stats.start_ns();
  // Should the boot not be watched, a guard kills the shell after 5 s: the boot then fails
  // with another error (the test fails) instead of hanging.
  std::atomic<bool> done{false};
  std::thread guard([&] {
    for (int i = 0; i < 100 && !done.load(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (!done.load() && platform.pid.load() > 0) kill(platform.pid.load(), SIGKILL);
  });
  auto sb = ColdBoot(
      platform, *image, Reconnect::kLazy, {}, limits, [](const std::string&) {}, stats);
  done.store(true);
  guard.join();
  ASSERT_FALSE(sb) << "the boot of an image whose segment mapping loops succeeded";
  EXPECT_EQ(sb.error().code(), ETIMEDOUT) << sb.error().message();
}

}  // namespace
}  // namespace cat
