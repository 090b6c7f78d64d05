// Copies of a verified state arena (see arena_copy.h).
#include "loader/boot/arena_copy.h"

#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#include <cstdlib>
#include <cstring>

#include "format/state/arena.h"
#include "format/state/arena_verifier.h"
#include "format/state/layout_fingerprint.h"
#include "format/state/state_heap.h"

namespace cat {

namespace {

Status PreadAll(int fd, void* buf, size_t len, uint64_t offset, const std::string& what) {
  auto* p = static_cast<uint8_t*>(buf);
  while (len > 0) {
    const ssize_t n = pread(fd, p, len, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FailErrno(what);
    if (n == 0) return Fail(EIO, what + ": unexpected end of file");
    p += n;
    len -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return {};
}

}  // namespace

Status ArenaMaster::Map(size_t size) {
  mapped_ = (size + 4095) & ~size_t{4095};
  void* p = mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    mapped_ = 0;
    return FailErrno("map the state arena");
  }
  base_ = static_cast<uint8_t*>(p);
  size_ = size;
  return {};
}

// Read-only from here on: what was verified cannot change under the copies made from it.
Status ArenaMaster::Seal() {
  if (mprotect(base_, mapped_, PROT_READ) != 0) return FailErrno("protect the state arena");
  return {};
}

Result<std::unique_ptr<ArenaMaster>> ArenaMaster::Load(const FuncImage& image,
                                                       const std::string& what) {
  if (image.layout_fingerprint() != state::StateLayoutFingerprint())
    return Fail(EINVAL,
                what + ": " + image.path() +
                    " was built for another sandbox-kernel state layout (fingerprint mismatch): "
                    "rebuild it with the catimg that matches this catload");
  if (image.arena_root() != 0)
    return Fail(EBADMSG, what + ": " + image.path() + ": state arena root at offset " +
                             std::to_string(image.arena_root()) + " (it is always 0)");
  std::unique_ptr<ArenaMaster> m(new ArenaMaster());
  TRY_STATUS(WithContext(m->Map(image.arena_size()), what));
  TRY_STATUS(PreadAll(image.fd(), m->base_, m->size_, image.arena_offset(),
                      what + ": read the state arena"));
  m->relocations_.resize(image.relocation_count());
  const size_t reloc_bytes = m->relocations_.size() * sizeof(uint64_t);
  TRY_STATUS(PreadAll(image.fd(), m->relocations_.data(), reloc_bytes, image.relocations_offset(),
                      what + ": read the relocation table"));
  if (XXH3_64bits(m->base_, m->size_) != image.arena_checksum())
    return Fail(EBADMSG, what + ": " + image.path() +
                             ": state arena checksum mismatch (corrupted image; catimg verify "
                             "names every bad part)");
  if (XXH3_64bits(m->relocations_.data(), reloc_bytes) != image.relocations_checksum())
    return Fail(EBADMSG, what + ": " + image.path() +
                             ": relocation table checksum mismatch (corrupted image)");
  TRY_STATUS(WithContext(
      state::VerifyArena(m->base_, m->size_, m->relocations_.data(), m->relocations_.size()),
      what + ": " + image.path()));
  TRY_STATUS(WithContext(
      state::RelocateArena(m->base_, m->size_, m->relocations_.data(), m->relocations_.size()),
      what + ": relocate the state arena"));
  // Not live state: no sandbox kernel runs on the master, only on copies of it.
  state::UnregisterArena(m->base_);
  TRY_STATUS(WithContext(m->Seal(), what));
  return m;
}

Result<std::unique_ptr<ArenaMaster>> ArenaMaster::Snapshot(const uint8_t* live, size_t size,
                                                           std::vector<uint64_t> relocations) {
  if (size < sizeof(state::SandboxState)) return Fail(EINVAL, "arena smaller than its root");
  std::unique_ptr<ArenaMaster> m(new ArenaMaster());
  // The live state must still be all inside its arena (a template that has not run only
  // changes values in place): a pointer slot elsewhere could not be moved with the rest.
  const auto begin = reinterpret_cast<uint64_t>(live);
  for (uint64_t at : relocations) {
    uint64_t v;
    if (at % 8 != 0 || at > size - 8) return Fail(EINVAL, "snapshot the state arena: bad slot");
    std::memcpy(&v, live + at, sizeof(v));
    if (v <= begin || v >= begin + size)
      return Fail(EINVAL, "snapshot the state arena: slot at offset " + std::to_string(at) +
                              " no longer points inside the arena");
  }
  TRY_STATUS(WithContext(m->Map(size), "snapshot the state arena"));
  std::memcpy(m->base_, live, size);
  // Moved from `live` to here, like every copy made from it later.
  const uint64_t delta = reinterpret_cast<uint64_t>(m->base_) - reinterpret_cast<uint64_t>(live);
  for (uint64_t at : relocations) {
    uint64_t v;
    std::memcpy(&v, m->base_ + at, sizeof(v));
    v += delta;
    std::memcpy(m->base_ + at, &v, sizeof(v));
  }
  TRY_STATUS(WithContext(m->Seal(), "snapshot the state arena"));
  m->relocations_ = std::move(relocations);
  return m;
}

ArenaMaster::~ArenaMaster() {
  if (base_) munmap(base_, mapped_);
}

Result<std::shared_ptr<ArenaCopy>> ArenaCopy::Make(const ArenaMaster& master) {
  // From malloc, not mmap: a small arena then costs no syscall and no page faults.
  const size_t bytes = (master.size() + 63) & ~size_t{63};
  auto* p = static_cast<uint8_t*>(std::aligned_alloc(64, bytes));
  if (!p) return Fail(ENOMEM, "copy the state arena");
  std::shared_ptr<ArenaCopy> copy(new ArenaCopy());
  copy->base_ = p;
  std::memcpy(p, master.base(), master.size());
  // Every slot was checked (in bounds, aligned, pointing inside) when the master was made.
  const uint64_t delta = reinterpret_cast<uint64_t>(p) - reinterpret_cast<uint64_t>(master.base());
  for (uint64_t at : master.relocations()) {
    uint64_t v;
    std::memcpy(&v, p + at, sizeof(v));
    v += delta;
    std::memcpy(p + at, &v, sizeof(v));
  }
  state::RegisterArena(p, master.size());
  return copy;
}

ArenaCopy::~ArenaCopy() {
  if (!base_) return;
  state::UnregisterArena(base_);
  std::free(base_);
}

}  // namespace cat
