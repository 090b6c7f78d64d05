// Cold boot from a func-image (see cold_boot.h). Every error names its stage.
#include "loader/boot/cold_boot.h"

#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#include <vector>

#include "format/base/cpu_features.h"
#include "format/state/arena.h"
#include "format/state/arena_verifier.h"
#include "format/state/layout_fingerprint.h"
#include "format/state/state_heap.h"
#include "loader/boot/boot_threads.h"

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

struct ReadOnlyMapping {
  void* base = nullptr;
  size_t size = 0;
  ~ReadOnlyMapping() {
    if (base) munmap(base, size);
  }
};

}  // namespace

Status SetImageRegisters(Shell& shell, const FuncImage& image) {
  // The CPU the guest sees is the one it was captured on, before any state depends on it.
  TRY_STATUS(shell.UseCpuFeatures(image.cpu()));
  shell.SetRegs(image.regs());
  // XSAVE state first: it sets every component (the shell then skips its own reset); the FPU
  // registers, its legacy part, follow (the whole state when the snapshot has no XSAVE area).
  TRY_STATUS(shell.SetXstate(image.xstate()));
  return shell.SetFpu(image.fpu());
}

Result<std::unique_ptr<Sandbox>> ColdBoot(Platform& platform, const FuncImage& image,
                                          Reconnect reconnect, const MountChoice& mounts,
                                          const RunLimits& limits, SandboxKernel::Logger log,
                                          BootStats& stats, const ChannelFds& channel_fds,
                                          Prefault prefault) {
  // First, before anything is mapped: glibc picked its routines by CPUID before the snapshot,
  // so a CPU without one of the recorded features would fault (or worse) in the guest.
  TRY_STATUS(WithContext(CheckCpuFeatures(image.cpu(), HostCpuFeatures()), "cold boot"));
  if (image.layout_fingerprint() != state::StateLayoutFingerprint())
    return Fail(EINVAL,
                "cold boot: " + image.path() +
                    " was built for another sandbox-kernel state layout (fingerprint mismatch): "
                    "rebuild it with the catimg that matches this catload");
  // Map the arena privately and relocate it: pages with pointers are copied on write, the
  // rest stay shared with the page cache.
  auto arena = std::make_shared<ArenaMapping>();
  // At its preferred base the arena needs no pointer rewritten (see arena.h); if that range
  // is taken in this process, anywhere else works with relocation.
  void* p = mmap(reinterpret_cast<void*>(state::kArenaPreferredBase), image.arena_size(),
                 PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED_NOREPLACE, image.fd(),
                 static_cast<off_t>(image.arena_offset()));
  if (p == MAP_FAILED)
    p = mmap(nullptr, image.arena_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE, image.fd(),
             static_cast<off_t>(image.arena_offset()));
  if (p == MAP_FAILED) return FailErrno("cold boot: map the state arena");
  stats.Note("arena_at_preferred_base", p == reinterpret_cast<void*>(state::kArenaPreferredBase));
  arena->base = static_cast<uint8_t*>(p);
  arena->size = image.arena_size();
  // The relocation table is mapped read-only too: it is read once, never copied.
  const size_t reloc_bytes = image.relocation_count() * sizeof(uint64_t);
  const uint64_t table_page = image.relocations_offset() & ~uint64_t{4095};
  const size_t table_lead = image.relocations_offset() - table_page;
  auto table = std::make_shared<ReadOnlyMapping>();
  const uint64_t* relocs = nullptr;
  if (reloc_bytes) {
    void* t = mmap(nullptr, table_lead + reloc_bytes, PROT_READ, MAP_PRIVATE, image.fd(),
                   static_cast<off_t>(table_page));
    if (t == MAP_FAILED) return FailErrno("cold boot: map the relocation table");
    table->base = t;
    table->size = table_lead + reloc_bytes;
    relocs = reinterpret_cast<const uint64_t*>(static_cast<const uint8_t*>(t) + table_lead);
  }
  stats.Stage("map arena");
  // The arena and relocations are what the loader follows: their checksums are checked at
  // every boot (memory segments are left to `catimg verify`).
  if (XXH3_64bits(arena->base, arena->size) != image.arena_checksum())
    return Fail(EBADMSG, "cold boot: " + image.path() +
                             ": state arena checksum mismatch (corrupted image; catimg verify "
                             "names every bad part)");
  if (XXH3_64bits(relocs, reloc_bytes) != image.relocations_checksum())
    return Fail(EBADMSG, "cold boot: " + image.path() +
                             ": relocation table checksum mismatch (corrupted image)");
  stats.Stage("verify arena");
  // Structural verification before anything follows or writes the arena (relocation, Adopt's
  // ResetTransientState, the kernel, ~Sandbox's frees): a checksum anyone can recompute proves
  // nothing about the pointers, lengths and indexes inside.
  if (image.arena_root() != 0)
    return Fail(EBADMSG, "cold boot: " + image.path() + ": state arena root at offset " +
                             std::to_string(image.arena_root()) + " (it is always 0)");
  TRY_STATUS(
      WithContext(state::VerifyArena(arena->base, arena->size, relocs, image.relocation_count()),
                  "cold boot: " + image.path()));
  stats.Stage("verify state");
  TRY(state::SandboxState * s,
      WithContext(state::RelocateArena(arena->base, arena->size, relocs, image.relocation_count()),
                  "cold boot: relocate the state arena"));
  stats.Stage("relocate");
  stats.Note("relocations", static_cast<int64_t>(image.relocation_count()));
  TRY(std::unique_ptr<Sandbox> sb,
      WithContext(Sandbox::Adopt(platform, s, std::move(log), arena, mounts,
                                 {image.function().rootfs, image.function().mounts},
                                 limits.memory_ceiling, limits.max_fds_ceiling, channel_fds),
                  "cold boot: set up the sandbox"));
  stats.Stage("shell");
  // From here on the shell runs trampoline code: the run's limits bound it.
  TRY_STATUS(WithContext(WatchBoot(*sb, limits), "cold boot"));
  stats.Stage("watchdog");
  Shell& shell = sb->shell();
  TRY_STATUS(WithContext(shell.MapMany(SegmentMappings(image, prefault)),
                         "cold boot: map memory segments"));
  stats.Stage("map memory");
  // The copy-on-write tax paid here, in one batch, instead of a fault per page during the run.
  TRY(const uint64_t prefaulted, WithContext(PrefaultImage(shell, image, prefault), "cold boot"));
  stats.Stage("prefault");
  stats.Note("prefault_pages", static_cast<int64_t>(prefaulted));
  TRY_STATUS(WithContext(AdoptSnapshotThreads(*sb, image.entry_tid(), image.other_threads()),
                         "cold boot"));
  TRY_STATUS(WithContext(SetImageRegisters(shell, image), "cold boot: registers"));
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
