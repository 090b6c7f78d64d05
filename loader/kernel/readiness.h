// Readiness of open files: which of POLLIN / POLLOUT / POLLHUP / POLLERR each kind of open file
// answers now, and what a guest waiting on it must wait for. poll, select and epoll all ask
// here, so they agree on every kind (spec/abi.md, "Readiness").
#pragma once

#include "format/state/file_table.h"
#include "loader/kernel/guest_wait.h"

namespace cat {

class Files;

// The events ready on `f` now. POLLHUP and POLLERR are reported whatever was asked (as
// Linux); callers mask the rest with what they asked for. With `wait`, adds what could change
// the answer (a stdio channel's host fd, a timer's expiry).
short FileReadiness(Files& files, state::OpenFile& f, WaitSpec* wait);

}  // namespace cat
