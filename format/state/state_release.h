// Freeing a whole persistent state at teardown: every block the state graph reaches (objects,
// array and string buffers) and the root, each once however many slots share it. Blocks that
// live in a registered arena are left to the arena's mapping (StateFree ignores them), so the
// same call frees a state built at run time, one read from a checkpoint stream and a restored
// arena with whatever the guest allocated on top of it. The arena must still be registered
// and mapped while this runs: the walk reads it.
#pragma once

#include "format/state/sandbox_state.h"

namespace cat::state {

// Frees `state` and everything it reaches; null is a no-op. Transient host resources (host
// fds, mount dirfds) are the kernel's and must be closed first.
void ReleaseState(SandboxState* state);

}  // namespace cat::state
