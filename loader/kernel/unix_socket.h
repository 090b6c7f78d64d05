// AF_UNIX sockets inside the sandbox: connected pairs (socketpair, or connect to a listening
// socket bound in the sandbox's own name space, never a host socket), stream, datagram and
// seqpacket, with shutdown. Each direction buffers at most kUnixSocketBuffer bytes, charged to
// the guest's memory budget while they are buffered.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "loader/kernel/live_file.h"
#include "loader/kernel/memory_budget.h"

namespace cat {

// Linux's default net.core.wmem_default: what one direction of a connection holds.
constexpr uint64_t kUnixSocketBuffer = 212992;

// Linux's SCM_MAX_FD: the most fds one SCM_RIGHTS message carries.
constexpr uint32_t kMaxFdsPerMessage = 253;

// Open files passed with SCM_RIGHTS and not yet received, in the whole sandbox. Each holds one
// reference to its open file until it is received (the reference becomes the new fd's) or
// dropped (its connection goes, a read(2) or a too-small control buffer discards it).
struct UnixInFlight {
  uint64_t count = 0;
  std::function<void(state::OpenFile*)> unref;  // drops one in-flight reference
  void Drop(std::vector<state::OpenFile*>& files) {
    for (state::OpenFile* f : files) unref(f);
    count -= files.size();
    files.clear();
  }
};

// The two directions of one connection: dir[i] carries data to end i.
struct UnixConnection {
  // The files one sendmsg passed, delivered with the first byte of its data.
  struct Passed {
    uint64_t at;   // stream: offset of the message's first byte in the direction; else its number
    uint64_t len;  // stream: the message's bytes (a read that takes the files ends with them)
    std::vector<state::OpenFile*> files;
  };
  struct Direction {
    std::deque<std::string> chunks;  // stream: bytes in order; dgram/seqpacket: one per message
    uint64_t bytes = 0;
    bool write_shut = false;    // the sending end shut down writing (or closed)
    bool read_shut = false;     // the receiving end shut down reading (or closed)
    std::deque<Passed> passed;  // in order of `at`
    uint64_t sent = 0;          // stream: bytes ever queued; else messages
    uint64_t received = 0;      // likewise, taken off the queue
  };
  UnixConnection(int type, MemoryBudget& b, UnixInFlight* in_flight = nullptr)
      : type(type), budget(b), in_flight(in_flight) {}
  ~UnixConnection();
  int type;  // SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET
  MemoryBudget& budget;
  UnixInFlight* in_flight;  // set where files may be passed (the kernel's, outliving it)
  Direction dir[2];
};

class UnixListener;

class UnixSocket final : public LiveFile {
 public:
  UnixSocket(int type, MemoryBudget& budget) : type_(type), budget_(budget) {}
  UnixSocket(std::shared_ptr<UnixConnection> c, int side)
      : type_(c->type), budget_(c->budget), conn_(std::move(c)), side_(side) {}
  ~UnixSocket() override;

  // A connected pair sharing one connection.
  static std::pair<std::unique_ptr<UnixSocket>, std::unique_ptr<UnixSocket>> Pair(
      int type, MemoryBudget& budget, UnixInFlight* in_flight = nullptr);

  // Never blocks (EAGAIN). MSG_PEEK and MSG_TRUNC are honoured; `truncated` says a datagram was
  // cut. Files passed with the data read go to *files (their in-flight references: the caller
  // installs or drops them; with MSG_PEEK they stay in flight and the caller takes its own
  // references); without `files` they are dropped, as read(2) drops them. A stream read that
  // takes files ends with the data they came with.
  Result<uint64_t> Receive(char* buf, uint64_t len, int flags, bool* truncated,
                           std::vector<state::OpenFile*>* files = nullptr);
  // Files in *files (references the caller took, counted in the in-flight total) go with the
  // data; they are left in *files if nothing was sent (the caller drops them).
  Result<uint64_t> Send(const char* buf, uint64_t len,
                        std::vector<state::OpenFile*>* files = nullptr);
  UnixInFlight* in_flight() const { return conn_ ? conn_->in_flight : nullptr; }
  Status Shutdown(int how);

  Result<uint64_t> Read(state::OpenFile&, char* buf, uint64_t len) override {
    bool trunc = false;
    return Receive(buf, len, 0, &trunc);
  }
  Result<uint64_t> Write(state::OpenFile&, const char* buf, uint64_t len) override {
    return Send(buf, len);
  }
  short Ready(WaitSpec* wait) override;
  struct stat Stat() const override;
  const char* Name() const override { return "socket:[unix]"; }

  int type() const { return type_; }
  bool connected() const { return conn_ != nullptr; }
  // Named sockets: the name's entry, made by bind (the sandbox's name table holds it weakly,
  // so the name is free again once the socket is gone), listening after listen.
  std::shared_ptr<UnixListener>& listener() { return listener_; }
  bool listening() const;
  std::string& bound_path() { return bound_path_; }
  void Connect(std::shared_ptr<UnixConnection> c, int side) {
    conn_ = std::move(c);
    side_ = side;
  }

 private:
  UnixConnection::Direction& in() { return conn_->dir[side_]; }
  UnixConnection::Direction& out() { return conn_->dir[1 - side_]; }
  int type_;
  MemoryBudget& budget_;
  std::shared_ptr<UnixConnection> conn_;
  int side_ = 0;
  std::shared_ptr<UnixListener> listener_;
  std::string bound_path_;
};

// A listening socket's queue of connections not yet accepted (their other ends are connected
// sockets already, as in Linux: connect succeeds before accept).
class UnixListener {
 public:
  explicit UnixListener(int type) : type(type) {}
  int type;
  int backlog = 0;
  bool listening = false;
  std::deque<std::shared_ptr<UnixConnection>> pending;  // side 1 is the accepting end's
};

}  // namespace cat
