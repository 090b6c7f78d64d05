// Tests of HostBindings (loader/kernel/host_bindings.h): a channel number read from the state
// names a host fd only if it is one of the channels the boot caller bound. The state verifier
// refuses other numbers first; this is the check behind it, which must not read past the table.
#include "loader/kernel/host_bindings.h"

#include <gtest/gtest.h>

namespace cat {
namespace {

TEST(HostBindings, EachChannelNamesTheFdItWasBoundTo) {
  HostBindings b;
  b.channel_fds = {7, 8, 9};
  EXPECT_EQ(b.ChannelFd(state::StdioChannel::kRequest), 7);
  EXPECT_EQ(b.ChannelFd(state::StdioChannel::kResponse), 8);
  EXPECT_EQ(b.ChannelFd(state::StdioChannel::kLog), 9);
}

// The first number past the last channel and the largest one: no fd, whatever lies beside the
// table (here a mount directory, so that reading one past the array finds something).
TEST(HostBindings, AChannelNumberPastTheLastNamesNoFd) {
  HostBindings b;
  b.channel_fds = {7, 8, 9};
  b.mount_dirs = {"/srv/data"};
  for (uint32_t n : {state::kNumStdioChannels, state::kNumStdioChannels + 1, UINT32_MAX})
    EXPECT_EQ(b.ChannelFd(static_cast<state::StdioChannel>(n)), -1) << n;
}

}  // namespace
}  // namespace cat
