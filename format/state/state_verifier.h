// The structural verifier of the sandbox kernel's persistent state: a defensive walk of the
// same object graph as state_graph.h, in the same order, that reads a field only after the
// block holding it has been bounds-checked, and checks every object's invariants
// (state_invariants.h) as it enters it. It never allocates per object: what it needs to know
// about blocks (where they are, which are shared, how often they are referred to) is the
// business of a Space:
//   - the arena (arena_verifier.cc): pointers stored as kArenaPreferredBase + offset, blocks
//     laid out in walk order, the relocation table listing exactly the pointer slots;
//   - the state stream (state_stream.cc): blocks allocated one by one, pointers set by fix-ups.
// Both share this walk, so a state the kernel would trip over is refused the same way on
// every path (cold boot, catimg verify/inspect, restore, catimg build).
//
// A Space provides:
//   const uint8_t* Root();  uint64_t RootId();
//   Result<Target> Follow(uint64_t parent_id, const uint8_t* parent, const void* slot,
//                         uint64_t value, uint64_t bytes, BlockType type);
//     the non-null pointer `value` stored at `slot` (inside the verified block `parent`) must
//     name a block of `bytes` bytes: a new one (walk into it), or an earlier block of the same
//     shared type; the error is a bare message;
//   Target Again(uint64_t parent_id, const uint8_t* parent, const void* slot);
//   const uint8_t* Host(const void* slot);
//     the block a slot that Follow accepted points to (for the second passes);
//   Status AddRef(uint64_t id, int which);  uint32_t Refs(uint64_t id, int which);
//   bool FirstCheck(uint64_t id);   references counted per shared block (which: 0, or 1 for a
//                                   pipe's writers), and a once-only mark for the final pass;
//   bool AllShared(fn);             fn(type, block, id) for every shared block, false at the
//                                   first false (the fast check of the counts);
//   std::string Name(uint64_t id);  "offset 0x1a40" / "block 17";
//   const char* Prefix();           "state arena" / "state stream";
//   Status Finish(uint64_t slots);  the space's own closing checks (slot coverage, tail).
#pragma once

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "format/base/error.h"
#include "format/state/overlay_hash.h"
#include "format/state/sandbox_state.h"
#include "format/state/state_invariants.h"
#include "format/state/state_limits.h"

namespace cat::state {

// What a block holds. The first three are the only blocks several slots may share.
enum class BlockType : uint8_t {
  kNone = 0,
  kOpenFile = 1,
  kInode = 2,
  kPipe = 3,
  kRoot,
  kChars,
  kVmas,
  kFdEntries,
  kOverlaySlots,
  kOverlayEntry,
  kMounts,
  kStrings,
  kAuxv,
  kDirEntries,
  kExtents,
  kThreads,
  kEpollItems,
};

inline bool IsShared(BlockType t) {
  return t == BlockType::kOpenFile || t == BlockType::kInode || t == BlockType::kPipe;
}

inline const char* BlockTypeName(BlockType t) {
  switch (t) {
    case BlockType::kNone:
      return "nothing";
    case BlockType::kOpenFile:
      return "OpenFile";
    case BlockType::kInode:
      return "Inode";
    case BlockType::kPipe:
      return "Pipe";
    case BlockType::kRoot:
      return "SandboxState";
    case BlockType::kChars:
      return "char[]";
    case BlockType::kVmas:
      return "Vma[]";
    case BlockType::kFdEntries:
      return "FdEntry[]";
    case BlockType::kOverlaySlots:
      return "OverlayEntry*[]";
    case BlockType::kOverlayEntry:
      return "OverlayEntry";
    case BlockType::kMounts:
      return "Mount[]";
    case BlockType::kStrings:
      return "PString[]";
    case BlockType::kAuxv:
      return "Auxv[]";
    case BlockType::kDirEntries:
      return "DirEntry[]";
    case BlockType::kExtents:
      return "FileExtent[]";
    case BlockType::kThreads:
      return "Thread[]";
    case BlockType::kEpollItems:
      return "EpollItem[]";
  }
  return "?";
}

// Where a slot is, as a chain on the stack: formatted ("fds.entries[3].file") only for errors.
struct Where {
  const Where* parent;
  const char* name;
  int64_t index = -1;
};

inline std::string Describe(const Where& w) {
  std::string s = w.parent ? Describe(*w.parent) + "." : std::string();
  s += w.name;
  if (w.index >= 0) s += "[" + std::to_string(w.index) + "]";
  return s;
}

inline std::string HexOffset(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
  return buf;
}

struct Target {
  const uint8_t* ptr;  // the block, `bytes` bytes readable
  uint64_t id;         // the space's name for it (arena offset, stream block index)
  bool is_new;         // first reference: the walk enters it
};

template <class Space>
class StateVerifier {
 public:
  explicit StateVerifier(Space& space) : sp_(space) {}

  Status Run() {
    root_ = sp_.Root();
    s_ = reinterpret_cast<const SandboxState*>(root_);
    const SandboxState& s = *s_;
    const uint64_t rid = sp_.RootId();
    const Where root{nullptr, "root"};
    TRY_STATUS(At(root, BlockType::kRoot, rid, CheckProcess(s.process)));
    TRY_STATUS(At(root, BlockType::kRoot, rid, CheckClocks(s.clocks)));
    TRY_STATUS(At(root, BlockType::kRoot, rid, CheckSignals(s.signals)));
    TRY_STATUS(At(root, BlockType::kRoot, rid, CheckFdTable(s.fds)));

    // Same order as StateWalker::Walk: the arena lays blocks out in this order.
    const Where cwd_w{nullptr, "process.cwd"}, exe_w{nullptr, "process.exe"};
    TRY(std::string_view cwd, String(rid, root_, s.process.cwd, cwd_w, kMaxPathLength));
    if (!IsCanonicalGuestPath(cwd)) return Slot(cwd_w, "\"" + Clip(cwd) + "\" is not canonical");
    TRY(std::string_view exe, String(rid, root_, s.process.exe, exe_w, kMaxPathLength));
    (void)exe;

    const Where threads_w{nullptr, "threads"};
    TRY(std::optional<Target> threads,
        Array(rid, root_, s.threads, BlockType::kThreads, threads_w, kMaxThreads));
    TRY_STATUS(At(
        root, BlockType::kRoot, rid,
        CheckThreads(s.process, threads ? reinterpret_cast<const Thread*>(threads->ptr) : nullptr,
                     s.threads.size)));
    TRY_STATUS(At(root, BlockType::kRoot, rid,
                  CheckPendingTargets(
                      s.signals, threads ? reinterpret_cast<const Thread*>(threads->ptr) : nullptr,
                      s.threads.size)));

    const Where vmas_w{nullptr, "memory.vmas"};
    TRY(std::optional<Target> vmas, Array(rid, root_, s.memory.vmas, BlockType::kVmas, vmas_w));
    TRY_STATUS(
        At(root, BlockType::kRoot, rid,
           CheckMemoryMap(s.memory, vmas ? reinterpret_cast<const Vma*>(vmas->ptr) : nullptr)));

    TRY_STATUS(FdTable(rid));
    TRY_STATUS(Overlay(rid));
    TRY_STATUS(Mounts(rid));
    const Where argv_w{nullptr, "argv"}, envp_w{nullptr, "envp"};
    TRY_STATUS(Strings(rid, s.argv, argv_w));
    TRY_STATUS(Strings(rid, s.envp, envp_w));
    const Where auxv_w{nullptr, "auxv"};
    TRY(std::optional<Target> auxv, Array(rid, root_, s.auxv, BlockType::kAuxv, auxv_w, kMaxAuxv));
    (void)auxv;

    // Fast path: the space's own records of the shared blocks, in one sequential pass; only
    // if a count is off does the walk over the referrers run, to name the object.
    if (!CountsMatch()) TRY_STATUS(CheckReferences());
    return sp_.Finish(slots_);
  }

 private:
  static std::string Clip(std::string_view v) { return std::string(v.substr(0, 64)); }

  // "state arena: fds.entries[3].file -> OpenFile at offset 0x1a40: <msg>"
  // Error paths are cold and out of line: the walk's hot path stays small.
  [[gnu::cold, gnu::noinline]] std::unexpected<Error> Object(const Where& w, BlockType t,
                                                             uint64_t id, const std::string& msg) {
    return Fail(EBADMSG, std::string(sp_.Prefix()) + ": " + Describe(w) + " -> " +
                             BlockTypeName(t) + " at " + sp_.Name(id) + ": " + msg);
  }
  // "state arena: process.cwd: <msg>"
  [[gnu::cold, gnu::noinline]] std::unexpected<Error> Slot(const Where& w, const std::string& msg) {
    return Fail(EBADMSG, std::string(sp_.Prefix()) + ": " + Describe(w) + ": " + msg);
  }
  Status At(const Where& w, BlockType t, uint64_t id, Status st) {
    if (!st) return Object(w, t, id, st.error().message());
    return {};
  }

  // A non-null pointer slot (the caller checked it is not null).
  [[gnu::always_inline]] Result<Target> Follow(uint64_t pid, const uint8_t* parent,
                                               const void* slot, uint64_t bytes, BlockType type,
                                               const Where& w) {
    uint64_t value;
    std::memcpy(&value, slot, sizeof(value));
    ++slots_;
    auto t = sp_.Follow(pid, parent, slot, value, bytes, type);
    if (!t) [[unlikely]]
      return Refused(w, type, t.error());
    return t;
  }
  [[gnu::cold, gnu::noinline]] std::unexpected<Error> Refused(const Where& w, BlockType type,
                                                              const Error& e) {
    return Fail(EBADMSG, std::string(sp_.Prefix()) + ": " + Describe(w) + " -> " +
                             BlockTypeName(type) + ": " + e.message());
  }

  [[gnu::always_inline]] Result<std::string_view> String(uint64_t pid, const uint8_t* parent,
                                                         const PString& p, const Where& w,
                                                         uint32_t max) {
    if (!p.data) {
      if (p.size != 0) return Slot(w, "no buffer but length " + std::to_string(p.size));
      return std::string_view();
    }
    if (p.size > max)
      return Slot(
          w, "length " + std::to_string(p.size) + " exceeds the limit of " + std::to_string(max));
    TRY(Target t, Follow(pid, parent, &p.data, uint64_t{p.size} + 1, BlockType::kChars, w));
    const char* c = reinterpret_cast<const char*>(t.ptr);
    if (c[p.size] != '\0')
      return Object(w, BlockType::kChars, t.id,
                    "string of length " + std::to_string(p.size) + " is not NUL-terminated");
    // The terminator is where it belongs, so strlen stops at it or at an earlier NUL.
    if (std::strlen(c) != p.size) [[unlikely]]
      return Object(w, BlockType::kChars, t.id, "string contains a NUL byte");
    return std::string_view(c, p.size);
  }

  template <class T>
  [[gnu::always_inline]] Result<std::optional<Target>> Array(uint64_t pid, const uint8_t* parent,
                                                             const PArray<T>& a, BlockType type,
                                                             const Where& w,
                                                             uint32_t max = UINT32_MAX) {
    if (!a.data) {
      if (a.size != 0 || a.capacity != 0)
        return Slot(w, "no buffer but size " + std::to_string(a.size) + ", capacity " +
                           std::to_string(a.capacity));
      return std::optional<Target>();
    }
    // A stored array is exactly its elements: the builder writes capacity = size and stores
    // no buffer for an empty one. A larger capacity would let the kernel write past the block.
    if (a.size == 0) return Slot(w, "an empty array with a buffer");
    if (a.size > a.capacity)
      return Slot(
          w, "size " + std::to_string(a.size) + " exceeds capacity " + std::to_string(a.capacity));
    if (a.capacity != a.size)
      return Slot(w, "capacity " + std::to_string(a.capacity) + " differs from size " +
                         std::to_string(a.size) + " (a stored array has no spare room)");
    if (a.size > max)
      return Slot(
          w, "size " + std::to_string(a.size) + " exceeds the limit of " + std::to_string(max));
    TRY(Target t, Follow(pid, parent, &a.data, uint64_t{a.size} * sizeof(T), type, w));
    return std::optional<Target>(t);
  }

  Status Strings(uint64_t rid, const PArray<PString>& a, const Where& w) {
    TRY(std::optional<Target> t, Array(rid, root_, a, BlockType::kStrings, w));
    if (!t) return {};
    const auto* strings = reinterpret_cast<const PString*>(t->ptr);
    for (uint32_t i = 0; i < a.size; ++i) {
      const Where ws{nullptr, w.name, i};
      TRY(std::string_view v, String(t->id, t->ptr, strings[i], ws, kMaxArgLength));
      (void)v;
    }
    return {};
  }

  // ---- fd table and open files ----

  Status FdTable(uint64_t rid) {
    const Where w{nullptr, "fds.entries"};
    TRY(std::optional<Target> t,
        Array(rid, root_, s_->fds.entries, BlockType::kFdEntries, w, kMaxFds));
    if (!t) return {};
    fd_block_ = *t;
    const auto* entries = reinterpret_cast<const FdEntry*>(t->ptr);
    for (uint32_t i = 0; i < s_->fds.entries.size; ++i) {
      const FdEntry& e = entries[i];
      const Where we{nullptr, "fds.entries", i};
      if (auto st = CheckFdEntry(e); !st) return Slot(we, st.error().message());
      if (!e.file) continue;
      const Where wf{&we, "file"};
      TRY(Target f, Follow(t->id, t->ptr, &e.file, sizeof(OpenFile), BlockType::kOpenFile, wf));
      if (f.is_new) TRY_STATUS(File(f, wf));
      if (auto st = sp_.AddRef(f.id, 0); !st)
        return Object(wf, BlockType::kOpenFile, f.id, st.error().message());
    }
    return {};
  }

  Status File(const Target& t, const Where& w) {
    const auto& f = *reinterpret_cast<const OpenFile*>(t.ptr);
    TRY_STATUS(At(w, BlockType::kOpenFile, t.id, CheckOpenFile(f, s_->mounts.size)));
    const Where wg{&w, "guest_path"}, wh{&w, "host_path"};
    TRY(std::string_view guest, String(t.id, t.ptr, f.guest_path, wg, kMaxPathLength));
    TRY(std::string_view host, String(t.id, t.ptr, f.host_path, wh, kMaxPathLength));
    TRY_STATUS(At(w, BlockType::kOpenFile, t.id, CheckOpenFilePaths(f, guest, host)));
    if (f.inode) {
      const Where wi{&w, "inode"};
      TRY(Target i, Follow(t.id, t.ptr, &f.inode, sizeof(Inode), BlockType::kInode, wi));
      if (i.is_new) TRY_STATUS(Node(i, wi));
      TRY_STATUS(At(w, BlockType::kOpenFile, t.id,
                    CheckOpenFileInode(f, *reinterpret_cast<const Inode*>(i.ptr))));
      if (auto st = sp_.AddRef(i.id, 0); !st)
        return Object(wi, BlockType::kInode, i.id, st.error().message());
    }
    if (f.pipe) {
      const Where wp{&w, "pipe"};
      TRY(Target p, Follow(t.id, t.ptr, &f.pipe, sizeof(Pipe), BlockType::kPipe, wp));
      if (p.is_new) TRY_STATUS(PipeBlock(p, wp));
      // Files::Unref drops a reader for a readable end and a writer for a writable one.
      const uint32_t acc = f.status_flags & kAccMode;
      if (acc != kWriteOnly)
        if (auto st = sp_.AddRef(p.id, 0); !st)
          return Object(wp, BlockType::kPipe, p.id, st.error().message());
      if (acc != kReadOnly)
        if (auto st = sp_.AddRef(p.id, 1); !st)
          return Object(wp, BlockType::kPipe, p.id, st.error().message());
    }
    const Where wl{&w, "listing"};
    TRY(std::optional<Target> l, Array(t.id, t.ptr, f.listing, BlockType::kDirEntries, wl));
    if (l) {
      const auto* entries = reinterpret_cast<const DirEntry*>(l->ptr);
      for (uint32_t i = 0; i < f.listing.size; ++i) {
        const Where wd{&w, "listing", i};
        const Where wn{&wd, "name"};
        TRY(std::string_view name, String(l->id, l->ptr, entries[i].name, wn, kMaxNameLength));
        TRY_STATUS(At(wd, BlockType::kDirEntries, l->id, CheckDirEntry(entries[i], name)));
      }
    }
    // An epoll interest list, at most one item per fd (capture writes only items whose file is
    // still at their fd).
    const Where wi{&w, "live.items"};
    TRY(std::optional<Target> items,
        Array(t.id, t.ptr, f.live.items, BlockType::kEpollItems, wi, kMaxFds));
    if (items) {
      const auto* item = reinterpret_cast<const EpollItem*>(items->ptr);
      for (uint32_t i = 0; i < f.live.items.size; ++i) {
        const Where wn{&w, "live.items", i};
        TRY_STATUS(At(wn, BlockType::kEpollItems, items->id, CheckEpollItem(item[i])));
      }
    }
    return {};
  }

  Status Node(const Target& t, const Where& w) {
    const auto& i = *reinterpret_cast<const Inode*>(t.ptr);
    TRY_STATUS(At(w, BlockType::kInode, t.id, CheckInode(i)));
    const Where wd{&w, "data"};
    TRY(std::optional<Target> d, Array(t.id, t.ptr, i.data, BlockType::kChars, wd));
    (void)d;
    // A regular file's bytes: extents, walked in the builder's order (state_graph.h) and
    // checked against what file_data.cc assumes when it reads, writes and truncates them.
    const Where we{&w, "extents"};
    TRY(std::optional<Target> x, Array(t.id, t.ptr, i.extents, BlockType::kExtents, we));
    if (!x) return {};
    const auto* extents = reinterpret_cast<const FileExtent*>(x->ptr);
    uint64_t next_window = 0;
    for (uint32_t k = 0; k < i.extents.size; ++k) {
      const FileExtent& e = extents[k];
      const Where wx{&w, "extents", k};
      const Where wb{&wx, "bytes"};
      TRY(std::optional<Target> b, Array(x->id, x->ptr, e.bytes, BlockType::kChars, wb));
      if (!b) return Slot(wx, "an empty extent");
      if (auto st = CheckFileExtent(e, i.size, next_window); !st)
        return Object(wx, BlockType::kExtents, x->id, st.error().message());
      next_window = e.offset / kExtentWindow + 1;
    }
    return {};
  }

  Status PipeBlock(const Target& t, const Where& w) {
    const auto& p = *reinterpret_cast<const Pipe*>(t.ptr);
    TRY_STATUS(At(w, BlockType::kPipe, t.id, CheckPipe(p)));
    const Where wb{&w, "buffer"};
    TRY(std::optional<Target> b, Array(t.id, t.ptr, p.buffer, BlockType::kChars, wb));
    (void)b;
    return {};
  }

  // ---- overlay ----

  // OverlayTable::SlotOf probes (hash & (size - 1)) until it meets the path or an empty slot:
  // the size must be a power of two, and Upsert keeps at least half the slots empty, so a
  // lookup of an absent path always ends. Every entry must also be where a lookup of its path
  // finds it: its home slot lies in its own cluster (run of used slots), at or before it.
  // That is checked during the walk, in slot order, while the path is at hand; the entries of
  // the cluster at slot 0, which may have begun at the end of the table, are checked after.
  // (Two entries with one path are harmless to the kernel: Find sees the first, Erase removes
  // the first; they are not looked for.)
  Status Overlay(uint64_t rid) {
    const state::Overlay& o = s_->overlay;
    const Where w{nullptr, "overlay.slots"};
    TRY(std::optional<Target> t, Array(rid, root_, o.slots, BlockType::kOverlaySlots, w));
    const uint32_t n = o.slots.size, mask = n - 1;
    if (n & (n - 1)) return Slot(w, std::to_string(n) + " slots is not a power of two");
    uint32_t live = 0;
    uint32_t first_empty = n;  // entries before it are in the cluster that may wrap around
    uint32_t cluster = 0;      // start of the current cluster
    if (t) {
      overlay_block_ = *t;
      const auto* slots = reinterpret_cast<const OverlayEntry* const*>(t->ptr);
      for (uint32_t i = 0; i < n; ++i) {
        if (!slots[i]) {
          if (first_empty == n) first_empty = i;
          cluster = i + 1;
          continue;
        }
        ++live;
        const Where we{nullptr, "overlay.slots", i};
        TRY(Target e,
            Follow(t->id, t->ptr, &slots[i], sizeof(OverlayEntry), BlockType::kOverlayEntry, we));
        TRY(uint32_t home, Entry(e, we, mask));
        if (first_empty < n) TRY_STATUS(Reachable(i, home, cluster, mask, e));
      }
    }
    if (live != o.count)
      return Slot(Where{nullptr, "overlay.count"},
                  std::to_string(o.count) + " but " + std::to_string(live) + " slots are used");
    if (uint64_t{live} * 2 > n)
      return Slot(w, std::to_string(live) + " entries in " + std::to_string(n) +
                         " slots: more than half full (a lookup of an absent path might never "
                         "end)");
    if (t) {
      const auto* slots = reinterpret_cast<const OverlayEntry* const*>(t->ptr);
      for (uint32_t i = 0; i < first_empty; ++i) {
        const Target e{sp_.Host(&slots[i]), 0, false};
        const auto& entry = *reinterpret_cast<const OverlayEntry*>(e.ptr);
        const uint32_t home = static_cast<uint32_t>(OverlayPathHash(PathOf(entry))) & mask;
        TRY_STATUS(Reachable(i, home, cluster & mask, mask, e));
      }
    }
    return {};
  }

  Status Reachable(uint32_t i, uint32_t home, uint32_t cluster, uint32_t mask, const Target& e) {
    if (((home - cluster) & mask) <= ((i - cluster) & mask)) [[likely]]
      return {};
    return Slot(Where{nullptr, "overlay.slots", i},
                "entry \"" + Clip(PathOf(*reinterpret_cast<const OverlayEntry*>(e.ptr))) +
                    "\" is not reachable from its hash slot " + std::to_string(home) +
                    " (an empty slot lies between)");
  }

  // Returns the entry's home slot (hash & mask).
  Result<uint32_t> Entry(const Target& t, const Where& w, uint32_t mask) {
    const auto& e = *reinterpret_cast<const OverlayEntry*>(t.ptr);
    const Where wp{&w, "path"};
    TRY(std::string_view path, String(t.id, t.ptr, e.path, wp, kMaxPathLength));
    if (!IsCanonicalGuestPath(path))
      return Object(w, BlockType::kOverlayEntry, t.id,
                    "path \"" + Clip(path) + "\" is not a canonical guest path");
    if (e.inode) {
      const Where wi{&w, "inode"};
      TRY(Target i, Follow(t.id, t.ptr, &e.inode, sizeof(Inode), BlockType::kInode, wi));
      if (i.is_new) TRY_STATUS(Node(i, wi));
      if (auto st = sp_.AddRef(i.id, 0); !st)
        return Object(wi, BlockType::kInode, i.id, st.error().message());
    }
    return static_cast<uint32_t>(OverlayPathHash(path)) & mask;
  }

  std::string_view PathOf(const OverlayEntry& e) {
    if (!e.path.data) return {};
    return std::string_view(reinterpret_cast<const char*>(sp_.Host(&e.path.data)), e.path.size);
  }

  // ---- mounts ----

  Status Mounts(uint64_t rid) {
    const Where w{nullptr, "mounts"};
    TRY(std::optional<Target> t, Array(rid, root_, s_->mounts, BlockType::kMounts, w, kMaxMounts));
    // Vfs::Lookup indexes mounts[0] (the root) for every path.
    if (!t) return Slot(w, "no root mount");
    const auto* mounts = reinterpret_cast<const Mount*>(t->ptr);
    for (uint32_t i = 0; i < s_->mounts.size; ++i) {
      const Mount& m = mounts[i];
      const Where wm{nullptr, "mounts", i};
      const Where wg{&wm, "guest_path"};
      TRY(std::string_view guest, String(t->id, t->ptr, m.guest_path, wg, kMaxPathLength));
      TRY_STATUS(At(wm, BlockType::kMounts, t->id, CheckMount(m, i, guest)));
    }
    return {};
  }

  // ---- reference counts, once every reference has been counted ----

  bool CountsMatch() {
    return sp_.AllShared([&](BlockType type, const uint8_t* p, uint64_t id) {
      switch (type) {
        case BlockType::kOpenFile:
          return reinterpret_cast<const OpenFile*>(p)->refs == sp_.Refs(id, 0);
        case BlockType::kInode:
          return reinterpret_cast<const Inode*>(p)->refs == sp_.Refs(id, 0);
        case BlockType::kPipe: {
          const auto* pipe = reinterpret_cast<const Pipe*>(p);
          return pipe->readers == sp_.Refs(id, 0) && pipe->writers == sp_.Refs(id, 1);
        }
        default:
          return true;
      }
    });
  }

  Status CheckReferences() {
    if (s_->fds.entries.data) {
      const auto* entries = reinterpret_cast<const FdEntry*>(fd_block_.ptr);
      for (uint32_t i = 0; i < s_->fds.entries.size; ++i) {
        if (!entries[i].file) continue;
        const Where we{nullptr, "fds.entries", i};
        const Where wf{&we, "file"};
        const Target f = sp_.Again(fd_block_.id, fd_block_.ptr, &entries[i].file);
        if (!sp_.FirstCheck(f.id)) continue;
        const auto& file = *reinterpret_cast<const OpenFile*>(f.ptr);
        if (file.refs != sp_.Refs(f.id, 0))
          return Object(wf, BlockType::kOpenFile, f.id,
                        "refs " + std::to_string(file.refs) + " but " +
                            std::to_string(sp_.Refs(f.id, 0)) + " fd entries refer to it");
        if (file.inode) {
          const Where wi{&wf, "inode"};
          TRY_STATUS(InodeRefs(sp_.Again(f.id, f.ptr, &file.inode), wi));
        }
        if (file.pipe) {
          const Where wp{&wf, "pipe"};
          const Target p = sp_.Again(f.id, f.ptr, &file.pipe);
          if (sp_.FirstCheck(p.id)) {
            const auto& pipe = *reinterpret_cast<const Pipe*>(p.ptr);
            if (pipe.readers != sp_.Refs(p.id, 0) || pipe.writers != sp_.Refs(p.id, 1))
              return Object(wp, BlockType::kPipe, p.id,
                            "readers " + std::to_string(pipe.readers) + ", writers " +
                                std::to_string(pipe.writers) + " but " +
                                std::to_string(sp_.Refs(p.id, 0)) + " readable and " +
                                std::to_string(sp_.Refs(p.id, 1)) +
                                " writable open files refer to it");
          }
        }
      }
    }
    if (s_->overlay.slots.data) {
      const auto* slots = reinterpret_cast<const OverlayEntry* const*>(overlay_block_.ptr);
      for (uint32_t i = 0; i < s_->overlay.slots.size; ++i) {
        if (!slots[i]) continue;
        const Target e = sp_.Again(overlay_block_.id, overlay_block_.ptr, &slots[i]);
        const auto& entry = *reinterpret_cast<const OverlayEntry*>(e.ptr);
        if (!entry.inode) continue;
        const Where we{nullptr, "overlay.slots", i};
        const Where wi{&we, "inode"};
        TRY_STATUS(InodeRefs(sp_.Again(e.id, e.ptr, &entry.inode), wi));
      }
    }
    return {};
  }

  Status InodeRefs(const Target& t, const Where& w) {
    if (!sp_.FirstCheck(t.id)) return {};
    const auto& inode = *reinterpret_cast<const Inode*>(t.ptr);
    if (inode.refs != sp_.Refs(t.id, 0))
      return Object(w, BlockType::kInode, t.id,
                    "refs " + std::to_string(inode.refs) + " but " +
                        std::to_string(sp_.Refs(t.id, 0)) +
                        " overlay entries and open files refer to it");
    return {};
  }

  static constexpr uint32_t kAccMode = 3;
  static constexpr uint32_t kReadOnly = 0, kWriteOnly = 1;

  Space& sp_;
  const uint8_t* root_ = nullptr;
  const SandboxState* s_ = nullptr;
  Target fd_block_{};
  Target overlay_block_{};
  uint64_t slots_ = 0;  // non-null pointer slots followed
};

}  // namespace cat::state
