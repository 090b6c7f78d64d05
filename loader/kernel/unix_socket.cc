// AF_UNIX socket objects (see unix_socket.h).
#include "loader/kernel/unix_socket.h"

#include <poll.h>

#include <algorithm>
#include <cstring>

namespace cat {

UnixConnection::~UnixConnection() {
  budget.Uncharge(dir[0].bytes + dir[1].bytes);
  for (Direction& d : dir)
    for (Passed& p : d.passed)
      if (in_flight) in_flight->Drop(p.files);
}

UnixSocket::~UnixSocket() {
  if (conn_) {
    // Closing is shutting down both ways: the peer reads end of file, its writes EPIPE.
    in().read_shut = true;
    out().write_shut = true;
  }
}

bool UnixSocket::listening() const {
  return listener_ && listener_->listening;
}

std::pair<std::unique_ptr<UnixSocket>, std::unique_ptr<UnixSocket>> UnixSocket::Pair(
    int type, MemoryBudget& budget, UnixInFlight* in_flight) {
  auto c = std::make_shared<UnixConnection>(type, budget, in_flight);
  return {std::make_unique<UnixSocket>(c, 0), std::make_unique<UnixSocket>(c, 1)};
}

Result<uint64_t> UnixSocket::Receive(char* buf, uint64_t len, int flags, bool* truncated,
                                     std::vector<state::OpenFile*>* files) {
  if (!conn_) return Fail(type_ == SOCK_DGRAM ? EAGAIN : EINVAL, "socket not connected");
  UnixConnection::Direction& d = in();
  if (d.chunks.empty()) {
    if (d.write_shut || d.read_shut) return 0;  // end of file
    return Fail(EAGAIN, "nothing to read");
  }
  const bool peek = flags & MSG_PEEK;
  // The files that come with this read: those of the message its first byte (stream: any byte)
  // belongs to. Taking them off the queue moves their in-flight references to the caller.
  auto take_files = [&](UnixConnection::Passed& p) {
    if (peek) {
      if (files) *files = p.files;
      return;
    }
    std::vector<state::OpenFile*> got = std::move(p.files);
    d.passed.pop_front();
    if (files) {
      *files = std::move(got);
    } else if (conn_->in_flight) {
      conn_->in_flight->Drop(got);
    }
  };
  if (type_ != SOCK_STREAM) {
    if (!d.passed.empty() && d.passed.front().at == d.received) take_files(d.passed.front());
    if (!peek) ++d.received;
    const std::string& m = d.chunks.front();
    const uint64_t n = std::min<uint64_t>(len, m.size());
    std::memcpy(buf, m.data(), n);
    *truncated = m.size() > len;
    const uint64_t whole = m.size();
    if (!peek) {
      d.bytes -= whole;
      budget_.Uncharge(whole);
      d.chunks.pop_front();
    }
    return (flags & MSG_TRUNC) ? whole : n;
  }
  if (!d.passed.empty() && d.passed.front().at < d.received + len) {
    UnixConnection::Passed& p = d.passed.front();
    if (p.at > d.received) {
      len = p.at - d.received;  // first the data before them; they come with the next read
    } else {
      len = std::min(len, p.at + p.len - d.received);
      take_files(p);
    }
  }
  uint64_t done = 0;
  for (auto it = d.chunks.begin(); it != d.chunks.end() && done < len;) {
    const uint64_t n = std::min<uint64_t>(len - done, it->size());
    std::memcpy(buf + done, it->data(), n);
    done += n;
    if (peek) {
      ++it;
    } else if (n == it->size()) {
      it = d.chunks.erase(it);
    } else {
      it->erase(0, n);
    }
  }
  if (!peek) {
    d.bytes -= done;
    d.received += done;
    budget_.Uncharge(done);
  }
  return done;
}

Result<uint64_t> UnixSocket::Send(const char* buf, uint64_t len,
                                  std::vector<state::OpenFile*>* files) {
  if (!conn_) return Fail(type_ == SOCK_STREAM ? ENOTCONN : EDESTADDRREQ, "not connected");
  UnixConnection::Direction& d = out();
  if (d.write_shut || d.read_shut) return Fail(EPIPE, "peer closed or shut down");
  const uint64_t room = kUnixSocketBuffer > d.bytes ? kUnixSocketBuffer - d.bytes : 0;
  uint64_t n = len;
  if (type_ == SOCK_STREAM) {
    n = std::min(len, room);
    if (n == 0 && len > 0) return Fail(EAGAIN, "socket buffer full");
  } else {
    if (len > kUnixSocketBuffer) return Fail(EMSGSIZE, "datagram larger than the buffer");
    if (len > room) return Fail(EAGAIN, "socket buffer full");
  }
  if (!budget_.TryCharge(n)) return Fail(ENOBUFS, "guest memory limit reached (socket buffer)");
  d.chunks.emplace_back(buf, n);
  d.bytes += n;
  if (files && !files->empty() && conn_->in_flight && (type_ != SOCK_STREAM || n > 0))
    d.passed.push_back({d.sent, n, std::move(*files)});
  d.sent += type_ == SOCK_STREAM ? n : 1;
  return n;
}

Status UnixSocket::Shutdown(int how) {
  if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR) return Fail(EINVAL, "bad how");
  if (!conn_) return Fail(ENOTCONN, "not connected");
  if (how != SHUT_WR) in().read_shut = true;
  if (how != SHUT_RD) out().write_shut = true;
  return {};
}

short UnixSocket::Ready(WaitSpec*) {
  if (listening()) return listener_->pending.empty() ? 0 : short(POLLIN | POLLRDNORM);
  if (!conn_) return type_ == SOCK_STREAM ? short(POLLOUT | POLLHUP) : short(POLLOUT);
  short r = 0;
  const UnixConnection::Direction& i = in();
  const UnixConnection::Direction& o = out();
  if (!i.chunks.empty() || i.write_shut || i.read_shut) r |= POLLIN | POLLRDNORM;
  if (i.write_shut) r |= POLLRDHUP;
  if (i.write_shut && (o.read_shut || o.write_shut)) r |= POLLHUP;
  // Writable when a write would not wait: room in the buffer, or a peer gone (EPIPE).
  if (o.write_shut || o.read_shut || o.bytes < kUnixSocketBuffer) r |= POLLOUT | POLLWRNORM;
  return r;
}

struct stat UnixSocket::Stat() const {
  struct stat st {};
  st.st_mode = S_IFSOCK | 0777;
  st.st_nlink = 1;
  st.st_blksize = 4096;
  return st;
}

}  // namespace cat
