// Operations on the persistent overlay (state::Overlay): a linear-probing hash table from
// canonical guest path to entry, plus reference-counted inodes. Removal shifts later entries
// back instead of leaving tombstones, so the table holds nothing but pointers to entries.
// With a budget, entries and the data of inodes it frees are charged to / released from it
// (whether a new entry fits is the caller's check, see Vfs).
#pragma once

#include <functional>
#include <string_view>

#include "format/state/overlay.h"
#include "loader/kernel/memory_budget.h"

namespace cat {

class OverlayTable {
 public:
  explicit OverlayTable(state::Overlay& overlay, MemoryBudget* budget = nullptr)
      : o_(overlay), budget_(budget) {}

  state::OverlayEntry* Find(std::string_view path) const;
  // Returns the entry for path, creating an empty one (inode null = whiteout) if absent.
  state::OverlayEntry* Upsert(std::string_view path);
  void Erase(std::string_view path);
  // Makes path a whiteout: it hides the lower file of the same path.
  void Whiteout(std::string_view path);

  // Calls fn(entry) for every entry whose parent directory is `dir`.
  template <class Fn>
  void ForEachChild(std::string_view dir, Fn&& fn) const {
    for (state::OverlayEntry* e : o_.slots)
      if (e && ParentOf(e->path.view()) == dir) fn(*e);
  }
  template <class Fn>
  void ForEach(Fn&& fn) const {
    for (state::OverlayEntry* e : o_.slots)
      if (e) fn(*e);
  }

  state::Inode* NewInode(uint32_t mode, uint32_t uid, uint32_t gid);
  static void Ref(state::Inode* inode) { ++inode->refs; }
  void Unref(state::Inode* inode);
  // Points entry at inode (taking a reference), dropping the previous one.
  void SetInode(state::OverlayEntry* entry, state::Inode* inode);
  MemoryBudget* budget() const { return budget_; }
  // Called with an inode about to be freed (its last entry and open file gone), so that what
  // refers to it by number (a shared mapping, shared_file_maps.h) lets go of it.
  void set_release_hook(std::function<void(const state::Inode*)> hook) {
    on_release_ = std::move(hook);
  }

  static std::string_view ParentOf(std::string_view path);
  uint32_t size() const { return o_.count; }

 private:
  uint32_t SlotOf(std::string_view path) const;
  void Grow();

  state::Overlay& o_;
  MemoryBudget* budget_;
  std::function<void(const state::Inode*)> on_release_;
};

}  // namespace cat
