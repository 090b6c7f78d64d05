// Readiness of every kind of open file (see readiness.h).
#include "loader/kernel/readiness.h"

#include <fcntl.h>

#include "format/state/state_limits.h"
#include "loader/kernel/files.h"
#include "loader/kernel/live_file.h"

namespace cat {
namespace {

constexpr short kIn = POLLIN | POLLRDNORM;
constexpr short kOut = POLLOUT | POLLWRNORM;

// A stdio channel is a host fd of catload's (a pipe, a file, a terminal): asked without
// waiting, and watched while the guest waits.
short StdioReadiness(Files& files, const state::OpenFile& f, WaitSpec* wait) {
  const bool in = f.channel == state::StdioChannel::kRequest;
  if (files.ShownAsEmptyPipe(f)) return 0;  // at capture: the request has not come yet
  auto fd = files.StdioFd(f);
  // An unbound channel reads as at end of file and writes as to a closed pipe.
  if (!fd) return in ? short(kIn | POLLHUP) : short(POLLERR);
  pollfd p{*fd, static_cast<short>(in ? POLLIN : POLLOUT), 0};
  if (poll(&p, 1, 0) < 0) return POLLERR;
  short ready = 0;
  if (p.revents & POLLIN) ready |= kIn;
  if (p.revents & POLLOUT) ready |= kOut;
  ready |= p.revents & (POLLHUP | POLLERR);
  if (p.revents & POLLNVAL) ready |= POLLERR;
  if (wait && ready == 0) wait->WatchHostFd(*fd, p.events);
  return ready;
}

short PipeReadiness(const state::OpenFile& f) {
  const state::Pipe& p = *f.pipe;
  short ready = 0;
  if ((f.status_flags & O_ACCMODE) != O_WRONLY) {
    if (p.buffer.size > p.head) ready |= kIn;
    if (p.writers == 0) ready |= POLLHUP;
  }
  if ((f.status_flags & O_ACCMODE) != O_RDONLY) {
    if (p.readers == 0)
      ready |= POLLERR;
    else if (p.buffer.size - p.head < state::kPipeCapacity)
      ready |= kOut;
  }
  return ready;
}

}  // namespace

short FileReadiness(Files& files, state::OpenFile& f, WaitSpec* wait) {
  switch (f.kind) {
    case state::FileKind::kStdio:
      return StdioReadiness(files, f, wait);
    case state::FileKind::kPipe:
      return PipeReadiness(f);
    case state::FileKind::kHost:
    case state::FileKind::kOverlay:
    case state::FileKind::kSynthetic:
      // Regular files, directories and devices (/dev/null, /dev/zero, /dev/urandom) never
      // block: always readable and writable, whatever the access mode (as Linux).
      return kIn | kOut;
    case state::FileKind::kLive:
      if (LiveFile* live = files.Live(f)) return live->Ready(wait);
      return POLLERR;
  }
  return POLLERR;
}

}  // namespace cat
