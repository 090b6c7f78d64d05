// The objects behind open files of kind kLive: eventfds, timerfds, epoll instances and AF_UNIX
// sockets. They live in the running kernel (Files keeps them beside the OpenFile). Capture
// writes eventfds, timerfds and epoll instances into their OpenFile (state::LiveState, Persist)
// and a booting kernel rebuilds them from it (the Restore* functions below, through
// Files::RestoreLiveFiles); a socket cannot be carried, so capture refuses a guest that holds
// one at its func-entry point (spec/abi.md, "Live-only files"; spec/boot.md).
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <memory>

#include "format/base/error.h"
#include "format/state/file_table.h"
#include "format/state/sandbox_state.h"
#include "loader/kernel/guest_wait.h"

namespace cat {

class LiveFile {
 public:
  virtual ~LiveFile() = default;
  // Never blocks: EAGAIN where a blocking read or write would wait (Files waits then, on what
  // Ready() says could change it).
  virtual Result<uint64_t> Read(state::OpenFile& f, char* buf, uint64_t len) = 0;
  virtual Result<uint64_t> Write(state::OpenFile& f, const char* buf, uint64_t len) = 0;
  // The poll(2) events ready now (POLLIN, POLLOUT, POLLHUP, POLLERR, POLLRDHUP), and, when
  // `wait` is given, what could make more of them ready (host fds, a point in time).
  virtual short Ready(WaitSpec* wait) = 0;
  virtual struct stat Stat() const = 0;
  // What /proc/self/fd/N links to ("anon_inode:[eventfd]", "socket:[5]").
  virtual const char* Name() const = 0;
  // Another open file is being released: drop every reference to it (epoll interest lists).
  virtual void Forget(const state::OpenFile*) {}
  // Capture: writes the object into f.live, or fails saying why it cannot be carried.
  virtual Status Persist(state::OpenFile&, const state::SandboxState&) const {
    return Fail(ENOTSUP, "not carried across a snapshot");
  }
};

class Files;
class MemoryBudget;
// Boot: the object a snapshot's LiveState describes (checked by CheckLiveState already).
std::unique_ptr<LiveFile> RestoreEventFd(const state::LiveState& l);  // sys_eventfd.cc
std::unique_ptr<LiveFile> RestoreTimerFd(const state::LiveState& l,
                                         const state::Clocks& clocks);  // sys_timerfd.cc
// An epoll instance's items name fds of the restored table: each must hold a file epoll can
// watch that is not itself an epoll instance (as capture wrote it), else EBADMSG.
Result<std::unique_ptr<LiveFile>> RestoreEpoll(const state::LiveState& l, Files& files,
                                               const state::SandboxState& s);  // sys_epoll.cc

// st_mode of an anonymous inode (eventfd, timerfd, epoll): no file type, as Linux reports.
inline struct stat AnonInodeStat(uint64_t ino) {
  struct stat st {};
  st.st_mode = S_IRUSR | S_IWUSR;
  st.st_nlink = 1;
  st.st_blksize = 4096;
  st.st_ino = ino;
  return st;
}

}  // namespace cat
