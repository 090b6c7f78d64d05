// Freezing a template's guest memory into a sealed memfd (see fork_base.h).
#include "kvmcore/fork_base.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace cat::kvm {
namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kChunkPages = 256;  // 1 MiB read at a time

bool AllZero(const uint8_t* p) {
  static const uint8_t zero[kPage] = {};
  return std::memcmp(p, zero, kPage) == 0;
}

// Reads host memory without risking SIGBUS in catload (a file page past EOF is EFAULT).
bool ReadHost(const uint8_t* host, uint8_t* buf, uint64_t len) {
  iovec local{buf, len};
  iovec remote{const_cast<uint8_t*>(host), len};
  return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == static_cast<ssize_t>(len);
}

Status WriteAll(int fd, const uint8_t* buf, uint64_t len, uint64_t offset) {
  while (len > 0) {
    const ssize_t n = pwrite(fd, buf, len, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return FailErrno("fork base: write memfd");
    }
    buf += n, len -= static_cast<uint64_t>(n), offset += static_cast<uint64_t>(n);
  }
  return {};
}

// Copies the non-zero pages among `pages` pages at `host` (read into `buf`) to the memfd.
Result<uint64_t> CopyPages(int fd, const uint8_t* host, uint64_t offset, uint64_t pages,
                           uint8_t* buf) {
  if (!ReadHost(host, buf, pages * kPage)) {
    if (pages == 1) return 0;  // unreadable: stays zero
    uint64_t copied = 0;
    for (uint64_t i = 0; i < pages; ++i) {
      TRY(uint64_t n, CopyPages(fd, host + i * kPage, offset + i * kPage, 1, buf));
      copied += n;
    }
    return copied;
  }
  uint64_t copied = 0;
  for (uint64_t i = 0; i < pages;) {
    if (AllZero(buf + i * kPage)) {
      ++i;
      continue;
    }
    uint64_t j = i + 1;
    while (j < pages && !AllZero(buf + j * kPage)) ++j;
    TRY_STATUS(WriteAll(fd, buf + i * kPage, (j - i) * kPage, offset + i * kPage));
    copied += (j - i) * kPage;
    i = j;
  }
  return copied;
}

}  // namespace

Result<std::shared_ptr<const ForkBase>> ForkBase::Freeze(const std::vector<FreezeRange>& ranges,
                                                         uint64_t size) {
  UniqueFd fd(memfd_create("catalyzer-fork-base", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd.valid()) return FailErrno("fork base: memfd_create");
  if (ftruncate(fd.get(), static_cast<off_t>(size)) != 0) return FailErrno("fork base: ftruncate");
  std::vector<uint8_t> buf(kChunkPages * kPage);
  std::vector<unsigned char> resident(kChunkPages);
  uint64_t copied = 0;
  for (const FreezeRange& r : ranges) {
    if (r.offset % kPage || r.len % kPage || r.offset > size || r.len > size - r.offset)
      return Fail(EINVAL, "fork base: range outside the base");
    for (uint64_t done = 0; done < r.len;) {
      const uint64_t pages = std::min(kChunkPages, (r.len - done) / kPage);
      const uint8_t* host = r.host + done;
      if (r.file) {
        TRY(uint64_t n, CopyPages(fd.get(), host, r.offset + done, pages, buf.data()));
        copied += n;
      } else {
        // Anonymous pages never touched are not resident and read as zero: skip them unread.
        if (mincore(const_cast<uint8_t*>(host), pages * kPage, resident.data()) != 0)
          return FailErrno("fork base: mincore");
        for (uint64_t i = 0; i < pages;) {
          if (!(resident[i] & 1)) {
            ++i;
            continue;
          }
          uint64_t j = i + 1;
          while (j < pages && (resident[j] & 1)) ++j;
          TRY(uint64_t n, CopyPages(fd.get(), host + i * kPage, r.offset + done + i * kPage, j - i,
                                    buf.data()));
          copied += n;
          i = j;
        }
      }
      done += pages * kPage;
    }
  }
  // The base is shared by every fork: nothing may change it once frozen (MAP_PRIVATE writes
  // are copy-on-write and never reach it; the seals make that a property of the file).
  if (fcntl(fd.get(), F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) != 0)
    return FailErrno("fork base: seal memfd");
  return std::shared_ptr<const ForkBase>(new ForkBase(std::move(fd), size, copied));
}

}  // namespace cat::kvm
