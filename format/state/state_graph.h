// The object graph of the persistent state, walked generically: every block of memory the
// state owns (objects reached through pointers, array and string buffers) and every pointer
// slot that refers to one. The arena builder (arena.cc) and the conventional state stream
// (state_stream.cc) are both written against this walk, so a new pointer field is added in
// exactly one place.
#pragma once

#include <cstdint>
#include <cstring>

#include "format/state/sandbox_state.h"

namespace cat::state {

// What the walk reports for each pointer slot.
struct Slot {
  const void* parent;  // the block that contains the slot (the root state for top-level ones)
  void* slot;          // address of the pointer field (8 bytes, read/write with memcpy)
  uint64_t bytes;      // size of the block it points to (0 = nothing to carry)
  uint32_t* capacity;  // arrays: their capacity field (rewritten to the stored element count)
  uint32_t count;      // arrays: element count stored
  const char* type;    // the pointee's type name, for statistics and diagnostics
};

inline void* ReadSlot(const void* slot) {
  void* p;
  std::memcpy(&p, slot, sizeof(p));
  return p;
}
inline void WriteSlot(void* slot, uint64_t value) {
  std::memcpy(slot, &value, sizeof(value));
}

// Walks everything reachable from `root`. fn(const Slot&) is called for every non-null
// pointer slot and returns true the first time it sees the pointee (then the walk descends
// into it); shared objects (an OpenFile behind several fds, an Inode behind an entry and open
// files) are therefore reported once per slot but walked once.
template <class Fn>
class StateWalker {
 public:
  explicit StateWalker(Fn& fn) : fn_(fn) {}

  void Walk(SandboxState& s) {
    String(&s, s.process.cwd);
    String(&s, s.process.exe);
    Array(&s, s.threads, "Thread");
    Array(&s, s.memory.vmas, "Vma");
    if (Array(&s, s.fds.entries, "FdEntry"))
      for (FdEntry& e : s.fds.entries)
        if (Pointer(s.fds.entries.data, &e.file, sizeof(OpenFile), "OpenFile")) File(*e.file);
    if (Array(&s, s.overlay.slots, "OverlayEntry*"))
      for (OverlayEntry*& e : s.overlay.slots)
        if (Pointer(s.overlay.slots.data, &e, sizeof(OverlayEntry), "OverlayEntry")) Entry(*e);
    if (Array(&s, s.mounts, "Mount"))
      for (Mount& m : s.mounts) String(s.mounts.data, m.guest_path);
    for (PArray<PString>* strings : {&s.argv, &s.envp})
      if (Array(&s, *strings, "PString"))
        for (PString& p : *strings) String(strings->data, p);
    Array(&s, s.auxv, "Auxv");
  }

 private:
  template <class T>
  bool Pointer(const void* parent, T** slot, uint64_t bytes, const char* type) {
    if (!*slot) return false;
    return fn_(Slot{parent, slot, bytes, nullptr, 0, type});
  }
  template <class T>
  bool Array(const void* parent, PArray<T>& a, const char* type) {
    if (!a.data) return false;
    return fn_(Slot{parent, &a.data, uint64_t{a.size} * sizeof(T), &a.capacity, a.size, type});
  }
  void String(const void* parent, PString& s) {
    if (s.data) fn_(Slot{parent, &s.data, uint64_t{s.size} + 1, nullptr, 0, "char"});
  }
  void File(OpenFile& f) {
    String(&f, f.guest_path);
    String(&f, f.host_path);
    if (Pointer(&f, &f.inode, sizeof(Inode), "Inode")) Node(*f.inode);
    if (Pointer(&f, &f.pipe, sizeof(Pipe), "Pipe")) Array(f.pipe, f.pipe->buffer, "char");
    if (Array(&f, f.listing, "DirEntry"))
      for (DirEntry& d : f.listing) String(f.listing.data, d.name);
    Array(&f, f.live.items, "EpollItem");
  }
  void Entry(OverlayEntry& e) {
    String(&e, e.path);
    if (Pointer(&e, &e.inode, sizeof(Inode), "Inode")) Node(*e.inode);
  }
  void Node(Inode& i) {
    Array(&i, i.data, "char");
    if (Array(&i, i.extents, "FileExtent"))
      for (FileExtent& e : i.extents) Array(i.extents.data, e.bytes, "char");
  }

  Fn& fn_;
};

template <class Fn>
void WalkState(SandboxState& s, Fn&& fn) {
  StateWalker<std::remove_reference_t<Fn>> walker(fn);
  walker.Walk(s);
}

}  // namespace cat::state
