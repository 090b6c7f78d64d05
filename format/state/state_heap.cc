// The state heap: malloc for objects born at run time, a no-op free for arena objects.
#include "format/state/state_heap.h"

#include <cstdlib>
#include <new>

namespace cat::state {
namespace {

struct ArenaRange {
  uintptr_t begin = 0;
  uintptr_t end = 0;
};
// A process holds few arenas at once (one per booted image); a small fixed table suffices and
// keeps StateFree free of locks and allocation.
constexpr int kMaxArenas = 64;
ArenaRange g_arenas[kMaxArenas];

bool InArena(const void* p) {
  auto a = reinterpret_cast<uintptr_t>(p);
  for (const ArenaRange& r : g_arenas)
    if (a >= r.begin && a < r.end) return true;
  return false;
}

}  // namespace

void* StateAlloc(size_t bytes) {
  void* p = std::malloc(bytes ? bytes : 1);
  if (!p) throw std::bad_alloc();
  return p;
}

void StateFree(void* p) {
  if (!p || InArena(p)) return;
  std::free(p);
}

void RegisterArena(const void* base, size_t size) {
  for (ArenaRange& r : g_arenas) {
    if (r.begin == 0) {
      r.begin = reinterpret_cast<uintptr_t>(base);
      r.end = r.begin + size;
      return;
    }
  }
  std::abort();  // more live arenas than any boot path creates: a bug, not an input error
}

void UnregisterArena(const void* base) {
  for (ArenaRange& r : g_arenas)
    if (r.begin == reinterpret_cast<uintptr_t>(base)) r = ArenaRange{};
}

}  // namespace cat::state
