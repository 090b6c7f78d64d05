// Socket syscalls. The sandbox has AF_UNIX sockets only (unix_socket.h): socketpair, and
// bind/listen/connect/accept on names in the sandbox's own table (never the host's file system
// or abstract name space). socket(2) of any other family is EACCES: the network is not
// reachable, and EACCES says so where ENOSYS would make programs guess ("cannot tell": bash-
// static then decides it runs under sshd). A socket call on an fd that is not a socket is
// EBADF if the fd is not open, ENOTSOCK otherwise, as Linux.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "loader/kernel/sandbox_kernel.h"
#include "loader/kernel/unix_socket.h"

namespace cat {
namespace {

constexpr int kMaxIov = 1024;              // UIO_MAXIOV
constexpr uint64_t kMaxMessage = 1 << 20;  // one sendmsg/recvmsg moves at most this much

Result<UnixSocket*> SocketOf(SandboxKernel& k, int fd, state::OpenFile** file = nullptr) {
  TRY(state::OpenFile * f, k.files.Get(fd));
  auto* s = dynamic_cast<UnixSocket*>(k.files.Live(*f));
  if (!s) return Fail(ENOTSOCK, "not a socket");
  if (file) *file = f;
  return s;
}

// The type argument of socket/socketpair: {base type, nonblock, cloexec}, or -errno.
struct SocketType {
  int type;
  bool nonblock, cloexec;
};
Result<SocketType> ParseType(uint64_t arg) {
  const int t = static_cast<int>(arg);
  const int base = t & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (base != SOCK_STREAM && base != SOCK_DGRAM && base != SOCK_SEQPACKET)
    return Fail(EINVAL, "unsupported socket type");
  return SocketType{base, (t & SOCK_NONBLOCK) != 0, (t & SOCK_CLOEXEC) != 0};
}

Result<int> InstallSocket(SandboxKernel& k, std::unique_ptr<UnixSocket> s, const SocketType& t) {
  state::OpenFile* f = k.files.NewLiveFile(std::move(s), O_RDWR | (t.nonblock ? O_NONBLOCK : 0));
  return k.files.Install(f, 0, t.cloexec);
}

SyscallResult SysSocket(SandboxKernel& k, const SyscallArgs& a) {
  if (a.a[0] != AF_UNIX) return -EACCES;
  auto t = ParseType(a.a[1]);
  if (!t) return Errno(t.error());
  if (a.a[2] != 0 && a.a[2] != PF_UNIX) return -EPROTONOSUPPORT;
  auto fd = InstallSocket(k, std::make_unique<UnixSocket>(t->type, k.files.budget()), *t);
  return fd ? *fd : Errno(fd.error());
}

SyscallResult SysSocketpair(SandboxKernel& k, const SyscallArgs& a) {
  if (a.a[0] != AF_UNIX) return -EACCES;
  auto t = ParseType(a.a[1]);
  if (!t) return Errno(t.error());
  if (a.a[2] != 0 && a.a[2] != PF_UNIX) return -EPROTONOSUPPORT;
  auto [one, two] = UnixSocket::Pair(t->type, k.files.budget(), &k.unix_in_flight);
  auto fd0 = InstallSocket(k, std::move(one), *t);
  if (!fd0) {
    // Install released the first; the second was never installed.
    return Errno(fd0.error());
  }
  auto fd1 = InstallSocket(k, std::move(two), *t);
  if (!fd1) {
    (void)k.files.Close(*fd0);
    return Errno(fd1.error());
  }
  const int sv[2] = {*fd0, *fd1};
  if (!k.mem.WriteObject(a.a[3], sv)) {
    (void)k.files.Close(*fd0);
    (void)k.files.Close(*fd1);
    return -EFAULT;
  }
  return 0;
}

// The sandbox-table name of a sockaddr_un: "@" + bytes for the abstract name space, else the
// path made absolute against the cwd (lexically: the names are in no file system).
Result<std::string> NameOf(SandboxKernel& k, uint64_t addr, uint64_t len) {
  if (len < sizeof(sa_family_t) + 1 || len > sizeof(sockaddr_un)) return Fail(EINVAL, "bad addr");
  sockaddr_un un{};
  TRY_STATUS(k.mem.CopyIn(addr, &un, len));
  if (un.sun_family != AF_UNIX) return Fail(EINVAL, "not AF_UNIX");
  const size_t n = len - sizeof(sa_family_t);
  if (un.sun_path[0] == '\0') return "@" + std::string(un.sun_path + 1, n - 1);
  std::string path(un.sun_path, strnlen(un.sun_path, n));
  if (path.empty()) return Fail(EINVAL, "empty path");
  if (path[0] != '/') path = std::string(k.s.process.cwd.view()) + "/" + path;
  return path;
}

SyscallResult SysBind(SandboxKernel& k, const SyscallArgs& a) {
  auto s = SocketOf(k, static_cast<int>(a.a[0]));
  if (!s) return Errno(s.error());
  auto name = NameOf(k, a.a[1], a.a[2]);
  if (!name) return Errno(name.error());
  if (!(*s)->bound_path().empty() || (*s)->connected()) return -EINVAL;
  if (auto it = k.unix_names.find(*name); it != k.unix_names.end() && !it->second.expired())
    return -EADDRINUSE;
  (*s)->bound_path() = *name;
  (*s)->listener() = std::make_shared<UnixListener>((*s)->type());
  k.unix_names[*name] = (*s)->listener();  // refuses connections until listen
  return 0;
}

SyscallResult SysListen(SandboxKernel& k, const SyscallArgs& a) {
  auto s = SocketOf(k, static_cast<int>(a.a[0]));
  if (!s) return Errno(s.error());
  if ((*s)->type() == SOCK_DGRAM) return -EOPNOTSUPP;
  if ((*s)->bound_path().empty() || (*s)->connected()) return -EINVAL;
  UnixListener& l = *(*s)->listener();
  l.listening = true;
  l.backlog = std::clamp(static_cast<int>(a.a[1]), 1, 4096);  // SOMAXCONN
  return 0;
}

SyscallResult SysConnect(SandboxKernel& k, const SyscallArgs& a) {
  auto s = SocketOf(k, static_cast<int>(a.a[0]));
  if (!s) return Errno(s.error());
  auto name = NameOf(k, a.a[1], a.a[2]);
  if (!name) return Errno(name.error());
  if ((*s)->connected()) return -EISCONN;
  if ((*s)->listening()) return -EINVAL;
  auto it = k.unix_names.find(*name);
  std::shared_ptr<UnixListener> l = it == k.unix_names.end() ? nullptr : it->second.lock();
  if (!l) return (*name)[0] == '@' ? -ECONNREFUSED : -ENOENT;
  if (!l->listening || l->type != (*s)->type()) return -ECONNREFUSED;
  // Nothing can accept while this single thread waits: a full backlog is EAGAIN at once.
  if (static_cast<int>(l->pending.size()) >= l->backlog) return -EAGAIN;
  auto c = std::make_shared<UnixConnection>((*s)->type(), k.files.budget(), &k.unix_in_flight);
  l->pending.push_back(c);
  (*s)->Connect(c, 0);
  return 0;
}

// Writes an unnamed AF_UNIX address (what the peers of socketpair and accept have).
int64_t PutUnnamed(SandboxKernel& k, uint64_t addr, uint64_t len_addr) {
  if (!addr) return 0;
  auto len = k.mem.ReadObject<uint32_t>(len_addr);
  if (!len) return -EFAULT;
  if (static_cast<int32_t>(*len) < 0) return -EINVAL;
  const sa_family_t fam = AF_UNIX;
  if (!k.mem.CopyOut(addr, &fam, std::min<uint32_t>(*len, sizeof(fam)))) return -EFAULT;
  return k.mem.WriteObject<uint32_t>(len_addr, sizeof(fam)) ? 0 : -EFAULT;
}

int64_t DoAccept(SandboxKernel& k, const SyscallArgs& a, uint64_t flags) {
  if (flags & ~uint64_t{SOCK_NONBLOCK | SOCK_CLOEXEC}) return -EINVAL;
  auto s = SocketOf(k, static_cast<int>(a.a[0]));
  if (!s) return Errno(s.error());
  if ((*s)->type() == SOCK_DGRAM) return -EOPNOTSUPP;
  if (!(*s)->listening()) return -EINVAL;
  auto& l = (*s)->listener();
  if (l->pending.empty()) return -EAGAIN;  // blocking or not: nothing else can connect
  std::shared_ptr<UnixConnection> c = l->pending.front();
  l->pending.pop_front();
  auto fd =
      InstallSocket(k, std::make_unique<UnixSocket>(c, 1),
                    {(*s)->type(), (flags & SOCK_NONBLOCK) != 0, (flags & SOCK_CLOEXEC) != 0});
  if (!fd) return Errno(fd.error());
  if (int64_t r = PutUnnamed(k, a.a[1], a.a[2]); r) {
    (void)k.files.Close(*fd);
    return r;
  }
  return *fd;
}

SyscallResult SysAccept(SandboxKernel& k, const SyscallArgs& a) {
  return DoAccept(k, a, 0);
}
SyscallResult SysAccept4(SandboxKernel& k, const SyscallArgs& a) {
  return DoAccept(k, a, a.a[3]);
}

int64_t SendBytes(SandboxKernel& k, UnixSocket& s, const char* buf, uint64_t len, uint64_t flags,
                  std::vector<state::OpenFile*>* files = nullptr) {
  auto n = s.Send(buf, len, files);
  if (!n) {
    if (n.error().code() == EPIPE && !(flags & MSG_NOSIGNAL)) k.RaiseSignal(SIGPIPE);
    return Errno(n.error());
  }
  return static_cast<int64_t>(*n);
}

SyscallResult SysSendto(SandboxKernel& k, const SyscallArgs& a) {
  state::OpenFile* f = nullptr;
  auto s = SocketOf(k, static_cast<int>(a.a[0]), &f);
  if (!s) return Errno(s.error());
  if (a.a[4] && (*s)->connected()) return -EISCONN;
  const uint64_t len = std::min<uint64_t>(a.a[2], kMaxMessage);
  std::vector<char> buf(len);
  if (len && !k.mem.CopyIn(a.a[1], buf.data(), len)) return -EFAULT;
  return SendBytes(k, **s, buf.data(), len, a.a[3]);
}

SyscallResult SysRecvfrom(SandboxKernel& k, const SyscallArgs& a) {
  state::OpenFile* f = nullptr;
  auto s = SocketOf(k, static_cast<int>(a.a[0]), &f);
  if (!s) return Errno(s.error());
  const uint64_t len = std::min<uint64_t>(a.a[2], kMaxMessage);
  std::vector<char> buf(len);
  bool trunc = false;
  auto n = (*s)->Receive(buf.data(), len, static_cast<int>(a.a[3]), &trunc);
  if (!n) return Errno(n.error());
  const uint64_t copied = std::min(*n, len);
  if (copied && !k.mem.CopyOut(a.a[1], buf.data(), copied)) return -EFAULT;
  if (a.a[4] && a.a[5])
    if (int64_t r = PutUnnamed(k, a.a[4], a.a[5]); r) return r;
  return static_cast<int64_t>(*n);
}

// A guest msghdr's iovecs, bounded by kMaxIov and kMaxMessage in all.
Result<std::vector<iovec>> ReadIov(SandboxKernel& k, const msghdr& m) {
  if (m.msg_iovlen > kMaxIov) return Fail(EMSGSIZE, "too many iovecs");
  std::vector<iovec> iov(m.msg_iovlen);
  if (!iov.empty())
    TRY_STATUS(k.mem.CopyIn(reinterpret_cast<uint64_t>(m.msg_iov), iov.data(),
                            iov.size() * sizeof(iovec)));
  uint64_t total = 0;
  for (iovec& v : iov) {
    v.iov_len = std::min<uint64_t>(v.iov_len, kMaxMessage - total);
    total += v.iov_len;
  }
  return iov;
}

// Linux's net.core.optmem_max: the largest control buffer sendmsg takes (ENOBUFS beyond).
constexpr uint64_t kMaxControl = 20480;

// Files in flight for one sendmsg: their references are dropped unless the message took them.
struct PassedFiles {
  UnixInFlight& in_flight;
  std::vector<state::OpenFile*> files;
  ~PassedFiles() { in_flight.Drop(files); }
};

// Parses sendmsg's control messages: SCM_RIGHTS fds are looked up and referenced into `out`;
// SCM_CREDENTIALS must name the sender itself (EPERM otherwise) and is not passed on (no
// receiver can set SO_PASSCRED); other SOL_SOCKET types are EINVAL and other levels are
// skipped, as Linux does for AF_UNIX. A cmsg_len that is too short or runs past the buffer is
// EINVAL; more than kMaxFdsPerMessage fds in one message EINVAL; more in flight in the
// sandbox than RLIMIT_NOFILE ETOOMANYREFS (Linux's per-user bound).
int64_t ParseControl(SandboxKernel& k, const msghdr& m, PassedFiles& out) {
  if (m.msg_controllen == 0) return 0;
  if (m.msg_controllen > kMaxControl) return -ENOBUFS;
  if (m.msg_controllen < sizeof(cmsghdr)) return -EINVAL;
  std::vector<char> control(m.msg_controllen);
  if (!k.mem.CopyIn(reinterpret_cast<uint64_t>(m.msg_control), control.data(), control.size()))
    return -EFAULT;
  for (size_t at = 0; at + sizeof(cmsghdr) <= control.size();) {
    cmsghdr c;
    std::memcpy(&c, control.data() + at, sizeof c);
    if (c.cmsg_len < sizeof(cmsghdr) || c.cmsg_len > control.size() - at) return -EINVAL;
    const char* data = control.data() + at + CMSG_LEN(0);
    const size_t data_len = c.cmsg_len - CMSG_LEN(0);
    if (c.cmsg_level == SOL_SOCKET && c.cmsg_type == SCM_RIGHTS) {
      const size_t n = data_len / sizeof(int);
      if (n == 0 || !out.files.empty()) return -EINVAL;  // Linux: one SCM_RIGHTS per message
      if (n > kMaxFdsPerMessage) return -EINVAL;
      if (out.in_flight.count + n > k.s.fds.max_fds) return -ETOOMANYREFS;
      for (size_t i = 0; i < n; ++i) {
        int fd;
        std::memcpy(&fd, data + i * sizeof(int), sizeof fd);
        auto f = k.files.Get(fd);
        if (!f) return -EBADF;
        Files::Ref(*f);
        out.files.push_back(*f);
        ++out.in_flight.count;
      }
    } else if (c.cmsg_level == SOL_SOCKET && c.cmsg_type == SCM_CREDENTIALS) {
      if (data_len != sizeof(ucred)) return -EINVAL;
      ucred cred;
      std::memcpy(&cred, data, sizeof cred);
      if (cred.pid != k.s.process.pid || cred.uid != k.s.process.uid || cred.gid != k.s.process.gid)
        return -EPERM;
    } else if (c.cmsg_level == SOL_SOCKET) {
      return -EINVAL;
    }
    at += CMSG_ALIGN(c.cmsg_len);
  }
  return 0;
}

SyscallResult SysSendmsg(SandboxKernel& k, const SyscallArgs& a) {
  auto s = SocketOf(k, static_cast<int>(a.a[0]));
  if (!s) return Errno(s.error());
  auto m = k.mem.ReadObject<msghdr>(a.a[1]);
  if (!m) return -EFAULT;
  PassedFiles passed{k.unix_in_flight, {}};
  if (int64_t r = ParseControl(k, *m, passed); r) return r;
  auto iov = ReadIov(k, *m);
  if (!iov) return Errno(iov.error());
  std::vector<char> buf;
  for (const iovec& v : *iov) {
    const size_t at = buf.size();
    buf.resize(at + v.iov_len);
    if (v.iov_len &&
        !k.mem.CopyIn(reinterpret_cast<uint64_t>(v.iov_base), buf.data() + at, v.iov_len))
      return -EFAULT;
  }
  return SendBytes(k, **s, buf.data(), buf.size(), a.a[2], &passed.files);
}

// Installs received files as new fds and writes their SCM_RIGHTS message into the guest's
// control buffer; what does not fit (the buffer, or the fd table) is dropped and the result
// has MSG_CTRUNC. A control buffer the guest cannot write is as one with no room (Linux: the
// data is received, the fds closed, MSG_CTRUNC). Returns the control bytes used.
int64_t DeliverFiles(SandboxKernel& k, const msghdr& m, std::vector<state::OpenFile*>& files,
                     bool cloexec, int* msg_flags) {
  const uint64_t room = m.msg_control ? m.msg_controllen : 0;
  const size_t fit = room < CMSG_LEN(sizeof(int)) ? 0 : (room - CMSG_LEN(0)) / sizeof(int);
  std::vector<int> fds;
  size_t i = 0;
  for (; i < files.size() && fds.size() < fit; ++i) {
    auto fd = k.files.Install(files[i], 0, cloexec);  // the in-flight reference becomes the fd's
    if (!fd) break;                                   // (Install dropped it)
    fds.push_back(*fd);
  }
  if (i < files.size() || fit < files.size()) *msg_flags |= MSG_CTRUNC;
  for (size_t j = i + (i < files.size() && fds.size() < fit ? 1 : 0); j < files.size(); ++j)
    k.files.Unref(files[j]);
  k.unix_in_flight.count -= files.size();
  files.clear();
  if (fds.empty()) return 0;
  std::vector<char> control(CMSG_SPACE(fds.size() * sizeof(int)), 0);
  cmsghdr c{};
  c.cmsg_len = CMSG_LEN(fds.size() * sizeof(int));
  c.cmsg_level = SOL_SOCKET;
  c.cmsg_type = SCM_RIGHTS;
  std::memcpy(control.data(), &c, sizeof c);
  std::memcpy(control.data() + CMSG_LEN(0), fds.data(), fds.size() * sizeof(int));
  const uint64_t used = std::min<uint64_t>(control.size(), room);
  if (!k.mem.CopyOut(reinterpret_cast<uint64_t>(m.msg_control), control.data(), used)) {
    for (int fd : fds) (void)k.files.Close(fd);
    *msg_flags |= MSG_CTRUNC;
    return 0;
  }
  return static_cast<int64_t>(used);
}

SyscallResult SysRecvmsg(SandboxKernel& k, const SyscallArgs& a) {
  auto s = SocketOf(k, static_cast<int>(a.a[0]));
  if (!s) return Errno(s.error());
  auto m = k.mem.ReadObject<msghdr>(a.a[1]);
  if (!m) return -EFAULT;
  auto iov = ReadIov(k, *m);
  if (!iov) return Errno(iov.error());
  uint64_t len = 0;
  for (const iovec& v : *iov) len += v.iov_len;
  std::vector<char> buf(len);
  bool trunc = false;
  const int flags = static_cast<int>(a.a[2]);
  std::vector<state::OpenFile*> files;
  auto n = (*s)->Receive(buf.data(), len, flags, &trunc, &files);
  if (!n) return Errno(n.error());
  // Peeked files stay in flight: what is installed now are new references to them.
  if (flags & MSG_PEEK)
    for (state::OpenFile* f : files) {
      Files::Ref(f);
      ++k.unix_in_flight.count;
    }
  int msg_flags = trunc ? MSG_TRUNC : 0;
  const int64_t control_used =
      DeliverFiles(k, *m, files, (flags & MSG_CMSG_CLOEXEC) != 0, &msg_flags);
  uint64_t left = std::min(*n, len), at = 0;
  for (const iovec& v : *iov) {
    const uint64_t c = std::min<uint64_t>(left, v.iov_len);
    if (c && !k.mem.CopyOut(reinterpret_cast<uint64_t>(v.iov_base), buf.data() + at, c))
      return -EFAULT;
    at += c;
    left -= c;
  }
  msghdr out = *m;
  out.msg_namelen = 0;  // peers are unnamed
  out.msg_controllen = static_cast<size_t>(control_used);
  out.msg_flags = msg_flags;
  if (!k.mem.WriteObject(a.a[1], out)) return -EFAULT;
  return static_cast<int64_t>(*n);
}

SyscallResult SysShutdown(SandboxKernel& k, const SyscallArgs& a) {
  auto s = SocketOf(k, static_cast<int>(a.a[0]));
  if (!s) return Errno(s.error());
  auto r = (*s)->Shutdown(static_cast<int>(a.a[1]));
  return r ? 0 : Errno(r.error());
}

SyscallResult SysGetsockname(SandboxKernel& k, const SyscallArgs& a) {
  auto s = SocketOf(k, static_cast<int>(a.a[0]));
  if (!s) return Errno(s.error());
  const std::string& name = (*s)->bound_path();
  if (name.empty()) return PutUnnamed(k, a.a[1], a.a[2]);
  auto len = k.mem.ReadObject<uint32_t>(a.a[2]);
  if (!len) return -EFAULT;
  if (static_cast<int32_t>(*len) < 0) return -EINVAL;
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  uint32_t full = sizeof(sa_family_t);
  if (name[0] == '@') {
    std::memcpy(un.sun_path + 1, name.data() + 1,
                std::min(name.size() - 1, sizeof(un.sun_path) - 1));
    full += static_cast<uint32_t>(name.size());
  } else {
    std::memcpy(un.sun_path, name.data(), std::min(name.size(), sizeof(un.sun_path) - 1));
    full += static_cast<uint32_t>(std::min(name.size() + 1, sizeof(un.sun_path)));
  }
  if (!k.mem.CopyOut(a.a[1], &un, std::min(*len, full))) return -EFAULT;
  return k.mem.WriteObject(a.a[2], full) ? 0 : -EFAULT;
}

SyscallResult SysGetpeername(SandboxKernel& k, const SyscallArgs& a) {
  auto s = SocketOf(k, static_cast<int>(a.a[0]));
  if (!s) return Errno(s.error());
  if (!(*s)->connected()) return -ENOTCONN;
  return PutUnnamed(k, a.a[1], a.a[2]);
}

SyscallResult SysSetsockopt(SandboxKernel& k, const SyscallArgs& a) {
  auto s = SocketOf(k, static_cast<int>(a.a[0]));
  if (!s) return Errno(s.error());
  // Buffer sizes, SO_PASSCRED, timeouts...: accepted and without effect (spec/abi.md).
  return a.a[1] == SOL_SOCKET ? 0 : -ENOPROTOOPT;
}

SyscallResult SysGetsockopt(SandboxKernel& k, const SyscallArgs& a) {
  auto s = SocketOf(k, static_cast<int>(a.a[0]));
  if (!s) return Errno(s.error());
  if (a.a[1] != SOL_SOCKET) return -ENOPROTOOPT;
  int value = 0;
  switch (static_cast<int>(a.a[2])) {
    case SO_TYPE:
      value = (*s)->type();
      break;
    case SO_DOMAIN:
      value = AF_UNIX;
      break;
    case SO_PROTOCOL:
    case SO_ERROR:
      value = 0;
      break;
    case SO_ACCEPTCONN:
      value = (*s)->listening();
      break;
    case SO_SNDBUF:
    case SO_RCVBUF:
      value = static_cast<int>(kUnixSocketBuffer);
      break;
    default:
      return -ENOPROTOOPT;
  }
  auto len = k.mem.ReadObject<uint32_t>(a.a[4]);
  if (!len) return -EFAULT;
  if (static_cast<int32_t>(*len) < 0) return -EINVAL;
  const uint32_t n = std::min<uint32_t>(*len, sizeof(value));
  if (!k.mem.CopyOut(a.a[3], &value, n)) return -EFAULT;
  return k.mem.WriteObject(a.a[4], n) ? 0 : -EFAULT;
}

SyscallResult SysOnSocketFd(SandboxKernel& k, const SyscallArgs& a) {
  auto s = SocketOf(k, static_cast<int>(a.a[0]));
  if (!s) return Errno(s.error());
  return -EOPNOTSUPP;  // recvmmsg, sendmmsg
}

}  // namespace

void RegisterSocketSyscalls(SyscallHandler* t) {
  t[SYS_socket] = SysSocket;
  t[SYS_socketpair] = SysSocketpair;
  t[SYS_bind] = SysBind;
  t[SYS_listen] = SysListen;
  t[SYS_connect] = SysConnect;
  t[SYS_accept] = SysAccept;
  t[SYS_accept4] = SysAccept4;
  t[SYS_sendto] = SysSendto;
  t[SYS_recvfrom] = SysRecvfrom;
  t[SYS_sendmsg] = SysSendmsg;
  t[SYS_recvmsg] = SysRecvmsg;
  t[SYS_shutdown] = SysShutdown;
  t[SYS_getsockname] = SysGetsockname;
  t[SYS_getpeername] = SysGetpeername;
  t[SYS_setsockopt] = SysSetsockopt;
  t[SYS_getsockopt] = SysGetsockopt;
  for (int nr : {SYS_recvmmsg, SYS_sendmmsg}) t[nr] = SysOnSocketFd;
}

}  // namespace cat
