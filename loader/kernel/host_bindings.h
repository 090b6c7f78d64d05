// The host objects a sandbox kernel may reach, supplied by whoever boots it and never read
// from the state: the host fd behind each stdio channel and the host directory behind each
// mount. The persistent state names only guest-side things (a channel number, a mount's guest
// path and captured access), so a tampered image or checkpoint cannot point the guest at a
// host fd or directory the operator did not give. Transient: never serialized.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "format/state/file_table.h"

namespace cat {

// Host fd of each channel (request, response, log); -1: not bound (I/O fails with EBADF). The
// fds stay the caller's: the sandbox neither closes nor keeps them past its own life.
using ChannelFds = std::array<int, state::kNumStdioChannels>;
// catload's own stdin, stdout and stderr: what a command-line boot binds the channels to.
constexpr ChannelFds kProcessStdio{0, 1, 2};

struct HostBindings {
  ChannelFds channel_fds = kProcessStdio;
  // Host directory of each mount, by index into SandboxState::mounts; "" for a mount without
  // host backing (the empty root).
  std::vector<std::string> mount_dirs;

  // The host fd behind a channel number read from the state, -1 if it names no channel.
  int ChannelFd(state::StdioChannel channel) const {
    const auto i = static_cast<uint32_t>(channel);
    return i < channel_fds.size() ? channel_fds[i] : -1;
  }
};

}  // namespace cat
