// Decoding the state arena of a func-image for inspect (see state_summary.h).
#include "catimg/state_summary.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <iterator>

#include "format/state/arena.h"
#include "format/state/arena_verifier.h"
#include "format/state/layout_fingerprint.h"
#include "format/state/state_heap.h"
#include "format/state/state_invariants.h"

namespace cat::catimg {
namespace {

struct PrivateArena {
  uint8_t* base = nullptr;
  size_t size = 0;
  ~PrivateArena() {
    if (!base) return;
    state::UnregisterArena(base);
    munmap(base, size);
  }
};

Result<std::vector<uint8_t>> ReadRange(int fd, uint64_t offset, uint64_t size) {
  std::vector<uint8_t> out(size);
  if (size && pread(fd, out.data(), size, static_cast<off_t>(offset)) != static_cast<ssize_t>(size))
    return FailErrno("read");
  return out;
}

std::string ChannelName(state::StdioChannel channel) {
  static const char* const kNames[] = {"request", "response", "log"};
  const auto c = static_cast<uint32_t>(channel);
  return c < state::kNumStdioChannels ? kNames[c] : "unknown " + std::to_string(c);
}

std::string TypeOf(const state::Inode* inode) {
  if (!inode) return "whiteout";
  if (S_ISDIR(inode->mode)) return "dir";
  if (S_ISLNK(inode->mode)) return "symlink";
  if (S_ISCHR(inode->mode)) return "device";
  return "file";
}

}  // namespace

Result<StateSummary> SummarizeState(const FuncImage& image) {
  if (image.layout_fingerprint() != state::StateLayoutFingerprint())
    return Fail(EINVAL, "built for another state layout than this catimg's");
  TRY(std::vector<uint8_t> arena_bytes,
      ReadRange(image.fd(), image.arena_offset(), image.arena_size()));
  TRY(std::vector<uint8_t> reloc_bytes,
      ReadRange(image.fd(), image.relocations_offset(), image.relocation_count() * 8));
  if (XXH3_64bits(arena_bytes.data(), arena_bytes.size()) != image.arena_checksum() ||
      XXH3_64bits(reloc_bytes.data(), reloc_bytes.size()) != image.relocations_checksum())
    return Fail(EBADMSG, "arena or relocation checksum mismatch");
  // The same structural verification as cold boot, on the bytes as stored, before relocating
  // or decoding anything: a checksum anyone can recompute proves nothing about the pointers.
  if (image.arena_root() != 0)
    return Fail(EBADMSG, "state arena root at offset " + std::to_string(image.arena_root()) +
                             " (it is always 0)");
  PrivateArena arena;
  void* p =
      mmap(nullptr, arena_bytes.size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return FailErrno("map a copy of the arena");
  arena.base = static_cast<uint8_t*>(p);
  arena.size = arena_bytes.size();
  std::copy(arena_bytes.begin(), arena_bytes.end(), arena.base);
  std::vector<uint64_t> relocs(image.relocation_count());
  std::copy(reloc_bytes.begin(), reloc_bytes.end(), reinterpret_cast<uint8_t*>(relocs.data()));
  TRY_STATUS(state::VerifyArena(arena.base, arena.size, relocs.data(), relocs.size()));
  TRY(state::SandboxState * s,
      state::RelocateArena(arena.base, arena.size, relocs.data(), relocs.size()));
  // Boot refuses saved thread contexts that do not name the state's threads; so does inspect.
  if (auto st = state::CheckThreadContexts(*s, image.entry_tid(), image.other_threads()); !st)
    return Fail(EBADMSG, "threads: " + st.error().message());

  StateSummary out;
  out.cwd = std::string(s->process.cwd.view());
  for (uint32_t i = 0; i < s->fds.entries.size; ++i) {
    const state::OpenFile* f = s->fds.entries[i].file;
    if (!f) continue;
    static const char* const kKinds[] = {"stdio", "host", "overlay", "pipe", "synthetic"};
    static const char* const kLiveKinds[] = {"live", "eventfd", "timerfd", "epoll"};
    const auto kind = static_cast<uint32_t>(f->kind);
    const auto live = static_cast<uint32_t>(f->live.kind);
    const uint32_t acc = f->status_flags & O_ACCMODE;
    const char* kind_name = kind < std::size(kKinds) ? kKinds[kind]
                            : f->kind == state::FileKind::kLive && live < std::size(kLiveKinds)
                                ? kLiveKinds[live]
                                : "?";
    out.fds.push_back({static_cast<int>(i), kind_name,
                       f->kind == state::FileKind::kStdio
                           ? "(" + ChannelName(f->channel) + " channel)"
                           : std::string(f->guest_path.view()),
                       acc == O_RDONLY   ? "r"
                       : acc == O_WRONLY ? "w"
                                         : "rw"});
  }
  for (const state::Mount& m : s->mounts) {
    static const char* const kAccess[] = {"none", "ro", "rw"};
    const auto a = static_cast<uint32_t>(m.access);
    out.mounts.push_back({std::string(m.guest_path.view()),
                          a < state::kNumMountAccess ? kAccess[a] : std::to_string(a)});
  }
  for (const state::OverlayEntry* e : s->overlay.slots)
    if (e)
      out.overlay.push_back({std::string(e->path.view()), TypeOf(e->inode),
                             !e->inode                 ? 0
                             : S_ISREG(e->inode->mode) ? e->inode->size
                                                       : e->inode->data.size});
  std::sort(out.overlay.begin(), out.overlay.end(),
            [](const auto& a, const auto& b) { return a.path < b.path; });
  return out;
}

}  // namespace cat::catimg
