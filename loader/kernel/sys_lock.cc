// fcntl's byte-range locks (F_GETLK, F_SETLK, F_SETLKW and the F_OFD_* forms): the guest's
// struct flock turned into a range and an owner for the sandbox's lock table (file_locks.h).
#include <fcntl.h>
#include <sys/stat.h>

#include <climits>

#include "loader/kernel/sandbox_kernel.h"

namespace cat {

SyscallResult FcntlLock(SandboxKernel& k, state::OpenFile& f, int cmd, uint64_t flock_addr) {
  auto lk = k.mem.ReadObject<struct flock>(flock_addr);
  if (!lk) return -EFAULT;
  const bool ofd = cmd == F_OFD_GETLK || cmd == F_OFD_SETLK || cmd == F_OFD_SETLKW;
  const bool get = cmd == F_GETLK || cmd == F_OFD_GETLK;
  const int16_t type = lk->l_type;
  if (type != F_RDLCK && type != F_WRLCK && type != F_UNLCK) return -EINVAL;
  if (get && type == F_UNLCK) return -EINVAL;
  if (ofd && lk->l_pid != 0) return -EINVAL;  // Linux: OFD requests must leave l_pid 0
  int64_t base = 0;
  switch (lk->l_whence) {
    case SEEK_SET:
      break;
    case SEEK_CUR:
      base = f.offset;
      break;
    case SEEK_END: {
      auto st = k.files.Stat(f);
      if (!st) return Errno(st.error());
      base = st->st_size;
      break;
    }
    default:
      return -EINVAL;
  }
  int64_t start;
  if (__builtin_add_overflow(base, static_cast<int64_t>(lk->l_start), &start)) return -EOVERFLOW;
  uint64_t end = UINT64_MAX;  // l_len 0: to the end of the file, however far it grows
  if (lk->l_len > 0) {
    int64_t last;
    if (__builtin_add_overflow(start, static_cast<int64_t>(lk->l_len) - 1, &last))
      return -EOVERFLOW;
    end = static_cast<uint64_t>(last) + 1;
  } else if (lk->l_len < 0) {  // the l_len bytes before l_start
    end = static_cast<uint64_t>(start);
    if (__builtin_add_overflow(start, static_cast<int64_t>(lk->l_len), &start)) return -EINVAL;
  }
  if (start < 0) return -EINVAL;
  const LockFileKey key = LockKeyOf(f);
  const int32_t pid = k.s.process.pid;
  const LockOwner owner = ofd ? LockOwner{true, reinterpret_cast<uintptr_t>(&f), -1}
                              : LockOwner{false, static_cast<uint64_t>(pid), pid};
  if (get) {
    auto c = k.locks.Conflict(key, owner, static_cast<uint64_t>(start), end, type);
    if (!c) {
      lk->l_type = F_UNLCK;
    } else {
      lk->l_type = c->type;
      lk->l_whence = SEEK_SET;
      lk->l_start = static_cast<off_t>(c->start);
      lk->l_len = c->end == UINT64_MAX ? 0 : static_cast<off_t>(c->end - c->start);
      lk->l_pid = c->owner.pid;
    }
    return k.mem.WriteObject(flock_addr, *lk) ? 0 : -EFAULT;
  }
  const uint32_t mode = f.status_flags & O_ACCMODE;
  if (type == F_RDLCK && mode == O_WRONLY) return -EBADF;
  if (type == F_WRLCK && mode == O_RDONLY) return -EBADF;
  auto set = k.locks.Set(key, owner, static_cast<uint64_t>(start), end, type);
  if (set) return 0;
  if (set.error().code() == EAGAIN && (cmd == F_SETLKW || cmd == F_OFD_SETLKW)) {
    // Only another open file description of this one process can hold a conflicting lock,
    // and nothing else runs to release it: Linux would wait forever. Until guest tasks block
    // on a wait queue (issue 9), say so instead of hanging the sandbox.
    return -EDEADLK;
  }
  return Errno(set.error());
}

}  // namespace cat
