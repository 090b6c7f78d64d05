// The overlay's hash table and inode lifetime (see overlay_table.h).
#include "loader/kernel/overlay_table.h"

#include "format/base/host_clock.h"
#include "format/state/overlay_hash.h"
#include "loader/kernel/file_data.h"

namespace cat {
namespace {

// The state verifier checks entries against the same hash (format/state/overlay_hash.h).
uint64_t HashPath(std::string_view path) {
  return state::OverlayPathHash(path);
}

}  // namespace

std::string_view OverlayTable::ParentOf(std::string_view path) {
  const size_t slash = path.rfind('/');
  if (slash == 0 || slash == std::string_view::npos) return path.size() > 1 ? "/" : "";
  return path.substr(0, slash);
}

uint32_t OverlayTable::SlotOf(std::string_view path) const {
  const uint32_t mask = o_.slots.size - 1;
  uint32_t i = static_cast<uint32_t>(HashPath(path)) & mask;
  while (o_.slots[i] && o_.slots[i]->path.view() != path) i = (i + 1) & mask;
  return i;
}

state::OverlayEntry* OverlayTable::Find(std::string_view path) const {
  if (o_.slots.size == 0) return nullptr;
  return o_.slots[SlotOf(path)];
}

void OverlayTable::Grow() {
  state::PArray<state::OverlayEntry*> old = o_.slots;
  o_.slots = {};
  o_.slots.Resize(old.size ? old.size * 2 : 64);
  for (state::OverlayEntry* e : old)
    if (e) o_.slots[SlotOf(e->path.view())] = e;
  old.Release();
}

state::OverlayEntry* OverlayTable::Upsert(std::string_view path) {
  // Keep the load factor under 1/2 so probe chains stay short.
  if ((o_.count + 1) * 2 > o_.slots.size) Grow();
  const uint32_t i = SlotOf(path);
  if (!o_.slots[i]) {
    state::OverlayEntry* e = state::New<state::OverlayEntry>();
    e->path.Assign(path);
    if (budget_) budget_->Charge(OverlayEntryCharge(path));
    o_.slots[i] = e;
    ++o_.count;
  }
  return o_.slots[i];
}

void OverlayTable::Erase(std::string_view path) {
  if (o_.slots.size == 0) return;
  const uint32_t mask = o_.slots.size - 1;
  uint32_t i = SlotOf(path);
  state::OverlayEntry* e = o_.slots[i];
  if (!e) return;
  if (e->inode) Unref(e->inode);
  if (budget_) budget_->Uncharge(OverlayEntryCharge(e->path.view()));
  e->path.Release();
  state::Delete(e);
  --o_.count;
  // Backward-shift deletion: move later members of the probe chain into the hole.
  for (uint32_t j = i;;) {
    j = (j + 1) & mask;
    state::OverlayEntry* next = o_.slots[j];
    if (!next) break;
    const uint32_t home = static_cast<uint32_t>(HashPath(next->path.view())) & mask;
    const bool stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
    if (stays) continue;
    o_.slots[i] = next;
    i = j;
  }
  o_.slots[i] = nullptr;
}

void OverlayTable::Whiteout(std::string_view path) {
  state::OverlayEntry* e = Upsert(path);
  SetInode(e, nullptr);
}

state::Inode* OverlayTable::NewInode(uint32_t mode, uint32_t uid, uint32_t gid) {
  state::Inode* inode = state::New<state::Inode>();
  inode->ino = ++o_.next_ino;
  inode->mode = mode;
  inode->uid = uid;
  inode->gid = gid;
  inode->atime_ns = inode->mtime_ns = inode->ctime_ns = RealtimeNowNs();
  return inode;
}

void OverlayTable::Unref(state::Inode* inode) {
  if (--inode->refs > 0) return;
  if (on_release_) on_release_(inode);
  inode->data.Release();
  ReleaseFileData(*inode, budget_);
  state::Delete(inode);
}

void OverlayTable::SetInode(state::OverlayEntry* entry, state::Inode* inode) {
  if (inode) Ref(inode);
  if (entry->inode) Unref(entry->inode);
  entry->inode = inode;
}

}  // namespace cat
