// Tests of Sandbox::Adopt's ceilings (loader/boot/sandbox.h): a restored state's recorded limits
// are lowered to the operator's --memory-limit and --max-fds, never raised by the snapshot.
#include <gtest/gtest.h>

#include "loader/boot/sandbox.h"
#include "loader/platform/ptrace/ptrace_platform.h"
#include "tests/unit/state_fixture.h"

namespace cat {
namespace {

TEST(SandboxCeilings, RecordedMaxFdsIsLoweredToTheOperatorsCeiling) {
  ptrace_platform::PtracePlatform platform;
  state::SandboxState* s = cat::testing::MinimalState();
  ASSERT_EQ(s->fds.max_fds, 1024u);
  auto sb = Sandbox::Adopt(
      platform, s, [](const std::string&) {}, nullptr, {}, {}, 0, 64);
  ASSERT_TRUE(sb) << sb.error().message();
  EXPECT_EQ((*sb)->state().fds.max_fds, 64u);
}

}  // namespace
}  // namespace cat
