// The one way the sandbox kernel opens a host file below a directory (a mount's host
// directory): openat2 beneath it, no symlinks, and never blocking. A host file the guest may
// reach can be swapped for a FIFO at any time — between a stat and the open, or between a
// capture and a reconnection — and a blocking open of a FIFO waits for a peer that never comes,
// holding the tracer thread (a server's worker) past every limit, since a watchdog stops the
// shell, not catload's own open. So the open is O_NONBLOCK | O_NOCTTY, what it opened is
// fstat-ed, and a device, FIFO or socket is refused (EACCES, spec/abi.md §3: never opened);
// O_NONBLOCK is then cleared again unless the caller asked for it.
#pragma once

#include <sys/types.h>

#include <string>

#include "format/base/error.h"
#include "format/base/unique_fd.h"

namespace cat {

// Opens `rel` below `dirfd` (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
// O_CLOEXEC added). `flags` are open(2)'s; an O_PATH open is done as given (it neither blocks
// nor reaches a driver). `what` names the file in errors ("open /data/x: ...").
Result<UniqueFd> OpenHostBeneath(int dirfd, const std::string& rel, int flags, mode_t mode,
                                 const std::string& what);

}  // namespace cat
