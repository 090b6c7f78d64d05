// The state heap: malloc for objects born at run time, a no-op free for arena objects.
#include "format/state/state_heap.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <new>
#include <shared_mutex>
#include <vector>

namespace cat::state {
namespace {

struct ArenaRange {
  uintptr_t begin = 0;
  uintptr_t end = 0;
};

// Every live arena, sorted by begin; arenas never overlap (each is its own mapping). A server
// holds one per booted instance and per cached image, thousands at once, on several threads:
// a sorted vector under a reader-writer lock. StateFree, the hot path, takes the lock shared
// and does a binary search; registration (once per boot) takes it exclusively. When no arena
// is registered at all (exec, capture, unit tests), StateFree skips the lock entirely.
class ArenaSet {
 public:
  bool Contains(uintptr_t a) {
    if (count_.load(std::memory_order_acquire) == 0) return false;
    std::shared_lock lock(mu_);
    auto it = std::upper_bound(ranges_.begin(), ranges_.end(), a,
                               [](uintptr_t v, const ArenaRange& r) { return v < r.begin; });
    return it != ranges_.begin() && a < std::prev(it)->end;
  }
  void Add(uintptr_t begin, uintptr_t end) {
    std::unique_lock lock(mu_);
    auto it = std::lower_bound(ranges_.begin(), ranges_.end(), begin,
                               [](const ArenaRange& r, uintptr_t v) { return r.begin < v; });
    ranges_.insert(it, ArenaRange{begin, end});
    count_.store(ranges_.size(), std::memory_order_release);
  }
  void Remove(uintptr_t begin) {
    std::unique_lock lock(mu_);
    auto it = std::lower_bound(ranges_.begin(), ranges_.end(), begin,
                               [](const ArenaRange& r, uintptr_t v) { return r.begin < v; });
    if (it != ranges_.end() && it->begin == begin) ranges_.erase(it);
    count_.store(ranges_.size(), std::memory_order_release);
  }
  size_t size() {
    std::shared_lock lock(mu_);
    return ranges_.size();
  }

 private:
  std::shared_mutex mu_;
  std::vector<ArenaRange> ranges_;
  std::atomic<size_t> count_{0};
};

// Never destroyed: arenas may be unregistered by static destructors at exit.
ArenaSet& Arenas() {
  static ArenaSet* set = new ArenaSet();
  return *set;
}

}  // namespace

void* StateAlloc(size_t bytes) {
  void* p = std::malloc(bytes ? bytes : 1);
  if (!p) throw std::bad_alloc();
  return p;
}

bool InArena(const void* p) {
  return Arenas().Contains(reinterpret_cast<uintptr_t>(p));
}

void StateFree(void* p) {
  if (!p || InArena(p)) return;
  std::free(p);
}

void RegisterArena(const void* base, size_t size) {
  const auto begin = reinterpret_cast<uintptr_t>(base);
  Arenas().Add(begin, begin + size);
}

void UnregisterArena(const void* base) {
  Arenas().Remove(reinterpret_cast<uintptr_t>(base));
}

size_t RegisteredArenaCount() {
  return Arenas().size();
}

}  // namespace cat::state
