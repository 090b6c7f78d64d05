// A small but real sandbox-kernel state for tests that need a state arena without a shell:
// the objects a booted function has (process identity, the root mount, cwd, stdio fds, an
// overlay directory), laid out by the arena builder. Tests that write images use it so that
// the state verifier sees what catimg build would produce.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>

#include "format/state/arena.h"
#include "format/state/persistent.h"
#include "format/state/sandbox_state.h"

namespace cat::testing {

inline state::SandboxState* MinimalState() {
  auto* s = state::New<state::SandboxState>();
  s->process.pid = 1;
  s->process.next_tid = 2;
  s->threads.PushBack(state::Thread{});
  s->threads[0].tid = 1;
  s->process.umask = 022;
  s->process.cwd.Assign("/");
  s->memory.mmap_top = 0x7ffff7fff000ull;
  s->memory.limit_bytes = 1ull << 31;
  s->fds.max_fds = 1024;
  state::Mount root{};
  root.guest_path.Assign("/");
  root.host_dirfd = -1;
  s->mounts.PushBack(root);
  for (int fd = 0; fd < 3; ++fd) {
    auto* f = state::New<state::OpenFile>();
    f->refs = 1;
    f->kind = state::FileKind::kStdio;
    f->status_flags = fd == 0 ? O_RDONLY : O_WRONLY;
    f->channel = static_cast<state::StdioChannel>(fd);
    f->host_fd = -1;
    s->fds.entries.PushBack({f, 0, 0});
  }
  return s;
}

inline state::ArenaImage MinimalArena() {
  return state::BuildArena(*MinimalState());
}

}  // namespace cat::testing
