// Cold boot from a func-image (see cold_boot.h). Every error names its stage.
#include "loader/boot/cold_boot.h"

#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#include <vector>

#include "format/state/arena.h"
#include "format/state/layout_fingerprint.h"
#include "format/state/state_heap.h"

namespace cat {
namespace {

// The arena's mapping in catload, unmapped (and forgotten by the state heap) with the sandbox.
struct ArenaMapping {
  uint8_t* base = nullptr;
  size_t size = 0;
  ~ArenaMapping() {
    if (!base) return;
    state::UnregisterArena(base);
    munmap(base, size);
  }
};

}  // namespace

Result<std::unique_ptr<Sandbox>> ColdBoot(Platform& platform, const FuncImage& image,
                                          Reconnect reconnect, const MountOverrides& overrides,
                                          SandboxKernel::Logger log, BootStats& stats) {
  if (image.layout_fingerprint() != state::StateLayoutFingerprint())
    return Fail(EINVAL,
                "cold boot: " + image.path() +
                    " was built for another sandbox-kernel state layout (fingerprint mismatch): "
                    "rebuild it with the catimg that matches this catload");
  // Map the arena privately and relocate it: pages with pointers are copied on write, the
  // rest stay shared with the page cache.
  auto arena = std::make_shared<ArenaMapping>();
  void* p = mmap(nullptr, image.arena_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE, image.fd(),
                 static_cast<off_t>(image.arena_offset()));
  if (p == MAP_FAILED) return FailErrno("cold boot: map the state arena");
  arena->base = static_cast<uint8_t*>(p);
  arena->size = image.arena_size();
  std::vector<uint64_t> relocs(image.relocation_count());
  const size_t reloc_bytes = relocs.size() * sizeof(uint64_t);
  if (reloc_bytes &&
      pread(image.fd(), relocs.data(), reloc_bytes,
            static_cast<off_t>(image.relocations_offset())) != static_cast<ssize_t>(reloc_bytes))
    return FailErrno("cold boot: read the relocation table");
  // The arena and relocations are what the loader follows: their checksums are checked at
  // every boot (memory segments are left to `catimg verify`).
  if (XXH3_64bits(arena->base, arena->size) != image.arena_checksum())
    return Fail(EBADMSG, "cold boot: " + image.path() +
                             ": state arena checksum mismatch (corrupted image; catimg verify "
                             "names every bad part)");
  if (XXH3_64bits(relocs.data(), reloc_bytes) != image.relocations_checksum())
    return Fail(EBADMSG, "cold boot: " + image.path() +
                             ": relocation table checksum mismatch (corrupted image)");
  stats.Stage("map arena");
  TRY(state::SandboxState * s,
      WithContext(state::RelocateArena(arena->base, arena->size, relocs.data(), relocs.size()),
                  "cold boot: relocate the state arena"));
  stats.Stage("relocate");
  stats.Note("relocations", static_cast<int64_t>(relocs.size()));
  TRY(std::unique_ptr<Sandbox> sb,
      WithContext(Sandbox::Adopt(platform, s, std::move(log), arena, overrides),
                  "cold boot: take a shell"));
  stats.Stage("shell");
  Shell& shell = sb->shell();
  for (const ImageSegment& seg : image.segments()) {
    const int prot = static_cast<int>(seg.prot);
    auto mapped = seg.stored
                      ? shell.MapFile(seg.guest_addr, seg.size, prot, image.fd(), seg.file_offset)
                      : shell.MapAnonymous(seg.guest_addr, seg.size, prot);
    if (!mapped)
      return std::unexpected(
          std::move(mapped.error())
              .Context("cold boot: map segment at " + std::to_string(seg.guest_addr)));
  }
  stats.Stage("map memory");
  shell.SetRegs(image.regs());
  TRY_STATUS(WithContext(shell.SetFpu(image.fpu()), "cold boot: registers"));
  TRY_STATUS(WithContext(shell.SetXstate(image.xstate()), "cold boot: registers"));
  stats.Stage("registers");
  if (reconnect == Reconnect::kEager) {
    for (state::FdEntry& e : s->fds.entries)
      if (e.file && e.file->kind == state::FileKind::kHost)
        (void)sb->kernel().files.HostFd(*e.file);
    stats.Stage("reconnect (eager)");
  }
  return sb;
}

}  // namespace cat
