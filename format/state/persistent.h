// Building blocks of the sandbox kernel's persistent state: plain data with raw pointers, no
// destructors and no hidden allocator state. That is what lets a snapshot lay the live objects
// out in an arena and fix their pointers up with a relocation table (DESIGN.md, "The sandbox
// kernel and its state"). Memory comes from the state heap (state_heap.h), which knows that
// arena memory is never freed.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>

#include "format/state/state_heap.h"

namespace cat::state {

// A growable array of trivially copyable elements. Not a std::vector: its layout is ours,
// three fields, so that a pointer relocation needs to know only `data`.
template <class T>
struct PArray {
  static_assert(std::is_trivially_copyable_v<T>, "persistent arrays hold plain data only");

  T* data;
  uint32_t size;
  uint32_t capacity;

  T& operator[](uint32_t i) { return data[i]; }
  const T& operator[](uint32_t i) const { return data[i]; }
  T* begin() { return data; }
  T* end() { return data + size; }
  const T* begin() const { return data; }
  const T* end() const { return data + size; }
  bool empty() const { return size == 0; }

  void Reserve(uint32_t n) {
    if (n <= capacity) return;
    uint32_t cap = capacity ? capacity : 4;
    while (cap < n) cap *= 2;
    T* fresh = static_cast<T*>(StateAlloc(sizeof(T) * cap));
    if (size) std::memcpy(static_cast<void*>(fresh), data, sizeof(T) * size);
    StateFree(data);
    data = fresh;
    capacity = cap;
  }
  void Resize(uint32_t n) {
    Reserve(n);
    if (n > size) std::memset(static_cast<void*>(data + size), 0, sizeof(T) * (n - size));
    size = n;
  }
  void PushBack(const T& v) {
    Reserve(size + 1);
    data[size++] = v;
  }
  void Insert(uint32_t at, const T& v) {
    Reserve(size + 1);
    std::memmove(static_cast<void*>(data + at + 1), data + at, sizeof(T) * (size - at));
    data[at] = v;
    ++size;
  }
  void Erase(uint32_t at, uint32_t count = 1) {
    std::memmove(static_cast<void*>(data + at), data + at + count, sizeof(T) * (size - at - count));
    size -= count;
  }
  void Release() {
    StateFree(data);
    data = nullptr;
    size = capacity = 0;
  }
};

// A byte string, always NUL-terminated in memory (size excludes the NUL).
struct PString {
  char* data;
  uint32_t size;
  uint32_t reserved_;

  std::string_view view() const { return data ? std::string_view(data, size) : std::string_view(); }
  const char* c_str() const { return data ? data : ""; }
  void Assign(std::string_view s) {
    char* fresh = static_cast<char*>(StateAlloc(s.size() + 1));
    if (!s.empty()) std::memcpy(fresh, s.data(), s.size());
    fresh[s.size()] = '\0';
    StateFree(data);
    data = fresh;
    size = static_cast<uint32_t>(s.size());
  }
  void Release() {
    StateFree(data);
    data = nullptr;
    size = 0;
  }
};

// Allocates a zero-initialized persistent object on the state heap.
template <class T>
T* New() {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>);
  void* p = StateAlloc(sizeof(T));
  std::memset(p, 0, sizeof(T));
  return static_cast<T*>(p);
}
template <class T>
void Delete(T* p) {
  StateFree(p);
}

}  // namespace cat::state
